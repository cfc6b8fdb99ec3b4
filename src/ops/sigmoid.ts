/**
 * sigmoid: y = 1 / (1 + exp(-x)), elementwise. PyTorch's torch.sigmoid / nn.Sigmoid (the gate of
 * squeeze-excitation). Saved for backward: y.
 * Backward: sigmoid_backward (dy, y -> dx = dy * y * (1 - y)), PyTorch's sigmoid_backward.
 * Not lowered to WebAssembly or native kernels: the engines run the reference kernel below in
 * float32, on NHWC tensors as they are (`layoutFree`).
 */
import { type OpDef, elementwiseBackward, sameShape } from './op.js';

/** sigmoid(v) without overflow: exp of a non-positive number only. */
export function sigmoidOf(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

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
