/**
 * silu (swish): y = x * sigmoid(x), elementwise, any shape. PyTorch's F.silu / nn.SiLU.
 * Saved for backward: x.
 * Backward: silu_backward (dy, x -> dx), with s = sigmoid(x):
 *   dx = dy * s * (1 + x * (1 - s))
 * Not lowered to WebAssembly or native kernels: the engines run the reference kernel below in
 * float32 (through NCHW copies where the neighbours are NHWC), and no fusion rule touches it.
 */
import type { OpDef } from './op.js';

/** sigmoid(v) without overflow: exp of a non-positive number only. */
function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

export const silu: OpDef = {
  type: 'silu',
  infer(xs) {
    return [xs[0]!];
  },
  run({ x: [x], y: [y] }) {
    for (let i = 0; i < x!.length; i++) {
      const v = x![i]!;
      y![i] = v * sigmoid(v);
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    return b.emit('silu_backward', `${node.name}.backward`, [dy, node.inputs[0]!]);
  },
};

export const siluBackward: OpDef = {
  type: 'silu_backward',
  infer(xs) {
    return [xs[0]!];
  },
  run({ x: [dy, x], y: [dx] }) {
    for (let i = 0; i < dy!.length; i++) {
      const v = x![i]!;
      const s = sigmoid(v);
      dx![i] = dy![i]! * s * (1 + v * (1 - s));
    }
  },
};
