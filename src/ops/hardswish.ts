/**
 * hardswish: y = x * relu6(x + 3) / 6, elementwise. PyTorch's F.hardswish / nn.Hardswish
 * (MobileNetV3's activation). Saved for backward: x.
 * Backward: hardswish_backward (dy, x -> dx), PyTorch's hardswish_backward branch for branch:
 *   dx = 0 where x < -3;  dy * (x / 3 + 0.5) where -3 <= x <= 3;  dy where x > 3.
 * Not lowered to WebAssembly or native kernels: the engines run the reference kernel below in
 * float32, on NHWC tensors as they are (`layoutFree`).
 */
import { type OpDef, elementwiseBackward, sameShape } from './op.js';

export const hardswish: OpDef = {
  type: 'hardswish',
  layoutFree: true,
  infer: sameShape,
  run({ x: [x], y: [y] }) {
    for (let i = 0; i < x!.length; i++) {
      const v = x![i]!;
      const r = v + 3;
      y![i] = (v * (r !== r ? r : r <= 0 ? 0 : r >= 6 ? 6 : r)) / 6;
    }
  },
  backward: elementwiseBackward('hardswish_backward', 'x'),
};

export const hardswishBackward: OpDef = {
  type: 'hardswish_backward',
  layoutFree: true,
  infer: sameShape,
  run({ x: [dy, x], y: [dx] }) {
    for (let i = 0; i < dy!.length; i++) {
      const v = x![i]!;
      const g = dy![i]!;
      dx![i] = v < -3 ? 0 : v <= 3 ? g * (v / 3 + 0.5) : g;
    }
  },
};
