/**
 * stochastic_depth (torchvision.ops.StochasticDepth, mode "row"): in training, each sample's
 * tensor is dropped whole with probability p and the kept ones scaled by 1/(1-p):
 *   y[n,...] = x[n,...] * mask[n],  mask[n] = 0 (probability p) or 1/(1-p)  (0 for every n at p = 1);
 * in eval, y = x. EfficientNet puts it on the residual branch of each MBConv block before the add.
 * Inputs: x [N, ...]. Outputs: y (x's shape), mask [N,1,1,1] (saved for backward).
 * Backward: stochastic_depth_backward (dy, mask -> dx = dy * mask[n]).
 * The mask is a pure function of (run seed, step, layer name, sample index), like dropout's.
 * The engines run it with the kernel stochastic_depth_forward (src/kernels/eltwise.ts
 * sampleScale), forward and backward, on NHWC tensors as they are (a sample is one contiguous
 * block in either layout), with the mask drawn on the host by stochasticDepthMask; the reference
 * kernels below (`layoutFree`) run where the lowering declines.
 */
import { hashUniform, strHash } from '../util/random.js';
import { type OpDef, ShapeErrorAt } from './op.js';

export interface StochasticDepthAttrs {
  p: number;
  training?: boolean;
}

/**
 * The mask of one run of the layer named `layer`: m[n] = 0 (probability p) or 1/(1-p) in
 * training, 1 in eval and at p = 0. The engines' kernel (src/kernels/eltwise.ts sampleScale)
 * applies the mask this function draws, so every engine drops the same samples.
 */
export function stochasticDepthMask(attrs: StochasticDepthAttrs, ctx: { seed: number; step: number }, layer: string, N: number): Float64Array {
  const h = strHash(layer);
  const keep = attrs.p < 1 ? 1 / (1 - attrs.p) : 0;
  const m = new Float64Array(N);
  for (let n = 0; n < N; n++) m[n] = attrs.training && attrs.p > 0 ? (hashUniform(ctx.seed, ctx.step, h, n) < attrs.p ? 0 : keep) : 1;
  return m;
}

export const stochasticDepth: OpDef<StochasticDepthAttrs> = {
  type: 'stochastic_depth',
  layoutFree: true,
  infer(xs, a, layer) {
    if (!(a.p >= 0 && a.p <= 1)) throw new ShapeErrorAt(layer, 'stochastic_depth', `p must be in [0, 1], got ${a.p}`);
    return [xs[0]!, [xs[0]![0]!, 1, 1, 1]];
  },
  run({ x: [x], y: [y, mask], xs, attrs, node, ctx }) {
    const N = xs[0]![0]!;
    const per = x!.length / N;
    const m = stochasticDepthMask(attrs, ctx, node.name, N);
    for (let n = 0; n < N; n++) {
      mask![n] = m[n]!;
      for (let i = n * per; i < (n + 1) * per; i++) y![i] = x![i]! * m[n]!;
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    return b.emit('stochastic_depth_backward', `${node.name}.backward`, [dy, node.outputs[1]!]);
  },
};

/** dx = dy * mask[n]. Inputs: dy [N, ...], mask [N,1,1,1]. */
export const stochasticDepthBackward: OpDef = {
  type: 'stochastic_depth_backward',
  layoutFree: true,
  infer(xs) {
    return [xs[0]!];
  },
  run({ x: [dy, mask], y: [dx] }) {
    const N = mask!.length;
    const per = dy!.length / N;
    for (let n = 0; n < N; n++) {
      const m = mask![n]!;
      for (let i = n * per; i < (n + 1) * per; i++) dx![i] = dy![i]! * m;
    }
  },
};
