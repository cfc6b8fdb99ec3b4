/**
 * Lowers graph nodes to the WebAssembly kernels (src/kernels/*.ts hosts; NHWC activations,
 * so a 4-D tensor [N, C, H, W] is M = N*H*W rows of C channels). One rule per op type; a
 * rule may decline (return undefined) and the node then runs its reference kernel.
 */
import type { Node, Shape } from '../graph/ir.js';
import {
  type ConvGeom,
  type ConvWorkspace,
  type DyPrologue,
  convBackwardData,
  convBackwardWeight,
  convForward,
  convGeom,
  convDxAccumulates,
  convFusedActivation,
  convGeomOf,
  convStridedOutput,
  convWorkspace,
  convWorkspaceBytes,
} from '../kernels/conv.js';
import * as K from '../kernels/eltwise.js';
import * as F from '../kernels/bn_fused.js';
import { type Activation, actCode, activationOf } from '../ops/activation.js';
import { type BnReluMaskAttrs, FUSED_GROUP, type FusedConvAttrs, fusedOperands } from '../ops/conv2d_fused.js';
import type { Conv2dAttrs } from '../ops/conv2d.js';
import type { BatchNormAttrs, BnDxCoefAttrs } from '../ops/batch_norm2d.js';
import type { BnActReduceAttrs } from '../ops/bn_act_reduce.js';
import type { Pool2dAttrs } from '../ops/pool2d.js';
import type { ShortcutPadAttrs } from '../ops/shortcut_pad.js';
import { type StochasticDepthAttrs, stochasticDepthMask } from '../ops/stochastic_depth.js';
import type { Lowering, LoweringContext } from './executor.js';
import type { Arena } from './memory.js';
import { viewOf } from './planner.js';
import type { Backend } from './backend.js';

type Rule = (node: Node, lc: LoweringContext, e: WasmLowering) => (() => void) | undefined;

const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);

/** Per-node view of pointers and shapes. */
function io(node: Node, lc: LoweringContext) {
  return {
    x: (i: number): number => lc.arrays[node.inputs[i]!]!.byteOffset,
    y: (i: number): number => lc.arrays[node.outputs[i]!]!.byteOffset,
    xs: (i: number): Shape => lc.graph.value(node.inputs[i]!).shape,
    ys: (i: number): Shape => lc.graph.value(node.outputs[i]!).shape,
    nhwcIn: (i: number): boolean => lc.nhwc(node.inputs[i]!),
    nhwcOut: (i: number): boolean => lc.nhwc(node.outputs[i]!),
  };
}

/** shortcut_pad (forward) or its backward: x [N, C, H, W] is the forward input (the backward's output). */
function shortcutRule(forward: boolean): Rule {
  return (node, lc, { backend }) => {
    const p = io(node, lc);
    if (!p.nhwcIn(0) || !p.nhwcOut(0)) return undefined;
    const [N, C, H, W] = (forward ? p.xs(0) : p.ys(0)) as number[];
    const a = node.attrs as unknown as ShortcutPadAttrs;
    const s = { N: N!, C: C!, H: H!, W: W!, stride: a.stride, before: a.before, after: a.after };
    const [src, dst] = [p.x(0), p.y(0)];
    return forward ? () => K.shortcutPadForward(backend, src, dst, s) : () => K.shortcutPadBackward(backend, src, dst, s);
  };
}

/** [M, C] of an NHWC tensor of logical shape [N, C, H, W]. */
const rows = (s: Shape): [number, number] => [s[0]! * s[2]! * s[3]!, s[1]!];

function poolShape(s: Shape, a: Pool2dAttrs): K.PoolShape {
  return { N: s[0]!, C: s[1]!, H: s[2]!, W: s[3]!, kernel: a.kernel, stride: a.stride, padding: a.padding };
}

/** Elementwise ops run on any layout as long as every operand shares it. */
function sameLayout(node: Node, lc: LoweringContext): boolean {
  const all = [...node.inputs, ...node.outputs].map((id) => lc.nhwc(id));
  return all.every((v) => v === all[0]);
}

const RULES: Record<string, Rule> = {
  // linear = a 1x1 convolution over N images of 1x1 pixels: [N, I] is NHWC [N, 1, 1, I], and the
  // weight [O, I] is OIHW [O, I, 1, 1], so the GEMM kernels run it unchanged.
  linear(node, lc, e) {
    const p = io(node, lc);
    const [N, I] = p.xs(0) as number[];
    const O = p.xs(1)[0]!;
    const g = convGeom({ N: N!, C: I!, H: 1, W: 1, K: O, KH: 1 });
    e.ensureConvWorkspace(g);
    const [x, w, b, y] = [p.x(0), p.x(1), node.inputs.length > 2 ? p.x(2) : 0, p.y(0)];
    return () => convForward(e.backend, g, x, w, b, y, e.convWs!);
  },
  linear_backward_data(node, lc, e) {
    const p = io(node, lc);
    const a = node.attrs as unknown as { xShape: Shape; wShape: Shape };
    const g = convGeom({ N: a.xShape[0]!, C: a.xShape[1]!, H: 1, W: 1, K: a.wShape[0]!, KH: 1 });
    e.ensureConvWorkspace(g);
    const [dy, w, dx] = [p.x(0), p.x(1), p.y(0)];
    return () => convBackwardData(e.backend, g, dy, w, dx, e.convWs!);
  },
  linear_backward_weight(node, lc, e) {
    const p = io(node, lc);
    const a = node.attrs as unknown as { xShape: Shape; wShape: Shape; bias: boolean };
    const g = convGeom({ N: a.xShape[0]!, C: a.xShape[1]!, H: 1, W: 1, K: a.wShape[0]!, KH: 1 });
    e.ensureConvWorkspace(g);
    const [dy, x, dw, db] = [p.x(0), p.x(1), p.y(0), a.bias ? p.y(1) : 0];
    return () => convBackwardWeight(e.backend, g, dy, x, dw, db, e.convWs!);
  },
  conv2d(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0) || !p.nhwcOut(0)) return undefined;
    const g = convGeomOf(p.xs(0), p.xs(1), node.attrs as unknown as Conv2dAttrs);
    e.ensureConvWorkspace(g);
    const [x, w, b, y] = [p.x(0), p.x(1), node.inputs.length > 2 ? p.x(2) : 0, p.y(0)];
    return () => convForward(e.backend, g, x, w, b, y, e.convWs!);
  },
  conv2d_backward_data(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0) || !p.nhwcOut(0)) return undefined;
    const a = node.attrs as unknown as Conv2dAttrs & { xShape: Shape; wShape: Shape };
    const g = convGeomOf(a.xShape, a.wShape, a);
    e.ensureConvWorkspace(g);
    const [dy, w, dx] = [p.x(0), p.x(1), p.y(0)];
    return () => convBackwardData(e.backend, g, dy, w, dx, e.convWs!);
  },
  conv2d_backward_weight(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0) || !p.nhwcIn(1)) return undefined;
    const a = node.attrs as unknown as Conv2dAttrs & { xShape: Shape; wShape: Shape; bias: boolean };
    const g = convGeomOf(a.xShape, a.wShape, a);
    e.ensureConvWorkspace(g);
    const [dy, x, dw, db] = [p.x(0), p.x(1), p.y(0), a.bias ? p.y(1) : 0];
    return () => convBackwardWeight(e.backend, g, dy, x, dw, db, e.convWs!);
  },
  batch_norm2d(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const a = node.attrs as unknown as BatchNormAttrs;
    const args = [p.x(0), p.y(0), M, C, p.x(1), p.x(2), p.y(1), p.y(2), p.x(3), p.x(4), p.x(5)] as const;
    const opts = { training: a.training === true, eps: a.eps ?? 1e-5, momentum: a.momentum === undefined ? 0.1 : a.momentum };
    return () => K.bnForward(backend, ...args, opts);
  },
  bn_backward_reduce(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const [dy, x, mean, rstd, dbeta, dgamma] = [p.x(0), p.x(1), p.x(2), p.x(3), p.y(0), p.y(1)];
    return () => K.bnBackwardReduce(backend, dy, x, M, C, mean, rstd, dbeta, dgamma);
  },
  bn_backward_data(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const [dy, x, mean, rstd, gamma, dbeta, dgamma, dx] = [p.x(0), p.x(1), p.x(2), p.x(3), p.x(4), p.x(5), p.x(6), p.y(0)];
    return () => K.bnBackwardData(backend, dy, x, dx, M, C, mean, rstd, gamma, dbeta, dgamma);
  },
  // in place: the planner gave the output the gradient buffer's memory
  bn_backward_data_acc(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0) || !p.nhwcIn(1) || !p.nhwcIn(2) || p.x(0) !== p.y(0)) return undefined;
    const [M, LD] = rows(p.xs(0));
    const C = p.xs(1)[1]!;
    const [dy, x, mean, rstd, gamma, dbeta, dgamma, G] = [p.x(1), p.x(2), p.x(3), p.x(4), p.x(5), p.x(6), p.x(7), p.y(0)];
    const LX = lc.stride(node.inputs[2]!); // x may be a view of a concatenation buffer
    return () => K.bnBackwardDataAcc(backend, dy, x, G, M, C, LD, mean, rstd, gamma, dbeta, dgamma, LX);
  },
  // scale*x + shift as bn_normalize with mean 0 and rstd 1 (a = scale*1, b = shift - a*0: exact).
  channel_affine(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const zero = e.arena.reserve(4 * C, 'channel_affine constants');
    const one = e.arena.reserve(4 * C, 'channel_affine constants');
    e.arena.view(zero, C).fill(0);
    e.arena.view(one, C).fill(1);
    const [x, scale, shift, y] = [p.x(0), p.x(1), p.x(2), p.y(0)];
    return () => K.bnNormalize(e.backend, x, y, M, C, scale, shift, zero, one, false);
  },
  relu(node, lc, { backend }) {
    if (!sameLayout(node, lc)) return undefined;
    const p = io(node, lc);
    const [x, y, n] = [p.x(0), p.y(0), numel(p.xs(0))];
    return () => K.reluForward(backend, x, y, n);
  },
  relu_backward(node, lc, { backend }) {
    if (!sameLayout(node, lc)) return undefined;
    const p = io(node, lc);
    const [dy, y, dx, n] = [p.x(0), p.x(1), p.y(0), numel(p.xs(0))];
    return () => K.reluBackward(backend, dy, y, dx, n);
  },
  add(node, lc, { backend }) {
    if (!sameLayout(node, lc)) return undefined;
    const p = io(node, lc);
    const [a, b, y, n] = [p.x(0), p.x(1), p.y(0), numel(p.xs(0))];
    return () => K.add(backend, a, b, y, n);
  },
  mul(node, lc, { backend }) {
    if (!sameLayout(node, lc)) return undefined;
    const p = io(node, lc);
    const [a, b, y, n] = [p.x(0), p.x(1), p.y(0), numel(p.xs(0))];
    return () => K.mul(backend, a, b, y, n);
  },
  concat(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcOut(0)) return undefined;
    const inputs = node.inputs.map((_, i) => ({ ptr: p.x(i), C: p.xs(i)[1]! }));
    const [M] = rows(p.ys(0));
    const y = p.y(0);
    const view = viewOf(node);
    if (view) {
      // a view of its chain's buffer (passes/concat_views.ts): copy only the new parts into
      // their channels of the buffer (pixel stride LD), the earlier ones are there already
      // (parts their producers wrote into the buffer themselves, view.inPlace, are there too)
      const LD = lc.stride(node.outputs[0]!);
      const at = inputs.map((_, i) => inputs.slice(0, i).reduce((a, q) => a + q.C, 0));
      const parts = inputs.map((q, i) => ({ ...q, at: at[i]!, i })).filter((q) => q.i >= view.from && !view.inPlace?.includes(q.i));
      if (parts.some((q) => lc.stride(node.inputs[q.i]!) !== q.C)) return undefined;
      return () => {
        for (const q of parts) K.copyChannels(backend, q.ptr, q.C, 0, y, LD, q.at, q.C, M);
      };
    }
    return () => K.concatForward(backend, inputs, y, M);
  },
  slice_channels(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const { start, size } = node.attrs as { start: number; size: number };
    const [src, dst] = [p.x(0), p.y(0)];
    return () => K.sliceChannels(backend, src, C, start, size, dst, M);
  },
  max_pool2d(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const s = poolShape(p.xs(0), node.attrs as unknown as Pool2dAttrs);
    const [x, y] = [p.x(0), p.y(0)];
    return () => K.maxPoolForward(backend, x, y, s);
  },
  max_pool2d_backward(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(1)) return undefined;
    const s = poolShape(p.xs(1), node.attrs as unknown as Pool2dAttrs);
    const [dy, x, dx] = [p.x(0), p.x(1), p.y(0)];
    return () => K.maxPoolBackward(backend, dy, x, dx, s);
  },
  avg_pool2d(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const a = node.attrs as unknown as Pool2dAttrs;
    const s = poolShape(p.xs(0), a);
    const [x, y] = [p.x(0), p.y(0)];
    return () => K.avgPoolForward(backend, x, y, s, a.count_include_pad ?? true);
  },
  avg_pool2d_backward(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcOut(0)) return undefined;
    const a = node.attrs as unknown as Pool2dAttrs;
    const s = poolShape(a.xShape!, a);
    const [dy, dx] = [p.x(0), p.y(0)];
    return () => K.avgPoolBackward(backend, dy, dx, s, a.count_include_pad ?? true);
  },
  shortcut_pad: shortcutRule(true),
  shortcut_pad_backward: shortcutRule(false),
  global_avg_pool(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [N, C, H, W] = p.xs(0) as number[];
    const [x, y] = [p.x(0), p.y(0)];
    return () => K.globalAvgPoolForward(backend, x, y, N!, H! * W!, C!);
  },
  global_avg_pool_backward(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcOut(0)) return undefined;
    const [N, C, H, W] = p.ys(0) as number[];
    const [dy, dx] = [p.x(0), p.y(0)];
    return () => K.globalAvgPoolBackward(backend, dy, dx, N!, H! * W!, C!);
  },
  flatten(node, lc, { backend }) {
    const p = io(node, lc);
    const s = p.xs(0);
    if (!p.nhwcIn(0) || s.length !== 4) return undefined;
    const [N, C, H, W] = s as number[];
    const [src, dst] = [p.x(0), p.y(0)];
    // [N, C, 1, 1] is laid out the same in NHWC and NCHW; otherwise flatten follows NCHW order.
    if (H! * W! === 1) return () => K.copyChannels(backend, src, C!, 0, dst, C!, 0, C!, N!);
    return () => K.nhwcToNchw(backend, src, dst, N!, H!, W!, C!);
  },
  reshape(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcOut(0) || p.nhwcIn(0)) return undefined;
    const [N, C, H, W] = p.ys(0) as number[];
    const [src, dst] = [p.x(0), p.y(0)];
    if (H! * W! === 1) return () => K.copyChannels(backend, src, C!, 0, dst, C!, 0, C!, N!);
    return () => K.nchwToNhwc(backend, src, dst, N!, H!, W!, C!);
  },
};

/** The parts of a fused convolution node: its attributes and the pointers of its operand groups (fusedOperands). */
function fusedParts(node: Node, lc: LoweringContext) {
  const a = node.attrs as unknown as FusedConvAttrs;
  const ptr = (i: number): number => lc.arrays[node.inputs[i]!]!.byteOffset;
  const o = fusedOperands(node.op, a);
  const group = (at: number | undefined, n: number): number[] | undefined => (at === undefined ? undefined : Array.from({ length: n }, (_, i) => ptr(at + i)));
  return { a, o, ptr, dyp: group(o.dyp, FUSED_GROUP.dyp), xp: group(o.xp, FUSED_GROUP.xp), dxe: group(o.dxe, FUSED_GROUP.dxe) };
}

/** The dy prologue of a fused backward call: the BN's saved tensors, and a buffer for its coefficients. */
function dyPrologue(e: WasmLowering, dyp: number[] | undefined, K_: number): DyPrologue | undefined {
  if (!dyp) return undefined;
  const coef = e.arena.reserve(12 * K_, 'BN backward coefficients');
  return { dbn: dyp[0]!, xbn: dyp[1]!, coef, bn: { mean: dyp[2]!, rstd: dyp[3]!, gamma: dyp[4]!, dbeta: dyp[5]!, dgamma: dyp[6]! } };
}

/** conv2d_fused_backward_data, or with acc its dx epilogue accumulating into a gradient buffer. */
function fusedBackwardData(node: Node, lc: LoweringContext, e: WasmLowering, acc?: { G: number; stride: number }): (() => void) | undefined {
  const p = io(node, lc);
  if (!p.nhwcIn(0) || (!acc && !p.nhwcOut(0))) return undefined;
  const f = fusedParts(node, lc);
  const { a, o, ptr, dyp, dxe } = f;
  const g = convGeomOf(a.xShape!, a.wShape!, a);
  e.ensureConvWorkspace(g);
  const K_ = p.xs(0)[1]!;
  const C = a.xShape![1]!;
  const [dy, w] = [ptr(0), ptr(1)];
  // accumulating: no dx is stored (the 1x1 path adds from registers, Winograd from a ring in cache)
  const dx = !acc ? p.y(0) : 0;
  const outs = node.outputs.map((_, i) => p.y(i));
  const act = dxe !== undefined ? activationOf(a.dxEpilogue) : 'none';
  if (acc && (!dxe || !convDxAccumulates(g))) return undefined;
  if (!convFusedActivation(g, actCode(act))) return undefined;
  // without an activation the mask is off and its coefficients are never read (unless accumulating: a2)
  const coef = act !== 'none' || acc ? e.coefficients(C) : 0;
  const fusion = {
    dyPrologue: dyPrologue(e, dyp, K_),
    dxEpilogue: dxe
      ? {
          x2: dxe[0]!,
          coef,
          mean: dxe[1]!,
          rstd: dxe[2]!,
          relu: act === 'relu',
          act: actCode(act),
          dbeta: outs[1]!,
          dgamma: outs[2]!,
          stride: lc.stride(node.inputs[o.dxe!]!),
          accumulate: acc,
        }
      : undefined,
  };
  return () => {
    if (coef) F.bnCoefficients(e.backend, C, dxe![1]!, dxe![2]!, dxe![3]!, dxe![4]!, coef);
    convBackwardData(e.backend, g, dy, w, dx, e.convWs!, fusion);
  };
}

const FUSED_RULES: Record<string, Rule> = {
  channel_moments(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const [x, mean, v] = [p.x(0), p.y(0), p.y(1)];
    return () => K.bnMoments(backend, x, M, C, mean, v);
  },
  bn_apply(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const [x, mean, rstd, gamma, beta, y] = [p.x(0), p.x(1), p.x(2), p.x(3), p.x(4), p.y(0)];
    const act = actCode(activationOf(node.attrs as { act?: Activation; relu?: boolean }));
    return () => K.bnNormalize(backend, x, y, M, C, gamma, beta, mean, rstd, act);
  },
  // bn_finalize and concat_vec work on [C] vectors: their reference kernels run them as they are.
  bn_relu_mask(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const coef = e.coefficients(C);
    const [dy, x, mean, rstd, gamma, beta, dx] = [p.x(0), p.x(1), p.x(2), p.x(3), p.x(4), p.x(5), p.y(0)];
    const act = actCode((node.attrs as BnReluMaskAttrs).act ?? 'relu');
    return () => {
      F.bnCoefficients(e.backend, C, mean, rstd, gamma, beta, coef);
      F.bnReluMask(e.backend, dy, x, coef, dx, M, C, act);
    };
  },
  bn_act_reduce(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const a = node.attrs as unknown as BnActReduceAttrs;
    const x = node.inputs.map((_, i) => p.x(i));
    const [dz, dbeta, dgamma] = [p.y(0), p.y(1), p.y(2)];
    const code = actCode(a.act);
    if (a.from === 'output') return () => K.bnBackwardReduce(e.backend, x[0]!, x[1]!, M, C, x[2]!, x[3]!, dbeta, dgamma, { code, src: { y: x[4]! }, dz });
    const coef = e.coefficients(C);
    return () => {
      F.bnCoefficients(e.backend, C, x[2]!, x[3]!, x[4]!, x[5]!, coef);
      K.bnBackwardReduce(e.backend, x[0]!, x[1]!, M, C, x[2]!, x[3]!, dbeta, dgamma, { code, src: { coef }, dz });
    };
  },
  bn_add_relu(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const two = node.attrs.shortcut === 'bn';
    const c1 = e.coefficients(C);
    const c2 = two ? e.coefficients(C) : 0;
    const x = node.inputs.map((_, i) => p.x(i));
    const y = p.y(0);
    const relu = node.attrs.relu !== false;
    return () => {
      F.bnCoefficients(e.backend, C, x[1]!, x[2]!, x[3]!, x[4]!, c1);
      if (two) F.bnCoefficients(e.backend, C, x[6]!, x[7]!, x[8]!, x[9]!, c2);
      F.bnAddRelu(e.backend, x[0]!, c1, two ? 0 : x[5]!, two ? x[5]! : 0, c2, y, M, C, relu);
    };
  },
  bn_add_relu_backward(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0)) return undefined;
    const [M, C] = rows(p.xs(0));
    const two = node.attrs.shortcut === 'bn';
    const x = node.inputs.map((_, i) => p.x(i));
    const y = node.outputs.map((_, i) => p.y(i));
    const relu = node.attrs.relu !== false;
    return () => {
      // the ReLU mask and the first BN's reductions in one pass
      if (relu) K.bnBackwardReduce(e.backend, x[0]!, x[2]!, M, C, x[3]!, x[4]!, y[1]!, y[2]!, { code: actCode('relu'), src: { y: x[1]! }, dz: y[0]! });
      else {
        K.copyChannels(e.backend, x[0]!, C, 0, y[0]!, C, 0, C, M);
        K.bnBackwardReduce(e.backend, y[0]!, x[2]!, M, C, x[3]!, x[4]!, y[1]!, y[2]!);
      }
      if (two) K.bnBackwardReduce(e.backend, y[0]!, x[5]!, M, C, x[6]!, x[7]!, y[3]!, y[4]!);
    };
  },
  // Fused convolutions: the BN work runs inside the convolution kernels (prologue while packing
  // an operand, epilogue on the finished output tiles; src/kernels/conv.ts `fusion`), with the
  // BN coefficients computed on the host per call into small arena buffers. Depthwise
  // convolutions (groups == C == K > 1) take the depthwise family's fused kernels (conv_dw_*_f).
  conv2d_fused(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0) || !p.nhwcOut(0)) return undefined;
    const f = fusedParts(node, lc);
    const { a, ptr, xp } = f;
    const g = convGeomOf(p.xs(0), p.xs(1), a);
    e.ensureConvWorkspace(g);
    const C = p.xs(0)[1]!;
    const K_ = p.ys(0)[1]!;
    const [x, w, b, y] = [ptr(0), ptr(1), a.bias ? ptr(2) : 0, p.y(0)];
    // y may be a slice of a concatenation buffer (concat_views.ts: the producer writes its part)
    const ys = lc.stride(node.outputs[0]!);
    if (ys !== K_ && !convStridedOutput(g)) return undefined;
    const xact = xp ? activationOf(a.xPrologue) : 'none';
    if (!convFusedActivation(g, actCode(xact))) return undefined;
    const coef = xp ? e.coefficients(C) : 0;
    const fusion = {
      xPrologue: xp ? { coef, relu: xact === 'relu', act: actCode(xact), stride: lc.stride(node.inputs[0]!) } : undefined,
      moments: a.epilogue ? { mean: p.y(1), variance: p.y(2) } : undefined,
      outputStride: ys === K_ ? undefined : ys,
    };
    return () => {
      if (xp) F.bnCoefficients(e.backend, C, xp[0]!, xp[1]!, xp[2]!, xp[3]!, coef);
      convForward(e.backend, g, x, w, b, y, e.convWs!, fusion);
    };
  },
  conv2d_fused_backward_data(node, lc, e) {
    return fusedBackwardData(node, lc, e);
  },
  // the dx epilogue adds a2*dx into the gradient buffer G (input 0, in place: output 0)
  conv2d_fused_backward_data_acc(node, lc, e) {
    if (!lc.nhwc(node.inputs[0]!)) return undefined;
    const G = lc.arrays[node.outputs[0]!]!.byteOffset;
    if (G !== lc.arrays[node.inputs[0]!]!.byteOffset) return undefined;
    const inner: Node = { ...node, op: 'conv2d_fused_backward_data', inputs: node.inputs.slice(1) };
    return fusedBackwardData(inner, lc, e, { G, stride: lc.stride(node.inputs[0]!) });
  },
  bn_dx_coef(node, lc, { backend }) {
    const a = node.attrs as unknown as BnDxCoefAttrs;
    const p = io(node, lc);
    const k = a.init ? 0 : 1;
    const [S, mean, rstd, gamma, dbeta, dgamma, out] = [a.init ? 0 : p.x(0), p.x(k), p.x(k + 1), p.x(k + 2), p.x(k + 3), p.x(k + 4), p.y(0)];
    const C = p.xs(k)[0]!;
    return () => F.bnDxCoef(backend, C, a.channels, a.count, S, mean, rstd, gamma, dbeta, dgamma, out);
  },
  slice_channels_affine(node, lc, { backend }) {
    const p = io(node, lc);
    if (!p.nhwcIn(0) || !p.nhwcIn(1) || !p.nhwcOut(0)) return undefined;
    const { start, size } = node.attrs as { start: number; size: number };
    const M = rows(p.xs(0))[0];
    const CG = p.xs(0)[1]!;
    const [G, x, S, y] = [p.x(0), p.x(1), p.x(2), p.y(0)];
    const [LG, LX] = [lc.stride(node.inputs[0]!), lc.stride(node.inputs[1]!)];
    return () => K.sliceAffine(backend, G + 4 * start, LG, x + 4 * start, LX, y, size, S + 4 * start, S + 4 * (CG + start), S + 4 * (2 * CG + start), M);
  },
  conv2d_fused_backward_weight(node, lc, e) {
    const p = io(node, lc);
    if (!p.nhwcIn(0) || !p.nhwcIn(1)) return undefined;
    const f = fusedParts(node, lc);
    const { a, ptr, dyp, xp } = f;
    const g = convGeomOf(a.xShape!, a.wShape!, a);
    e.ensureConvWorkspace(g);
    const K_ = p.xs(0)[1]!;
    const C = a.xShape![1]!;
    const [dy, x, dw, db] = [ptr(0), ptr(1), p.y(0), a.bias ? p.y(1) : 0];
    const xact = xp ? activationOf(a.xPrologue) : 'none';
    if (!convFusedActivation(g, actCode(xact))) return undefined;
    const coef = xp ? e.coefficients(C) : 0;
    const fusion = {
      dyPrologue: dyPrologue(e, dyp, K_),
      xPrologue: xp ? { coef, relu: xact === 'relu', act: actCode(xact), stride: lc.stride(node.inputs[1]!) } : undefined,
    };
    return () => {
      if (xp) F.bnCoefficients(e.backend, C, xp[0]!, xp[1]!, xp[2]!, xp[3]!, coef);
      convBackwardWeight(e.backend, g, dy, x, dw, db, e.convWs!, fusion);
    };
  },
};

/** An elementwise activation op and its backward on their kernels (src/kernels/eltwise.ts actForward, actBackward). */
function actRules(op: K.ActOp): Record<string, Rule> {
  // forward (x, y), backward (dy, z, dx): n elements each
  const rule =
    (backward: boolean): Rule =>
    (node, lc, { backend }) => {
      if (!sameLayout(node, lc)) return undefined;
      const p = io(node, lc);
      const [a, z, out, n] = [p.x(0), backward ? p.x(1) : 0, p.y(0), numel(p.xs(0))];
      return backward ? () => K.actBackward(backend, op, a, z, out, n) : () => K.actForward(backend, op, a, out, n);
    };
  return { [op]: rule(false), [`${op}_backward`]: rule(true) };
}

/** channel_scale (x, s -> y; also its dx) or its scale gradient (dy, x -> ds): x and y (dy) NHWC. */
function channelScaleRule(scaleGrad: boolean): Rule {
  return (node, lc, { backend }) => {
    const p = io(node, lc);
    if (!p.nhwcIn(0) || !(scaleGrad ? p.nhwcIn(1) : p.nhwcOut(0))) return undefined;
    const [N, C, H, W] = p.xs(scaleGrad ? 1 : 0) as number[];
    const [a, b, out, HW] = [p.x(0), p.x(1), p.y(0), H! * W!];
    return scaleGrad ? () => K.channelScaleBackwardScale(backend, a, b, out, N!, HW, C!) : () => K.channelScale(backend, a, b, out, N!, HW, C!);
  };
}

/**
 * The lean CNNs' elementwise ops (relu6, silu, hardswish, sigmoid, channel_scale, stochastic
 * depth). channel_scale's scale s [N, C, 1, 1] is laid out alike in NHWC and NCHW; x and y must be NHWC.
 */
const LEAN_RULES: Record<string, Rule> = {
  ...actRules('relu6'),
  ...actRules('silu'),
  ...actRules('hardswish'),
  ...actRules('sigmoid'),
  channel_scale: channelScaleRule(false),
  channel_scale_backward_scale: channelScaleRule(true),
  // the mask is drawn on the host as the op draws it (stochasticDepthMask), the kernel applies it
  stochastic_depth(node, lc, e) {
    const p = io(node, lc);
    if (p.nhwcIn(0) !== p.nhwcOut(0)) return undefined;
    const N = p.xs(0)[0]!;
    const per = numel(p.xs(0)) / N;
    const attrs = node.attrs as unknown as StochasticDepthAttrs;
    const [x, y] = [p.x(0), p.y(0)];
    // a mask nobody reads may have no storage of its own
    const planned = lc.arrays[node.outputs[1]!]!.length >= N;
    const spare = planned ? 0 : e.arena.reserve(4 * N, 'stochastic depth mask');
    return () => {
      const mask = planned ? lc.arrays[node.outputs[1]!]! : e.arena.view(spare, N);
      mask.set(stochasticDepthMask(attrs, lc.ctx, node.name, N));
      K.sampleScale(e.backend, x, mask.byteOffset, y, N, per);
    };
  },
  stochastic_depth_backward(node, lc, { backend }) {
    const p = io(node, lc);
    if (p.nhwcIn(0) !== p.nhwcOut(0)) return undefined;
    const N = p.xs(1)[0]!;
    const per = numel(p.xs(0)) / N;
    const [dy, mask, dx] = [p.x(0), p.x(1), p.y(0)];
    return () => K.sampleScale(backend, dy, mask, dx, N, per);
  },
};

/** The ops whose rules read an input that is a view (pixel stride above its channels). */
// (concat: a marked one lists the parts written into its buffer as inputs, and copies none of them)
const READS_VIEWS = new Set([
  'bn_backward_data_acc',
  'concat',
  'conv2d_fused',
  'conv2d_fused_backward_data',
  'conv2d_fused_backward_data_acc',
  'conv2d_fused_backward_weight',
  'slice_channels_affine',
]);

export class WasmLowering implements Lowering {
  readonly name = 'wasm';
  readonly views = true;
  /** One convolution workspace shared by every node (nodes run one at a time); grown on demand. */
  convWs?: ConvWorkspace;

  constructor(
    readonly backend: Backend,
    readonly arena: Arena,
  ) {}

  ensureConvWorkspace(g: ConvGeom): void {
    if (!this.convWs || this.convWs.bytes < convWorkspaceBytes(g)) this.convWs = convWorkspace(this.arena, g);
  }

  /** A per-node buffer for 2*C BN coefficients. */
  coefficients(C: number): number {
    return this.arena.reserve(8 * C, 'BN coefficients');
  }

  lower(node: Node, lc: LoweringContext): (() => void) | undefined {
    const v = node.inputs.find((id) => lc.stride(id) !== (lc.graph.value(id).shape[1] ?? 1));
    if (v !== undefined && !READS_VIEWS.has(node.op)) {
      throw new Error(
        `layer "${node.name}" (${node.op}) reads "${lc.graph.value(v).name}", a view of a concatenation buffer, and has no kernel that reads views`,
      );
    }
    return (RULES[node.op] ?? FUSED_RULES[node.op] ?? LEAN_RULES[node.op])?.(node, lc, this);
  }
}
