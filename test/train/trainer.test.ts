import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { channelStats, type Dataset } from '../../src/data/dataset.js';
import { DataError } from '../../src/data/errors.js';
import { stateDict } from '../../src/io/weights.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { learningRate } from '../../src/train/schedule.js';
import { SGD } from '../../src/train/sgd.js';
import { DivergedError, type EpochMetrics, InterruptedError, createNetwork, evaluate, train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/random.js';

/** Two classes told apart by which half of the image is bright: learnable in a few steps. */
function toyDataset(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const H = 8;
  const images = new Float32Array(n * H * H);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const l = i % 2;
    labels[i] = l;
    for (let y = 0; y < H; y++) for (let x = 0; x < H; x++) images[i * H * H + y * H + x] = (x < H / 2 === (l === 0) ? 0.8 : 0.2) + 0.1 * rng.normal();
  }
  return { name: 'toy', images, labels, count: n, channels: 1, height: H, width: H, numClasses: 2 };
}

const cfg = {
  model: 'resnet8',
  epochs: 3,
  batchSize: 16,
  lr: 0.05,
  momentum: 0.9,
  weightDecay: 5e-4,
  nesterov: false,
  schedule: { kind: 'constant' as const },
  seed: 5,
};

test('training learns a toy task and reports per-epoch metrics', async () => {
  const ds = toyDataset(64, 1);
  const net = createNetwork(cfg, ds);
  const before = evaluate(net, ds);
  const hist = await train(net, ds, toyDataset(32, 2), cfg);
  assert.equal(hist.length, 3);
  assert.ok(hist[2]!.trainLoss < hist[0]!.trainLoss, `loss ${hist.map((h) => h.trainLoss)}`);
  assert.ok(hist[2]!.testAccuracy >= 0.9, `test accuracy ${hist[2]!.testAccuracy} (before: ${before.accuracy})`);
});

test('same seed gives bit-identical weights; another seed does not', async () => {
  const ds = toyDataset(32, 1);
  const run = async (seed: number): Promise<Float32Array> => {
    const net = createNetwork({ ...cfg, seed }, ds);
    await train(net, ds, ds, { ...cfg, seed, epochs: 1 });
    return Float32Array.from(net.params.get('layer2.0.conv1.weight')!);
  };
  assert.deepEqual(await run(9), await run(9));
  assert.notDeepEqual(await run(9), await run(10));
});

test('a non-finite loss stops training, naming the step and the first op that produced it', async () => {
  const ds = toyDataset(32, 1);
  const net = createNetwork(cfg, ds);
  net.params.get('conv1.weight')![5] = Number.NaN; // a weight gone bad
  await assert.rejects(
    () => train(net, ds, ds, { ...cfg, epochs: 1 }),
    (e: Error) => e instanceof DivergedError && /epoch 1, step 1/.test(e.message) && /layer "conv1" \(conv2d\) produced NaN/.test(e.message),
  );
});

test('a training run on data holding NaN or Infinity fails before the first step, naming the dataset, example and pixel', async () => {
  for (const [bad, which] of [
    [Number.NaN, 'train'],
    [Number.POSITIVE_INFINITY, 'test'],
  ] as const) {
    const ds = toyDataset(32, 1);
    const other = toyDataset(16, 2);
    (which === 'train' ? ds : other).images[3 * 64 + 2 * 8 + 5] = bad;
    const net = createNetwork(cfg, ds);
    const before = Float32Array.from(net.params.get('conv1.weight')!);
    await assert.rejects(
      () => train(net, ds, other, { ...cfg, epochs: 1 }),
      (e: Error) => e instanceof DataError && e.message === `dataset "toy": example 3 holds ${bad} (channel 0, row 2, column 5); inputs must be finite numbers`,
    );
    assert.deepEqual(net.params.get('conv1.weight'), before, 'no step was taken');
  }
  // normalisation statistics say the same instead of returning NaN
  const ds = toyDataset(8, 1);
  ds.images[7 * 64] = Number.NaN;
  assert.throws(() => channelStats(ds), /^DataError: dataset "toy": example 7 holds NaN \(channel 0, row 0, column 0\)/);
});

test('SGD matches hand-computed PyTorch semantics (momentum, nesterov, weight decay, dampening)', () => {
  const p = new Map([['w', Float64Array.from([1, -2])]]);
  const g = new Map([['w', Float64Array.from([0.5, 0.25])]]);
  const opt = new SGD(p, { lr: 0.1, momentum: 0.9, weightDecay: 0.1, nesterov: true });
  opt.step(g);
  // d = g + 0.1 p = [0.6, 0.05]; buf = d; update = d + 0.9 buf = 1.9 d
  assert.deepEqual(
    [...p.get('w')!].map((v) => +v.toFixed(12)),
    [1 - 0.1 * 1.9 * 0.6, -2 - 0.1 * 1.9 * 0.05].map((v) => +v.toFixed(12)),
  );
  const q = new Map([['w', Float64Array.from([1])]]);
  const o2 = new SGD(q, { lr: 1, momentum: 0.5, dampening: 0.5 });
  const gg = new Map([['w', Float64Array.from([1])]]);
  o2.step(gg); // buf = 1, w = 0
  o2.step(gg); // buf = 0.5*1 + 0.5*1 = 1, w = -1
  assert.equal(q.get('w')![0], -1);
  assert.throws(() => new SGD(q, { lr: -1 }), /lr must be/);
  assert.throws(() => new SGD(q, { lr: 0.1, nesterov: true }), /Nesterov/);
});

test('learning-rate schedules follow StepLR and CosineAnnealingLR', () => {
  assert.equal(learningRate(0.1, 0, { kind: 'step', stepSize: 2, gamma: 0.1 }), 0.1);
  assert.ok(Math.abs(learningRate(0.1, 2, { kind: 'step', stepSize: 2, gamma: 0.1 }) - 0.01) < 1e-15);
  assert.equal(learningRate(0.1, 0, { kind: 'cosine', tMax: 10 }), 0.1);
  assert.ok(Math.abs(learningRate(0.1, 5, { kind: 'cosine', tMax: 10 }) - 0.05) < 1e-15);
  assert.ok(Math.abs(learningRate(0.1, 10, { kind: 'cosine', tMax: 10, etaMin: 0.001 }) - 0.001) < 1e-15);
});

test('a run interrupted between any two steps and resumed from its checkpoint ends with the same weights and metrics', async () => {
  const ds = toyDataset(40, 1); // batches of 16: 3 steps per epoch (16, 16, 8)
  const c = { ...cfg, epochs: 2, augment: { padding: 1, flip: true, fill: [0] } };
  const whole = createNetwork(c, ds);
  const wholeHist = await train(whole, ds, ds, c);
  const timeless = (h: EpochMetrics[]): unknown[] => h.map(({ seconds: _s, imagesPerSec: _i, ...rest }) => rest);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-interrupt-'));
  // after global step 1 and 4: mid-epoch; after step 3: the end of epoch 1, caught before epoch 2's first step
  for (const stopAfter of [1, 3, 4]) {
    const file = path.join(dir, `ckpt-${stopAfter}.safetensors`);
    const ac = new AbortController();
    const net = createNetwork(c, ds);
    await assert.rejects(
      train(
        net,
        ds,
        ds,
        { ...c, signal: ac.signal },
        {
          onStep: (e) => {
            if (e.globalStep === stopAfter) ac.abort();
          },
          onInterrupt: (epochsDone, globalStep, opt, history, partial) =>
            saveCheckpoint(file, net, opt, {
              model: c.model,
              epoch: epochsDone,
              globalStep,
              partial,
              seed: c.seed,
              dataset: ds.name,
              config: {},
              metrics: history,
            }),
        },
      ),
      (e: Error) => e instanceof InterruptedError && e.globalStep === stopAfter,
    );
    const resumed = createNetwork({ ...c, seed: 99 }, ds); // the checkpoint replaces its initial weights
    const { meta, momentum } = loadCheckpoint(file, resumed);
    assert.equal(meta.globalStep, stopAfter);
    assert.deepEqual([meta.epoch, meta.partial?.step], stopAfter === 3 ? [1, 0] : [Math.floor(stopAfter / 3), stopAfter % 3]);
    const hist = await train(resumed, ds, ds, c, {}, undefined, {
      epoch: meta.epoch,
      globalStep: meta.globalStep,
      momentum,
      history: meta.metrics as EpochMetrics[],
      partial: meta.partial,
    });
    assert.deepEqual(timeless(hist), timeless(wholeHist), `metrics, stopped after step ${stopAfter}`);
    const a = stateDict(whole);
    const b = stateDict(resumed);
    for (const [k, t] of a) assert.deepEqual(b.get(k)!.data, t.data, `${k}, stopped after step ${stopAfter}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
