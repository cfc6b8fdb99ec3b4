/**
 * silu (swish): y = x * sigmoid(x), elementwise, any shape. PyTorch's F.silu / nn.SiLU.
 * Saved for backward: x.
 * Backward: silu_backward (dy, x -> dx), with s = sigmoid(x):
 *   dx = dy * s * (1 + x * (1 - s))
 * Not lowered to WebAssembly or native kernels: the engines run the reference kernel below in
 * float32, on NHWC tensors as they are (`layoutFree`), and no fusion rule touches it.
 */
import { type OpDef, elementwiseBackward, sameShape } from './op.js';
import { sigmoidOf as sigmoid } from './sigmoid.js';

export const silu: OpDef = {
  type: 'silu',
  layoutFree: true,
  infer: sameShape,
  run({ x: [x], y: [y] }) {
    for (let i = 0; i < x!.length; i++) {
      const v = x![i]!;
      y![i] = v * sigmoid(v);
    }
  },
  backward: elementwiseBackward('silu_backward', 'x'),
};

export const siluBackward: OpDef = {
  type: 'silu_backward',
  layoutFree: true,
  infer: sameShape,
  run({ x: [dy, x], y: [dx] }) {
    for (let i = 0; i < dy!.length; i++) {
      const v = x![i]!;
      const s = sigmoid(v);
      dx![i] = dy![i]! * s * (1 + v * (1 - s));
    }
  },
};
