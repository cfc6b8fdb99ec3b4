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
import { getModel } from '../src/models/index.js';
import { Network } from '../src/models/network.js';
import { createEngine, type EngineKind } from '../src/runtime/engine.js';
import { SGD } from '../src/train/sgd.js';
import { ABLATIONS, ALL_FUSION, type FusionOptions, NO_FUSION } from '../src/passes/index.js';
import { Rng } from '../src/util/random.js';
import { machine, spread, type Spread } from './common.js';

export interface StepBenchOptions {
  model: string;
  /** Also time the fused graph, interleaved step by step with the unfused one. */
  fuse?: boolean;
  /** Also time each optimisation alone (implies fuse). */
  ablation?: boolean;
  batchSize: number;
  imageSize: number;
  threads: number;
  steps: number;
  warmup: number;
  vsPytorch: boolean;
  engine?: EngineKind;
}

export const OP_TYPES: Record<string, string> = {
  conv2d: 'conv', conv2d_backward_data: 'conv', conv2d_backward_weight: 'conv',
  batch_norm2d: 'bn', bn_backward_reduce: 'bn', bn_backward_data: 'bn',
  relu: 'relu', relu_backward: 'relu',
  max_pool2d: 'pool', max_pool2d_backward: 'pool', avg_pool2d: 'pool', avg_pool2d_backward: 'pool', global_avg_pool: 'pool', global_avg_pool_backward: 'pool',
  concat: 'concat', slice_channels: 'concat',
  add: 'add',
  conv2d_fused: 'conv', conv2d_fused_backward_data: 'conv', conv2d_fused_backward_weight: 'conv',
  channel_moments: 'bn', bn_finalize: 'bn', bn_apply: 'bn', bn_add_relu: 'bn', bn_add_relu_backward: 'bn',
  bn_relu_mask: 'relu', concat_vec: 'concat',
};

export interface ModeResult {
  step_s: Spread;
  img_s: number;
}

export interface StepBenchResult {
  fused?: ModeResult & { breakdown: Record<string, number> };
  speedup?: number;
  ablation?: Record<string, { img_s: number; speedup: number }>;
  model: string;
  batch_size: number;
  image_size: number;
  threads: number;
  engine: string;
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
  const r = spawnSync(python, [pytorchScript(), o.model, String(o.batchSize), String(o.imageSize), String(o.threads), String(o.steps), String(o.warmup)], { encoding: 'utf8' });
  if (r.status !== 0) return { error: `PyTorch run failed (is Debian's python3-torch installed?): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
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

export async function benchStep(o: StepBenchOptions): Promise<StepBenchResult> {
  const engine = await createEngine({ kind: o.engine ?? 'wasm', threads: o.threads });
  try {
    const def = getModel(o.model);
    const shape = [o.batchSize, def.inChannels, o.imageSize, o.imageSize];
    const rng = new Rng(2);
    const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
    const labels = Float32Array.from({ length: o.batchSize }, () => rng.int(def.numClasses));
    const variants: [string, FusionOptions][] = [['unfused', NO_FUSION]];
    if (o.fuse || o.ablation) variants.push(['fused', ALL_FUSION]);
    if (o.ablation) for (const [k, v] of Object.entries(ABLATIONS)) variants.push([k, v]);
    // Every contender starts from the same weights; plans share one workspace in the arena.
    const contenders: Contender[] = variants.map(([name, fusion]) => {
      const net = new Network(def, engine.memory, 1, engine.lowering, fusion);
      net.trainPlan(shape);
      return { name, net, opt: new SGD(net.params, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }, engine.memory, engine.pool), times: [] };
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
    // Interleaved: each round times every contender once, so drifts of a shared machine hit all alike.
    for (let i = 0; i < o.steps; i++) for (const c of contenders) c.times.push(once(c));
    const profiled = Math.max(1, Math.min(3, o.steps));
    const base = contenders[0]!;
    const st = spread(base.times);
    const plan = base.net.trainPlan(shape);
    const result: StepBenchResult = {
      model: o.model,
      batch_size: o.batchSize,
      image_size: o.imageSize,
      threads: engine.threads,
      engine: engine.description,
      unfused: { step_s: st, img_s: o.batchSize / st.median },
      breakdown: breakdownOf(base, x, labels, shape, next, profiled),
      machine: machine(),
      lowered_nodes: plan.exec.lowered,
      total_nodes: plan.graph.nodes.length,
    };
    const fused = contenders.find((c) => c.name === 'fused');
    if (fused) {
      const fs = spread(fused.times);
      result.fused = { step_s: fs, img_s: o.batchSize / fs.median, breakdown: breakdownOf(fused, x, labels, shape, next, profiled) };
      result.speedup = st.median / fs.median;
    }
    if (o.ablation) {
      result.ablation = {};
      for (const c of contenders.slice(2)) {
        const m = spread(c.times).median;
        result.ablation[c.name] = { img_s: o.batchSize / m, speedup: st.median / m };
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
  } finally {
    engine.close();
  }
}
