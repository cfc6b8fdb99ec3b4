/**
 * The training loop: data -> network -> SGD, epoch by epoch, with test accuracy after each
 * epoch. It reports through callbacks and returns the metrics, so the CLI, benchmarks and
 * tests share it.
 */
import { type Augment, checkFinite, type Dataset } from '../data/dataset.js';
import { asSource, type DataSource, epochBatches, isDataSource } from '../data/source.js';
import { DataError } from '../data/errors.js';
import { getModel } from '../models/index.js';
import { Network } from '../models/network.js';
import type { Arr } from '../ops/op.js';
import { NonFiniteError } from '../runtime/executor.js';
import type { Engine } from '../runtime/engine.js';
import { type FusionOptions, NO_FUSION } from '../passes/index.js';
import { HostMemory, type Memory } from '../runtime/memory.js';
import { learningRate, type Schedule } from './schedule.js';
import { SGD } from './sgd.js';

export interface TrainConfig {
  model: string;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  schedule: Schedule;
  seed: number;
  /** Without an engine: 'f32' (default) or 'f64' reference kernels. */
  dtype?: 'f32' | 'f64';
  evalBatchSize?: number;
  /** Train-time augmentation (none when absent). */
  augment?: Augment;
  /**
   * Stops training between two steps once aborted: the step in flight finishes, hooks.onInterrupt
   * gets the state to checkpoint, and train() rejects with an InterruptedError. train() yields to
   * the event loop before every step, so a signal handler (Ctrl-C) gets its turn.
   */
  signal?: AbortSignal;
}

export interface StepEvent {
  epoch: number;
  /** Step within the epoch, from 1. */
  step: number;
  /** Images in this step's batch. */
  size: number;
  /** Seconds since the previous step ended (or the epoch began): this step with its batch. */
  stepSeconds: number;
  stepsPerEpoch: number;
  globalStep: number;
  loss: number;
  lr: number;
  imagesPerSec: number;
  /** Seconds left for the whole run, extrapolated from this run's pace. */
  etaSec: number;
}

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testAccuracy: number;
  testLoss: number;
  lr: number;
  seconds: number;
  imagesPerSec: number;
}

export interface TrainHooks {
  /** After each step; `opt` holds the momentum a mid-epoch checkpoint needs. */
  onStep?: (e: StepEvent, opt: SGD) => void;
  onEpoch?: (m: EpochMetrics) => void;
  /** After each epoch's metrics: the place to write a checkpoint. */
  afterEpoch?: (epochsDone: number, globalStep: number, opt: SGD, history: EpochMetrics[]) => void;
  /** When cfg.signal aborted: the place to write a mid-epoch checkpoint (`partial` is the epoch after `epochsDone`). */
  onInterrupt?: (epochsDone: number, globalStep: number, opt: SGD, history: EpochMetrics[], partial: PartialEpoch) => void;
}

/** How far an interrupted epoch got: enough to finish it exactly as an uninterrupted run would. */
export interface PartialEpoch {
  /** Steps of the epoch done (its next batch is batch number `step`, from 0). */
  step: number;
  /** Sum of the per-step mean losses weighted by batch size, images classified correctly, images seen. */
  lossSum: number;
  correct: number;
  seen: number;
  /** Training seconds spent on it so far. */
  seconds: number;
}

/** Where a resumed run picks up: after `epoch` whole epochs, and `partial` steps into the next one. */
export interface ResumeState {
  epoch: number;
  globalStep: number;
  momentum: Map<string, Float32Array>;
  history: EpochMetrics[];
  partial?: PartialEpoch;
}

/** Training stopped between two steps because cfg.signal aborted. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
  constructor(
    /** Epoch in progress, from 1. */
    readonly epoch: number,
    readonly step: number,
    readonly stepsPerEpoch: number,
    readonly globalStep: number,
  ) {
    super(`interrupted in epoch ${epoch} after step ${step}/${stepsPerEpoch} (global step ${globalStep})`);
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Training stopped because the loss (or a value leading to it) stopped being finite. */
export class DivergedError extends Error {
  override name = 'DivergedError';
}

export function argmaxCorrect(logits: Arr, labels: ArrayLike<number>, n: number, k: number): number {
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + best]!) best = j;
    if (best === labels[i]) correct++;
  }
  return correct;
}

/** A network for the dataset's channels and classes; on `engine` if given, else the reference kernels. */
export function createNetwork(cfg: Pick<TrainConfig, 'model' | 'seed' | 'dtype'>, data: Pick<Dataset, 'channels' | 'numClasses'>, engine?: Engine, fusion: FusionOptions = NO_FUSION): Network {
  const memory: Memory = engine?.memory ?? new HostMemory(cfg.dtype ?? 'f32');
  return new Network(getModel(cfg.model, { numClasses: data.numClasses, inChannels: data.channels }), memory, cfg.seed, engine?.lowering, fusion);
}

/**
 * A dataset's arrays against its own fields and against the model: images of count*C*H*W
 * values (in-memory datasets), count labels in [0, numClasses), C the model's input channels.
 */
export function checkDataset(net: Network, ds: Dataset | DataSource): void {
  const where = `dataset "${ds.name}"`;
  for (const k of ['count', 'channels', 'height', 'width', 'numClasses'] as const) {
    if (!Number.isSafeInteger(ds[k]) || ds[k] < 1) throw new DataError(`${where}: ${k} must be a positive integer, got ${ds[k]}`);
  }
  if (!isDataSource(ds) && !(ds.images instanceof Float32Array)) throw new DataError(`${where}: images must be a Float32Array, got ${ds.images === null || ds.images === undefined ? String(ds.images) : (ds.images as object).constructor.name}`);
  if (!(ds.labels instanceof Uint8Array)) throw new DataError(`${where}: labels must be a Uint8Array, got ${ds.labels === null || ds.labels === undefined ? String(ds.labels) : (ds.labels as object).constructor.name}`);
  const want = ds.count * ds.channels * ds.height * ds.width;
  if (!isDataSource(ds) && ds.images.length !== want) throw new DataError(`${where}: images hold ${ds.images.length} values but ${ds.count} images of ${ds.channels}x${ds.height}x${ds.width} need ${want}`);
  if (ds.labels.length !== ds.count) throw new DataError(`${where}: ${ds.labels.length} labels for ${ds.count} images: one label per image expected`);
  if (ds.channels !== net.def.inChannels) throw new DataError(`${where} has ${ds.channels}-channel images, but model ${net.def.name} takes ${net.def.inChannels}-channel images`);
  const K = Math.min(ds.numClasses, net.def.numClasses);
  for (let i = 0; i < ds.count; i++) {
    if (ds.labels[i]! >= K) throw new DataError(`${where}: label ${ds.labels[i]} of image ${i} is out of range [0, ${K})${ds.numClasses > net.def.numClasses ? ` (model ${net.def.name} has ${net.def.numClasses} outputs)` : ''}`);
  }
}

export function evaluate(net: Network, ds: Dataset | DataSource, batchSize = 256): { accuracy: number; loss: number } {
  checkDataset(net, ds);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  let correct = 0;
  let loss = 0;
  const k = net.def.numClasses;
  for (const b of asSource(ds).epoch(batchSize, { shuffle: false, seed: 0, epoch: 0 })) {
    const logits = net.predict(b.x, [b.size, ds.channels, ds.height, ds.width]);
    correct += argmaxCorrect(logits, b.labels, b.size, k);
    for (let i = 0; i < b.size; i++) {
      let mx = -Infinity;
      for (let j = 0; j < k; j++) mx = Math.max(mx, logits[i * k + j]!);
      let s = 0;
      for (let j = 0; j < k; j++) s += Math.exp(logits[i * k + j]! - mx);
      loss += mx + Math.log(s) - logits[i * k + b.labels[i]!]!;
    }
  }
  return { accuracy: correct / ds.count, loss: loss / ds.count };
}

/**
 * Trains for cfg.epochs epochs (from where `resume` left off) and resolves to the metrics of every
 * epoch. A resumed run, whole epochs or mid-epoch, continues exactly: same batches, same
 * augmentation draws, same dropout masks, so the same seed and threads give the same weights.
 */
export async function train(net: Network, trainSet: Dataset | DataSource, testSet: Dataset | DataSource, cfg: TrainConfig, hooks: TrainHooks = {}, engine?: Engine, resume?: ResumeState): Promise<EpochMetrics[]> {
  if (trainSet.numClasses > net.def.numClasses) {
    throw new RangeError(`dataset ${trainSet.name} has ${trainSet.numClasses} classes but model ${net.def.name} has ${net.def.numClasses} outputs`);
  }
  checkDataset(net, trainSet);
  checkDataset(net, testSet);
  if (!isDataSource(trainSet)) checkFinite(trainSet);
  if (!isDataSource(testSet)) checkFinite(testSet);
  const trainSrc = asSource(trainSet);
  if (!Number.isSafeInteger(cfg.batchSize) || cfg.batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${cfg.batchSize}`);
  if (!Number.isSafeInteger(cfg.epochs) || cfg.epochs < 1) throw new RangeError(`epochs must be a positive integer, got ${cfg.epochs}`);
  const opt = new SGD(net.params, { lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay, nesterov: cfg.nesterov }, net.memory, engine?.backend);
  const stepsPerEpoch = epochBatches(trainSrc, cfg.batchSize, false);
  if (resume) opt.loadBuffers(resume.momentum);
  const first = resume?.epoch ?? 0;
  const partial = resume?.partial;
  if (partial && !(partial.step >= 0 && partial.step <= stepsPerEpoch)) {
    throw new RangeError(`cannot resume at step ${partial.step} of an epoch of ${stepsPerEpoch} steps: the checkpoint was made with another dataset or batch size`);
  }
  const totalSteps = stepsPerEpoch * (cfg.epochs - first) - (partial?.step ?? 0);
  const history: EpochMetrics[] = [...(resume?.history ?? [])];
  const runStart = performance.now();
  let globalStep = resume?.globalStep ?? 0;
  const startStep = globalStep;
  for (let epoch = first; epoch < cfg.epochs; epoch++) {
    opt.lr = learningRate(cfg.lr, epoch, cfg.schedule);
    const carried = epoch === first ? partial : undefined;
    const t0 = performance.now();
    let lossSum = carried?.lossSum ?? 0;
    let correct = carried?.correct ?? 0;
    let seen = carried?.seen ?? 0;
    let step = carried?.step ?? 0;
    const seenBefore = seen;
    const epochSeconds = (): number => (carried?.seconds ?? 0) + (performance.now() - t0) / 1000;
    let stepEnd = t0;
    for (const b of trainSrc.epoch(cfg.batchSize, { shuffle: true, seed: cfg.seed, epoch, augment: cfg.augment, startBatch: step, prefetch: true })) {
      await yieldToEventLoop();
      if (cfg.signal?.aborted) {
        hooks.onInterrupt?.(epoch, globalStep, opt, history, { step, lossSum, correct, seen, seconds: epochSeconds() });
        throw new InterruptedError(epoch + 1, step, stepsPerEpoch, globalStep);
      }
      const shape = [b.size, trainSet.channels, trainSet.height, trainSet.width];
      const ctx = { seed: cfg.seed, step: globalStep };
      const loss = net.forwardBackward(b.x, b.labels, shape, ctx);
      if (!Number.isFinite(loss)) {
        let where = '';
        try {
          net.trainPlan(shape).exec.run(ctx, { checkFinite: true });
        } catch (e) {
          if (e instanceof NonFiniteError) where = `; first non-finite value: ${e.message}`;
          else throw e;
        }
        throw new DivergedError(`loss became ${loss} at epoch ${epoch + 1}, step ${step + 1} (global step ${globalStep + 1}, lr ${opt.lr})${where}`);
      }
      const plan = net.trainPlan(shape);
      correct += argmaxCorrect(plan.logits, b.labels, b.size, net.def.numClasses);
      opt.step(plan.grads);
      lossSum += loss * b.size;
      seen += b.size;
      step++;
      globalStep++;
      const now = performance.now();
      const elapsed = (now - runStart) / 1000;
      const stepSeconds = (now - stepEnd) / 1000;
      stepEnd = now;
      hooks.onStep?.({
        epoch: epoch + 1, step, size: b.size, stepSeconds, stepsPerEpoch, globalStep, loss, lr: opt.lr,
        imagesPerSec: (seen - seenBefore) / ((now - t0) / 1000),
        etaSec: (elapsed / (globalStep - startStep)) * (totalSteps - (globalStep - startStep)),
      }, opt);
    }
    const seconds = epochSeconds();
    const test = evaluate(net, testSet, cfg.evalBatchSize);
    const m: EpochMetrics = {
      epoch: epoch + 1, trainLoss: lossSum / seen, trainAccuracy: correct / seen,
      testAccuracy: test.accuracy, testLoss: test.loss, lr: opt.lr, seconds, imagesPerSec: seen / seconds,
    };
    history.push(m);
    hooks.onEpoch?.(m);
    hooks.afterEpoch?.(epoch + 1, globalStep, opt, history);
  }
  return history;
}
