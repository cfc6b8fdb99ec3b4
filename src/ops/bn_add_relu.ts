/**
 * The residual end of a ResNet block in one elementwise pass (compare oneDNN's
 * fuse_norm_add_relu), made by the residual fusion pass:
 * bn_add_relu
 *   inputs  x1, mean1, rstd1, gamma1, beta1, then either o (identity shortcut, attrs.shortcut =
 *           'identity') or x2, mean2, rstd2, gamma2, beta2 (projection shortcut's BN, 'bn')
 *   output  y = relu(bn1(x1) + o)  or  relu(bn1(x1) + bn2(x2)); without the ReLU when attrs.relu
 *           is false (MobileNetV2's and EfficientNet's residual end: the add is the block's output)
 * bn_add_relu_backward
 *   inputs  dy, y, x1, mean1, rstd1, [x2, mean2, rstd2]
 *   outputs ds = dy where y > 0 (the gradient at both add inputs), dbeta1, dgamma1, [dbeta2, dgamma2]
 *   one pass computing the ReLU mask and both BNs' reductions.
 */
import type { Shape } from '../graph/ir.js';
import { bnBackwardReduce, normalize } from './batch_norm2d.js';
import type { Arr, OpDef } from './op.js';

export interface BnAddReluAttrs {
  shortcut: 'identity' | 'bn';
  /** A ReLU after the add (default true). */
  relu?: boolean;
}

const like = (a: Arr): Arr => (a instanceof Float64Array ? new Float64Array(a.length) : new Float32Array(a.length));

export const bnAddRelu: OpDef<BnAddReluAttrs> = {
  type: 'bn_add_relu',
  infer(xs) {
    return [xs[0]!];
  },
  run({ x, y: [y], xs, attrs }) {
    const [x1, m1, r1, g1, b1] = x as [Arr, Arr, Arr, Arr, Arr];
    normalize(x1, xs[0]!, m1, r1, g1, b1, false, y!);
    let o: Arr = x[5]!;
    if (attrs.shortcut === 'bn') {
      o = like(x[5]!);
      normalize(x[5]!, xs[5]!, x[6]!, x[7]!, x[8]!, x[9]!, false, o);
    }
    const relu = attrs.relu !== false;
    for (let i = 0; i < y!.length; i++) {
      const v = y![i]! + o[i]!;
      y![i] = !relu || v > 0 || v !== v ? v : 0;
    }
  },
};

export const bnAddReluBackward: OpDef<BnAddReluAttrs> = {
  type: 'bn_add_relu_backward',
  infer(xs, a) {
    const C = [xs[0]![1]!];
    return a.shortcut === 'bn' ? [xs[0]!, C, C, C, C] : [xs[0]!, C, C];
  },
  run(args) {
    const { x, y, xs, attrs } = args;
    const [dy, yv, x1, m1, r1] = x as [Arr, Arr, Arr, Arr, Arr];
    const ds = y[0]!;
    const relu = attrs.relu !== false;
    for (let i = 0; i < ds.length; i++) ds[i] = relu && yv[i]! <= 0 ? 0 : dy[i]!;
    const C: Shape = [m1.length];
    const reduce = (xb: Arr, m: Arr, r: Arr, dbeta: Arr, dgamma: Arr): void =>
      bnBackwardReduce.run({ ...args, x: [ds, xb, m, r], xs: [xs[0]!, xs[0]!, C, C], y: [dbeta, dgamma], ys: [C, C], attrs: {} });
    reduce(x1, m1, r1, y[1]!, y[2]!);
    if (attrs.shortcut === 'bn') reduce(x[5]!, x[6]!, x[7]!, y[3]!, y[4]!);
  },
};
