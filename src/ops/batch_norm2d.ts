/**
 * batch_norm2d, PyTorch semantics. Per channel c over m = N*H*W elements:
 *   training: mean = sum(x)/m, var = sum((x-mean)^2)/m (biased, used to normalize),
 *             running_mean = (1-momentum)*running_mean + momentum*mean,
 *             running_var  = (1-momentum)*running_var  + momentum*var*m/(m-1) (unbiased),
 *             num_batches_tracked += 1 (momentum null: cumulative average, 1/num_batches_tracked).
 *   eval:     mean, var = running_mean, running_var.
 *   y = gamma*(x-mean)*rstd + beta, rstd = 1/sqrt(var+eps).
 * Inputs: x [N,C,H,W], gamma [C], beta [C], running_mean [C], running_var [C], num_batches_tracked [1].
 * Outputs: y, saved mean [C], saved rstd [C] (what backward needs besides x and gamma).
 * Backward (split as in the paper's fission): bn_backward_reduce gives dbeta = sum(dy) and
 * dgamma = sum(dy*xhat); bn_backward_data gives dx = gamma*rstd/m * (m*dy - dbeta - xhat*dgamma).
 */
import { type Activation, actForward } from './activation.js';
import type { Shape } from '../graph/ir.js';
import { type Arr, type OpDef, ShapeErrorAt, expectRank } from './op.js';

export interface BatchNormAttrs {
  eps?: number;
  /** null: cumulative moving average, as PyTorch's momentum=None. */
  momentum?: number | null;
  /** Set by the plan: training mode uses batch statistics and updates the running ones. */
  training?: boolean;
}

function dims(s: Shape): [number, number, number] {
  return [s[0]!, s[1]!, s[2]! * s[3]!];
}

export const batchNorm2d: OpDef<BatchNormAttrs> = {
  type: 'batch_norm2d',
  mutatesState: (a) => a.training === true,
  infer(xs, attrs, layer) {
    expectRank(xs, 0, 4, layer, 'batch_norm2d', 'input');
    const C = xs[0]![1]!;
    for (const [i, what] of [
      [1, 'weight'],
      [2, 'bias'],
      [3, 'running_mean'],
      [4, 'running_var'],
    ] as const) {
      const s = xs[i];
      if (!s || s.length !== 1 || s[0] !== C) {
        throw new ShapeErrorAt(layer, 'batch_norm2d', `input [${xs[0]!.join(', ')}] has ${C} channels but ${what} is [${s?.join(', ') ?? ''}]`);
      }
    }
    if (attrs.training && xs[0]![0]! * xs[0]![2]! * xs[0]![3]! < 2) {
      // PyTorch: "Expected more than 1 value per channel when training, got input size [1, C, 1, 1]".
      throw new ShapeErrorAt(
        layer,
        'batch_norm2d',
        `expected more than 1 value per channel when training, got input size [${xs[0]!.join(', ')}] (batch x height x width must be 2 or more)`,
      );
    }
    return [xs[0]!, [C], [C]];
  },
  run({ x: [x, gamma, beta, rm, rv, nbt], y: [y, mean, rstd], xs, attrs }) {
    if (attrs.training) batchStatistics(x!, xs[0]!, rm!, rv!, nbt!, attrs, mean!, rstd!);
    else runningStatistics(rm!, rv!, attrs, mean!, rstd!);
    normalize(x!, xs[0]!, mean!, rstd!, gamma!, beta!, false, y!);
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    if (!node.attrs.training) throw new Error(`layer "${node.name}": backward through batch_norm2d in eval mode is not supported`);
    const [x, gamma] = node.inputs as [number, number];
    const [, mean, rstd] = node.outputs as [number, number, number];
    const [dbeta, dgamma] = b.emit('bn_backward_reduce', `${node.name}.backward_reduce`, [dy, x, mean, rstd]) as [number, number];
    const [dx] = b.emit('bn_backward_data', `${node.name}.backward_data`, [dy, x, mean, rstd, gamma, dbeta, dgamma]);
    return [dx, dgamma, dbeta];
  },
};

/**
 * The statistics half: mean and rstd of x per channel (biased variance), and the running
 * statistics update (unbiased variance, momentum or cumulative average, num_batches_tracked).
 */
export function batchStatistics(x: Arr, xs: Shape, rm: Arr, rv: Arr, nbt: Arr, attrs: BatchNormAttrs, mean: Arr, rstd: Arr): void {
  const [N, C, HW] = dims(xs);
  const eps = attrs.eps ?? 1e-5;
  const m = N * HW;
  const tracked = nbt[0]! + 1;
  const f = attrs.momentum === null ? 1 / tracked : (attrs.momentum ?? 0.1);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * HW;
      for (let i = 0; i < HW; i++) s += x[base + i]!;
    }
    const mu = s / m;
    let s2 = 0;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * HW;
      for (let i = 0; i < HW; i++) {
        const d = x[base + i]! - mu;
        s2 += d * d;
      }
    }
    const v = s2 / m;
    mean[c] = mu;
    rstd[c] = 1 / Math.sqrt(v + eps);
    rm[c] = (1 - f) * rm[c]! + f * mu;
    rv[c] = (1 - f) * rv[c]! + (f * (v * m)) / (m - 1);
  }
  nbt[0] = tracked;
}

/** Eval mode: mean and rstd from the running statistics. */
export function runningStatistics(rm: Arr, rv: Arr, attrs: BatchNormAttrs, mean: Arr, rstd: Arr): void {
  for (let c = 0; c < rm.length; c++) {
    mean[c] = rm[c]!;
    rstd[c] = 1 / Math.sqrt(rv[c]! + (attrs.eps ?? 1e-5));
  }
}

/**
 * The normalize half: y = act(gamma*(x-mean)*rstd + beta); act an Activation (src/ops/activation.ts),
 * or true for ReLU (NaN propagating) and false for none.
 */
export function normalize(x: Arr, xs: Shape, mean: Arr, rstd: Arr, gamma: Arr, beta: Arr, act: boolean | Activation, y: Arr): void {
  const [N, C, HW] = dims(xs);
  const f = act === true ? 'relu' : act === false ? 'none' : act;
  for (let c = 0; c < C; c++) {
    const a = gamma[c]! * rstd[c]!;
    const b = beta[c]! - a * mean[c]!;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * HW;
      for (let i = 0; i < HW; i++) {
        const v = a * x[base + i]! + b;
        y[base + i] = f === 'none' ? v : actForward(f, v);
      }
    }
  }
}

/** Inputs: dy, x, mean, rstd. Outputs: dbeta = sum(dy), dgamma = sum(dy*xhat), both [C]. */
export const bnBackwardReduce: OpDef = {
  type: 'bn_backward_reduce',
  infer(xs) {
    const C = xs[0]![1]!;
    return [[C], [C]];
  },
  run({ x: [dy, x, mean, rstd], y: [dbeta, dgamma], xs }) {
    const [N, C, HW] = dims(xs[0]!);
    for (let c = 0; c < C; c++) {
      const mu = mean![c]!;
      let sdy = 0;
      let sdyx = 0;
      for (let n = 0; n < N; n++) {
        const base = (n * C + c) * HW;
        for (let i = 0; i < HW; i++) {
          const g = dy![base + i]!;
          sdy += g;
          sdyx += g * (x![base + i]! - mu);
        }
      }
      dbeta![c] = sdy;
      dgamma![c] = sdyx * rstd![c]!;
    }
  },
};

/** Inputs: dy, x, mean, rstd, gamma, dbeta, dgamma. Output: dx. */
export const bnBackwardData: OpDef = {
  type: 'bn_backward_data',
  infer(xs) {
    return [xs[0]!];
  },
  run({ x: [dy, x, mean, rstd, gamma, dbeta, dgamma], y: [dx], xs }) {
    const [N, C, HW] = dims(xs[0]!);
    const m = N * HW;
    for (let c = 0; c < C; c++) {
      const [A, B, C0] = bnDxCoefficients(c, m, mean!, rstd!, gamma!, dbeta!, dgamma!);
      for (let n = 0; n < N; n++) {
        const base = (n * C + c) * HW;
        for (let i = 0; i < HW; i++) dx![base + i] = A * dy![base + i]! + B * x![base + i]! + C0;
      }
    }
  },
};

/**
 * dx = A*dy + B*x + C0 for one channel of a BN over m values: the affine form of BN's dx that
 * every kernel uses (the host-side coefficient writers in src/kernels call this one; the
 * WebAssembly kernels' copy is eltwise.ts dxCoefficients).
 */
export function bnDxAffine(m: number, mean: number, rstd: number, gamma: number, dbeta: number, dgamma: number): [number, number, number] {
  const A = gamma * rstd;
  const B = (-A * rstd * dgamma) / m;
  const C0 = (-A * dbeta) / m - B * mean;
  return [A, B, C0];
}

const bnDxCoefficients = (c: number, m: number, mean: Arr, rstd: Arr, gamma: Arr, dbeta: Arr, dgamma: Arr): [number, number, number] =>
  bnDxAffine(m, mean[c]!, rstd[c]!, gamma[c]!, dbeta[c]!, dgamma[c]!);

/**
 * BN's dx added into the leading channels of a gradient buffer, in place: inputs G [N, CG, H, W]
 * then bn_backward_data's inputs (dy, x [N, C, H, W] with C <= CG, ...); output G' = G with
 * G'[:, :C] += dx. The concatenation-gradient pass (src/passes/concat_grad.ts) accumulates the
 * gradients of a dense block's concatenations this way, instead of slicing each into its parts
 * and summing the parts.
 */
export const bnBackwardDataAcc: OpDef = {
  type: 'bn_backward_data_acc',
  inPlace: 0,
  infer(xs, _attrs, layer) {
    const [G, dy] = [xs[0]!, xs[1]!];
    if (G.length !== 4 || dy.length !== 4 || G[0] !== dy[0] || G[2] !== dy[2] || G[3] !== dy[3] || G[1]! < dy[1]!) {
      throw new ShapeErrorAt(layer, 'bn_backward_data_acc', `gradient buffer [${G.join(', ')}] must hold the BN's [${dy.join(', ')}] in its leading channels`);
    }
    return [G];
  },
  run({ x: [G, dy, x, mean, rstd, gamma, dbeta, dgamma], y: [out], xs }) {
    const [N, CG, HW] = dims(xs[0]!);
    const C = xs[1]![1]!;
    const m = N * HW;
    if (out !== G) out!.set(G!);
    for (let c = 0; c < C; c++) {
      const [A, B, C0] = bnDxCoefficients(c, m, mean!, rstd!, gamma!, dbeta!, dgamma!);
      for (let n = 0; n < N; n++) {
        const src = (n * C + c) * HW;
        const dst = (n * CG + c) * HW;
        for (let i = 0; i < HW; i++) out![dst + i] = out![dst + i]! + (A * dy![src + i]! + B * x![src + i]! + C0);
      }
    }
  },
};

/**
 * The per-channel half of BN dx, kept apart (DenseNet's gradient buffer, passes/concat_grad.ts).
 * dx = A*dy + B*x + C0 splits into A*dy, which the consuming convolution's backward-data epilogue
 * adds into the buffer (conv2d_fused_backward_data_acc), and B*x + C0, the same affine map for
 * every pixel, summed here over all the BNs that read a channel and applied once, when the
 * channel's gradient is sliced out (slice_channels_affine). As B*(x - K) + (C0 + B*K) with a
 * per-channel shift K (the first BN's mean: every BN of a channel sees the same batch, so K is
 * its mean and the sum stays well conditioned when |mean| >> std).
 *   inputs  [S] (absent when attrs.init), mean, rstd, gamma, dbeta, dgamma (f32 [C], C <= channels)
 *   output  S' [3, channels]: row 0 sum B, row 1 sum (C0 + B*K), row 2 K (0 beyond the channels
 *           the first BN covers); channels >= C pass through
 *   attrs   channels (the buffer's), count (m = N*H*W of the BN), init
 */
export interface BnDxCoefAttrs {
  channels: number;
  count: number;
  init: boolean;
}

export const bnDxCoef: OpDef<BnDxCoefAttrs> = {
  type: 'bn_dx_coef',
  infer(xs, a, layer) {
    const v = xs.slice(a.init ? 0 : 1);
    const C = v[0]?.[0];
    if (v.length !== 5 || C === undefined || v.some((s) => s.length !== 1 || s[0] !== C) || C > a.channels) {
      throw new ShapeErrorAt(layer, 'bn_dx_coef', `needs five [C] vectors with C <= ${a.channels}: got ${v.map((s) => `[${s.join(', ')}]`).join(', ')}`);
    }
    if (!a.init && (xs[0]!.length !== 2 || xs[0]![0] !== 3 || xs[0]![1] !== a.channels)) {
      throw new ShapeErrorAt(layer, 'bn_dx_coef', `coefficient state must be [3, ${a.channels}], got [${xs[0]!.join(', ')}]`);
    }
    return [[3, a.channels]];
  },
  run({ x, y: [out], attrs: a }) {
    const [mean, rstd, gamma, dbeta, dgamma] = x.slice(a.init ? 0 : 1) as [Arr, Arr, Arr, Arr, Arr];
    const CG = a.channels;
    if (a.init) out!.fill(0);
    else out!.set(x[0]!);
    for (let c = 0; c < mean.length; c++) {
      const [, B, C0] = bnDxCoefficients(c, a.count, mean, rstd, gamma, dbeta, dgamma);
      if (a.init) out![2 * CG + c] = mean[c]!;
      const K = out![2 * CG + c]!;
      out![c] = out![c]! + B;
      out![CG + c] = out![CG + c]! + (C0 + B * K);
    }
  },
};

/**
 * A channel slice of a gradient buffer with the summed affine halves of its BNs' dx applied:
 * y = G[:, start:start+size] + B*(x[:, start:start+size] - K) + C (S = [B; C; K], from bn_dx_coef),
 * x the forward value those BNs normalized (any tensor holding the channels at the same offset).
 *   inputs G [N, CG, H, W], x [N, CX, H, W], S [3, CG]; attrs start, size; output [N, size, H, W]
 */
export const sliceChannelsAffine: OpDef<{ start: number; size: number }> = {
  type: 'slice_channels_affine',
  infer(xs, { start, size }, layer) {
    const [G, x, S] = xs as [Shape, Shape, Shape];
    const [N, CG, H, W] = G as number[];
    if (G.length !== 4 || x.length !== 4 || x[0] !== N || x[2] !== H || x[3] !== W || start < 0 || size < 1 || start + size > Math.min(CG!, x[1]!)) {
      throw new ShapeErrorAt(layer, 'slice_channels_affine', `channels ${start}..${start + size} of [${G.join(', ')}] and [${x.join(', ')}]`);
    }
    if (S.length !== 2 || S[0] !== 3 || S[1] !== CG)
      throw new ShapeErrorAt(layer, 'slice_channels_affine', `coefficients must be [3, ${CG}], got [${S.join(', ')}]`);
    return [[N!, size, H!, W!]];
  },
  run({ x: [G, x, S], y: [y], xs, attrs: { start, size } }) {
    const [N, CG, HW] = dims(xs[0]!);
    const CX = xs[1]![1]!;
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < size; k++) {
        const c = start + k;
        const [B, C0, K] = [S![c]!, S![CG + c]!, S![2 * CG + c]!];
        const g = (n * CG + c) * HW,
          xo = (n * CX + c) * HW,
          o = (n * size + k) * HW;
        for (let i = 0; i < HW; i++) y![o + i] = G![g + i]! + (B * (x![xo + i]! - K) + C0);
      }
    }
  },
};
