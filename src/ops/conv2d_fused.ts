/**
 * Convolutions with batch-norm work fused into their prologue (the load of an operand) or
 * epilogue (the store of the result), as made by the fusion passes (src/passes). Each is
 * defined as the composition of the unfused ops, which is also its reference kernel.
 *
 * conv2d_fused (forward)
 *   inputs  x, w, [b], [mean, rstd, gamma, beta  when attrs.xPrologue]
 *   outputs y, [mean_y, var_y  when attrs.epilogue = 'moments']
 *   y = conv(P(x)) with P = bn_apply(+activation) when xPrologue (zero padding AFTER normalization),
 *   then the per-channel moments of y when the epilogue is on.
 * conv2d_fused_backward_data
 *   inputs  dy, w, [dbn, xbn, mean, rstd, gamma, dbeta, dgamma  when attrs.dyPrologue],
 *           [x2, mean2, rstd2, gamma2, beta2  when attrs.dxEpilogue]
 *   outputs dx, [dbeta2, dgamma2  when dxEpilogue]
 *   dy comes from the BN backward on load when dyPrologue (dy = bn_backward_data(dbn, xbn, ...),
 *   the first input is then unused); the epilogue multiplies dx by act'(bn(x2)) (ReLU: the mask
 *   bn(x2) > 0; none: 1) and reduces dbeta2 = sum dx, dgamma2 = rstd2 * sum dx*(x2 - mean2).
 * conv2d_fused_backward_data_acc
 *   inputs  G, then those of conv2d_fused_backward_data (dxEpilogue on)
 *   outputs G' = G with gamma2*rstd2*dx added into its leading channels (in place), dbeta2, dgamma2
 *           (dx itself is never stored: the kernels add it from registers or a ring in cache)
 * conv2d_fused_backward_weight
 *   inputs  dy, x, [dbn, xbn, mean, rstd, gamma, dbeta, dgamma  when dyPrologue],
 *           [mean, rstd, gamma, beta  when xPrologue]
 *   outputs dw, [db]
 */
import type { Shape } from '../graph/ir.js';
import { type Activation, actGrad, activationOf } from './activation.js';
import { normalize } from './batch_norm2d.js';
import { bnBackwardData, bnBackwardReduce } from './batch_norm2d.js';
import { moments } from './bn_split.js';
import { type Conv2dAttrs, conv2d, conv2dBackwardData, conv2dBackwardWeight } from './conv2d.js';
import { type Arr, type KernelArgs, type OpDef, ShapeErrorAt } from './op.js';

export interface FusedConvAttrs extends Conv2dAttrs {
  bias: boolean;
  /** x is BN-normalized (and activated: ReLU when relu, else act, see activationOf) on load. */
  xPrologue?: { relu: boolean; act?: Activation };
  /** Forward: per-channel moments of y. */
  epilogue?: 'moments';
  /** Backward: dy is computed on load from the BN backward of the layer that follows. */
  dyPrologue?: boolean;
  /** Backward-data: dx is multiplied by the derivative of the activation after a BN (ReLU: masked) and reduced for that BN. */
  dxEpilogue?: { relu: boolean; act?: Activation };
  xShape?: Shape;
  wShape?: Shape;
}

/**
 * Where each operand group of a fused convolution starts in its inputs, in the order above: the
 * main operands (main of them), then the dy prologue's, the x prologue's and the dx epilogue's
 * (FUSED_GROUP); a group that is off takes no place (undefined). For
 * conv2d_fused_backward_data_acc the positions are those after its gradient buffer. The one
 * definition of the layout: the passes (conv_parts.ts) and the lowering read nodes through it.
 */
export interface FusedOperands {
  main: number;
  dyp?: number;
  xp?: number;
  dxe?: number;
  /** Inputs in all (after the buffer, for the _acc op). */
  count: number;
}

/** Operands per group: dy prologue dbn, xbn, mean, rstd, gamma, dbeta, dgamma; x prologue mean, rstd, gamma, beta; dx epilogue x2, mean2, rstd2, gamma2, beta2. */
export const FUSED_GROUP = { dyp: 7, xp: 4, dxe: 5 } as const;

export function fusedOperands(op: string, a: FusedConvAttrs): FusedOperands {
  const main = op === 'conv2d_fused' && a.bias ? 3 : 2;
  let at = main;
  const group = (on: boolean, n: number): number | undefined => {
    if (!on) return undefined;
    at += n;
    return at - n;
  };
  const dyp = group(a.dyPrologue === true, FUSED_GROUP.dyp);
  const xp = group(a.xPrologue !== undefined, FUSED_GROUP.xp);
  const dxe = group(a.dxEpilogue !== undefined, FUSED_GROUP.dxe);
  return { main, dyp, xp, dxe, count: at };
}

const like = (a: Arr, n: number): Arr => (a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
const numel = (s: Shape): number => s.reduce((p, d) => p * d, 1);

/** Runs another op's reference kernel on given arrays. */
function call(def: OpDef, base: KernelArgs<unknown>, x: Arr[], xs: Shape[], y: Arr[], ys: Shape[], attrs: unknown): void {
  def.run({ x, y, xs, ys, attrs, node: base.node, ctx: base.ctx });
}

/** dy = bn_backward_data(dbn, xbn, mean, rstd, gamma, dbeta, dgamma), materialised. */
function dyFromBn(args: KernelArgs<FusedConvAttrs>, at: number, dyShape: Shape): Arr {
  const p = args.x.slice(at, at + 7);
  const dy = like(p[0]!, numel(dyShape));
  call(bnBackwardData, args, p, [dyShape, dyShape, ...p.slice(2).map((a) => [a.length])], [dy], [dyShape], {});
  return dy;
}

function normalized(args: KernelArgs<FusedConvAttrs>, x: Arr, xs: Shape, at: number, act: Activation): Arr {
  const [mean, rstd, gamma, beta] = args.x.slice(at, at + 4) as [Arr, Arr, Arr, Arr];
  const z = like(x, x.length);
  normalize(x, xs, mean, rstd, gamma, beta, act, z);
  return z;
}

export const conv2dFused: OpDef<FusedConvAttrs> = {
  type: 'conv2d_fused',
  infer(xs, a, layer) {
    const [y] = conv2d.infer(xs.slice(0, a.bias ? 3 : 2), a, layer) as [Shape];
    return a.epilogue === 'moments' ? [y, [y[1]!], [y[1]!]] : [y];
  },
  run(args) {
    const { x, xs, y, ys, attrs: a } = args;
    const o = fusedOperands('conv2d_fused', a),
      nc = o.main;
    const xin = a.xPrologue ? normalized(args, x[0]!, xs[0]!, o.xp!, activationOf(a.xPrologue)) : x[0]!;
    call(conv2d, args, [xin, ...x.slice(1, nc)], xs.slice(0, nc), [y[0]!], [ys[0]!], a);
    if (a.epilogue === 'moments') moments(y[0]!, ys[0]!, y[1]!, y[2]!);
  },
};

export const conv2dFusedBackwardData: OpDef<FusedConvAttrs> = {
  type: 'conv2d_fused_backward_data',
  infer(_xs, a) {
    const C = a.xShape![1]!;
    return a.dxEpilogue ? [a.xShape!, [C], [C]] : [a.xShape!];
  },
  run(args) {
    const { x, xs, y, attrs: a } = args;
    const o = fusedOperands('conv2d_fused_backward_data', a);
    const dy = a.dyPrologue ? dyFromBn(args, o.dyp!, xs[0]!) : x[0]!;
    const dx = y[0]!;
    call(conv2dBackwardData, args, [dy, x[1]!], [xs[0]!, xs[1]!], [dx], [a.xShape!], a);
    if (a.dxEpilogue) {
      const at = o.dxe!;
      const [x2, mean, rstd, gamma, beta] = x.slice(at, at + 5) as [Arr, Arr, Arr, Arr, Arr];
      const act = activationOf(a.dxEpilogue);
      if (act !== 'none') {
        const z = like(x2, x2.length);
        normalize(x2, a.xShape!, mean, rstd, gamma, beta, false, z);
        for (let i = 0; i < dx.length; i++) dx[i] = actGrad(act, z[i]!, dx[i]!);
      }
      call(
        bnBackwardReduce,
        args,
        [dx, x2, mean, rstd],
        [a.xShape!, a.xShape!, [mean.length], [mean.length]],
        [y[1]!, y[2]!],
        [[mean.length], [mean.length]],
        {},
      );
    }
  },
};

/**
 * conv2d_fused_backward_data whose dx epilogue adds a2*dx into the leading channels of a gradient
 * buffer instead of storing dx (a2 = gamma2*rstd2: the A*dy part of the BN's dx; its affine part
 * goes through bn_dx_coef, see there). Inputs G [N, CG, H, W] then conv2d_fused_backward_data's
 * (dxEpilogue required); outputs G' (in place), dbeta2, dgamma2.
 */
export const conv2dFusedBackwardDataAcc: OpDef<FusedConvAttrs> = {
  type: 'conv2d_fused_backward_data_acc',
  inPlace: 0,
  infer(xs, a, layer) {
    const G = xs[0]!,
      X = a.xShape!;
    if (!a.dxEpilogue || G.length !== 4 || G[0] !== X[0] || G[2] !== X[2] || G[3] !== X[3] || G[1]! < X[1]!) {
      throw new ShapeErrorAt(
        layer,
        'conv2d_fused_backward_data_acc',
        `gradient buffer [${G.join(', ')}] must hold dx [${X.join(', ')}] in its leading channels (and the dx epilogue must be on)`,
      );
    }
    return [G, [X[1]!], [X[1]!]];
  },
  run(args) {
    const { x, xs, y, ys, attrs: a } = args;
    const X = a.xShape!;
    const dx = like(x[1]!, numel(X));
    conv2dFusedBackwardData.run({ ...args, x: x.slice(1), xs: xs.slice(1), y: [dx, y[1]!, y[2]!], ys: [X, ys[1]!, ys[2]!] });
    const at = 1 + fusedOperands('conv2d_fused_backward_data', a).dxe!;
    const [rstd, gamma] = [x[at + 2]!, x[at + 3]!];
    const [G, out] = [x[0]!, y[0]!];
    if (out !== G) out.set(G);
    const [N, C, H, W] = X as [number, number, number, number];
    const CG = xs[0]![1]!,
      HW = H * W;
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const s = gamma[c]! * rstd[c]!;
        const src = (n * C + c) * HW,
          dst = (n * CG + c) * HW;
        for (let i = 0; i < HW; i++) out[dst + i] = out[dst + i]! + s * dx[src + i]!;
      }
    }
  },
};

export const conv2dFusedBackwardWeight: OpDef<FusedConvAttrs> = {
  type: 'conv2d_fused_backward_weight',
  infer(_xs, a) {
    return a.bias ? [a.wShape!, [a.wShape![0]!]] : [a.wShape!];
  },
  run(args) {
    const { x, xs, y, ys, attrs: a } = args;
    const o = fusedOperands('conv2d_fused_backward_weight', a);
    const dy = a.dyPrologue ? dyFromBn(args, o.dyp!, xs[0]!) : x[0]!;
    const xin = a.xPrologue ? normalized(args, x[1]!, xs[1]!, o.xp!, activationOf(a.xPrologue)) : x[1]!;
    call(conv2dBackwardWeight, args, [dy, xin], [xs[0]!, xs[1]!], y, ys, a);
  },
};

/** bn_relu_mask's attributes: the activation after the BN (absent: ReLU). */
export interface BnReluMaskAttrs {
  /** The activation whose derivative is recomputed (default ReLU). */
  act?: Activation;
}

/**
 * The derivative of the activation after a BN recomputed from the BN's input: dx = dy * act'(bn(x))
 * (ReLU, the default: dx = dy where relu(bn(x)) > 0). Inputs: dy, x, mean, rstd, gamma, beta.
 */
export const bnReluMask: OpDef<BnReluMaskAttrs> = {
  type: 'bn_relu_mask',
  infer(xs) {
    return [xs[0]!];
  },
  run({ x: [dy, x, mean, rstd, gamma, beta], y: [dx], xs, attrs }) {
    const act = attrs.act ?? 'relu';
    const z = like(x!, x!.length);
    normalize(x!, xs[1]!, mean!, rstd!, gamma!, beta!, false, z);
    for (let i = 0; i < dx!.length; i++) dx![i] = actGrad(act, z[i]!, dy![i]!);
  },
};
