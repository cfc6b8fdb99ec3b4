/**
 * `bnff bench step`: times whole training steps (forward, backward, SGD update) of a model on a
 * random batch, with warm-up and repeats, and a per-op-type breakdown from separate profiled
 * steps. With --vs-pytorch, times the same model in PyTorch (Debian's python3-torch) in the
 * same run, so the ratio compares like with like on a noisy shared machine.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import readline from 'node:readline';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getModel } from '../src/models/index.js';
import { Network } from '../src/models/network.js';
import { createEngine, type EngineKind } from '../src/runtime/engine.js';
import { HeapOverflowError } from '../src/runtime/memory.js';
import { SGD } from '../src/train/sgd.js';
import { ABLATIONS, ALL_FUSION, type FusionOptions, NO_FUSION } from '../src/passes/index.js';
import { OP_TYPES } from './op_types.js';
import { Rng } from '../src/util/random.js';
import { machine, spread, type Spread } from './common.js';

export interface StepBenchOptions {
  model: string;
  /** Also time the fused graph, interleaved step by step with the unfused one. */
  fuse?: boolean;
  /** Also time each optimisation alone (implies fuse). */
  ablation?: boolean;
  /** Run the ablations two at a time even when all would fit (tests; the heap-overflow fallback). */
  ablationRounds?: boolean;
  batchSize: number;
  imageSize: number;
  threads: number;
  steps: number;
  warmup: number;
  vsPytorch: boolean;
  engine?: EngineKind;
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
  unfused: ModeResult;
  breakdown: Record<string, number>;
  /** PyTorch's steps, interleaved with bnff's: one PyTorch step after each round of bnff steps. */
  pytorch?: { img_s: number; step_s: Spread; torch: string; threads: number } | { error: string };
  ratio_vs_pytorch?: number;
  fused_ratio_vs_pytorch?: number;
  /** Per round: PyTorch's step time / bnff's (the same round), median and range. */
  ratio_vs_pytorch_paired?: Spread;
  fused_ratio_vs_pytorch_paired?: Spread;
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

const PAUSE_MS = 50;

/**
 * A PyTorch process that trains the same model one step per request (tools/bench_pytorch.py
 * --serve), so its steps can be interleaved with bnff's.
 */
class PytorchPeer {
  private readonly lines: string[] = [];
  private waiting?: (line: string | undefined) => void;
  private ended = false;
  private stderr = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    readline.createInterface({ input: child.stdout }).on('line', (l) => this.push(l));
    child.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    child.on('close', () => { this.ended = true; this.push(undefined); });
    child.on('error', (e) => { this.stderr += e.message; this.ended = true; this.push(undefined); });
  }

  private push(l: string | undefined): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (w) w(l);
    else if (l !== undefined) this.lines.push(l);
  }

  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.ended) return Promise.reject(new Error(this.failure()));
    return new Promise((resolve, reject) => {
      this.waiting = (x) => (x === undefined ? reject(new Error(this.failure())) : resolve(x));
    });
  }

  private failure(): string {
    return `PyTorch run failed (is Debian's python3-torch installed?): ${this.stderr.trim().split('\n').pop() ?? 'it exited'}`;
  }

  static async start(o: StepBenchOptions): Promise<{ peer: PytorchPeer; torch: string; threads: number }> {
    const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const child = spawn(python, [pytorchScript(), o.model, String(o.batchSize), String(o.imageSize), String(o.threads), '--serve']);
    const peer = new PytorchPeer(child);
    const ready = JSON.parse(await peer.next()) as { torch: string; threads: number };
    return { peer, torch: ready.torch, threads: ready.threads };
  }

  async step(): Promise<number> {
    this.child.stdin.write('step\n');
    const t = Number(await this.next());
    if (!Number.isFinite(t)) throw new Error(`PyTorch step printed ${t}`);
    return t;
  }

  close(): void {
    if (!this.ended) this.child.stdin.end('quit\n');
  }
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
  /** PyTorch's step times, one per timed round (empty without a peer), or why it stopped. */
  peerTimes: number[];
  peerError?: string;
  breakdowns: Map<string, Record<string, number>>;
  threads: number;
  description: string;
  lowered: number;
  total: number;
}

/**
 * Times the variants interleaved in one engine (every contender from the same weights; plans
 * share one workspace in the arena); with profile, the per-op-type breakdown of the first two.
 */
async function round(o: StepBenchOptions, variants: [string, FusionOptions][], profile = true, peer?: PytorchPeer): Promise<Round> {
  const engine = await createEngine({ kind: o.engine ?? 'wasm', threads: o.threads });
  try {
    const def = getModel(o.model);
    const shape = [o.batchSize, def.inChannels, o.imageSize, o.imageSize];
    const rng = new Rng(2);
    const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
    const labels = Float32Array.from({ length: o.batchSize }, () => rng.int(def.numClasses));
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
    const peerTimes: number[] = [];
    let peerError: string | undefined;
    const peerStep = async (): Promise<number | undefined> => {
      if (!peer || peerError) return undefined;
      try {
        // a pause on each switch, so that neither side's threads are still spinning (OpenMP
        // workers spin for a while after a parallel region) when the other one's step starts
        await new Promise((r) => setTimeout(r, PAUSE_MS));
        const t = await peer.step();
        await new Promise((r) => setTimeout(r, PAUSE_MS));
        return t;
      } catch (e) {
        peerError = (e as Error).message;
        return undefined;
      }
    };
    for (let i = 0; i < o.warmup; i++) {
      for (const c of contenders) once(c);
      await peerStep();
    }
    // Interleaved: each round times every contender once, so drifts of a shared machine hit all alike.
    for (let i = 0; i < o.steps; i++) {
      for (const c of contenders) c.times.push(once(c));
      const t = await peerStep();
      if (t !== undefined) peerTimes.push(t);
    }
    const profiled = Math.max(1, Math.min(3, o.steps));
    const breakdowns = new Map<string, Record<string, number>>();
    if (profile) for (const c of contenders.slice(0, 2)) breakdowns.set(c.name, breakdownOf(c, x, labels, shape, next, profiled));
    const plan = contenders[0]!.net.trainPlan(shape);
    return {
      times: new Map(contenders.map((c) => [c.name, c.times])), peerTimes, peerError,
      breakdowns, threads: engine.threads, description: engine.description,
      lowered: plan.exec.lowered, total: plan.graph.nodes.length,
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
  const ablations = o.ablation ? Object.entries(ABLATIONS) : [];
  // All contenders in one run; when their weights do not fit the heap together (resnet50's
  // nine), the ablations run two at a time, each round with its own unfused baseline.
  let peer: Awaited<ReturnType<typeof PytorchPeer.start>> | { error: string } | undefined;
  if (o.vsPytorch) {
    try {
      peer = await PytorchPeer.start(o);
    } catch (e) {
      peer = { error: (e as Error).message };
    }
  }
  const p = peer && 'peer' in peer ? peer.peer : undefined;
  let rounds: { r: Round; names: string[] }[];
  try {
    if (o.ablationRounds) throw new HeapOverflowError('ablation in rounds (ablationRounds)');
    rounds = [{ r: await round(o, [...base, ...ablations], true, p), names: ablations.map(([k]) => k) }];
  } catch (e) {
    if (!(e instanceof HeapOverflowError) || ablations.length === 0) {
      p?.close();
      throw e;
    }
    rounds = [{ r: await round(o, base, true, p), names: [] }];
    for (let i = 0; i < ablations.length; i += 2) {
      const group = ablations.slice(i, i + 2);
      rounds.push({ r: await round(o, [base[0]!, ...group], false), names: group.map(([k]) => k) });
    }
  }
  const first = rounds[0]!.r;
  const st = spread(first.times.get('unfused')!);
  const result: StepBenchResult = {
    model: o.model,
    batch_size: o.batchSize,
    image_size: o.imageSize,
    threads: first.threads,
    engine: first.description,
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
  p?.close();
  if (peer && 'error' in peer) result.pytorch = { error: peer.error };
  else if (peer && (first.peerError || first.peerTimes.length === 0)) result.pytorch = { error: first.peerError ?? 'PyTorch timed no step' };
  else if (peer) {
    const pt = first.peerTimes;
    const ps = spread(pt);
    result.pytorch = { torch: peer.torch, threads: peer.threads, step_s: ps, img_s: o.batchSize / ps.median };
    result.ratio_vs_pytorch = result.unfused.img_s / result.pytorch.img_s;
    result.ratio_vs_pytorch_paired = paired(pt, first.times.get('unfused')!);
    if (result.fused) {
      result.fused_ratio_vs_pytorch = result.fused.img_s / result.pytorch.img_s;
      result.fused_ratio_vs_pytorch_paired = paired(pt, ft!);
    }
  }
  return result;
}
