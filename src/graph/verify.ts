/**
 * The graph's invariants, checked: what every pass must leave true and the planner and the
 * executor rely on. verify(g) throws a GraphError naming the first node or value that breaks one:
 *   - every input and output id of a node is a value of the graph;
 *   - nodes are in topological order: a computed value (activation, grad) is read only after
 *     the node that writes it, which is its one producer (so there is no cycle);
 *   - every value a node writes names that node as its producer, and no value is written twice;
 *   - every node's output shapes are what its op's shape rule infers from its input shapes;
 *   - every graph output is a value that exists and is computed, or an input, parameter,
 *     state or constant.
 * The fusion passes run it after every rewrite under BNFF_VERIFY=1 (src/passes/index.ts),
 * which `npm test` sets.
 */
import { getOp } from '../ops/index.js';
import { type Graph, type Shape, shapeStr } from './ir.js';

/** A graph that breaks an invariant of the IR; the message names where. */
export class GraphError extends Error {
  /** 'GraphError', the name error messages and stack traces show. */
  override name = 'GraphError';
}

const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Throws a GraphError at the first broken invariant of g (see above); `where` prefixes the message. */
export function verify(g: Graph, where = 'graph'): void {
  const fail = (why: string): never => {
    throw new GraphError(`${where}: ${why}`);
  };
  const written = new Map<number, number>();
  g.values.forEach((v, i) => {
    if (v.id !== i) fail(`value "${v.name}" at index ${i} has id ${v.id}`);
  });
  g.nodes.forEach((n, i) => {
    const at = `node ${i} ${n.op} "${n.name}"`;
    if (n.id !== i) fail(`${at} has id ${n.id}`);
    for (const x of n.inputs) {
      const v = g.values[x];
      if (v === undefined) fail(`${at} reads value ${x}, which does not exist`);
      else if ((v.kind === 'activation' || v.kind === 'grad') && !written.has(x)) {
        fail(
          `${at} reads "${v.name}" before any node writes it${v.producer !== undefined ? ` (its producer is node ${v.producer}: a cycle or a node out of order)` : ''}`,
        );
      }
    }
    for (const y of n.outputs) {
      const v = g.values[y];
      if (v === undefined) fail(`${at} writes value ${y}, which does not exist`);
      else {
        if (written.has(y)) fail(`${at} writes "${v.name}", already written by node ${written.get(y)}`);
        if (v.producer !== i) fail(`${at} writes "${v.name}", whose producer is ${v.producer === undefined ? 'unset' : `node ${v.producer}`}`);
        written.set(y, i);
      }
    }
    const inferred = getOp(n.op).infer(
      n.inputs.map((x) => g.value(x).shape),
      n.attrs,
      n.name,
    );
    if (inferred.length !== n.outputs.length) fail(`${at} has ${n.outputs.length} outputs, its op's shape rule gives ${inferred.length}`);
    n.outputs.forEach((y, k) => {
      const have = g.value(y).shape;
      if (!sameShape(have, inferred[k]!))
        fail(`${at} output ${k} "${g.value(y).name}" is ${shapeStr(have)}, its op's shape rule gives ${shapeStr(inferred[k]!)}`);
    });
  });
  g.values.forEach((v) => {
    if (v.producer !== undefined && written.get(v.id) !== v.producer) fail(`value "${v.name}" names node ${v.producer} as producer, which does not write it`);
  });
  for (const [name, id] of g.outputs) {
    const v = g.values[id];
    if (v === undefined) fail(`output "${name}" is value ${id}, which does not exist`);
    else if ((v.kind === 'activation' || v.kind === 'grad') && !written.has(id)) fail(`output "${name}" ("${v.name}") is computed by no node`);
  }
}
