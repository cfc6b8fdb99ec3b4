import { getOp } from '../ops/index.js';
import type { Attrs, Graph, ValueKind } from './ir.js';

/** Appends a node of `op`, inferring (and so checking) its output shapes. Returns output ids. */
export function emit(g: Graph, op: string, name: string, inputs: number[], attrs: Attrs = {}, kind: ValueKind = 'activation'): number[] {
  const def = getOp(op);
  const shapes = def.infer(
    inputs.map((i) => g.value(i).shape),
    attrs,
    name,
  );
  const outs = shapes.map((s, i) => g.addValue(shapes.length === 1 ? name : `${name}:${i}`, s, kind).id);
  g.addNode(op, name, inputs, outs, attrs);
  return outs;
}
