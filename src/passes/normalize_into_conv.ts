/**
 * Fusion (b): the normalize half of a BN (with its ReLU) goes into the input packing of the
 * convolutions that consume it; the normalized tensor is never written.
 *   z = bn_apply(x); y = conv(z)      ->  y = conv2d_fused{xPrologue}(x, w, mean, rstd, gamma, beta)
 *   dw = conv_backward_weight(dy, z)  ->  dw = conv2d_fused_backward_weight{xPrologue}(dy, x, ...)
 *                                         (z recomputed on the fly from x and the statistics)
 *   relu_backward(dz, z)              ->  bn_relu_mask(dz, x, mean, rstd, gamma, beta)   (relu6_backward: bn_relu_mask{act: relu6})
 * Zero padding is applied after normalization (border taps read 0, not a*0+b).
 * Store mode (FusionOptions.storeNormalized, the alternative to recomputing z in backward-weights):
 * z = bn_apply(x) is written once in forward and read by the convolution and its backward-weights
 * as plain operands; only the ReLU's backward becomes bn_relu_mask (so that fusion (c) applies).
 * Guards: consumersAreConvs (every reader of z is a convolution, its backward-weight, or the
 * ReLU's backward; a residual add or a pooling layer keeps z materialised), depthwiseFused (none
 * of those convolutions is a depthwise one without fused kernels or with depthwise fusion off:
 * conv_parts.ts depthwiseGate), activationInConv (the convolutions' fused kernels apply the
 * activation folded into the normalize: KernelCapabilities.convActivation; the GEMM and depthwise
 * kernels apply every one, the Winograd ones ReLU only, so ReLU6, SiLU or hardswish before a
 * Winograd convolution keep z materialised by bn_apply).
 */
import type { Graph, Node } from '../graph/ir.js';
import { type Activation, activationName, activationOf } from '../ops/activation.js';
import type { FusedConvAttrs } from '../ops/conv2d_fused.js';
import type { ConvSpec, KernelCapabilities } from './capabilities.js';
import { ACTIVATION_COST_GUARD, DEPTHWISE_GUARD, type DepthwiseGate, activationCost, convAttrs, convInputs, depthwiseGate, readConv } from './conv_parts.js';
import { type Pass, consumers, rebuild } from './rewrite.js';

/** '+ReLU', '+ReLU6', ... for reports ('' for none). */
export function actLabel(act: Activation): string {
  return act === 'none' ? '' : `+${activationName(act)}`;
}

function eligible(n: Node, z: number): boolean {
  if ((n.op === 'conv2d' || n.op === 'conv2d_fused') && n.inputs[0] === z && !n.inputs.slice(1).includes(z)) return !readConv(n).xp;
  if ((n.op === 'conv2d_backward_weight' || n.op === 'conv2d_fused_backward_weight') && n.inputs[1] === z && n.inputs[0] !== z) return !readConv(n).xp;
  if (isMaskOp(n) && n.inputs[1] === z && n.inputs[0] !== z) return true;
  return false;
}

/** The backward of a folded ReLU or ReLU6 (reads the normalized output z). */
const isMaskOp = (n: Node): boolean => n.op === 'relu_backward' || n.op === 'relu6_backward';

/** The spec of a convolution reading z (forward: x; backward-weight: x is input 1). */
function specOf(g: Graph, n: Node): ConvSpec {
  const a = n.attrs as unknown as FusedConvAttrs;
  return a.xShape && a.wShape
    ? { xShape: a.xShape, wShape: a.wShape, attrs: a }
    : { xShape: g.value(n.inputs[0]!).shape, wShape: g.value(n.inputs[1]!).shape, attrs: a };
}

/**
 * The pass; store: z is materialised and read by the convolutions (see the header); dw: the
 * depthwiseFused guard.
 */
export function normalizeIntoConvWith(store: boolean, dw: DepthwiseGate = depthwiseGate(false), caps?: KernelCapabilities, acts?: readonly Activation[]): Pass {
  return {
    name: 'normalize-into-conv',
    run(g, report) {
      const uses = consumers(g);
      /** consumer node id -> the bn_apply node it absorbs */
      const absorb = new Map<number, Node>();
      for (const n of g.nodes) {
        if (n.op !== 'bn_apply') continue;
        const bn = String(n.attrs.bn ?? n.name);
        const z = n.outputs[0]!;
        const users = uses.get(z) ?? [];
        const bad = users.filter((u) => !eligible(u, z));
        if (users.length === 0 || bad.length > 0 || g.outputs.has(g.value(z).name) || [...g.outputs.values()].includes(z)) {
          report.blocked(
            bn,
            'normalize-into-conv',
            'consumersAreConvs',
            bad.length ? `read by ${bad.map((u) => `${u.op} "${u.name}"`).join(', ')}` : 'output is a graph output',
          );
          continue;
        }
        const why = users.map((u) => (isMaskOp(u) ? undefined : dw(g, u))).find((w) => w !== undefined);
        if (why) {
          report.blocked(bn, 'normalize-into-conv', DEPTHWISE_GUARD, why);
          continue;
        }
        const convs = users.filter((u) => u.op === 'conv2d' || u.op === 'conv2d_fused');
        const act = activationOf(n.attrs as { act?: Activation; relu?: boolean });
        const cant = store ? undefined : users.find((u) => !isMaskOp(u) && !(caps ? caps.convActivation(specOf(g, u), act) : act === 'none' || act === 'relu'));
        if (cant) {
          report.blocked(bn, 'normalize-into-conv', 'activationInConv', `the fused kernels of "${cant.name}" cannot apply ${act} after the normalize`);
          continue;
        }
        if (!store && acts && !acts.includes(act)) {
          report.blocked(bn, 'normalize-into-conv', ACTIVATION_COST_GUARD, activationCost(act));
          continue;
        }
        if (store) {
          for (const u of users) if (isMaskOp(u)) absorb.set(u.id, n);
          report.fired(
            bn,
            'normalize-into-conv',
            `normalize${actLabel(act)} stored once, read by ${convs.map((c) => `"${c.name}"`).join(', ')} and its backward-weights (store mode)`,
          );
          continue;
        }
        for (const u of users) absorb.set(u.id, n);
        report.fired(bn, 'normalize-into-conv', `normalize${actLabel(act)} in the input packing of ${convs.map((c) => `"${c.name}"`).join(', ')}`);
      }
      return rebuild(g, (n, w) => {
        const a = absorb.get(n.id);
        if (!a) return w.keep(n);
        const [x, mean, rstd, gamma, beta] = a.inputs as [number, number, number, number, number];
        const act = activationOf(a.attrs as { act?: Activation; relu?: boolean });
        if (isMaskOp(n)) {
          const attrs = act === 'relu' ? { bn: a.attrs.bn } : { act, bn: a.attrs.bn };
          w.node('bn_relu_mask', `${String(a.attrs.bn)}.relu_mask`, [n.inputs[0]!, x, mean, rstd, gamma, beta], n.outputs, attrs);
          return;
        }
        const p = readConv(n);
        if (p.op === 'conv2d_fused') p.main[0] = x;
        else p.main[1] = x;
        p.xp = [mean, rstd, gamma, beta];
        p.attrs.xPrologue = act === 'relu' || act === 'none' ? { relu: act === 'relu' } : { relu: false, act };
        w.node(p.op, n.name, convInputs(p), p.outputs, convAttrs(p));
      });
    },
  };
}
