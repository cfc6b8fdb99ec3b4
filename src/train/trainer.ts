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

/** What train() does: the hyper-parameters of a run. */
export interface TrainConfig {
  /** The model's name (recorded in checkpoints; the network itself is train()'s argument). */
  model: string;
  /** Epochs to train in all (a resumed run counts the ones done). */
  epochs: number;
  /** Images per training step. */
  batchSize: number;
  /** Base learning rate, which the schedule scales. */
  lr: number;
  /** SGD momentum. */
  momentum: number;
  /** SGD L2 weight decay. */
  weightDecay: number;
  /** Nesterov momentum. */
  nesterov: boolean;
  /** The learning-rate schedule, per epoch. */
  schedule: Schedule;
  /**
   * Linear warm-up, in epochs (default WARMUP_EPOCHS; 0: none): over the first `warmupEpochs` epochs' steps the rate
   * grows step by step from 1/W of the scheduled rate to all of it (W the warm-up's steps), as
   * Goyal et al. 2017 do; the schedule runs unchanged around it.
   */
  warmupEpochs?: number;
  /** Seed of the batch order, the augmentation draws and dropout. */
  seed: number;
  /** Without an engine: 'f32' (default) or 'f64' reference kernels. */
  dtype?: 'f32' | 'f64';
  /** Images per forward pass when testing (default 256). */
  evalBatchSize?: number;
  /**
   * Before each test, the BN statistics are recomputed with the epoch's weights over this many
   * training batches (Network.recomputeBnStatistics; default BN_STATS_BATCHES; 0 keeps the
   * running averages of training, PyTorch's behaviour). The recomputed statistics stay: the
   * checkpoint and the weights hold them, and training continues from them.
   */
  bnStatsBatches?: number;
  /** Train-time augmentation (none when absent). */
  augment?: Augment;
  /**
   * Stops training between two steps once aborted: the step in flight finishes, hooks.onInterrupt
   * gets the state to checkpoint, and train() rejects with an InterruptedError. train() yields to
   * the event loop before every step, so a signal handler (Ctrl-C) gets its turn.
   */
  signal?: AbortSignal;
}

/** One training step done, as hooks.onStep sees it. */
export interface StepEvent {
  /** Epoch, from 1. */
  epoch: number;
  /** Step within the epoch, from 1. */
  step: number;
  /** Images in this step's batch. */
  size: number;
  /** Seconds since the previous step ended (or the epoch began): this step with its batch. */
  stepSeconds: number;
  /** Steps in an epoch. */
  stepsPerEpoch: number;
  /** Steps done since the run began (a resumed run counts the earlier ones). */
  globalStep: number;
  /** This step's mean loss over its batch. */
  loss: number;
  /** The learning rate this step used. */
  lr: number;
  /** Training images per second in this epoch so far. */
  imagesPerSec: number;
  /** Seconds left for the whole run, extrapolated from this run's pace. */
  etaSec: number;
}

/** One epoch's results. */
export interface EpochMetrics {
  /** Epoch, from 1. */
  epoch: number;
  /** Mean loss over the epoch's training images (train mode, as they were trained on). */
  trainLoss: number;
  /** Fraction of the epoch's training images classified correctly during their step (0 to 1). */
  trainAccuracy: number;
  /** Fraction of the test set classified correctly after the epoch, in eval mode (0 to 1). */
  testAccuracy: number;
  /** Mean cross-entropy on the test set after the epoch. */
  testLoss: number;
  /** The learning rate of the epoch's last step. */
  lr: number;
  /** Training seconds of the epoch (testing excluded). */
  seconds: number;
  /** Training images per second. */
  imagesPerSec: number;
}

/** Callbacks through which train() reports; each optional. */
export interface TrainHooks {
  /** After each step; `opt` holds the momentum a mid-epoch checkpoint needs. */
  onStep?: (e: StepEvent, opt: SGD) => void;
  /** After each epoch, with its metrics. */
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
  /** Images classified correctly so far. */
  correct: number;
  /** Images seen so far. */
  seen: number;
  /** Training seconds spent on it so far. */
  seconds: number;
}

/** Where a resumed run picks up: after `epoch` whole epochs, and `partial` steps into the next one. */
export interface ResumeState {
  /** Whole epochs done. */
  epoch: number;
  /** Steps done. */
  globalStep: number;
  /** SGD momentum buffers by parameter name. */
  momentum: Map<string, Float32Array>;
  /** Metrics of the epochs done. */
  history: EpochMetrics[];
  /** How far the next epoch got, when the run stopped inside it. */
  partial?: PartialEpoch;
}

/**
 * Training batches over which the BN statistics are recomputed before each test: 4 x 64 = 256
 * images; 1 to 46 batches gave the same test accuracy within 1 point
 * (docs/design/2026-12-07-default-train.md).
 */
export const BN_STATS_BATCHES = 4;

/** Epochs of linear learning-rate warm-up (docs/design/2026-12-07-default-train.md). */
export const WARMUP_EPOCHS = 0;

/** Training stopped between two steps because cfg.signal aborted. */
export class InterruptedError extends Error {
  /** 'InterruptedError', the name error messages and stack traces show. */
  override name = 'InterruptedError';
  constructor(
    /** Epoch in progress, from 1. */
    readonly epoch: number,
    /** Steps of that epoch done. */
    readonly step: number,
    /** Steps in an epoch. */
    readonly stepsPerEpoch: number,
    /** Steps done in all. */
    readonly globalStep: number,
  ) {
    super(`interrupted in epoch ${epoch} after step ${step}/${stepsPerEpoch} (global step ${globalStep})`);
  }
}

/** The first n items of an iterable (the rest is not drawn). */
function* take<T>(it: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  let i = 0;
  for (const x of it) {
    yield x;
    if (++i >= n) return;
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Training stopped because the loss (or a value leading to it) stopped being finite. */
export class DivergedError extends Error {
  /** 'DivergedError', the name error messages and stack traces show. */
  override name = 'DivergedError';
}

/** A network for the dataset's channels and classes; on `engine` if given, else the reference kernels. */
export function createNetwork(
  cfg: Pick<TrainConfig, 'model' | 'seed' | 'dtype'>,
  data: Pick<Dataset, 'channels' | 'numClasses'>,
  engine?: Engine,
  fusion: FusionOptions = NO_FUSION,
): Network {
  const memory: Memory = engine?.memory ?? new HostMemory(cfg.dtype ?? 'f32');
  return new Network(getModel(cfg.model, { numClasses: data.numClasses, inChannels: data.channels }), memory, cfg.seed, engine?.lowering, fusion);
}

/**
 * Trains for cfg.epochs epochs (from where `resume` left off) and resolves to the metrics of every
 * epoch. SGD updates run on `engine`'s backend (default: the engine `Network.create` gave `net`).
 * A resumed run, whole epochs or mid-epoch, continues exactly: same batches, same augmentation
 * draws, same dropout masks, so the same seed and threads give the same weights.
 */
export async function train(
  net: Network,
  trainSet: Dataset | DataSource,
  testSet: Dataset | DataSource,
  cfg: TrainConfig,
  hooks: TrainHooks = {},
  engine?: Engine,
  resume?: ResumeState,
): Promise<EpochMetrics[]> {
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
  const warmup = cfg.warmupEpochs ?? WARMUP_EPOCHS;
  const statsBatches = cfg.bnStatsBatches ?? BN_STATS_BATCHES;
  if (!Number.isSafeInteger(statsBatches) || statsBatches < 0)
    throw new RangeError(`BN statistics batches must be a non-negative integer, got ${statsBatches}`);
  if (!Number.isSafeInteger(warmup) || warmup < 0) throw new RangeError(`warm-up epochs must be a non-negative integer, got ${warmup}`);
  const opt = new SGD(
    net.params,
    { lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay, nesterov: cfg.nesterov },
    net.memory,
    (engine ?? net.engine)?.backend,
  );
  const stepsPerEpoch = epochBatches(trainSrc, cfg.batchSize, false);
  if (resume) opt.loadBuffers(resume.momentum);
  const first = resume?.epoch ?? 0;
  const partial = resume?.partial;
  if (partial && !(partial.step >= 0 && partial.step <= stepsPerEpoch)) {
    throw new RangeError(
      `cannot resume at step ${partial.step} of an epoch of ${stepsPerEpoch} steps: the checkpoint was made with another dataset or batch size`,
    );
  }
  const totalSteps = stepsPerEpoch * (cfg.epochs - first) - (partial?.step ?? 0);
  const warmupSteps = warmup * stepsPerEpoch;
  const history: EpochMetrics[] = [...(resume?.history ?? [])];
  const runStart = performance.now();
  let globalStep = resume?.globalStep ?? 0;
  const startStep = globalStep;
  for (let epoch = first; epoch < cfg.epochs; epoch++) {
    const scheduled = learningRate(cfg.lr, epoch, cfg.schedule);
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
      opt.lr = globalStep < warmupSteps ? (scheduled * (globalStep + 1)) / warmupSteps : scheduled;
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
      hooks.onStep?.(
        {
          epoch: epoch + 1,
          step,
          size: b.size,
          stepSeconds,
          stepsPerEpoch,
          globalStep,
          loss,
          lr: opt.lr,
          imagesPerSec: (seen - seenBefore) / ((now - t0) / 1000),
          etaSec: (elapsed / (globalStep - startStep)) * (totalSteps - (globalStep - startStep)),
        },
        opt,
      );
    }
    const seconds = epochSeconds();
    if (statsBatches > 0) {
      // the epoch's first batches again (whole ones, unless the dataset is smaller than one)
      const again = trainSrc.epoch(cfg.batchSize, { shuffle: true, seed: cfg.seed, epoch, augment: cfg.augment, dropLast: trainSrc.count >= cfg.batchSize });
      try {
        net.recomputeBnStatistics(take(again, statsBatches), [trainSet.channels, trainSet.height, trainSet.width]);
      } finally {
        again.close();
      }
    }
    const test = evaluate(net, testSet, cfg.evalBatchSize);
    const m: EpochMetrics = {
      epoch: epoch + 1,
      trainLoss: lossSum / seen,
      trainAccuracy: correct / seen,
      testAccuracy: test.accuracy,
      testLoss: test.loss,
      lr: opt.lr,
      seconds,
      imagesPerSec: seen / seconds,
    };
    history.push(m);
    hooks.onEpoch?.(m);
    hooks.afterEpoch?.(epoch + 1, globalStep, opt, history);
  }
  return history;
}
