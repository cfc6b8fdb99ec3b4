/**
 * bn_act_reduce: the backward of the activation after a BN and the BN's backward reduce as one
 * op, written by the fusion pass `act-with-reduce` (src/passes/act_reduce.ts) where the reduce
 * cannot go into a convolution's epilogue: dz = dy * act'(z), then dbeta = sum(dz) and
 * dgamma = rstd * sum(dz * (x - mean)), as bn_relu_mask (or relu_backward, relu6_backward)
 * followed by bn_backward_reduce compute them. The fast kernels do it in one pass over dy and x
 * (src/kernels/eltwise.ts bnBackwardReduce with an activation).
 *
 * Inputs: dy, x, mean, rstd, then gamma, beta (from 'input': z = bn(x), the derivative
 * recomputed from the BN input) or y (from 'output': ReLU's or ReLU6's mask read from their
 * output y = act(bn(x))). Outputs: dz (dy's shape), dbeta [C], dgamma [C].
 */
import { type Activation, actGrad } from './activation.js';
import { bnBackwardReduce } from './batch_norm2d.js';
import { bnReluMask } from './conv2d_fused.js';
import type { OpDef } from './op.js';

/** bn_act_reduce's attributes. */
export interface BnActReduceAttrs {
  /** The activation after the BN. */
  act: Activation;
  /** Where the derivative comes from: the BN input (recomputed) or the activation's output (ReLU, ReLU6). */
  from: 'input' | 'output';
}

export const bnActReduce: OpDef<BnActReduceAttrs> = {
  type: 'bn_act_reduce',
  infer(xs) {
    const C = xs[0]![1]!;
    return [xs[0]!, [C], [C]];
  },
  run(args) {
    const { x, xs, y, attrs } = args;
    const [dy, xin, mean, rstd] = x as [Float64Array, Float64Array, Float64Array, Float64Array];
    const dz = y[0]!;
    if (attrs.from === 'output') {
      if (attrs.act !== 'relu' && attrs.act !== 'relu6') throw new Error(`bn_act_reduce: the ${attrs.act} derivative cannot be read from its output`);
      const out = x[4]!;
      for (let i = 0; i < dz.length; i++) dz[i] = actGrad(attrs.act, out[i]!, dy[i]!);
    } else {
      bnReluMask.run({ ...args, x: x.slice(0, 6), xs: xs.slice(0, 6), y: [dz], ys: [args.ys[0]!], attrs: { act: attrs.act } });
    }
    bnBackwardReduce.run({
      ...args,
      x: [dz, xin, mean, rstd],
      xs: [xs[0]!, xs[1]!, xs[2]!, xs[3]!],
      y: [y[1]!, y[2]!],
      ys: [args.ys[1]!, args.ys[2]!],
      attrs: {},
    });
  },
};
