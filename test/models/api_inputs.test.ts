/**
 * The API's entry points check their arguments and name what is wrong, instead of reusing the
 * previous call's values (a labels array shorter than the batch) or failing later.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError } from '../../src/graph/ir.js';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { LabelError } from '../../src/ops/softmax_cross_entropy.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { DataError } from '../../src/data/errors.js';
import { evaluate, train } from '../../src/train/trainer.js';
import type { Dataset } from '../../src/data/dataset.js';

const net = new Network(getModel('resnet8', { inChannels: 1, numClasses: 4 }), new HostMemory('f32'), 0);
const shape = [2, 1, 8, 8];
const x = new Float32Array(2 * 64).map((_, i) => Math.sin(i));
const ctx = { seed: 0, step: 0 };

test('inputs (API): forwardBackward checks the labels: length, type, range', () => {
  assert.ok(Number.isFinite(net.forwardBackward(x, [1, 2], shape, ctx)));
  assert.throws(
    () => net.forwardBackward(x, [1], shape, ctx),
    (e: Error) =>
      e instanceof ShapeError && e.message === 'resnet8.forwardBackward: 1 labels for a batch of 2 (shape [2, 1, 8, 8]): one label per image expected',
  );
  assert.throws(
    () => net.forwardBackward(x, [1, 4], shape, ctx),
    (e: Error) => e instanceof LabelError && /label 4 at batch position 1 is out of range \[0, 4\)/.test(e.message),
  );
  assert.throws(() => net.forwardBackward(x, [1, 0.5], shape, ctx), LabelError);
  assert.throws(
    () => net.forwardBackward(x, 'ab' as never, shape, ctx),
    (e: Error) => e instanceof TypeError && /labels must be a typed or number array/.test(e.message),
  );
});

test('inputs (API): forwardBackward and predict check x against the shape, and the shape against the model', () => {
  assert.throws(
    () => net.forwardBackward(x.subarray(1), [1, 2], shape, ctx),
    (e: Error) => e instanceof ShapeError && /x holds 127 values but shape \[2, 1, 8, 8\] needs 128/.test(e.message),
  );
  assert.throws(() => net.predict(x.subarray(0, 64), shape), /x holds 64 values/);
  assert.throws(() => net.predict(x, [2, 3, 8, 8]), /expects input \[N, 1, H, W\]/);
  assert.throws(() => net.predict(x, [2, 1, 8.5, 8]), ShapeError);
  assert.throws(() => net.predict(['a'] as never, [1, 1, 1, 1]), TypeError);
  assert.equal(net.predict(x, shape).length, 2 * 4);
});

function dataset(edit: Partial<Dataset> = {}): Dataset {
  return {
    name: 'toy',
    images: new Float32Array(4 * 64),
    labels: Uint8Array.from([0, 1, 2, 3]),
    count: 4,
    channels: 1,
    height: 8,
    width: 8,
    numClasses: 4,
    ...edit,
  };
}

test("inputs (API): train and evaluate check a dataset's arrays against its fields and the model", async () => {
  const cfg = {
    model: 'resnet8',
    epochs: 1,
    batchSize: 2,
    lr: 0.01,
    momentum: 0.9,
    weightDecay: 0,
    nesterov: false,
    seed: 0,
    schedule: { kind: 'constant' as const },
  };
  await assert.rejects(
    train(net, dataset({ labels: Uint8Array.from([0, 1, 2]) }), dataset(), cfg),
    (e: Error) => e instanceof DataError && e.message === 'dataset "toy": 3 labels for 4 images: one label per image expected',
  );
  await assert.rejects(train(net, dataset(), dataset({ images: new Float32Array(10) }), cfg), /images hold 10 values but 4 images of 1x8x8 need 256/);
  await assert.rejects(
    train(net, dataset({ channels: 3, images: new Float32Array(4 * 3 * 64) }), dataset(), cfg),
    /has 3-channel images, but model resnet8 takes 1-channel images/,
  );
  await assert.rejects(train(net, dataset(), dataset(), { ...cfg, batchSize: 0 }), /batch size must be a positive integer, got 0/);
  assert.throws(() => evaluate(net, dataset({ labels: Uint8Array.from([0, 1, 2, 9]) })), /label 9 of image 3 is out of range \[0, 4\)/);
  assert.throws(() => evaluate(net, dataset({ labels: [0, 1, 2, 3] as never })), /labels must be a Uint8Array, got Array/);
});
