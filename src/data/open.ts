/**
 * Training data from a spec, ready for the trainer: both splits as DataSources at the model's
 * input size, normalised, with what the train log says about them. `bnff train` and `bnff
 * eval` open their data here.
 *
 *   in-memory specs (embedded, mnist, fashion-mnist, cifar10): loaded, --limit'ed (take),
 *     brought to the size (fitTo), normalised by the mean/std of the whole training split:
 *     the same arrays, so the same batches, as before the pipeline existed;
 *   folder: and list: specs: streamed (stream.ts) at base size R = round(S * 256/224), with
 *     ImageNet's mean/std for RGB by default, or the mean/std of a sample of the training
 *     images (always for grayscale, whose ImageNet values do not exist).
 */

import { channelStats, type Dataset, epochOrder, fitTo, normalize, take } from './dataset.js';
import { DecodedCache } from './cache.js';
import { type DecoderChoice, type DecoderInfo, decoderStatus } from './decode.js';
import { DataError } from './errors.js';
import { colourChannels, type FolderEntry, type FolderLayout } from './folder.js';
import { imageLayout, isStreamedSpec, loadDataset } from './index.js';
import { type DataLimits, formatBytes, resolveLimits } from './limits.js';
import { availableParallelism } from 'node:os';
import { classNotes, type DataSource } from './source.js';
import { memorySource } from './memory_source.js';
import { defaultDecodeWorkers, readAll, StreamSource } from './stream.js';
import { baseSize, IMAGENET_MEAN, IMAGENET_STD } from './transform.js';

export const NORMALIZE_CHOICES = ['auto', 'imagenet', 'data'] as const;
export type NormalizeChoice = (typeof NORMALIZE_CHOICES)[number];

/** Training images whose mean/std stand for a streamed set's (`--normalize data`). */
export const STATS_SAMPLE = 256;

export interface OpenOptions {
  /** The model's input size. */
  size: number;
  seed: number;
  /** At most this many train and this many test examples (a seeded subset, as take()). */
  limit?: number;
  /** auto: ImageNet's for RGB image folders and lists, the data's otherwise. */
  normalize?: NormalizeChoice;
  limits?: Partial<DataLimits>;
  decoder?: DecoderChoice;
  /** Decode worker threads (default: defaultDecodeWorkers()). */
  workers?: number;
  /** Images each decode worker has in flight (sharp; default 2). */
  inflight?: number;
  /** Batches decoded ahead (default 2). */
  ahead?: number;
  /** A folder for decoded caches (cache.ts); none by default. */
  cache?: string;
  /**
   * When a missing cache is written: 'first', before training, by one decode worker per core
   * (at most four); 'during', by the first epoch's decode workers while the steps run. 'auto'
   * (default): 'first' on 2 cores or fewer, where decoding during the steps takes its CPU from
   * the training threads (docs/data.md, *Keeping up with the engine*); bnff train decides by
   * its --threads.
   */
  fillCache?: 'auto' | 'first' | 'during';
}

export interface OpenedData {
  train: DataSource;
  test: DataSource;
  mean: number[];
  std: number[];
  /** Where mean/std come from, for the log: "the 3000 training images", "ImageNet's (torchvision)", "a sample of 256 training images". */
  statsFrom: string;
  /** Streamed sets: the decoder and workers, for the log and the run's config. */
  streamed?: { decoder: DecoderInfo & { why?: string }; workers: number; base: number; caches: string[] };
  /** Remarks about the classes (classNotes) for the log. */
  notes: string[];
  /** Releases workers and cache files. */
  close(): void;
}

/** A seeded subset of n entries, in list order: the entries take() would keep. */
function takeEntries(entries: FolderEntry[], n: number | undefined, seed: number): FolderEntry[] {
  if (n === undefined || n >= entries.length) return entries;
  const pick = epochOrder(entries.length, { shuffle: true, seed, epoch: 0x7fffffff }).slice(0, n).sort();
  return [...pick].map((i) => entries[i]!);
}

/** Mean and population std per channel of a streamed sample of `train`, values in [0, 1]. */
function sampleStats(name: string, layout: FolderLayout, entries: FolderEntry[], o: OpenOptions, channels: 1 | 3, limits: DataLimits): { mean: number[]; std: number[]; n: number } {
  const sample = takeEntries(entries, STATS_SAMPLE, o.seed);
  const src = new StreamSource(`${name}-sample`, sample, layout.classNames.length, layout.classNames, {
    size: o.size, base: baseSize(o.size), channels, mean: new Array(channels).fill(0), std: new Array(channels).fill(1),
    decoder: o.decoder ?? 'auto', workers: o.workers ?? defaultDecodeWorkers(), inflight: o.inflight ?? 2, ahead: o.ahead ?? 2, limits,
  });
  const ds = readAll(src, 32);
  const { mean, std } = channelStats(ds);
  std.forEach((s, c) => {
    if (!(s > 0)) {
      throw new DataError(`dataset "${name}": every pixel of channel ${c} in a sample of ${sample.length} training images has the value ${Math.round(mean[c]! * 255)}/255: constant images, nothing to learn from`);
    }
  });
  return { mean, std, n: sample.length };
}

async function openStreamed(spec: string, o: OpenOptions): Promise<OpenedData> {
  const limits = resolveLimits(o.limits);
  const { layout, name } = imageLayout(spec);
  const train = takeEntries(layout.train, o.limit, o.seed);
  const test = takeEntries(layout.test, o.limit, o.seed);
  if (train.length === 0) throw new DataError(`"${name}" has no training images`);
  // the classes first: they need no decoding
  const notes = classNotes({ name: `${name}-train`, labels: Uint8Array.from(train, (e) => e.label), numClasses: layout.classNames.length, classNames: layout.classNames });
  const channels = colourChannels([...layout.train, ...layout.test].map((e) => e.file), limits);
  const decoder = await decoderStatus(o.decoder ?? 'auto');
  const choice = o.normalize ?? 'auto';
  const imagenet = choice === 'imagenet' || (choice === 'auto' && channels === 3);
  if (imagenet && channels !== 3) throw new DataError(`--normalize imagenet: "${name}" is grayscale (1 channel), and ImageNet's mean/std are for RGB; use --normalize data`);
  const workers = o.workers ?? defaultDecodeWorkers();
  const base = baseSize(o.size);
  let mean: number[], std: number[], statsFrom: string;
  if (imagenet) {
    [mean, std, statsFrom] = [IMAGENET_MEAN, IMAGENET_STD, "ImageNet's (torchvision's 0.485/0.456/0.406, 0.229/0.224/0.225)"];
  } else {
    const s = sampleStats(`${name}-train`, layout, train, o, channels, limits);
    [mean, std, statsFrom] = [s.mean, s.std, `a sample of ${s.n} training images`];
  }
  const caches: DecodedCache[] = [];
  const source = (split: 'train' | 'test', entries: FolderEntry[]): StreamSource => {
    let cache: DecodedCache | undefined;
    if (o.cache !== undefined) {
      cache = new DecodedCache(o.cache, { name: `${name}-${split}`, files: entries.map((e) => e.file), labels: Uint8Array.from(entries, (e) => e.label), base, channels, decoder: decoder.description });
      caches.push(cache);
    }
    return new StreamSource(`${name}-${split}`, entries, layout.classNames.length, layout.classNames, {
      size: o.size, base, channels, mean, std, decoder: o.decoder ?? 'auto', workers, inflight: o.inflight ?? 2, ahead: o.ahead ?? 2, limits, ...(cache ? { cache } : {}),
    });
  };
  const tr = source('train', train);
  const te = source('test', test);
  const fill = o.fillCache ?? 'auto';
  const described = caches.map((c) => c.describe());
  try {
    if (fill === 'first' || (fill === 'auto' && availableParallelism() <= 2)) {
      for (const [k, src] of [tr, te].entries()) {
        const c = src.options.cache;
        if (!c || c.complete) continue;
        const t0 = performance.now();
        // one epoch on every core writes every record, and its end (epochDone) commits the file
        for (const _ of src.epoch(16, { shuffle: false, seed: 0, epoch: 0 }, { workers: Math.min(4, availableParallelism()) })) void _;
        described[k] = `${c.path} (${formatBytes(c.bytes)}, written before training: ${src.count} images in ${((performance.now() - t0) / 1000).toFixed(1)} s)`;
      }
    }
  } catch (e) {
    caches.forEach((c) => c.close());
    throw e;
  }
  return {
    train: tr,
    test: te,
    mean,
    std,
    statsFrom,
    streamed: { decoder, workers, base, caches: described },
    notes,
    close: () => caches.forEach((c) => c.close()),
  };
}

/**
 * Both splits of `spec` at o.size, normalised (module comment). In-memory specs give exactly
 * the arrays bnff train built before the pipeline (loadDataset, take, fitTo, channelStats,
 * normalize), so the same batches for the same seed.
 */
export async function openData(spec: string, o: OpenOptions): Promise<OpenedData> {
  if (isStreamedSpec(spec)) return openStreamed(spec, o);
  const limits = resolveLimits(o.limits);
  let train: Dataset = loadDataset(spec, { split: 'train', limits });
  let test: Dataset = loadDataset(spec, { split: 'test', limits });
  if (o.limit !== undefined) {
    train = take(train, o.limit, o.seed);
    test = take(test, o.limit, o.seed);
  }
  // slightly smaller images are zero-padded (28x28 -> 32x32), others resized
  train = fitTo(train, o.size);
  test = fitTo(test, o.size);
  if (o.normalize === 'imagenet') {
    if (train.channels !== 3) throw new DataError(`--normalize imagenet: "${train.name}" has ${train.channels} channel(s), and ImageNet's mean/std are for RGB; use --normalize data`);
  }
  const stats = o.normalize === 'imagenet' ? { mean: IMAGENET_MEAN, std: IMAGENET_STD } : channelStats(train);
  const tr = memorySource(normalize(train, stats.mean, stats.std));
  const te = memorySource(normalize(test, stats.mean, stats.std));
  return {
    train: tr,
    test: te,
    mean: stats.mean,
    std: stats.std,
    statsFrom: o.normalize === 'imagenet' ? "ImageNet's (torchvision's)" : `the ${train.count} training images`,
    notes: classNotes(tr),
    close: () => undefined,
  };
}

/**
 * The test split of `spec` for a model trained at o.size and normalised with `mean`/`std`:
 * what `bnff eval` evaluates (the same preparation as the training run's test split). `model`
 * names what takes the images in the message for a channel count other than mean's.
 */
export async function openTestData(spec: string, o: Omit<OpenOptions, 'normalize'> & { mean: number[]; std: number[]; model: string }): Promise<{ test: DataSource; close(): void; streamed?: OpenedData['streamed'] }> {
  const checkChannels = (name: string, channels: number): void => {
    if (channels !== o.mean.length) throw new DataError(`dataset ${name} has ${channels}-channel images, but ${o.model} takes ${o.mean.length}-channel images`);
  };
  if (isStreamedSpec(spec)) {
    const limits = resolveLimits(o.limits);
    const { layout, name } = imageLayout(spec);
    const test = takeEntries(layout.test, o.limit, o.seed);
    const channels = colourChannels([...layout.train, ...layout.test].map((e) => e.file), limits);
    const decoder = await decoderStatus(o.decoder ?? 'auto');
    const workers = o.workers ?? defaultDecodeWorkers();
    checkChannels(`${name}-test`, channels);
    const src = new StreamSource(`${name}-test`, test, layout.classNames.length, layout.classNames, {
      size: o.size, base: baseSize(o.size), channels, mean: o.mean, std: o.std, decoder: o.decoder ?? 'auto', workers, inflight: o.inflight ?? 2, ahead: o.ahead ?? 2, limits,
    });
    return { test: src, close: () => src.close(), streamed: { decoder, workers, base: baseSize(o.size), caches: [] } };
  }
  let ds = loadDataset(spec, { split: 'test', limits: o.limits });
  if (o.limit !== undefined) ds = take(ds, o.limit, o.seed);
  ds = fitTo(ds, o.size);
  checkChannels(ds.name, ds.channels);
  return { test: memorySource(normalize(ds, o.mean, o.std)), close: () => undefined };
}
