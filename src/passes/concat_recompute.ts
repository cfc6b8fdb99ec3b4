/**
 * Memory-efficient concatenation (DenseNet; the idea of Pleiss et al., "Memory-Efficient
 * Implementation of DenseNets", 2017), an option (FusionOptions.recomputeConcat), off by default.
 *
 * A concatenation that backward reads (the fused convolution's backward-weights and dx epilogue
 * read their BN input; the BN backward reads it) is kept from forward to backward: in a dense
 * block, L concatenations of up to all the block's channels, so the saved activations grow with
 * L^2. With this rule the forward concatenation dies after its forward readers, and backward
 * concatenates the parts a second time, just before its first backward reader. The parts are
 * kept anyway (the later concatenations read them), so a block keeps its L growth-rate tensors
 * instead. The price: one more copy per concatenation.
 *
 * Guard: readByBackward (a concatenation that only forward reads has nothing to give back).
 */
import type { Node } from '../graph/ir.js';
import { type Pass, consumers, rebuild } from './rewrite.js';

const RULE = 'concat-recompute';

export const concatRecompute: Pass = {
  name: RULE,
  run(g, report) {
    const uses = consumers(g);
    // autodiff appends the backward after the forward: it starts at the first node writing a gradient
    let start = g.nodes.findIndex((n) => n.outputs.some((o) => g.value(o).kind === 'grad'));
    if (start < 0) start = g.nodes.length;
    const pos = new Map<number, number>(g.nodes.map((n, i) => [n.id, i]));
    const before = new Map<number, Node[]>(); // first backward reader -> concatenations to redo there
    for (const c of g.nodes.slice(0, start)) {
      if (c.op !== 'concat') continue;
      const late = (uses.get(c.outputs[0]!) ?? []).filter((r) => pos.get(r.id)! >= start);
      if (late.length === 0 || [...g.outputs.values()].includes(c.outputs[0]!)) {
        report.blocked(c.name, RULE, 'readByBackward', late.length === 0 ? 'backward does not read it' : 'it is a graph output');
        continue;
      }
      const first = late.reduce((a, b) => (pos.get(a.id)! < pos.get(b.id)! ? a : b));
      const l = before.get(first.id);
      if (l) l.push(c);
      else before.set(first.id, [c]);
      report.fired(c.name, RULE, `not kept for backward: concatenated again before "${first.name}" (${late.length} backward reader(s))`);
    }
    return rebuild(g, (n, w) => {
      for (const c of before.get(n.id) ?? []) {
        const [again] = w.emit('concat', `${c.name}.recompute`, c.inputs) as [number];
        w.substitute(c.outputs[0]!, again);
      }
      w.keep(n);
    });
  },
};
