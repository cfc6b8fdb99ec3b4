/**
 * flatten: [N, ...] -> [N, prod(...)]; reshape: to attrs.shape. Both copy (values never alias,
 * which keeps the memory planner simple). Each is the other's backward.
 */
import { numel } from '../graph/ir.js';
import { type KernelArgs, type OpDef, ShapeErrorAt } from './op.js';

function copy({ x, y }: KernelArgs<unknown>): void {
  y[0]!.set(x[0]!);
}

export const flatten: OpDef = {
  type: 'flatten',
  infer(xs, _attrs, layer) {
    const s = xs[0]!;
    if (s.length < 2) throw new ShapeErrorAt(layer, 'flatten', `input must have rank 2 or more, got [${s.join(', ')}]`);
    return [[s[0]!, numel(s.slice(1))]];
  },
  run: copy,
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    return b.emit('reshape', `${node.name}.backward`, [dy], { shape: b.shape(node.inputs[0]!) });
  },
};

export const reshape: OpDef<{ shape: number[] }> = {
  type: 'reshape',
  infer(xs, { shape }, layer) {
    if (numel(shape) !== numel(xs[0]!)) throw new ShapeErrorAt(layer, 'reshape', `cannot reshape [${xs[0]!.join(', ')}] to [${shape.join(', ')}]`);
    return [shape];
  },
  run: copy,
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    return b.emit('reshape', `${node.name}.backward`, [dy], { shape: b.shape(node.inputs[0]!) });
  },
};
