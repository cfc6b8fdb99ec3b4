/**
 * channel_scale: y[n,c,h,w] = x[n,c,h,w] * s[n,c], the excitation of squeeze-and-excitation
 * (torchvision's SqueezeExcitation returns `scale * input` with scale [N,C,1,1]).
 * Inputs: x [N,C,H,W], s [N,C,1,1]. Output: y [N,C,H,W]. Saved for backward: x and s.
 * Backward: dx = channel_scale(dy, s) (the same op), ds = channel_scale_backward_scale(dy, x):
 *   ds[n,c] = sum_{h,w} dy[n,c,h,w] * x[n,c,h,w].
 * The engines run the kernels channel_scale_forward (forward and dx) and
 * channel_scale_backward_scale (ds, float64 sums) on NHWC x (src/kernels/eltwise.ts channelScale).
 */
import { type OpDef, ShapeErrorAt, expectRank } from './op.js';

export const channelScale: OpDef = {
  type: 'channel_scale',
  infer(xs, _a, layer) {
    expectRank(xs, 0, 4, layer, 'channel_scale', 'input');
    const [N, C] = xs[0]! as number[];
    const s = xs[1];
    if (!s || s.length !== 4 || s[0] !== N || s[1] !== C || s[2] !== 1 || s[3] !== 1) {
      throw new ShapeErrorAt(layer, 'channel_scale', `input [${xs[0]!.join(', ')}] needs a scale [${N}, ${C}, 1, 1], got [${s?.join(', ') ?? ''}]`);
    }
    return [xs[0]!];
  },
  run({ x: [x, s], y: [y], xs }) {
    const [N, C, H, W] = xs[0]! as number[];
    const HW = H! * W!;
    for (let nc = 0; nc < N! * C!; nc++) {
      const v = s![nc]!;
      for (let i = nc * HW; i < (nc + 1) * HW; i++) y![i] = x![i]! * v;
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    const [x, s] = node.inputs as [number, number];
    const [dx] = b.emit('channel_scale', `${node.name}.backward_input`, [dy, s]);
    const [ds] = b.emit('channel_scale_backward_scale', `${node.name}.backward_scale`, [dy, x]);
    return [dx, ds];
  },
};

/** ds[n,c] = sum over h,w of dy * x. Inputs: dy, x [N,C,H,W]. Output: ds [N,C,1,1]. */
export const channelScaleBackwardScale: OpDef = {
  type: 'channel_scale_backward_scale',
  infer(xs) {
    const [N, C] = xs[1]! as number[];
    return [[N!, C!, 1, 1]];
  },
  run({ x: [dy, x], y: [ds], xs }) {
    const [N, C, H, W] = xs[1]! as number[];
    const HW = H! * W!;
    for (let nc = 0; nc < N! * C!; nc++) {
      let acc = 0;
      for (let i = nc * HW; i < (nc + 1) * HW; i++) acc += dy![i]! * x![i]!;
      ds![nc] = acc;
    }
  },
};
