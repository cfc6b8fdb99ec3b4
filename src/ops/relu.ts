/**
 * relu: y = max(0, x). Saved for backward: y. Backward: relu_backward (dy, y -> dx = dy where y > 0).
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
      y![i] = v > 0 ? v : 0;
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
    for (let i = 0; i < dy!.length; i++) dx![i] = y![i]! > 0 ? dy![i]! : 0;
  },
};
