/**
 * relu6: y = min(max(x, 0), 6), elementwise, NaN propagating. PyTorch's F.relu6 / nn.ReLU6
 * (hardtanh with bounds 0 and 6). Saved for backward: y.
 * Backward: relu6_backward (dy, y -> dx = dy where 0 < y < 6, else 0), PyTorch's
 * hardtanh_backward; y lies strictly inside (0, 6) exactly where x does, so the mask read from y
 * is the one PyTorch reads from x, and x can be freed after the forward.
 * Not lowered to WebAssembly or native kernels: the engines run the reference kernel below in
 * float32, on NHWC tensors as they are (`layoutFree`).
 */
import { type OpDef, elementwiseBackward, sameShape } from './op.js';

export const relu6: OpDef = {
  type: 'relu6',
  layoutFree: true,
  infer: sameShape,
  run({ x: [x], y: [y] }) {
    for (let i = 0; i < x!.length; i++) {
      const v = x![i]!;
      y![i] = v !== v ? v : v <= 0 ? 0 : v >= 6 ? 6 : v;
    }
  },
  backward: elementwiseBackward('relu6_backward', 'y'),
};

export const relu6Backward: OpDef = {
  type: 'relu6_backward',
  layoutFree: true,
  infer: sameShape,
  run({ x: [dy, y], y: [dx] }) {
    for (let i = 0; i < dy!.length; i++) {
      const v = y![i]!;
      dx![i] = v <= 0 || v >= 6 ? 0 : dy![i]!;
    }
  },
};
