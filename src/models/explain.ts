/**
 * `bnff explain`: for every BN of a model's training step, what the fusion passes fused into
 * what, and for each rule that did not fire, the named guard that stopped it and where.
 */
import { getModel } from './index.js';
import { Network } from './network.js';
import { ALL_FUSION, type FusionOptions } from '../passes/index.js';
import type { Note } from '../passes/rewrite.js';
import { HostMemory } from '../runtime/memory.js';

export interface ExplainResult {
  model: string;
  /** The batch norms (the layers the summary counts), each with the notes of the rules tried on it. */
  bns: { layer: string; notes: Note[] }[];
  /** Other layers rules were tried on (a DenseNet's concatenations), counted apart. */
  others: { layer: string; notes: Note[] }[];
  counts: { bns: number; statsFused: number; normalizeFused: number; backwardFused: number; unfusedBns: string[] };
  opCounts: { unfused: Record<string, number>; fused: Record<string, number> };
}

function opCounts(net: Network, shape: number[], bnNames?: Set<string>): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of net.buildTrainGraph(shape).graph.nodes) {
    c[n.op] = (c[n.op] ?? 0) + 1;
    if (n.op === 'batch_norm2d') bnNames?.add(n.name);
  }
  return c;
}

/**
 * What fusion does to a training step of `model` at this image size and batch; the batch matters
 * only to the engine's cost guard (cacheResident, which reads tensor sizes).
 */
export function explain(model: string, imageSize: number, fusion: FusionOptions = ALL_FUSION, batch = 2): ExplainResult {
  const def = getModel(model);
  const shape = [batch, def.inChannels, imageSize, imageSize];
  const net = new Network(def, new HostMemory('f32'), 0, undefined, fusion);
  const fusedOps = opCounts(net, shape);
  const report = net.lastReport!;
  const base = new Network(def, new HostMemory('f32'), 0);
  const bnNames = new Set<string>();
  const unfusedOps = opCounts(base, shape, bnNames);
  const layers = [...report.byLayer()].map(([layer, notes]) => ({ layer, notes }));
  const bns = layers.filter((l) => bnNames.has(l.layer));
  const others = layers.filter((l) => !bnNames.has(l.layer));
  const fired = (b: { notes: Note[] }, rule: string): boolean => b.notes.some((n) => n.rule === rule && n.fired);
  const statsFused = bns.filter((b) => fired(b, 'moments-into-conv') || fired(b, 'moments-reuse')).length;
  const normalizeFused = bns.filter((b) => fired(b, 'normalize-into-conv')).length;
  const backwardFused = bns.filter(
    (b) => fired(b, 'reduce-into-conv-backward') || fired(b, 'act-with-reduce') || fired(b, 'bn-grad-into-conv-backward'),
  ).length;
  const unfusedBns = bns.filter((b) => !fired(b, 'moments-into-conv') && !fired(b, 'moments-reuse') && !fired(b, 'normalize-into-conv')).map((b) => b.layer);
  return {
    model,
    bns,
    others,
    counts: { bns: bns.length, statsFused, normalizeFused, backwardFused, unfusedBns },
    opCounts: { unfused: unfusedOps, fused: fusedOps },
  };
}

export function formatExplain(r: ExplainResult): string {
  const others = r.others.length
    ? ` (and ${r.others.length} other layer${r.others.length === 1 ? '' : 's'} the rules looked at: ${[...new Set(r.others.map((o) => o.notes[0]?.rule ?? 'other'))].join(', ')})`
    : '';
  const out: string[] = [`${r.model}: ${r.counts.bns} batch norms in training mode${others}`];
  for (const b of [...r.bns, ...r.others]) {
    out.push(`${b.layer}`);
    for (const n of b.notes) out.push(n.fired ? `  + ${n.rule}: ${n.detail}` : `  - ${n.rule}: not fused, guard ${n.guard} failed: ${n.detail}`);
  }
  const c = r.counts;
  out.push(
    '',
    `statistics fused or reused: ${c.statsFused}/${c.bns}; normalize fused into a convolution: ${c.normalizeFused}/${c.bns}; backward fused: ${c.backwardFused}/${c.bns}`,
  );
  if (c.unfusedBns.length) out.push(`left to the standalone kernels: ${c.unfusedBns.join(', ')}`);
  const ops = new Set([...Object.keys(r.opCounts.unfused), ...Object.keys(r.opCounts.fused)]);
  out.push('', 'kernels per training step (unfused -> fused):');
  for (const op of [...ops].sort())
    out.push(`  ${op.padEnd(32)} ${String(r.opCounts.unfused[op] ?? 0).padStart(5)} -> ${String(r.opCounts.fused[op] ?? 0).padStart(5)}`);
  return out.join('\n') + '\n';
}
