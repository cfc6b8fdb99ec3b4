/**
 * The halves of a training-mode batch_norm2d after fission (Jung et al. 2019), split so that
 * each can move into the neighbour that already touches the data:
 * channel_moments: x [N,C,H,W] -> mean [C], var [C] (biased). Pure: it can be computed once per
 *   channel and shared (DenseNet), split across a concat, or fused into the epilogue of the
 *   convolution that produces x.
 * bn_finalize: mean, var, running_mean, running_var, num_batches_tracked -> rstd [C]; updates the
 *   running statistics exactly as batch_norm2d (attrs.count = N*H*W for the unbiased variance).
 * bn_apply: x, mean, rstd, gamma, beta -> y = gamma*(x-mean)*rstd + beta, then the activation
 *   that followed the BN folded in: ReLU when attrs.relu, attrs.act otherwise (activationOf).
 * Backward keeps batch_norm2d's split ops (bn_backward_reduce, bn_backward_data).
 */
import type { Shape } from '../graph/ir.js';
import { type Activation, activationOf } from './activation.js';
import { type BatchNormAttrs, normalize } from './batch_norm2d.js';
import { type Arr, type OpDef, ShapeErrorAt, expectRank } from './op.js';

/** Two-pass mean and biased variance per channel, accumulated in float64. */
export function moments(x: Arr, xs: Shape, mean: Arr, v: Arr): void {
  const [N, C, H, W] = xs as number[];
  const HW = H! * W!;
  const m = N! * HW;
  for (let c = 0; c < C!; c++) {
    let s = 0;
    for (let n = 0; n < N!; n++) for (let i = 0, b = (n * C! + c) * HW; i < HW; i++) s += x[b + i]!;
    const mu = s / m;
    let s2 = 0;
    for (let n = 0; n < N!; n++) {
      for (let i = 0, b = (n * C! + c) * HW; i < HW; i++) {
        const d = x[b + i]! - mu;
        s2 += d * d;
      }
    }
    mean[c] = mu;
    v[c] = s2 / m;
  }
}

export const channelMoments: OpDef = {
  type: 'channel_moments',
  infer(xs, _a, layer) {
    expectRank(xs, 0, 4, layer, 'channel_moments', 'input');
    return [[xs[0]![1]!], [xs[0]![1]!]];
  },
  run({ x: [x], y: [mean, v], xs }) {
    moments(x!, xs[0]!, mean!, v!);
  },
};

export interface BnFinalizeAttrs extends BatchNormAttrs {
  /** Elements per channel, N*H*W. */
  count: number;
}

export const bnFinalize: OpDef<BnFinalizeAttrs> = {
  type: 'bn_finalize',
  mutatesState: () => true,
  infer(xs, a, layer) {
    if (!(a.count >= 2)) throw new ShapeErrorAt(layer, 'bn_finalize', `expected more than 1 value per channel when training, got ${a.count}`);
    return [xs[0]!];
  },
  run({ x: [mean, v, rm, rv, nbt], y: [rstd], attrs }) {
    const eps = attrs.eps ?? 1e-5;
    const tracked = nbt![0]! + 1;
    const f = attrs.momentum === null ? 1 / tracked : (attrs.momentum ?? 0.1);
    const m = attrs.count;
    for (let c = 0; c < mean!.length; c++) {
      rstd![c] = 1 / Math.sqrt(v![c]! + eps);
      rm![c] = (1 - f) * rm![c]! + f * mean![c]!;
      rv![c] = (1 - f) * rv![c]! + (f * (v![c]! * m)) / (m - 1);
    }
    nbt![0] = tracked;
  },
};

export interface BnApplyAttrs {
  /** The folded activation is ReLU. */
  relu: boolean;
  /** Another folded activation (relu6, silu, hardswish); see activationOf. */
  act?: Activation;
}

export const bnApply: OpDef<BnApplyAttrs> = {
  type: 'bn_apply',
  infer(xs, _a, layer) {
    expectRank(xs, 0, 4, layer, 'bn_apply', 'input');
    return [xs[0]!];
  },
  run({ x: [x, mean, rstd, gamma, beta], y: [y], xs, attrs }) {
    normalize(x!, xs[0]!, mean!, rstd!, gamma!, beta!, activationOf(attrs), y!);
  },
};

/** Concatenates per-channel vectors: the moments of a concat are the concat of the moments. */
export const concatVec: OpDef = {
  type: 'concat_vec',
  infer(xs) {
    return [[xs.reduce((s, v) => s + v[0]!, 0)]];
  },
  run({ x, y: [y] }) {
    let o = 0;
    for (const v of x) {
      y!.set(v, o);
      o += v.length;
    }
  },
};
