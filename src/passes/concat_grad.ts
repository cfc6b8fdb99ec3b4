/**
 * Concatenation gradients accumulated in place (DenseNet, the backward half of concat
 * elimination).
 *
 * A dense block concatenates a growing list of tensors: P1 = concat(x0, f1), P2 = concat(x0, f1,
 * f2), ..., PL = concat(x0, ..., fL), each P read by the BN of one layer (PL by what follows the
 * block). Autodiff gives each P's gradient gP its own buffer, slices it back into its parts
 * (one copy of every channel of every P) and sums the slices of each part with add nodes: the
 * gradient of f1 is the sum of L slices. This pass keeps one gradient buffer G of PL's channels
 * for the whole block instead:
 *   G = gPL; for i = L-1 .. 1: G[:, :C(Pi)] += gPi, computed in place by the BN backward that
 *   produced gPi (bn_backward_data -> bn_backward_data_acc);
 *   grad(part) = one slice of G, taken as soon as every P containing the part has added into G
 *   (plus the part's gradients from outside the block, if any, with add where autodiff summed).
 * The additions happen in the order autodiff summed them, so the result is the same.
 *
 * Guards (reported at the BN whose dx would be accumulated, or at the concatenation):
 *   prefixChain   each concatenation extends the previous one by one input (else not a chain);
 *   gradOnlySliced a concatenation's gradient is read only by the slices of its backward;
 *   gradFromBnBackward every gradient but the last comes from one bn_backward_data;
 *   partsSumSlices each part's gradient is a sum (autodiff's add chain) containing its slices;
 *   backwardOrder  the gradients arrive from the largest concatenation down (each in-place
 *                  update follows the one before it).
 */
import type { Graph, Node } from '../graph/ir.js';
import { type FusionReport, type Pass, bnLayerOf, consumers, producer, rebuild } from './rewrite.js';

const RULE = 'concat-grad-in-place';

export interface Chain {
  members: Node[]; // concat nodes P1..PL, each extending the previous by one input
}

/**
 * Maximal chains of concatenations, each extending the previous by exactly one input (a dense
 * block's P1..PL); where one is extended by several, `rule` is reported blocked (prefixChain).
 */
export function concatChains(g: Graph, report: FusionReport, rule: string): Chain[] {
  const byInputs = new Map<string, Node>();
  for (const n of g.nodes) if (n.op === 'concat') byInputs.set(n.inputs.join(','), n);
  const children = new Map<number, Node[]>();
  const hasParent = new Set<number>();
  for (const n of g.nodes) {
    if (n.op !== 'concat' || n.inputs.length < 3) continue;
    const parent = byInputs.get(n.inputs.slice(0, -1).join(','));
    if (!parent) continue;
    const l = children.get(parent.id);
    if (l) l.push(n);
    else children.set(parent.id, [n]);
    hasParent.add(n.id);
  }
  const out: Chain[] = [];
  for (const n of g.nodes) {
    if (n.op !== 'concat' || hasParent.has(n.id)) continue;
    const members = [n];
    for (;;) {
      const next = children.get(members[members.length - 1]!.id);
      if (next && next.length > 1) {
        report.blocked(members[members.length - 1]!.name, rule, 'prefixChain', `${next.length} concatenations extend "${members[members.length - 1]!.name}" (${next.map((x) => `"${x.name}"`).join(', ')}): the chain ends here`);
      }
      if (!next || next.length !== 1) break; // a branch ends the chain (each branch its own gradient)
      members.push(next[0]!);
    }
    const top = members[members.length - 1]!;
    if (members.length > 1 && new Set(top.inputs).size !== top.inputs.length) {
      report.blocked(top.name, rule, 'prefixChain', 'a tensor appears twice in the concatenation');
    } else if (members.length > 1) out.push({ members });
  }
  return out;
}

/** The leaves of autodiff's left-leaning add chain that sums the gradient `t`. */
function sumLeaves(g: Graph, t: number, uses: Map<number, Node[]>): { leaves: number[]; adds: Node[] } {
  const p = producer(g, t);
  if (p && p.op === 'add' && p.attrs.gradSum === true && (uses.get(p.inputs[0]!) ?? []).length === 1) {
    const inner = sumLeaves(g, p.inputs[0]!, uses);
    return { leaves: [...inner.leaves, p.inputs[1]!], adds: [...inner.adds, p] };
  }
  if (p && p.op === 'add' && p.attrs.gradSum === true) return { leaves: [p.inputs[0]!, p.inputs[1]!], adds: [p] };
  return { leaves: [t], adds: [] };
}

interface Part {
  total: number; // the part's gradient value (kept: later nodes read it)
  at: Node; // node producing it in the source graph, where the new slice is emitted
  first: number; // index of the first member containing the part
  start: number;
  size: number;
  others: number[]; // leaves from outside the chain, in order
}

interface Plan {
  chain: Chain;
  grads: number[]; // gP per member
  parts: Part[];
  drop: Set<number>;
  layers: string[]; // BN layer of each accumulating member (for the report)
}

function planChain(g: Graph, c: Chain, uses: Map<number, Node[]>, report: FusionReport): Plan | undefined {
  const L = c.members.length;
  const grads: number[] = [];
  const layers: string[] = [];
  const drop = new Set<number>();
  const top = c.members[L - 1]!;
  // each member's gradient: read only by its backward's slices
  const slicesOf: Node[][] = [];
  for (let i = 0; i < L; i++) {
    const m = c.members[i]!;
    const gp = g.grads.get(m.outputs[0]!);
    const prod = gp === undefined ? undefined : producer(g, gp);
    const where = i < L - 1 && prod?.op === 'bn_backward_data' ? bnLayerOf(prod) : m.name;
    const readers = gp === undefined ? [] : uses.get(gp) ?? [];
    if (gp === undefined || !prod || readers.length === 0 || readers.some((r) => r.op !== 'slice_channels') || [...g.outputs.values()].includes(gp)) {
      const what = gp === undefined ? 'not computed' : !prod ? 'an input of the graph' : `read by ${readers.map((r) => r.op).join(', ') || 'nothing'}`;
      report.blocked(where, RULE, 'gradOnlySliced', `the gradient of "${m.name}" is ${what}`);
      return undefined;
    }
    if (i < L - 1) {
      if (prod.op !== 'bn_backward_data' || prod.inputs[1] !== m.outputs[0]) {
        report.blocked(where, RULE, 'gradFromBnBackward', `the gradient of "${m.name}" comes from ${prod.op} "${prod.name}"`);
        return undefined;
      }
      layers.push(bnLayerOf(prod));
    }
    grads.push(gp);
    slicesOf.push(readers);
    for (const r of readers) drop.add(r.id);
  }
  // parts: offsets in the top member, first member containing each
  const parts: Part[] = [];
  const base = c.members[0]!.inputs.length;
  let start = 0;
  for (let j = 0; j < top.inputs.length; j++) {
    const v = top.inputs[j]!;
    const size = g.value(v).shape[1]!;
    const first = j < base ? 0 : j - base + 1;
    const total = g.grads.get(v);
    const here = start;
    start += size;
    if (total === undefined) continue; // no gradient wanted for this part
    const { leaves, adds } = sumLeaves(g, total, uses);
    const own = new Set<number>();
    for (let i = first; i < L; i++) {
      const s = slicesOf[i]!.find((r) => r.attrs.start === here && r.attrs.size === size);
      if (!s || !leaves.includes(s.outputs[0]!)) {
        report.blocked(top.name, RULE, 'partsSumSlices', `the gradient of "${g.value(v).name}" does not sum the slices of every concatenation that holds it`);
        return undefined;
      }
      own.add(s.outputs[0]!);
    }
    for (const a of adds) drop.add(a.id);
    const at = producer(g, total)!;
    parts.push({ total, at, first, start: here, size, others: leaves.filter((l) => !own.has(l)) });
  }
  // order: G is updated in place from the largest concatenation down
  const pos = new Map<number, number>(g.nodes.map((n, i) => [n.id, i]));
  for (let i = 0; i < L - 1; i++) {
    const [lo, hi] = [producer(g, grads[i]!)!, producer(g, grads[i + 1]!)!];
    if (pos.get(lo.id)! < pos.get(hi.id)!) {
      report.blocked(layers[i]!, RULE, 'backwardOrder', `the gradient of "${c.members[i]!.name}" ("${lo.name}") comes before that of "${c.members[i + 1]!.name}" ("${hi.name}")`);
      return undefined;
    }
  }
  return { chain: c, grads, parts, drop, layers };
}

export const concatGradInPlace: Pass = {
  name: RULE,
  run(g, report) {
    const uses = consumers(g);
    const plans: Plan[] = [];
    const touched = new Set<number>(); // nodes an accepted plan rewrites
    for (const c of concatChains(g, report, RULE)) {
      const p = planChain(g, c, uses, report);
      if (!p) continue;
      const mine = [...p.drop, ...p.parts.map((q) => q.at.id), ...p.grads.map((v) => producer(g, v)!.id)];
      if (mine.some((id) => touched.has(id))) {
        report.blocked(c.members[c.members.length - 1]!.name, RULE, 'prefixChain', 'its gradients are also part of another chain (nested concatenations)');
        continue;
      }
      for (const id of mine) touched.add(id);
      plans.push(p);
    }
    if (plans.length === 0) return g;
    const accAt = new Map<number, { plan: Plan; i: number }>(); // node producing gP of member i
    const partAt = new Map<number, { plan: Plan; part: Part }>();
    const dropped = new Set<number>();
    const buf = new Map<Plan, number[]>(); // G after each member (index i: after member i added)
    const sliced = new Map<Part, number>(); // the part's slice of G
    for (const p of plans) {
      const L = p.chain.members.length;
      for (let i = 0; i < L; i++) accAt.set(producer(g, p.grads[i]!)!.id, { plan: p, i });
      for (const part of p.parts) partAt.set(part.at.id, { plan: p, part });
      for (const d of p.drop) dropped.add(d);
      buf.set(p, new Array<number>(L));
      p.layers.forEach((l, i) => report.fired(l, RULE, `dx added in place into the leading ${g.value(p.chain.members[i]!.outputs[0]!).shape[1]} channels of the gradient buffer of "${p.chain.members[L - 1]!.name}" (no slices, no sums)`));
    }
    return rebuild(g, (n, w) => {
      const acc = accAt.get(n.id);
      if (acc) {
        const { plan, i } = acc;
        const gs = buf.get(plan)!;
        const top = i === plan.chain.members.length - 1;
        if (top) {
          w.keep(n); // the largest concatenation's gradient is the buffer
          gs[i] = plan.grads[i]!;
        } else {
          [gs[i]] = w.emit('bn_backward_data_acc', `${n.name}.acc`, [gs[i + 1]!, ...n.inputs], {}, 'grad') as [number];
        }
        // the parts first held by this member are complete: slice them out now, before G moves on
        for (const p of plan.parts) {
          if (p.first !== i) continue;
          const attrs = { start: p.start, size: p.size };
          const name = `${g.value(p.total).name}.slice`;
          if (p.others.length === 0) w.node('slice_channels', name, [gs[i]!], [p.total], attrs);
          else sliced.set(p, w.emit('slice_channels', name, [gs[i]!], attrs, 'grad')[0]!);
        }
        return;
      }
      const part = partAt.get(n.id);
      if (part) {
        const p = part.part;
        if (p.others.length === 0) return; // sliced straight into the part's gradient above
        let s = sliced.get(p)!;
        p.others.forEach((o, k) => {
          if (k === p.others.length - 1) w.node('add', n.name, [s, o], [p.total], { gradSum: true });
          else [s] = w.emit('add', `${n.name}.${k}`, [s, o], { gradSum: true }, 'grad') as [number];
        });
        return;
      }
      if (dropped.has(n.id)) return;
      w.keep(n);
    });
  },
};
