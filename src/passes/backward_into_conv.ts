/**
 * Fusion (c), the backward mirror of (a) and (b).
 * c1, reductions into the epilogue of the consuming convolution's backward-data:
 *   dz = conv_backward_data(dy, w); dbn = bn_relu_mask(dz, x, ...); [dbeta, dgamma] = bn_backward_reduce(dbn, x, mean, rstd)
 *   -> [dbn, dbeta, dgamma] = conv2d_fused_backward_data{dxEpilogue}(dy, w, x, mean, rstd, gamma, beta)
 *   Guards: reluFolded (the BN had an activation folded in, so bn_relu_mask exists),
 *   activationInConv (the fused backward-data differentiates that activation: KernelCapabilities),
 *   gradientFromConv (dz comes straight from one convolution's backward-data, not a sum),
 *   maskIsSoleReader (nothing else reads dz).
 * c2, BN's dx on load in the producing convolution's backward:
 *   dxbn = bn_backward_data(dbn, x, mean, rstd, gamma, dbeta, dgamma) read by that convolution's
 *   backward-data and backward-weight -> both take {dyPrologue} and compute dxbn as they load it.
 *   Guard: readersAreConvBackward (dxbn only feeds convolution backward ops).
 *   Guard depthwiseFused: no reader is the backward of a depthwise convolution without fused
 *   kernels or with depthwise fusion off (conv_parts.ts depthwiseGate).
 */
import type { Node } from '../graph/ir.js';
import { type Activation, activationName } from '../ops/activation.js';
import type { BnReluMaskAttrs, FusedConvAttrs } from '../ops/conv2d_fused.js';
import type { KernelCapabilities } from './capabilities.js';
import { ACTIVATION_COST_GUARD, DEPTHWISE_GUARD, type DepthwiseGate, activationCost, convAttrs, convInputs, depthwiseGate, readConv } from './conv_parts.js';
import { type Pass, bnLayerOf, consumers, producer, rebuild } from './rewrite.js';

const isBwdData = (n: Node | undefined): n is Node => n !== undefined && (n.op === 'conv2d_backward_data' || n.op === 'conv2d_fused_backward_data');
const BACKWARD = new Set(['conv2d_backward_data', 'conv2d_fused_backward_data', 'conv2d_backward_weight', 'conv2d_fused_backward_weight']);
const isBwd = (n: Node): boolean => BACKWARD.has(n.op);

export const bnGradIntoConvBackward: Pass = bnGradIntoConvBackwardWith(depthwiseGate(false));

/** c1, as applyFusion's defaults run it (ReLU only in the dx epilogue, no depthwise convolution). */
export const reduceIntoConvBackward: Pass = reduceIntoConvBackwardWith(undefined, depthwiseGate(false));

/**
 * c1, with the kernels' capabilities (guard activationInConv: the dx epilogue differentiates the
 * activation; the GEMM and depthwise kernels every one, the Winograd ones ReLU only) and guard depthwiseFused (conv_parts.ts depthwiseGate): a ReLU mask exists only where
 * normalize-into-conv put the normalize into the consuming convolutions, but fission itself makes
 * the SiLU and hardswish derivatives bn_relu_mask nodes, whatever convolution consumes them.
 */
export function reduceIntoConvBackwardWith(caps?: KernelCapabilities, dw: DepthwiseGate = depthwiseGate(false), acts?: readonly Activation[]): Pass {
  return {
    name: 'reduce-into-conv-backward',
    run(g, report) {
      const uses = consumers(g);
      const plan = new Map<number, { mask: Node; reduce: Node }>(); // backward-data node id -> absorbed nodes
      for (const r of g.nodes) {
        if (r.op !== 'bn_backward_reduce') continue;
        const bn = bnLayerOf(r);
        if (report.whole.has(bn)) continue; // kept whole by a cost guard (fission says which)
        const m = producer(g, r.inputs[0]!);
        if (!m || m.op !== 'bn_relu_mask') {
          report.blocked(bn, 'reduce-into-conv-backward', 'reluFolded', `the gradient at the BN output comes from ${m ? `${m.op} "${m.name}"` : 'nowhere'}`);
          continue;
        }
        const d = producer(g, m.inputs[0]!);
        if (!isBwdData(d) || readConv(d).dxe) {
          report.blocked(
            bn,
            'reduce-into-conv-backward',
            'gradientFromConv',
            `the gradient at the ReLU output comes from ${d ? `${d.op} "${d.name}"` : 'nowhere'}`,
          );
          continue;
        }
        const readers = uses.get(m.inputs[0]!) ?? [];
        if (readers.length !== 1) {
          report.blocked(bn, 'reduce-into-conv-backward', 'maskIsSoleReader', `the gradient is read by ${readers.length} nodes`);
          continue;
        }
        const dwWhy = dw(g, d);
        if (dwWhy) {
          report.blocked(bn, 'reduce-into-conv-backward', DEPTHWISE_GUARD, dwWhy);
          continue;
        }
        const act = (m.attrs as BnReluMaskAttrs).act ?? 'relu';
        const da = d.attrs as unknown as FusedConvAttrs;
        if (!(caps ? caps.convActivation({ xShape: da.xShape!, wShape: da.wShape!, attrs: da }, act) : act === 'relu')) {
          report.blocked(bn, 'reduce-into-conv-backward', 'activationInConv', `the fused backward-data of "${d.name}" cannot differentiate ${act}`);
          continue;
        }
        if (acts && !acts.includes(act)) {
          report.blocked(bn, 'reduce-into-conv-backward', ACTIVATION_COST_GUARD, activationCost(act));
          continue;
        }
        plan.set(d.id, { mask: m, reduce: r });
        report.fired(bn, 'reduce-into-conv-backward', `${activationName(act)} derivative and the two reductions in the epilogue of "${d.name}"`);
      }
      return rebuild(g, (n, w) => {
        const f = plan.get(n.id);
        if (!f) return w.keep(n);
        const [, x, mean, rstd, gamma, beta] = f.mask.inputs as [number, number, number, number, number, number];
        const p = readConv(n);
        p.op = 'conv2d_fused_backward_data';
        p.dxe = [x, mean, rstd, gamma, beta];
        const act = (f.mask.attrs as BnReluMaskAttrs).act ?? 'relu';
        p.attrs.dxEpilogue = act === 'relu' ? { relu: true } : { relu: false, act };
        // dx of the conv becomes the masked gradient (the mask's output), plus the BN's reductions.
        w.node(p.op, n.name, convInputs(p), [f.mask.outputs[0]!, ...f.reduce.outputs], convAttrs(p));
        w.drop(f.mask);
        w.drop(f.reduce);
      });
    },
  };
}

/** c2; dw: the depthwiseFused guard. */
export function bnGradIntoConvBackwardWith(dw: DepthwiseGate): Pass {
  return {
    name: 'bn-grad-into-conv-backward',
    run(g, report) {
      const uses = consumers(g);
      const absorb = new Map<number, Node>(); // conv backward node id -> bn_backward_data node
      for (const b of g.nodes) {
        if (b.op !== 'bn_backward_data') continue;
        const bn = bnLayerOf(b);
        if (report.whole.has(bn)) continue; // kept whole by a cost guard (fission says which)
        const readers = uses.get(b.outputs[0]!) ?? [];
        const bad = readers.filter((r) => !isBwd(r) || r.inputs[0] !== b.outputs[0] || readConv(r).dyp);
        if (readers.length === 0 || bad.length) {
          report.blocked(
            bn,
            'bn-grad-into-conv-backward',
            'readersAreConvBackward',
            `BN input gradient read by ${bad.map((r) => `${r.op} "${r.name}"`).join(', ') || 'nothing'}`,
          );
          continue;
        }
        const why = readers.map((r) => dw(g, r)).find((w) => w !== undefined);
        if (why) {
          report.blocked(bn, 'bn-grad-into-conv-backward', DEPTHWISE_GUARD, why);
          continue;
        }
        for (const r of readers) absorb.set(r.id, b);
        report.fired(bn, 'bn-grad-into-conv-backward', `BN dx computed on load by ${readers.map((r) => `"${r.name}"`).join(', ')}`);
      }
      return rebuild(g, (n, w) => {
        const b = absorb.get(n.id);
        if (!b) return w.keep(n);
        const p = readConv(n);
        p.op = isBwdData(n) ? 'conv2d_fused_backward_data' : 'conv2d_fused_backward_weight';
        p.dyp = [...b.inputs];
        p.attrs.dyPrologue = true;
        // dy itself is no longer read (it is computed on load): point the slot at dbn so that
        // nothing keeps bn_backward_data alive.
        p.main[0] = b.inputs[0]!;
        w.node(p.op, n.name, convInputs(p), p.outputs, convAttrs(p));
      });
    },
  };
}
