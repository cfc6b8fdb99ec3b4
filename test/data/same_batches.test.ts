/**
 * Same seed, same batches: the in-memory datasets (embedded, MNIST IDX, CIFAR-10) give, through
 * the data pipeline (openTrainingData, DataSource.epoch), the same training and evaluation
 * batches bit for bit as bnff's loader did before the pipeline existed.
 *
 * `oldLoader` is that loader, as `bnff train` ran it at commit bd96677: loadDataset, take
 * (--limit), fitTo, channelStats, normalize, parseAugment('crop,flip' or 'crop' for MNIST,
 * fill = -mean/std), then prefetchBatches(shuffle, seed, epoch, augment) for training and
 * batches(no shuffle) for evaluation. GOLDEN holds the SHA-256 of its batches recorded by
 * running this file's `hashOf(oldLoader(...))` at bd96677, before any pipeline code existed,
 * so a change to either path (or to the old functions themselves) fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Batch, batches, channelStats, fitTo, normalize, parseAugment, take } from '../../src/data/dataset.js';
import { loadDataset } from '../../src/data/index.js';
import { prefetchBatches } from '../../src/data/prefetch.js';
import { openData } from '../../src/data/open.js';
import { asSource } from '../../src/data/memory_source.js';
import { writeIdx } from '../../src/data/idx.js';
import { cifarBatchBytes, tempDir } from './helpers.js';

interface Run {
  spec: string;
  size: number;
  limit?: number;
  seed: number;
  batchSize: number;
  epochs: number[];
}

function hashBatch(h: ReturnType<typeof createHash>, b: Batch): void {
  h.update(`${b.size}|`);
  h.update(new Uint8Array(b.x.buffer, b.x.byteOffset, b.x.byteLength));
  h.update(new Uint8Array(b.labels.buffer, b.labels.byteOffset, b.labels.byteLength));
  h.update(new Uint8Array(b.indices.buffer, b.indices.byteOffset, b.indices.byteLength));
}

/** SHA-256 over every training batch of the given epochs, then every evaluation batch. */
function hashOf(train: (epoch: number) => Iterable<Batch>, evaluation: Iterable<Batch>, epochs: number[]): string {
  const h = createHash('sha256');
  for (const e of epochs) for (const b of train(e)) hashBatch(h, b);
  h.update('eval');
  for (const b of evaluation) hashBatch(h, b);
  return h.digest('hex');
}

/** bnff train's data path at bd96677 (see the module comment). */
function oldLoader(r: Run): { train: (epoch: number) => Iterable<Batch>; evaluation: Iterable<Batch> } {
  let tr = loadDataset(r.spec, { split: 'train' });
  let te = loadDataset(r.spec, { split: 'test' });
  if (r.limit !== undefined) {
    tr = take(tr, r.limit, r.seed);
    te = take(te, r.limit, r.seed);
  }
  tr = fitTo(tr, r.size);
  te = fitTo(te, r.size);
  const stats = channelStats(tr);
  const ntr = normalize(tr, stats.mean, stats.std);
  const nte = normalize(te, stats.mean, stats.std);
  const fill = stats.mean.map((m, c) => -m / stats.std[c]!);
  const augment = parseAugment(ntr.name.startsWith('mnist') ? 'crop' : 'crop,flip', fill);
  return {
    train: (epoch) => prefetchBatches(ntr, r.batchSize, { shuffle: true, seed: r.seed, epoch, augment }),
    evaluation: batches(nte, 250, { shuffle: false, seed: 0, epoch: 0 }),
  };
}

/** A small MNIST-layout directory and a CIFAR-10 directory with deterministic contents. */
function fixtures(dir: string): { mnist: string; cifar: string } {
  const mnist = join(dir, 'mnist');
  mkdirSync(mnist);
  for (const [split, n] of [['train', 300], ['t10k', 70]] as const) {
    const px = new Uint8Array(n * 28 * 28);
    for (let i = 0; i < px.length; i++) px[i] = (i * 2654435761) >>> 24;
    const lb = new Uint8Array(n);
    for (let i = 0; i < n; i++) lb[i] = (i * 7) % 10;
    writeIdx(join(mnist, `${split}-images-idx3-ubyte.gz`), [n, 28, 28], px);
    writeIdx(join(mnist, `${split}-labels-idx1-ubyte`), [n], lb);
  }
  const cifar = join(dir, 'cifar');
  mkdirSync(cifar);
  for (let k = 1; k <= 5; k++) writeFileSync(join(cifar, `data_batch_${k}.bin`), cifarBatchBytes(20 + k, k));
  writeFileSync(join(cifar, 'test_batch.bin'), cifarBatchBytes(33, 100));
  return { mnist, cifar };
}

const RUNS = (f: { mnist: string; cifar: string }): Array<[string, Run]> => [
  ['embedded', { spec: 'embedded', size: 32, seed: 0, batchSize: 64, epochs: [0, 1] }],
  ['embedded-limit', { spec: 'embedded', size: 32, limit: 500, seed: 7, batchSize: 48, epochs: [0, 3] }],
  ['mnist', { spec: `mnist:${f.mnist}`, size: 32, seed: 3, batchSize: 32, epochs: [0, 1] }],
  ['mnist-56', { spec: `mnist:${f.mnist}`, size: 56, limit: 40, seed: 1, batchSize: 16, epochs: [2] }],
  ['cifar', { spec: `cifar10:${f.cifar}`, size: 32, seed: 5, batchSize: 16, epochs: [0, 1] }],
];

/** Recorded at bd96677 (see the module comment). */
const GOLDEN: Record<string, string> = {
  embedded: 'a77b5f35390b1ba52a5c17b34c6b5b520a0b778af97c7844a0a5df3ce4b6d9aa',
  'embedded-limit': 'b1f80e8af91292bc7568a2e619e76af80a242204626ad72195e8005090cc753b',
  mnist: 'd648d18ceff522b0bf3f776ada0af8ec3be2e2f2b1d2b18391b9abf8118cd771',
  'mnist-56': 'e86bb7fc960032ba893eb6ec45008fd8e30232dab1ceaf56c3aba42af766c5bf',
  cifar: 'a1a12c90cfc26d4238dcae6e5db55271c9809170564b70b7dc28fda4cede2b18',
};

test('the old loader still gives the recorded batches', () => {
  const t = tempDir();
  try {
    const got: Record<string, string> = {};
    for (const [name, r] of RUNS(fixtures(t.dir))) {
      const o = oldLoader(r);
      got[name] = hashOf(o.train, o.evaluation, r.epochs);
    }
    if (process.env.BNFF_PRINT_GOLDEN) console.log(JSON.stringify(got, null, 2));
    assert.deepEqual(got, GOLDEN);
  } finally {
    t.cleanup();
  }
});

/** The pipeline as bnff train runs it now: openData, then DataSource.epoch (prefetched for training). */
async function newLoader(r: Run): Promise<{ train: (epoch: number) => Iterable<Batch>; evaluation: Iterable<Batch> }> {
  const d = await openData(r.spec, { size: r.size, seed: r.seed, limit: r.limit });
  const fill = d.mean.map((m, c) => -m / d.std[c]!);
  const augment = parseAugment(d.train.name.startsWith('mnist') ? 'crop' : 'crop,flip', fill);
  return {
    train: (epoch) => d.train.epoch(r.batchSize, { shuffle: true, seed: r.seed, epoch, augment, prefetch: true }),
    evaluation: d.test.epoch(250, { shuffle: false, seed: 0, epoch: 0 }),
  };
}

test('the data pipeline gives the in-memory datasets the same batches as the old loader, bit for bit', async () => {
  const t = tempDir();
  try {
    const got: Record<string, string> = {};
    for (const [name, r] of RUNS(fixtures(t.dir))) {
      const o = await newLoader(r);
      got[name] = hashOf(o.train, o.evaluation, r.epochs);
    }
    assert.deepEqual(got, GOLDEN);
  } finally {
    t.cleanup();
  }
});

test('a Dataset handed to the trainer is a memorySource: its epochs are batches() / prefetchBatches()', () => {
  const t = tempDir();
  try {
    const r = RUNS(fixtures(t.dir))[0]![1];
    const ds = normalize(fitTo(loadDataset(r.spec, { split: 'train' }), r.size), [0.3], [0.2]);
    const src = asSource(ds);
    const a = hashOf((e) => src.epoch(r.batchSize, { shuffle: true, seed: 1, epoch: e, prefetch: true }), src.epoch(100, { shuffle: false, seed: 0, epoch: 0 }), [0]);
    const b = hashOf((e) => batches(ds, r.batchSize, { shuffle: true, seed: 1, epoch: e }), batches(ds, 100, { shuffle: false, seed: 0, epoch: 0 }), [0]);
    assert.equal(a, b);
  } finally {
    t.cleanup();
  }
});
