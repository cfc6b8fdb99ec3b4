/**
 * Reverse-mode autodiff as a graph transformation: appends the backward nodes of every forward
 * node (in reverse order) to the same graph. The result is explicit data, so later passes can
 * rewrite backward work like any other node. Gradients of a value used several times are summed
 * with explicit `add` nodes (fan-out in residual and dense connections).
 */
import { emit } from '../graph/emit.js';
import type { Graph } from '../graph/ir.js';
import { getOp } from '../ops/index.js';
import type { BackwardBuilder } from '../ops/op.js';

/** What appendBackward added to the graph. */
export interface BackwardResult {
  /** Gradient value id for each requested value id. */
  grads: Map<number, number>;
}

/**
 * Appends to `g` the backward nodes of its forward nodes, from the seed gradients back to the
 * values in `wrt`, and returns the gradient value of each.
 * @param seeds gradient value ids of forward outputs (for a loss: a const 1 of shape [1])
 * @param wrt values whose gradients are wanted (parameters, and inputs in gradient checks)
 */
export function appendBackward(g: Graph, seeds: Map<number, number>, wrt: number[]): BackwardResult {
  const forwardCount = g.nodes.length;
  const wanted = new Set(wrt);
  // A value needs a gradient if it is wanted or feeds (transitively) ... forward: depends on a wanted value.
  const dependsOnWanted = new Array<boolean>(g.values.length).fill(false);
  for (const id of wanted) dependsOnWanted[id] = true;
  for (let i = 0; i < forwardCount; i++) {
    const n = g.nodes[i]!;
    if (n.inputs.some((x) => dependsOnWanted[x])) for (const o of n.outputs) dependsOnWanted[o] = true;
  }

  const contributions = new Map<number, number[]>();
  const push = (v: number, gradId: number): void => {
    const list = contributions.get(v);
    if (list) list.push(gradId);
    else contributions.set(v, [gradId]);
  };
  for (const [v, s] of seeds) push(v, s);

  const b: BackwardBuilder = {
    emit: (op, name, inputs, attrs = {}) => emit(g, op, name, inputs, attrs, 'grad'),
    shape: (id) => g.value(id).shape,
  };
  /** Sums the contributions of v into one value (explicit add nodes), or undefined. */
  const total = (v: number): number | undefined => {
    const list = contributions.get(v);
    if (!list || list.length === 0) return undefined;
    let acc = list[0]!;
    for (let i = 1; i < list.length; i++) {
      [acc] = emit(g, 'add', `${g.value(v).name}.grad_sum${i}`, [acc, list[i]!], { gradSum: true }, 'grad') as [number];
    }
    contributions.set(v, [acc]);
    g.grads.set(v, acc);
    return acc;
  };

  for (let i = forwardCount - 1; i >= 0; i--) {
    const node = g.nodes[i]!;
    if (!node.inputs.some((x) => dependsOnWanted[x])) continue;
    const dy = node.outputs.map(total);
    if (dy.every((d) => d === undefined)) continue;
    const def = getOp(node.op);
    if (!def.backward) throw new Error(`layer "${node.name}": op ${node.op} has no backward`);
    const dx = def.backward(b, node, dy);
    node.inputs.forEach((x, j) => {
      const d = dx[j];
      if (d !== undefined && dependsOnWanted[x]) push(x, d);
    });
  }

  const grads = new Map<number, number>();
  for (const v of wanted) {
    const t = total(v);
    if (t !== undefined) grads.set(v, t);
  }
  return { grads };
}

/** Removes nodes none of whose outputs are used (by a node or as a graph output). Node ids are renumbered. */
export function pruneDead(g: Graph): Graph {
  const live = new Array<boolean>(g.values.length).fill(false);
  for (const id of g.outputs.values()) live[id] = true;
  const keep = new Array<boolean>(g.nodes.length).fill(false);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    // Ops with side effects on state (BN running statistics) are always kept.
    const sideEffect = getOp(n.op).mutatesState?.(n.attrs) === true;
    if (sideEffect || n.outputs.some((o) => live[o])) {
      keep[i] = true;
      for (const x of n.inputs) live[x] = true;
    }
  }
  const out = new (g.constructor as new () => Graph)();
  for (const v of g.values) out.values.push({ ...v, producer: undefined });
  for (const n of g.nodes.filter((_, i) => keep[i])) out.addNode(n.op, n.name, n.inputs, n.outputs, n.attrs);
  for (const [k, v] of g.outputs) out.outputs.set(k, v);
  for (const [k, v] of g.grads) out.grads.set(k, v);
  return out;
}
