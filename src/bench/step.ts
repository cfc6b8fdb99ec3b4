/**
 * `bnff bench step`: times whole training steps (forward, backward, SGD update) of a model on a
 * random batch, with warm-up and repeats, and a per-op-type breakdown from separate profiled
 * steps. With --vs-pytorch, times the same model in PyTorch (Debian's python3-torch) in the
 * same run, so the ratio compares like with like on a noisy shared machine.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getModel } from '../models/index.js';
import { Network } from '../models/network.js';
import { createEngine, type EngineChoice, fusionCosts } from '../runtime/engine.js';
import { HeapOverflowError } from '../runtime/memory.js';
import { SGD } from '../train/sgd.js';
import { ABLATIONS, ALL_FUSION, type FusionOptions, NO_FUSION } from '../passes/index.js';
import { OP_TYPES } from './op_types.js';
import { Rng } from '../util/random.js';
import { machine, spread, type Spread } from './common.js';

export interface StepBenchOptions {
  model: string;
  /** Also time the fused graph, interleaved step by step with the unfused one. */
  fuse?: boolean;
  /** Also time each optimisation alone (implies fuse), or only the named entries of ABLATIONS. */
  ablation?: boolean | string[];
  /**
   * Run each ablation in its own round against its own unfused baseline (the default: with ten
   * plans in one process the 224-px DenseNet's ratios came out wrong); false: all contenders in
   * one run, falling back to rounds when their weights do not fit the heap together.
   */
  ablationRounds?: boolean;
  batchSize: number;
  imageSize: number;
  threads: number;
  steps: number;
  warmup: number;
  vsPytorch: boolean;
  engine?: EngineChoice;
}

export interface ModeResult {
  step_s: Spread;
  img_s: number;
}

export interface StepBenchResult {
  fused?: ModeResult & { breakdown: Record<string, number> };
  speedup?: number;
  /**
   * Median (and range) over the timed rounds of unfused time / fused time within the round: the
   * two steps of a round are adjacent, so a shared machine's slow phases cancel out.
   */
  speedup_paired?: Spread;
  ablation?: Record<string, { img_s: number; speedup: number; speedup_paired: Spread }>;
  model: string;
  batch_size: number;
  image_size: number;
  threads: number;
  engine: string;
  engine_kind: string;
  isa: string;
  unfused: ModeResult;
  breakdown: Record<string, number>;
  pytorch?: { img_s: number; step_s: Spread; torch: string } | { error: string };
  ratio_vs_pytorch?: number;
  fused_ratio_vs_pytorch?: number;
  machine: Record<string, string | number>;
  lowered_nodes: number;
  total_nodes: number;
}

export function pytorchScript(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
    const p = path.join(dir, 'tools', 'bench_pytorch.py');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('tools/bench_pytorch.py not found');
}

function runPytorch(o: StepBenchOptions): StepBenchResult['pytorch'] {
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(python, [pytorchScript(), o.model, String(o.batchSize), String(o.imageSize), String(o.threads), String(o.steps), String(o.warmup)], {
    encoding: 'utf8',
  });
  if (r.status !== 0)
    return { error: `PyTorch run failed (is Debian's python3-torch installed?): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  return JSON.parse(r.stdout) as { img_s: number; step_s: Spread; torch: string };
}

interface Contender {
  name: string;
  net: Network;
  opt: SGD;
  times: number[];
}

function breakdownOf(c: Contender, x: Float32Array, labels: Float32Array, shape: number[], step: () => number, profiled: number): Record<string, number> {
  const plan = c.net.trainPlan(shape);
  plan.exec.profile.clear();
  plan.exec.profiling = true;
  let optTime = 0;
  for (let i = 0; i < profiled; i++) {
    c.net.forwardBackward(x, labels, shape, { seed: 1, step: step() });
    const t0 = performance.now();
    c.opt.step(plan.grads);
    optTime += (performance.now() - t0) / 1000;
  }
  plan.exec.profiling = false;
  const out: Record<string, number> = { conv: 0, bn: 0, relu: 0, pool: 0, concat: 0, add: 0, other: optTime / profiled };
  for (const [op, s] of plan.exec.profile) out[OP_TYPES[op] ?? 'other']! += s / profiled;
  return out;
}

interface Round {
  times: Map<string, number[]>;
  breakdowns: Map<string, Record<string, number>>;
  threads: number;
  description: string;
  kind: string;
  isa: string;
  lowered: number;
  total: number;
}

/**
 * Times the variants interleaved in one engine (every contender from the same weights; plans
 * share one workspace in the arena); with profile, the per-op-type breakdown of the first two.
 */
async function round(o: StepBenchOptions, variants: [string, FusionOptions][], profile = true): Promise<Round> {
  const engine = await createEngine({ kind: o.engine, threads: o.threads });
  try {
    const def = getModel(o.model);
    const shape = [o.batchSize, def.inChannels, o.imageSize, o.imageSize];
    const rng = new Rng(2);
    const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
    const labels = Float32Array.from({ length: o.batchSize }, () => rng.int(def.numClasses));
    const contenders: Contender[] = variants.map(([name, fusion]) => {
      // "fused" is what `bnff train` runs on this engine: every rule, with the engine's cost guard
      const net = new Network(def, engine.memory, 1, engine.lowering, name === 'fused' ? { ...fusion, ...fusionCosts(engine.kind) } : fusion);
      net.trainPlan(shape);
      return { name, net, opt: new SGD(net.params, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }, engine.memory, engine.backend), times: [] };
    });
    let step = 0;
    const next = (): number => step++;
    const once = (c: Contender): number => {
      const t0 = performance.now();
      c.net.forwardBackward(x, labels, shape, { seed: 1, step: next() });
      c.opt.step(c.net.trainPlan(shape).grads);
      return (performance.now() - t0) / 1000;
    };
    for (let i = 0; i < o.warmup; i++) for (const c of contenders) once(c);
    // Interleaved: each round times every contender once, so drifts of a shared machine hit all
    // alike; the order rotates from round to round, so that no contender always runs first after
    // another one's data filled the caches.
    for (let i = 0; i < o.steps; i++) {
      for (let j = 0; j < contenders.length; j++) {
        const c = contenders[(i + j) % contenders.length]!;
        c.times.push(once(c));
      }
    }
    const profiled = Math.max(1, Math.min(3, o.steps));
    const breakdowns = new Map<string, Record<string, number>>();
    if (profile) for (const c of contenders.slice(0, 2)) breakdowns.set(c.name, breakdownOf(c, x, labels, shape, next, profiled));
    const plan = contenders[0]!.net.trainPlan(shape);
    return {
      times: new Map(contenders.map((c) => [c.name, c.times])),
      breakdowns,
      threads: engine.threads,
      description: engine.description,
      kind: engine.kind,
      isa: engine.isa,
      lowered: plan.exec.lowered,
      total: plan.graph.nodes.length,
    };
  } finally {
    engine.close();
  }
}

/** Spread of base[i] / t[i]: each ratio from one interleaved round. */
function paired(base: number[], t: number[]): Spread {
  return spread(t.map((v, i) => base[i]! / v));
}

export async function benchStep(o: StepBenchOptions): Promise<StepBenchResult> {
  const base: [string, FusionOptions][] = [['unfused', NO_FUSION]];
  if (o.fuse || o.ablation) base.push(['fused', ALL_FUSION]);
  const ablations = Object.entries(ABLATIONS).filter(([k]) => o.ablation === true || (Array.isArray(o.ablation) && o.ablation.includes(k)));
  // Each ablation in its own round with its own unfused baseline (two plans per process, as the
  // fused-vs-unfused comparison itself); or, with ablationRounds false, all contenders in one run,
  // falling back to rounds when their weights do not fit the heap together (resnet50's nine).
  let rounds: { r: Round; names: string[] }[] | undefined;
  if (ablations.length === 0 || o.ablationRounds === false) {
    try {
      rounds = [{ r: await round(o, [...base, ...ablations]), names: ablations.map(([k]) => k) }];
    } catch (e) {
      if (!(e instanceof HeapOverflowError) || ablations.length === 0) throw e;
    }
  }
  if (!rounds) {
    rounds = [{ r: await round(o, base), names: [] }];
    for (const [k, f] of ablations) rounds.push({ r: await round(o, [base[0]!, [k, f]], false), names: [k] });
  }
  const first = rounds[0]!.r;
  const st = spread(first.times.get('unfused')!);
  const result: StepBenchResult = {
    model: o.model,
    batch_size: o.batchSize,
    image_size: o.imageSize,
    threads: first.threads,
    engine: first.description,
    engine_kind: first.kind,
    isa: first.isa,
    unfused: { step_s: st, img_s: o.batchSize / st.median },
    breakdown: first.breakdowns.get('unfused')!,
    machine: machine(),
    lowered_nodes: first.lowered,
    total_nodes: first.total,
  };
  const ft = first.times.get('fused');
  if (ft) {
    const fs = spread(ft);
    result.fused = { step_s: fs, img_s: o.batchSize / fs.median, breakdown: first.breakdowns.get('fused')! };
    result.speedup = st.median / fs.median;
    result.speedup_paired = paired(first.times.get('unfused')!, ft);
  }
  if (o.ablation) {
    result.ablation = {};
    for (const { r, names } of rounds) {
      const u = spread(r.times.get('unfused')!).median;
      for (const name of names) {
        const m = spread(r.times.get(name)!).median;
        result.ablation[name] = { img_s: o.batchSize / m, speedup: u / m, speedup_paired: paired(r.times.get('unfused')!, r.times.get(name)!) };
      }
    }
  }
  if (o.vsPytorch) {
    result.pytorch = runPytorch(o);
    if (result.pytorch && 'img_s' in result.pytorch) {
      result.ratio_vs_pytorch = result.unfused.img_s / result.pytorch.img_s;
      if (result.fused) result.fused_ratio_vs_pytorch = result.fused.img_s / result.pytorch.img_s;
    }
  }
  return result;
}
