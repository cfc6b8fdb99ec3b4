/**
 * channel_affine: y[n,c,h,w] = scale[c] * x[n,c,h,w] + shift[c], an eval-mode BatchNorm reduced
 * to its per-channel affine map (what inference keeps of a BN that cannot be folded into a
 * convolution, src/passes/fold_bn.ts). Inputs: x [N,C,H,W], scale [C], shift [C]. Output: y.
 * Inference only (no backward).
 */
import { normalize } from './batch_norm2d.js';
import { type OpDef, ShapeErrorAt, expectRank } from './op.js';

export const channelAffine: OpDef = {
  type: 'channel_affine',
  infer(xs, _a, layer) {
    expectRank(xs, 0, 4, layer, 'channel_affine', 'input');
    const C = xs[0]![1]!;
    for (const [i, what] of [
      [1, 'scale'],
      [2, 'shift'],
    ] as const) {
      const s = xs[i];
      if (!s || s.length !== 1 || s[0] !== C)
        throw new ShapeErrorAt(layer, 'channel_affine', `input [${xs[0]!.join(', ')}] has ${C} channels but ${what} is [${s?.join(', ') ?? ''}]`);
    }
    return [xs[0]!];
  },
  run({ x: [x, scale, shift], y: [y], xs }) {
    // normalize's a*x + b with a = scale*1, b = shift - a*0: exactly scale*x + shift.
    const C = xs[0]![1]!;
    normalize(x!, xs[0]!, new Float64Array(C), new Float64Array(C).fill(1), scale!, shift!, false, y!);
  },
};
