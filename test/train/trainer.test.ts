import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelStats, type Dataset } from '../../src/data/dataset.js';
import { DataError } from '../../src/data/errors.js';
import { learningRate } from '../../src/train/schedule.js';
import { SGD } from '../../src/train/sgd.js';
import { DivergedError, createNetwork, evaluate, train } from '../../src/train/trainer.js';
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
    for (let y = 0; y < H; y++) for (let x = 0; x < H; x++) images[i * H * H + y * H + x] = ((x < H / 2) === (l === 0) ? 0.8 : 0.2) + 0.1 * rng.normal();
  }
  return { name: 'toy', images, labels, count: n, channels: 1, height: H, width: H, numClasses: 2 };
}

const cfg = { model: 'resnet8', epochs: 3, batchSize: 16, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: false, schedule: { kind: 'constant' as const }, seed: 5 };

test('training learns a toy task and reports per-epoch metrics', () => {
  const ds = toyDataset(64, 1);
  const net = createNetwork(cfg, ds);
  const before = evaluate(net, ds);
  const hist = train(net, ds, toyDataset(32, 2), cfg);
  assert.equal(hist.length, 3);
  assert.ok(hist[2]!.trainLoss < hist[0]!.trainLoss, `loss ${hist.map((h) => h.trainLoss)}`);
  assert.ok(hist[2]!.testAccuracy >= 0.9, `test accuracy ${hist[2]!.testAccuracy} (before: ${before.accuracy})`);
});

test('same seed gives bit-identical weights; another seed does not', () => {
  const ds = toyDataset(32, 1);
  const run = (seed: number): Float32Array => {
    const net = createNetwork({ ...cfg, seed }, ds);
    train(net, ds, ds, { ...cfg, seed, epochs: 1 });
    return Float32Array.from(net.params.get('layer2.0.conv1.weight')!);
  };
  assert.deepEqual(run(9), run(9));
  assert.notDeepEqual(run(9), run(10));
});

test('a non-finite loss stops training, naming the step and the first op that produced it', () => {
  const ds = toyDataset(32, 1);
  const net = createNetwork(cfg, ds);
  net.params.get('conv1.weight')![5] = Number.NaN; // a weight gone bad
  assert.throws(
    () => train(net, ds, ds, { ...cfg, epochs: 1 }),
    (e: Error) => e instanceof DivergedError && /epoch 1, step 1/.test(e.message) && /layer "conv1" \(conv2d\) produced NaN/.test(e.message),
  );
});

test('a training run on data holding NaN or Infinity fails before the first step, naming the dataset, example and pixel', () => {
  for (const [bad, which] of [[Number.NaN, 'train'], [Number.POSITIVE_INFINITY, 'test']] as const) {
    const ds = toyDataset(32, 1);
    const other = toyDataset(16, 2);
    (which === 'train' ? ds : other).images[3 * 64 + 2 * 8 + 5] = bad;
    const net = createNetwork(cfg, ds);
    const before = Float32Array.from(net.params.get('conv1.weight')!);
    assert.throws(
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
  assert.deepEqual([...p.get('w')!].map((v) => +v.toFixed(12)), [1 - 0.1 * 1.9 * 0.6, -2 - 0.1 * 1.9 * 0.05].map((v) => +v.toFixed(12)));
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
