/**
 * Soak test: trains a small model continuously (the same train() as `bnff train`, BN fusion
 * on, test-set evaluation every epoch, a checkpoint every N steps) for a given time, and
 * samples memory every few seconds: resident set size, V8 heap in use (after a full GC, so the
 * sawtooth of garbage does not read as growth) and the size of the WebAssembly memory. It
 * prints a table as it goes and a JSON summary at the end with the slope of each (MB/min,
 * least squares over the second half, after warm-up) and a verdict: flat when every slope is
 * at most --max-slope. Exit code 0 when flat, 1 when not.
 *
 *   node dist/bench/soak.js --minutes 20
 *   node dist/bench/soak.js --minutes 2 --model resnet20 --threads 2 --checkpoint-every 20
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { channelStats, type Dataset, normalize, padTo, take } from '../src/data/dataset.js';
import { loadDataset } from '../src/data/index.js';
import { getModel } from '../src/models/index.js';
import { ALL_FUSION } from '../src/passes/index.js';
import { createEngine } from '../src/runtime/engine.js';
import { Arena } from '../src/runtime/memory.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';
import { createNetwork, train } from '../src/train/trainer.js';

export interface SoakOptions {
  minutes: number;
  model: string;
  batchSize: number;
  threads: number;
  /** Training images (default: all 3,000 of the embedded dataset); the test set is capped alike. */
  limit?: number;
  checkpointEvery: number;
  sampleSeconds: number;
  /** Largest slope (MB/min) of any series that still counts as flat. */
  maxSlope: number;
  /** Where checkpoints go (default: a temporary directory, removed at the end). */
  dir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface SoakSample {
  /** Seconds since the start. */
  t: number;
  step: number;
  epoch: number;
  loss: number;
  rssMB: number;
  heapUsedMB: number;
  wasmMB: number;
}

type Series = 'rssMB' | 'heapUsedMB' | 'wasmMB';
const SERIES: Series[] = ['rssMB', 'heapUsedMB', 'wasmMB'];

export interface SoakSummary {
  model: string;
  minutes: number;
  steps: number;
  epochs: number;
  checkpoints: number;
  samples: number;
  first: SoakSample;
  last: SoakSample;
  /** MB per minute over the second half of the run, per series. */
  slopeMBPerMin: Record<Series, number>;
  maxSlopeMBPerMin: number;
  verdict: 'flat' | 'not flat';
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : 0;
}

/** Slopes (MB/min) over the samples of the second half of the run, and the verdict. */
export function summarize(samples: SoakSample[], maxSlope: number): Pick<SoakSummary, 'slopeMBPerMin' | 'verdict'> {
  const end = samples[samples.length - 1]?.t ?? 0;
  const half = samples.filter((s) => s.t >= end / 2);
  const slopeMBPerMin = Object.fromEntries(SERIES.map((k) => [k, 60 * slope(half.map((s) => s.t), half.map((s) => s[k]))])) as Record<Series, number>;
  return { slopeMBPerMin, verdict: SERIES.every((k) => slopeMBPerMin[k] <= maxSlope) ? 'flat' : 'not flat' };
}

/** A full garbage collection, if V8 lets us have one. */
function fullGc(): () => void {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    return typeof gc === 'function' ? gc : () => {};
  } catch {
    return () => {};
  }
}

/** The training data as `bnff train` prepares it (padded to the model's size, normalised). */
function data(model: string, limit: number | undefined): { tr: Dataset; te: Dataset } {
  let tr = loadDataset('embedded', { split: 'train' });
  let te = loadDataset('embedded', { split: 'test' });
  if (limit !== undefined) [tr, te] = [take(tr, limit, 0), take(te, limit, 0)];
  const size = getModel(model).imageSize;
  if (tr.height < size) [tr, te] = [padTo(tr, size), padTo(te, size)];
  const { mean, std } = channelStats(tr);
  return { tr: normalize(tr, mean, std), te: normalize(te, mean, std) };
}

class Stop extends Error {}

export async function soak(o: SoakOptions): Promise<{ samples: SoakSample[]; summary: SoakSummary }> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const { tr, te } = data(o.model, o.limit);
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-soak-'));
  fs.mkdirSync(dir, { recursive: true });
  const ckpt = path.join(dir, 'checkpoint.safetensors');
  const engine = await createEngine({ threads: o.threads });
  const gc = fullGc();
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  const deadline = t0 + o.minutes * 60_000;
  let lastSample = -Infinity;
  let checkpoints = 0;
  let state = { step: 0, epoch: 0, loss: Number.NaN };
  const sample = (): void => {
    gc();
    const m = process.memoryUsage();
    const wasm = engine.memory instanceof Arena ? (engine.memory.memory?.buffer.byteLength ?? engine.memory.usedBytes) : 0;
    const s: SoakSample = { t: (performance.now() - t0) / 1000, ...state, rssMB: m.rss / 2 ** 20, heapUsedMB: m.heapUsed / 2 ** 20, wasmMB: wasm / 2 ** 20 };
    samples.push(s);
    log(`${s.t.toFixed(0).padStart(6)}  ${String(s.step).padStart(7)}  ${String(s.epoch).padStart(5)}  ${s.loss.toFixed(4).padStart(7)}  ${s.rssMB.toFixed(1).padStart(8)}  ${s.heapUsedMB.toFixed(1).padStart(8)}  ${s.wasmMB.toFixed(1).padStart(8)}`);
    lastSample = performance.now();
  };
  log(`soak: ${o.model} on ${tr.name} (${tr.count} train / ${te.count} test), batch ${o.batchSize}, ${engine.description}, ${o.minutes} min, checkpoint every ${o.checkpointEvery} steps to ${ckpt}`);
  log(`   t(s)     step  epoch     loss    rss MB   heap MB   wasm MB`);
  const net = createNetwork({ model: o.model, seed: 0 }, tr, engine, ALL_FUSION);
  const cfg = { model: o.model, epochs: Number.MAX_SAFE_INTEGER, batchSize: o.batchSize, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: false, schedule: { kind: 'constant' as const }, seed: 0, evalBatchSize: 250 };
  try {
    sample();
    await train(net, tr, te, cfg, {
      onStep: (e, opt) => {
        state = { step: e.globalStep, epoch: e.epoch, loss: e.loss };
        if (e.globalStep % o.checkpointEvery === 0) {
          saveCheckpoint(ckpt, net, opt, { model: o.model, epoch: e.epoch - 1, globalStep: e.globalStep, seed: 0, dataset: tr.name, config: { ...o }, metrics: [] });
          checkpoints++;
        }
        const now = performance.now();
        if (now - lastSample >= o.sampleSeconds * 1000) sample();
        if (now >= deadline) throw new Stop();
      },
    }, engine);
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  } finally {
    engine.close();
    if (o.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
  sample();
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const summary: SoakSummary = {
    model: o.model, minutes: last.t / 60, steps: last.step, epochs: last.epoch, checkpoints, samples: samples.length, first, last,
    ...summarize(samples, o.maxSlope), maxSlopeMBPerMin: o.maxSlope,
  };
  return { samples, summary };
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { values: v } = parseArgs({
    options: {
      minutes: { type: 'string', default: '20' },
      model: { type: 'string', default: 'resnet8' },
      'batch-size': { type: 'string', default: '64' },
      threads: { type: 'string', default: String(os.availableParallelism()) },
      limit: { type: 'string' },
      'checkpoint-every': { type: 'string', default: '50' },
      'sample-seconds': { type: 'string', default: '10' },
      'max-slope': { type: 'string', default: '1' },
      dir: { type: 'string' },
    },
  });
  const num = (name: string, s: string | undefined, min: number): number => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < min) {
      process.stderr.write(`soak: --${name} must be a number >= ${min}, got "${s}"\n`);
      process.exit(2);
    }
    return n;
  };
  const { summary } = await soak({
    minutes: num('minutes', v.minutes, 0), model: v.model!, batchSize: num('batch-size', v['batch-size'], 1), threads: num('threads', v.threads, 1),
    limit: v.limit === undefined ? undefined : num('limit', v.limit, 1), checkpointEvery: num('checkpoint-every', v['checkpoint-every'], 1),
    sampleSeconds: num('sample-seconds', v['sample-seconds'], 0), maxSlope: num('max-slope', v['max-slope'], 0), dir: v.dir,
  });
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  process.exitCode = summary.verdict === 'flat' ? 0 : 1;
}
