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
 * Epilogue rule (concat-grad-epilogue), where the BN's dy comes from the fused backward-data of
 * the convolution that reads the BN's output (its dx epilogue: ReLU mask and reductions): BN's dx
 * = A*dy + B*x + C0 splits. A*dy is added into G by that epilogue while the tile is in
 * registers (conv2d_fused_backward_data_acc: dy is never stored, and the BN backward's pass over
 * dy, x and G disappears); B and C0, one affine map per channel, are summed over the block's BNs
 * (bn_dx_coef, shifted by the channel's mean) and applied once per part, by the slice that takes
 * its gradient out of G (slice_channels_affine reads x there). Guards: dxEpilogueConv (dy comes
 * from such a convolution and nothing else reads it), accumulatingPath (the convolution's
 * backward-data path can accumulate: KernelCapabilities.convDxAccumulates); where one fails,
 * that BN's dx is added whole (bn_backward_data_acc) as above.
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
import { type KernelCapabilities, convLabel } from './capabilities.js';
import type { FusedConvAttrs } from '../ops/conv2d_fused.js';
import { type FusionReport, type Pass, bnLayerOf, consumers, producer, rebuild } from './rewrite.js';

const RULE = 'concat-grad-in-place';
const EPILOGUE = 'concat-grad-epilogue';

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
        report.blocked(
          members[members.length - 1]!.name,
          rule,
          'prefixChain',
          `${next.length} concatenations extend "${members[members.length - 1]!.name}" (${next.map((x) => `"${x.name}"`).join(', ')}): the chain ends here`,
        );
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
  /** per accumulating member: the backward-data whose dx epilogue adds A*dy into G (epilogue rule) */
  epi: (Node | undefined)[];
}

/**
 * The fused backward-data that produced the dy of BN backward `bn` (member of an accepted plan),
 * when its dx epilogue can add A*dy into G instead (epilogue rule); else reports why not.
 */
function epilogueConv(g: Graph, bn: Node, uses: Map<number, Node[]>, report: FusionReport, layer: string, caps: KernelCapabilities): Node | undefined {
  const p = producer(g, bn.inputs[0]!);
  const a = p?.attrs as unknown as FusedConvAttrs | undefined;
  if (
    !p ||
    p.op !== 'conv2d_fused_backward_data' ||
    !a?.dxEpilogue ||
    p.outputs[0] !== bn.inputs[0] ||
    p.outputs[1] !== bn.inputs[5] ||
    p.outputs[2] !== bn.inputs[6] ||
    (uses.get(bn.inputs[0]!) ?? []).length !== 1 ||
    [...g.outputs.values()].includes(bn.inputs[0]!)
  ) {
    report.blocked(
      layer,
      EPILOGUE,
      'dxEpilogueConv',
      p
        ? `its dy comes from ${p.op} "${p.name}"${a?.dxEpilogue ? ', which is also read elsewhere' : ' without a dx epilogue'}`
        : 'its dy is not computed by a convolution',
    );
    return undefined;
  }
  const conv = { xShape: a.xShape!, wShape: a.wShape!, attrs: a };
  if (!caps.convDxAccumulates(conv)) {
    report.blocked(
      layer,
      EPILOGUE,
      'accumulatingPath',
      `the backward-data of "${p.name}" (${convLabel(conv)}) runs on a path that cannot accumulate (convDxAccumulates)`,
    );
    return undefined;
  }
  return p;
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
    const readers = gp === undefined ? [] : (uses.get(gp) ?? []);
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
      report.blocked(
        layers[i]!,
        RULE,
        'backwardOrder',
        `the gradient of "${c.members[i]!.name}" ("${lo.name}") comes before that of "${c.members[i + 1]!.name}" ("${hi.name}")`,
      );
      return undefined;
    }
  }
  return { chain: c, grads, parts, drop, layers, epi: [] };
}

/**
 * The pass, with or without the epilogue rule (FusionOptions.concatGradEpilogue); `caps` says
 * which backward-data convolutions can accumulate.
 */
export function concatGradWith(epilogue: boolean, caps: KernelCapabilities): Pass {
  return { name: RULE, run: (g, report) => concatGrad(g, report, epilogue, caps) };
}

function concatGrad(g: Graph, report: FusionReport, epilogue: boolean, caps: KernelCapabilities): Graph {
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
  const epiAt = new Map<number, { plan: Plan; i: number }>(); // the backward-data that adds A*dy of member i
  const partAt = new Map<number, { plan: Plan; part: Part }>();
  const dropped = new Set<number>();
  const buf = new Map<Plan, number[]>(); // G after each member (index i: after member i added)
  const coefs = new Map<Plan, number>(); // the summed affine halves so far (epilogue rule)
  const sliced = new Map<Part, number>(); // the part's slice of G
  for (const p of plans) {
    const L = p.chain.members.length;
    const top = p.chain.members[L - 1]!;
    for (let i = 0; i < L; i++) accAt.set(producer(g, p.grads[i]!)!.id, { plan: p, i });
    for (const part of p.parts) partAt.set(part.at.id, { plan: p, part });
    for (const d of p.drop) dropped.add(d);
    buf.set(p, new Array<number>(L));
    p.layers.forEach((l, i) => {
      const C = g.value(p.chain.members[i]!.outputs[0]!).shape[1];
      const conv = epilogue ? epilogueConv(g, producer(g, p.grads[i]!)!, uses, report, l, caps) : undefined;
      p.epi[i] = conv;
      if (conv) {
        epiAt.set(conv.id, { plan: p, i });
        report.fired(
          l,
          EPILOGUE,
          `A*dy added into the leading ${C} channels of the gradient buffer of "${top.name}" by the backward-data epilogue of "${conv.name}"; B*x + C0 summed per channel and applied when each part's gradient is sliced out`,
        );
      } else {
        report.fired(l, RULE, `dx added in place into the leading ${C} channels of the gradient buffer of "${top.name}" (no slices, no sums)`);
      }
    });
  }
  return rebuild(g, (n, w) => {
    const epi = epiAt.get(n.id);
    if (epi) {
      // the backward-data adds A*dy into G: G after member i
      const { plan, i } = epi;
      const gs = buf.get(plan)!;
      const gv = w.value(`${n.name}.acc`, g.value(plan.grads[plan.chain.members.length - 1]!).shape, 'grad');
      w.node('conv2d_fused_backward_data_acc', n.name, [gs[i + 1]!, ...n.inputs], [gv, n.outputs[1]!, n.outputs[2]!], n.attrs);
      gs[i] = gv;
      return;
    }
    const acc = accAt.get(n.id);
    if (acc) {
      const { plan, i } = acc;
      const gs = buf.get(plan)!;
      const L = plan.chain.members.length;
      const top = i === L - 1;
      if (top) {
        w.keep(n); // the largest concatenation's gradient is the buffer
        gs[i] = plan.grads[i]!;
      } else if (plan.epi[i]) {
        // G already holds A*dy (the epilogue above): sum this BN's B, C0 into the coefficients
        const CG = g.value(plan.grads[L - 1]!).shape[1]!;
        const s = g.value(n.inputs[0]!).shape;
        const prev = coefs.get(plan);
        const attrs = { channels: CG, count: s[0]! * s[2]! * s[3]!, init: prev === undefined };
        const [c] = w.emit('bn_dx_coef', `${n.name}.coef`, [...(prev === undefined ? [] : [prev]), ...n.inputs.slice(2)], attrs, 'grad');
        coefs.set(plan, c!);
      } else {
        [gs[i]] = w.emit('bn_backward_data_acc', `${n.name}.acc`, [gs[i + 1]!, ...n.inputs], {}, 'grad') as [number];
      }
      // the parts first held by this member are complete: slice them out now, before G moves
      // on (with the summed B*x + C0 of the epilogue rule's BNs, all of which hold the part)
      const coef = coefs.get(plan);
      for (const p of plan.parts) {
        if (p.first !== i) continue;
        const attrs = { start: p.start, size: p.size };
        const name = `${g.value(p.total).name}.slice`;
        const [op, ins] = coef === undefined ? ['slice_channels', [gs[i]!]] : ['slice_channels_affine', [gs[i]!, plan.chain.members[i]!.outputs[0]!, coef]];
        if (p.others.length === 0) w.node(op, name, ins, [p.total], attrs);
        else sliced.set(p, w.emit(op, name, ins, attrs, 'grad')[0]!);
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
}
