/**
 * sigmoid: y = 1 / (1 + exp(-x)), elementwise. PyTorch's torch.sigmoid / nn.Sigmoid (the gate of
 * squeeze-excitation). Saved for backward: y.
 * Backward: sigmoid_backward (dy, y -> dx = dy * y * (1 - y)), PyTorch's sigmoid_backward.
 * The engines run the kernels sigmoid_forward / sigmoid_backward (src/kernels/eltwise.ts
 * actForward).
 */
import { sigmoidOf } from './activation.js';
import { type OpDef, elementwiseBackward, sameShape } from './op.js';

export { sigmoidOf };

export const sigmoid: OpDef = {
  type: 'sigmoid',
  layoutFree: true,
  infer: sameShape,
  run({ x: [x], y: [y] }) {
    for (let i = 0; i < x!.length; i++) y![i] = sigmoidOf(x![i]!);
  },
  backward: elementwiseBackward('sigmoid_backward', 'y'),
};

export const sigmoidBackward: OpDef = {
  type: 'sigmoid_backward',
  layoutFree: true,
  infer: sameShape,
  run({ x: [dy, y], y: [dx] }) {
    for (let i = 0; i < dy!.length; i++) {
      const s = y![i]!;
      dx![i] = dy![i]! * s * (1 - s);
    }
  },
};
