/**
 * Does the data loader keep up with the engine? Training steps of one network on the same image
 * folder read three ways, interleaved round by round in one process so that a shared machine's
 * slow phases hit all three alike:
 *
 *   memory   the training split pre-decoded into one in-memory Float32Array (the centre 224 x
 *            224 of every image, normalised): the in-memory path of MNIST and CIFAR-10, with
 *            RandomResizedCrop + flip on its prefetch thread;
 *   decoded  the folder streamed, every image decoded from its JPEG on the decode workers while
 *            the step runs (RandomResizedCrop + flip of the base image);
 *   cached   the folder streamed from the decoded cache (bnff train --cache: written before
 *            training on every core where no core is free beside the training threads, as
 *            here; the time it takes is reported).
 *
 * A step is the time from asking for the batch to the end of the SGD update, so a loader that
 * is late shows up in it; the wait inside next() is reported too, and the CPU seconds the whole
 * process (training, prefetch and decode threads) spent per step. Ratios are per round (each
 * mode's median step of that round over memory's), then their median. Peak RSS is this
 * process's (process.resourceUsage().maxRSS), holding all three sets; --epoch instead runs one
 * whole epoch of `bnff train` on the folder under /usr/bin/time -v and reports its peak RSS.
 *
 *   node dist/bench/photos.js --dir /tmp/photos --images 2000          # the folder (bench/photos.ts)
 *   node dist/bench/data_loader.js --dir /tmp/photos --steps 20 --rounds 3 [--model resnet18] [--batch-size 16] [--workers 1] [--json]
 *   node dist/bench/data_loader.js --dir /tmp/photos --epoch [--cache DIR]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Dataset, parseAugment, sharedFloat32 } from '../src/data/dataset.js';
import { decoderStatus } from '../src/data/decode.js';
import { openData } from '../src/data/open.js';
import type { BatchIterator, DataSource } from '../src/data/source.js';
import { memorySource } from '../src/data/memory_source.js';
import { getModel } from '../src/models/index.js';
import { Network } from '../src/models/network.js';
import { ALL_FUSION } from '../src/passes/index.js';
import { createEngine, fusionCosts } from '../src/runtime/engine.js';
import { SGD } from '../src/train/sgd.js';
import { machine, spread } from '../src/bench/common.js';

const { values: v } = parseArgs({
  options: {
    dir: { type: 'string' },
    model: { type: 'string', default: 'resnet18' },
    'batch-size': { type: 'string', default: '16' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    workers: { type: 'string' },
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    cache: { type: 'string' },
    epoch: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
if (!v.dir) throw new Error('--dir DIR (a folder made by bench/photos.ts) is required');
const dir = v.dir;
const model = v.model!;
const B = Number(v['batch-size']);
const threads = Number(v.threads);
const workers = v.workers === undefined ? undefined : Number(v.workers);
const log = (s: string): void => void process.stderr.write(s + '\n');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function folderFacts(): { files: number; bytes: number; example: string } {
  let files = 0;
  let bytes = 0;
  let example = '';
  for (const c of fs.readdirSync(dir)) {
    for (const f of fs.readdirSync(path.join(dir, c))) {
      files++;
      bytes += fs.statSync(path.join(dir, c, f)).size;
      example ||= path.join(dir, c, f);
    }
  }
  return { files, bytes, example };
}

/** One epoch of `bnff train` on the folder under /usr/bin/time -v: its peak RSS and output. */
function epochRun(): Record<string, unknown> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-epoch-'));
  const args = [
    path.join(root, 'bin', 'bnff.js'),
    'train',
    '--data',
    `folder:${dir}`,
    '--model',
    model,
    '--epochs',
    '1',
    '--batch-size',
    String(B),
    '--threads',
    String(threads),
    '--out',
    path.join(out, 'run'),
    '--log-every',
    '10',
    '--json',
  ];
  if (workers !== undefined) args.push('--decode-workers', String(workers));
  if (v.cache) args.push('--cache', v.cache);
  log(`running: node ${args.join(' ')}`);
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = (performance.now() - t0) / 1000;
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const result = r.stdout.trim().split('\n').pop();
  fs.rmSync(out, { recursive: true, force: true });
  return {
    command: `node ${args.map((a) => a.replace(out, 'OUT')).join(' ')}`,
    exit: r.status,
    seconds,
    peak_rss_mb: rss ? Number(rss[1]) / 1024 : undefined,
    log: r.stderr
      .split('\n')
      .filter((l) => l.startsWith('  ') || l.startsWith('bnff') || l.startsWith('epoch'))
      .slice(0, 12),
    result: result ? (JSON.parse(result) as unknown) : undefined,
  };
}

/** Every training example's centre crop, normalised, in one shared Float32Array (what an in-memory loader would hold). */
function predecode(src: DataSource): Dataset {
  const per = src.channels * src.height * src.width;
  const images = sharedFloat32(src.count * per);
  let n = 0;
  for (const b of src.epoch(32, { shuffle: false, seed: 0, epoch: 0 })) {
    images.set(b.x.subarray(0, b.size * per), n * per);
    n += b.size;
  }
  return {
    name: `${src.name}-in-memory`,
    images,
    labels: Uint8Array.from(src.labels),
    count: src.count,
    channels: src.channels,
    height: src.height,
    width: src.width,
    numClasses: src.numClasses,
  };
}

async function compare(): Promise<Record<string, unknown>> {
  const size = getModel(model).imageSize;
  const cacheDir = v.cache ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-cache-'));
  const common = { size, seed: 0, ...(workers !== undefined ? { workers } : {}) };
  const decoded = await openData(`folder:${dir}`, common);
  // the cache written before training, as bnff train does where no core is free: both splits, one decode worker per core
  let t0 = performance.now();
  const cached = await openData(`folder:${dir}`, { ...common, cache: cacheDir, fillCache: 'first' });
  const fillSeconds = (performance.now() - t0) / 1000;
  const filled = cached.train.count + cached.test.count;
  log(`cache filled: ${filled} images in ${fillSeconds.toFixed(1)} s (${(filled / fillSeconds).toFixed(1)} images/s; ${cached.streamed!.caches.join('; ')})`);
  t0 = performance.now();
  const memory = memorySource(predecode(cached.train));
  log(`pre-decoded in memory from the cache in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const fill = decoded.mean.map((m, c) => -m / decoded.std[c]!);
  const augment = parseAugment('rrc,flip', fill);
  const engine = await createEngine({ threads });
  const net = new Network(getModel(model, { numClasses: decoded.train.numClasses, inChannels: 3 }), engine.memory, 0, engine.lowering, {
    ...ALL_FUSION,
    ...fusionCosts(engine.kind),
  });
  const opt = new SGD(net.params, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }, engine.memory, engine.backend);
  const modes: Array<[string, DataSource]> = [
    ['memory', memory],
    ['decoded', decoded.train],
    ['cached', cached.train],
  ];
  const steps = Number(v.steps);
  const warmup = Number(v.warmup);
  const times: Record<string, number[]> = { memory: [], decoded: [], cached: [] };
  const waits: Record<string, number[]> = { memory: [], decoded: [], cached: [] };
  const cpus: Record<string, number[]> = { memory: [], decoded: [], cached: [] };
  const roundMedian: Record<string, number[]> = { memory: [], decoded: [], cached: [] };
  let global = 0;
  for (let r = 0; r < Number(v.rounds); r++) {
    // the order rotates, so no mode always follows the same one
    const order = modes.map((_, i) => modes[(i + r) % modes.length]!);
    for (const [name, src] of order) {
      const it: BatchIterator = src.epoch(B, { shuffle: true, seed: 0, epoch: r, augment, prefetch: true });
      const mine: number[] = [];
      for (let s = 0; s < warmup + steps; s++) {
        const w0 = it.waitSeconds ?? 0;
        const c0 = process.cpuUsage();
        const t = performance.now();
        const n = it.next();
        if (n.done) throw new Error(`${name}: the epoch ended before ${warmup + steps} steps`);
        const b = n.value;
        const shape = [b.size, 3, size, size];
        net.forwardBackward(b.x, b.labels, shape, { seed: 0, step: global++ });
        opt.step(net.trainPlan(shape).grads);
        const dt = (performance.now() - t) / 1000;
        const c = process.cpuUsage(c0);
        if (s >= warmup) {
          mine.push(dt);
          waits[name]!.push((it.waitSeconds ?? 0) - w0);
          cpus[name]!.push((c.user + c.system) / 1e6);
        }
      }
      it.close();
      times[name]!.push(...mine);
      roundMedian[name]!.push(spread(mine).median);
      log(`round ${r + 1} ${name}: median step ${spread(mine).median.toFixed(3)} s`);
    }
  }
  engine.close();
  decoded.close();
  cached.close();
  if (v.cache === undefined) fs.rmSync(cacheDir, { recursive: true, force: true });
  const ratio = (m: string): { per_round: ReturnType<typeof spread>; of_medians: number } => ({
    per_round: spread(roundMedian[m]!.map((t, i) => t / roundMedian.memory![i]!)),
    of_medians: spread(times[m]!).median / spread(times.memory!).median,
  });
  return {
    model,
    batch_size: B,
    image_size: size,
    threads,
    engine: engine.description,
    decoder: (await decoderStatus()).description,
    decode_workers: decoded.streamed!.workers,
    steps_per_round: steps,
    warmup,
    rounds: Number(v.rounds),
    train_images: decoded.train.count,
    cache_fill: { images: filled, seconds: fillSeconds, images_per_s: filled / fillSeconds, workers: Math.min(4, os.availableParallelism()) },
    step_s: Object.fromEntries(Object.entries(times).map(([k, t]) => [k, spread(t)])),
    next_wait_s: Object.fromEntries(Object.entries(waits).map(([k, t]) => [k, spread(t)])),
    // CPU seconds of the whole process (every thread: training, prefetch, decode workers) per step
    cpu_s_per_step: Object.fromEntries(Object.entries(cpus).map(([k, t]) => [k, spread(t)])),
    ratio_decoded_over_memory: ratio('decoded'),
    ratio_cached_over_memory: ratio('cached'),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
}

const facts = folderFacts();
const out = {
  machine: machine(),
  folder: { dir, files: facts.files, mean_file_mb: facts.bytes / facts.files / 2 ** 20 },
  ...(v.epoch ? { epoch: epochRun() } : { compare: await compare() }),
};
process.stdout.write(v.json ? JSON.stringify(out, null, 2) + '\n' : JSON.stringify(out, null, 1) + '\n');
