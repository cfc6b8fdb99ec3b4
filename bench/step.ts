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
import { Rng } from '../src/util/random.js';
import { machine, spread, type Spread } from './common.js';

export interface StepBenchOptions {
  model: string;
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
};

export interface ModeResult {
  step_s: Spread;
  img_s: number;
}

export interface StepBenchResult {
  model: string;
  batch_size: number;
  image_size: number;
  threads: number;
  engine: string;
  unfused: ModeResult;
  breakdown: Record<string, number>;
  pytorch?: { img_s: number; step_s: Spread; torch: string } | { error: string };
  ratio_vs_pytorch?: number;
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

export async function benchStep(o: StepBenchOptions): Promise<StepBenchResult> {
  const engine = await createEngine({ kind: o.engine ?? 'wasm', threads: o.threads });
  try {
    const def = getModel(o.model);
    const net = new Network(def, engine.memory, 1, engine.lowering);
    const shape = [o.batchSize, def.inChannels, o.imageSize, o.imageSize];
    const rng = new Rng(2);
    const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
    const labels = Float32Array.from({ length: o.batchSize }, () => rng.int(def.numClasses));
    const plan = net.trainPlan(shape);
    const opt = new SGD(net.params, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }, engine.memory, engine.pool);
    let step = 0;
    const once = (): number => {
      const t0 = performance.now();
      net.forwardBackward(x, labels, shape, { seed: 1, step: step++ });
      opt.step(plan.grads);
      return (performance.now() - t0) / 1000;
    };
    for (let i = 0; i < o.warmup; i++) once();
    const times: number[] = [];
    for (let i = 0; i < o.steps; i++) times.push(once());
    // Breakdown from separately profiled steps (timers around every node perturb the timing a little).
    const profiled = Math.max(1, Math.min(3, o.steps));
    plan.exec.profile.clear();
    plan.exec.profiling = true;
    let optTime = 0;
    for (let i = 0; i < profiled; i++) {
      net.forwardBackward(x, labels, shape, { seed: 1, step: step++ });
      const t0 = performance.now();
      opt.step(plan.grads);
      optTime += (performance.now() - t0) / 1000;
    }
    plan.exec.profiling = false;
    const breakdown: Record<string, number> = { conv: 0, bn: 0, relu: 0, pool: 0, concat: 0, add: 0, other: optTime / profiled };
    for (const [op, s] of plan.exec.profile) breakdown[OP_TYPES[op] ?? 'other']! += s / profiled;
    const st = spread(times);
    const result: StepBenchResult = {
      model: o.model,
      batch_size: o.batchSize,
      image_size: o.imageSize,
      threads: engine.threads,
      engine: engine.description,
      unfused: { step_s: st, img_s: o.batchSize / st.median },
      breakdown,
      machine: machine(),
      lowered_nodes: plan.exec.lowered,
      total_nodes: plan.graph.nodes.length,
    };
    if (o.vsPytorch) {
      result.pytorch = runPytorch(o);
      if (result.pytorch && 'img_s' in result.pytorch) result.ratio_vs_pytorch = result.unfused.img_s / result.pytorch.img_s;
    }
    return result;
  } finally {
    engine.close();
  }
}
