/**
 * relu: y = max(0, x), NaN propagating as in PyTorch. Saved for backward: y.
 * Backward: relu_backward (dy, y -> dx = 0 where y <= 0, else dy), PyTorch's threshold_backward.
 */
import type { OpDef } from './op.js';

export const relu: OpDef = {
  type: 'relu',
  infer(xs) {
    return [xs[0]!];
  },
  run({ x: [x], y: [y] }) {
    for (let i = 0; i < x!.length; i++) {
      const v = x![i]!;
      y![i] = v > 0 || v !== v ? v : 0;
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    return b.emit('relu_backward', `${node.name}.backward`, [dy, node.outputs[0]!]);
  },
};

export const reluBackward: OpDef = {
  type: 'relu_backward',
  infer(xs) {
    return [xs[0]!];
  },
  run({ x: [dy, y], y: [dx] }) {
    for (let i = 0; i < dy!.length; i++) dx![i] = y![i]! <= 0 ? 0 : dy![i]!;
  },
};
