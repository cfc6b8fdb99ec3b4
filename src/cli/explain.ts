/**
 * `bnff explain`: for every BN of a model's training step, what the fusion passes fused into
 * what, and for each rule that did not fire, the named guard that stopped it and where.
 */
import { getModel } from '../models/index.js';
import { Network } from '../models/network.js';
import { ALL_FUSION, type FusionOptions } from '../passes/index.js';
import type { Note } from '../passes/rewrite.js';
import { HostMemory } from '../runtime/memory.js';

export interface ExplainResult {
  model: string;
  bns: { layer: string; notes: Note[] }[];
  counts: { bns: number; statsFused: number; normalizeFused: number; backwardFused: number; unfusedBns: string[] };
  opCounts: { unfused: Record<string, number>; fused: Record<string, number> };
}

function opCounts(net: Network, shape: number[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of net.buildTrainGraph(shape).graph.nodes) c[n.op] = (c[n.op] ?? 0) + 1;
  return c;
}

export function explain(model: string, imageSize: number, fusion: FusionOptions = ALL_FUSION): ExplainResult {
  const def = getModel(model);
  const shape = [2, def.inChannels, imageSize, imageSize];
  const net = new Network(def, new HostMemory('f32'), 0, undefined, fusion);
  const fusedOps = opCounts(net, shape);
  const report = net.lastReport!;
  const bns = [...report.byLayer()].map(([layer, notes]) => ({ layer, notes }));
  const fired = (b: { notes: Note[] }, rule: string): boolean => b.notes.some((n) => n.rule === rule && n.fired);
  const statsFused = bns.filter((b) => fired(b, 'moments-into-conv') || fired(b, 'moments-reuse')).length;
  const normalizeFused = bns.filter((b) => fired(b, 'normalize-into-conv')).length;
  const backwardFused = bns.filter((b) => fired(b, 'reduce-into-conv-backward') || fired(b, 'bn-grad-into-conv-backward')).length;
  const unfusedBns = bns.filter((b) => !fired(b, 'moments-into-conv') && !fired(b, 'moments-reuse') && !fired(b, 'normalize-into-conv')).map((b) => b.layer);
  const base = new Network(def, new HostMemory('f32'), 0);
  return {
    model,
    bns,
    counts: { bns: bns.length, statsFused, normalizeFused, backwardFused, unfusedBns },
    opCounts: { unfused: opCounts(base, shape), fused: fusedOps },
  };
}

export function formatExplain(r: ExplainResult): string {
  const out: string[] = [`${r.model}: ${r.counts.bns} batch norms in training mode`];
  for (const b of r.bns) {
    out.push(`${b.layer}`);
    for (const n of b.notes) out.push(n.fired ? `  + ${n.rule}: ${n.detail}` : `  - ${n.rule}: not fused, guard ${n.guard} failed: ${n.detail}`);
  }
  const c = r.counts;
  out.push('', `statistics fused or reused: ${c.statsFused}/${c.bns}; normalize fused into a convolution: ${c.normalizeFused}/${c.bns}; backward fused: ${c.backwardFused}/${c.bns}`);
  if (c.unfusedBns.length) out.push(`left to the standalone kernels: ${c.unfusedBns.join(', ')}`);
  const ops = new Set([...Object.keys(r.opCounts.unfused), ...Object.keys(r.opCounts.fused)]);
  out.push('', 'kernels per training step (unfused -> fused):');
  for (const op of [...ops].sort()) out.push(`  ${op.padEnd(32)} ${String(r.opCounts.unfused[op] ?? 0).padStart(5)} -> ${String(r.opCounts.fused[op] ?? 0).padStart(5)}`);
  return out.join('\n') + '\n';
}
