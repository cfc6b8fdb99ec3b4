/**
 * shortcut_pad: the parameter-free residual shortcut of He et al. 2016 (CIFAR "option A"):
 *   y[n, c + before, oh, ow] = x[n, c, oh*stride, ow*stride], zero in the padded channels.
 * Inputs: x [N,C,H,W]. Output: [N, before + C + after, ceil(H/stride), ceil(W/stride)].
 * Backward: shortcut_pad_backward (gathers dy's inner channels back onto the strided taps).
 */
import type { Shape } from '../graph/ir.js';
import { type OpDef, ShapeErrorAt, expectRank } from './op.js';

export interface ShortcutPadAttrs {
  stride: number;
  before: number;
  after: number;
  xShape?: Shape;
}

function outShape(xs: Shape, a: ShortcutPadAttrs): number[] {
  const [N, C, H, W] = xs as number[];
  return [N!, a.before + C! + a.after, Math.ceil(H! / a.stride), Math.ceil(W! / a.stride)];
}

export const shortcutPad: OpDef<ShortcutPadAttrs> = {
  type: 'shortcut_pad',
  infer(xs, a, layer) {
    expectRank(xs, 0, 4, layer, 'shortcut_pad', 'input');
    if (!(a.stride >= 1 && a.before >= 0 && a.after >= 0)) throw new ShapeErrorAt(layer, 'shortcut_pad', `invalid attributes ${JSON.stringify(a)}`);
    return [outShape(xs[0]!, a)];
  },
  run({ x: [x], y: [y], xs, ys, attrs }) {
    const [N, C, H, W] = xs[0]! as number[];
    const [, K, OH, OW] = ys[0]! as number[];
    y!.fill(0);
    for (let n = 0; n < N!; n++) {
      for (let c = 0; c < C!; c++) {
        for (let oh = 0; oh < OH!; oh++) {
          for (let ow = 0; ow < OW!; ow++) {
            y![((n * K! + c + attrs.before) * OH! + oh) * OW! + ow] = x![((n * C! + c) * H! + oh * attrs.stride) * W! + ow * attrs.stride]!;
          }
        }
      }
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    return b.emit('shortcut_pad_backward', `${node.name}.backward`, [dy], { ...node.attrs, xShape: b.shape(node.inputs[0]!) });
  },
};

export const shortcutPadBackward: OpDef<ShortcutPadAttrs> = {
  type: 'shortcut_pad_backward',
  infer(_xs, a) {
    return [a.xShape!];
  },
  run({ x: [dy], y: [dx], ys, xs, attrs }) {
    const [N, C, H, W] = ys[0]! as number[];
    const [, K, OH, OW] = xs[0]! as number[];
    dx!.fill(0);
    for (let n = 0; n < N!; n++) {
      for (let c = 0; c < C!; c++) {
        for (let oh = 0; oh < OH!; oh++) {
          for (let ow = 0; ow < OW!; ow++) {
            dx![((n * C! + c) * H! + oh * attrs.stride) * W! + ow * attrs.stride] = dy![((n * K! + c + attrs.before) * OH! + oh) * OW! + ow]!;
          }
        }
      }
    }
  },
};
