/**
 * add: y = a + b (same shapes). Backward passes dy to both inputs unchanged, so it emits no
 * node; when a value receives several gradients, autodiff sums them with this same op.
 */
import { type OpDef, ShapeErrorAt } from './op.js';

export const add: OpDef = {
  type: 'add',
  infer(xs, _attrs, layer) {
    const [a, b] = xs as [number[], number[]];
    if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
      throw new ShapeErrorAt(layer, 'add', `operands must have the same shape, got [${a.join(', ')}] and [${b.join(', ')}]`);
    }
    return [a];
  },
  run({ x: [a, b], y: [y] }) {
    for (let i = 0; i < y!.length; i++) y![i] = a![i]! + b![i]!;
  },
  backward(_b, _node, [dy]) {
    return [dy, dy];
  },
};
