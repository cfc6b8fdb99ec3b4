/**
 * The demo's training worker: owns the bnff engine (kernel threads are its own Web Workers),
 * the data and two networks over one set of weights, resnet8 with the fused graph and with the
 * unfused one, so that the page can switch between them mid-training. Every message of the page
 * is handled between training steps (the loop yields after each step).
 */
import {
  ALL_FUSION, type BrowserEngine, BrowserSupportError, type Dataset, HeapOverflowError, NO_FUSION, Network, SGD, SafetensorsError, argmaxCorrect, batches,
  channelStats, createEngine, evaluate, explain, fitTo, getModel, learningRate, loadEmbeddedDataset, loadWeightsFromBytes, normalize, readSafetensors,
  stateDict, writeSafetensors, DataError, type TensorInput,
} from '../src/browser/index.js';
import { OP_TYPES } from '../src/bench/op_types.js';
import { type ErrorKind, type FromWorker, type GalleryItem, type SpeedStats, type ToWorker, type TrainSettings, fixedInput } from './protocol.js';

const MODEL = 'resnet8';
const SEED = 0;
const SIZE = 32;
const MOMENTUM = 'optimizer.momentum_buffer.';
const scope = globalThis as unknown as { postMessage(m: FromWorker, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker, transfer?: Transferable[]): void => scope.postMessage(m, transfer);

interface State {
  engine: BrowserEngine;
  fused: Network;
  unfused: Network;
  opt: SGD;
  train: Dataset;
  test: Dataset;
  /** The raw 28x28 test images, 0..1, for the gallery. */
  rawTest: Dataset;
  mean: number[];
  std: number[];
  useFused: boolean;
  epochsDone: number;
  globalStep: number;
  metrics: Record<string, unknown>[];
  times: { fused: number[]; unfused: number[] };
}

let st: State | undefined;
let training = false;
let stopAsked = false;

/** Gives the event loop a turn (messages from the page), without setTimeout's 4 ms clamp. */
function yieldNow(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => resolve();
    ch.port2.postMessage(0);
  });
}

function classify(e: unknown): { kind: ErrorKind; message: string } {
  const message = (e as Error)?.message ?? String(e);
  if (e instanceof BrowserSupportError) return { kind: e.problem, message };
  if (e instanceof HeapOverflowError || (e instanceof RangeError && /memory|allocat/i.test(message))) {
    return { kind: 'out-of-memory', message: `out of memory: ${message}. Try a smaller batch, close other tabs, or use a 64-bit browser.` };
  }
  if (e instanceof SafetensorsError) return { kind: 'weights', message };
  if (e instanceof DataError) return { kind: 'data', message };
  return { kind: 'other', message };
}

/** Shares the weights of `from` with `to`: both train the same tensors (before `to` builds any plan). */
function shareWeights(from: Network, to: Network): void {
  for (const [k, v] of from.params) to.params.set(k, v);
  for (const [k, v] of from.state) to.state.set(k, v);
}

async function init(threads?: number): Promise<void> {
  const t0 = performance.now();
  post({ type: 'status', text: 'Compiling the WebAssembly kernels…' });
  const engine = await createEngine(threads === undefined ? {} : { threads });
  post({ type: 'status', text: 'Loading the Fashion-MNIST subset…' });
  const dataUrl = new URL('data/fashion-mnist-subset/', (globalThis as unknown as { location: { href: string } }).location.href);
  const [train28, test28] = await Promise.all([loadEmbeddedDataset(dataUrl, 'train'), loadEmbeddedDataset(dataUrl, 'test')]);
  const rawTrain = fitTo(train28, SIZE);
  const { mean, std } = channelStats(rawTrain);
  const train = normalize(rawTrain, mean, std);
  const test = normalize(fitTo(test28, SIZE), mean, std);
  post({ type: 'status', text: 'Building resnet8, fused and unfused…' });
  const def = getModel(MODEL, { numClasses: 10, inChannels: 1 });
  const fused = new Network(def, engine.memory, SEED, engine.lowering, ALL_FUSION);
  const unfused = new Network(def, engine.memory, SEED, engine.lowering, NO_FUSION);
  shareWeights(fused, unfused);
  const opt = new SGD(fused.params, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, engine.memory, engine.backend);
  st = { engine, fused, unfused, opt, train, test, rawTest: test28, mean, std, useFused: true, epochsDone: 0, globalStep: 0, metrics: [], times: { fused: [], unfused: [] } };
  post({
    type: 'ready', engine: engine.description, reason: engine.reason, threads: engine.threads, isolated: engine.isolated, isa: engine.isa,
    params: [...fused.params.values()].reduce((a, p) => a + p.length, 0), trainCount: train.count, testCount: test.count,
    classNames: train28.classNames ?? [], explain: explain(MODEL, SIZE), seconds: (performance.now() - t0) / 1000,
  });
}

function stats(times: number[], batch: number): SpeedStats | undefined {
  if (times.length === 0) return undefined;
  const s = [...times].sort((a, b) => a - b);
  const med = s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: batch / med, min: batch / s[s.length - 1]!, max: batch / s[0]!, steps: s.length };
}

async function train(cfg: TrainSettings): Promise<void> {
  const s = st!;
  training = true;
  stopAsked = false;
  const fill = s.mean.map((m, c) => -m / s.std[c]!);
  const augment = { padding: 4, flip: true, fill };
  const stepsPerEpoch = Math.floor(s.train.count / cfg.batchSize);
  const steps = cfg.limit > 0 ? Math.min(cfg.limit, stepsPerEpoch) : stepsPerEpoch;
  let testAccuracy = Number.NaN;
  const first = s.epochsDone;
  try {
    for (let epoch = first; epoch < first + cfg.epochs && !stopAsked; epoch++) {
      s.opt.lr = learningRate(cfg.lr, epoch - first, { kind: 'cosine', tMax: cfg.epochs });
      const t0 = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let step = 0;
      for (const b of batches(s.train, cfg.batchSize, { shuffle: true, seed: SEED, epoch, dropLast: true, augment })) {
        if (step >= steps || stopAsked) break;
        const net = s.useFused ? s.fused : s.unfused;
        const shape = [b.size, 1, SIZE, SIZE];
        const ts = performance.now();
        const loss = net.forwardBackward(b.x, b.labels, shape, { seed: SEED, step: s.globalStep });
        const plan = net.trainPlan(shape);
        s.opt.step(plan.grads);
        const dt = (performance.now() - ts) / 1000;
        const times = s.useFused ? s.times.fused : s.times.unfused;
        times.push(dt);
        if (times.length > 50) times.shift();
        correct += argmaxCorrect(plan.logits, b.labels, b.size, 10);
        lossSum += loss * b.size;
        seen += b.size;
        step++;
        s.globalStep++;
        post({ type: 'step', epoch: epoch + 1, step, stepsPerEpoch: steps, globalStep: s.globalStep, loss, accuracy: correct / seen, imagesPerSecond: b.size / dt, fused: s.useFused });
        if (step % 5 === 0) post({ type: 'speed', fused: stats(s.times.fused, cfg.batchSize), unfused: stats(s.times.unfused, cfg.batchSize) });
        await yieldNow(); // the page's messages (stop, switch, measure, export) run here
      }
      if (seen === 0) break;
      const seconds = (performance.now() - t0) / 1000;
      const r = evaluate(s.fused, s.test);
      testAccuracy = r.accuracy;
      s.epochsDone = epoch + 1;
      const rec = { epoch: epoch + 1, train_loss: lossSum / seen, train_accuracy: correct / seen, test_loss: r.loss, test_accuracy: r.accuracy, lr: s.opt.lr, seconds, images_per_s: seen / seconds };
      s.metrics.push(rec);
      post({ type: 'epoch', epoch: epoch + 1, trainLoss: rec.train_loss, trainAccuracy: rec.train_accuracy, testLoss: r.loss, testAccuracy: r.accuracy, seconds, imagesPerSecond: rec.images_per_s });
      post({ type: 'speed', fused: stats(s.times.fused, cfg.batchSize), unfused: stats(s.times.unfused, cfg.batchSize) });
      await yieldNow();
    }
  } finally {
    training = false;
  }
  post({ type: 'done', stopped: stopAsked, testAccuracy });
}

/** Fused and unfused timed side by side on the same batch, interleaved, with a per-op-type breakdown; weights and BN statistics are left as they were. */
function compare(steps: number): void {
  const s = st!;
  const batch = 64;
  const shape = [batch, 1, SIZE, SIZE];
  const b = batches(s.train, batch, { shuffle: false, seed: SEED, epoch: 0 }).next().value!;
  const saved = [...s.fused.state].map(([k, v]) => [k, Float32Array.from(v)] as const);
  const times = { fused: [] as number[], unfused: [] as number[] };
  const profile = { fused: {} as Record<string, number>, unfused: {} as Record<string, number> };
  for (let i = 0; i < steps + 1; i++) {
    for (const mode of ['fused', 'unfused'] as const) {
      const net = mode === 'fused' ? s.fused : s.unfused;
      const plan = net.trainPlan(shape);
      const profiling = i === steps; // the last round is profiled, the others timed (round 0 is warm-up)
      if (profiling) {
        plan.exec.profile.clear();
        plan.exec.profiling = true;
      }
      const t0 = performance.now();
      net.forwardBackward(b.x, b.labels, shape, { seed: SEED, step: 0 });
      const dt = (performance.now() - t0) / 1000;
      if (profiling) {
        plan.exec.profiling = false;
        const out: Record<string, number> = {};
        for (const [op, sec] of plan.exec.profile) {
          const t = OP_TYPES[op] ?? 'other';
          out[t] = (out[t] ?? 0) + sec;
        }
        profile[mode] = out;
      } else if (i > 0) times[mode].push(dt);
    }
  }
  for (const [k, v] of saved) s.fused.state.get(k)!.set(v);
  post({ type: 'compare', batchSize: batch, fused: { ...stats(times.fused, batch)!, breakdown: profile.fused }, unfused: { ...stats(times.unfused, batch)!, breakdown: profile.unfused } });
}

function gallery(count: number): void {
  const s = st!;
  const n = Math.min(count, s.test.count);
  const per = SIZE * SIZE;
  const logits = s.fused.predict(s.test.images.subarray(0, n * per), [n, 1, SIZE, SIZE]);
  const items: GalleryItem[] = [];
  const raw = s.rawTest;
  const rawPer = raw.height * raw.width;
  for (let i = 0; i < n; i++) {
    const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const sum = e.reduce((a, v) => a + v, 0);
    const predicted = e.indexOf(Math.max(...e));
    const pixels = new Uint8Array(rawPer);
    for (let j = 0; j < rawPer; j++) pixels[j] = Math.round(255 * raw.images[i * rawPer + j]!);
    items.push({ pixels, label: s.test.labels[i]!, predicted, confidence: e[predicted]! / sum });
  }
  post({ type: 'gallery', items });
}

/** A bnff checkpoint (weights, momentum, run metadata), which `bnff eval --checkpoint` reads. */
function exportWeights(): void {
  const s = st!;
  const tensors = stateDict(s.fused) as Map<string, TensorInput>;
  for (const [name, buf] of s.opt.buffers) tensors.set(MOMENTUM + name, { dtype: 'F32', shape: [buf.length], data: Float32Array.from(buf) });
  const meta = {
    model: MODEL, epoch: s.epochsDone, globalStep: s.globalStep, seed: SEED, dataset: 'fashion-mnist-subset-train',
    config: { model: MODEL, data: 'embedded', mean: s.mean, std: s.std, seed: SEED, trainedIn: 'browser' }, metrics: s.metrics,
  };
  const bytes = writeSafetensors(tensors, { format: 'pt', model: MODEL, bnff_checkpoint: JSON.stringify(meta) });
  post({ type: 'weights', bytes, name: `${MODEL}-fashion-mnist-subset-epoch${s.epochsDone}.safetensors` }, [bytes.buffer]);
}

function load(bytes: Uint8Array, name: string): void {
  const s = st!;
  const { metadata } = readSafetensors(bytes, name);
  const model = metadata.model;
  if (model !== undefined && model !== MODEL) throw new SafetensorsError(`${name} holds the weights of ${model}; this page trains ${MODEL}: load a ${MODEL} checkpoint or weights file (bnff train --model ${MODEL})`);
  // Into a scratch network first, so that a file that does not fit leaves the trained weights alone.
  const probe = new Network(getModel(MODEL, { numClasses: 10, inChannels: 1 }), s.engine.memory, SEED);
  loadWeightsFromBytes(probe, bytes, name, [MOMENTUM]);
  loadWeightsFromBytes(s.fused, bytes, name, [MOMENTUM]);
  let cfg: { mean?: number[]; std?: number[] } = {};
  if (metadata.bnff_checkpoint) {
    try {
      cfg = (JSON.parse(metadata.bnff_checkpoint) as { config?: typeof cfg }).config ?? {};
    } catch {
      throw new SafetensorsError(`${name}: corrupt checkpoint metadata`);
    }
  }
  if (Array.isArray(cfg.mean) && Array.isArray(cfg.std) && cfg.mean.length === 1 && cfg.std.length === 1) {
    s.mean = cfg.mean;
    s.std = cfg.std;
    s.test = normalize(fitTo(s.rawTest, SIZE), s.mean, s.std);
  }
  const { tensors } = readSafetensors(bytes, name);
  const buffers = new Map<string, Float32Array>();
  for (const [k, t] of tensors) if (k.startsWith(MOMENTUM)) buffers.set(k.slice(MOMENTUM.length), t.data as Float32Array);
  s.opt.buffers.clear();
  if (buffers.size) s.opt.loadBuffers(buffers);
  const r = evaluate(s.fused, s.test);
  post({ type: 'loaded', name, model: MODEL, testAccuracy: r.accuracy });
}

/**
 * The logits of a fixed model (resnet8 of `seed`: one fused training step's, then eval mode's)
 * or of the trained model (eval mode) on a fixed input: compared bit for bit with Node's wasm engine.
 */
function logits(seed: number, batch: number, trained: boolean): void {
  const s = st!;
  const shape = [batch, 1, SIZE, SIZE];
  const x = fixedInput(batch * SIZE * SIZE);
  if (trained) {
    post({ type: 'logits', eval: Float32Array.from(s.fused.predict(x, shape)), train: new Float32Array(0), loss: Number.NaN, threads: s.engine.threads, variant: s.engine.variant });
    return;
  }
  const net = new Network(getModel(MODEL, { numClasses: 10, inChannels: 1 }), s.engine.memory, seed, s.engine.lowering, ALL_FUSION);
  const labels = Float32Array.from({ length: batch }, (_, i) => i % 10);
  const loss = net.forwardBackward(x, labels, shape, { seed, step: 0 });
  const train = Float32Array.from(net.trainPlan(shape).logits);
  const ev = Float32Array.from(net.predict(x, shape));
  post({ type: 'logits', eval: ev, train, loss, threads: s.engine.threads, variant: s.engine.variant });
}

function handle(m: ToWorker): void {
  try {
    switch (m.type) {
      case 'stop':
        stopAsked = true;
        break;
      case 'fused':
        st!.useFused = m.on;
        break;
      case 'compare':
        compare(m.steps);
        break;
      case 'gallery':
        gallery(m.count);
        break;
      case 'export':
        exportWeights();
        break;
      case 'load':
        if (training) throw new Error('stop training before loading weights');
        load(m.bytes, m.name);
        break;
      case 'logits':
        logits(m.seed, m.batch, m.trained === true);
        break;
      default:
        throw new Error(`unexpected message ${m.type}`);
    }
  } catch (e) {
    post({ type: 'error', ...classify(e) });
  }
}

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === 'init') {
    init(m.threads).catch((err: unknown) => post({ type: 'error', ...classify(err) }));
  } else if (m.type === 'train') {
    if (!training) train(m.settings).catch((err: unknown) => post({ type: 'error', ...classify(err) }));
  } else {
    handle(m);
  }
};
