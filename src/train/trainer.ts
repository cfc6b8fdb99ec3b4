/**
 * The training loop: data -> network -> SGD, epoch by epoch, with test accuracy after each
 * epoch. It reports through callbacks and returns the metrics, so the CLI, benchmarks and
 * tests share it.
 */
import { type Augment, checkFinite, type Dataset } from '../data/dataset.js';
import { type DataSource, epochBatches, isDataSource } from '../data/source.js';
import { asSource } from '../data/memory_source.js';
import { getModel } from '../models/index.js';
import { Network } from '../models/network.js';
import { NonFiniteError } from '../runtime/executor.js';
import type { Engine } from '../runtime/engine.js';
import { type FusionOptions, NO_FUSION } from '../passes/index.js';
import { HostMemory, type Memory } from '../runtime/memory.js';
import { learningRate, type Schedule } from './schedule.js';
import { SGD } from './sgd.js';
import { argmaxCorrect, checkDataset, evaluate } from './evaluate.js';

export { argmaxCorrect, checkDataset, evaluate } from './evaluate.js';

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

/** A network for the dataset's channels and classes; on `engine` if given, else the reference kernels. */
export function createNetwork(cfg: Pick<TrainConfig, 'model' | 'seed' | 'dtype'>, data: Pick<Dataset, 'channels' | 'numClasses'>, engine?: Engine, fusion: FusionOptions = NO_FUSION): Network {
  const memory: Memory = engine?.memory ?? new HostMemory(cfg.dtype ?? 'f32');
  return new Network(getModel(cfg.model, { numClasses: data.numClasses, inChannels: data.channels }), memory, cfg.seed, engine?.lowering, fusion);
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
