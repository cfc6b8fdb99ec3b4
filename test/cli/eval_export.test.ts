import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { loadDataset, normalize, padTo, take } from '../../src/data/index.js';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { inspectSavedModel, saveCheckpoint } from '../../src/train/checkpoint.js';
import { SGD } from '../../src/train/sgd.js';
import { argmaxCorrect } from '../../src/train/trainer.js';
import { fromRoot } from '../helpers/paths.js';

function bnff(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [fromRoot('bin/bnff.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-eval-'));
const run = path.join(root, 'run');
const checkpoint = path.join(run, 'checkpoint.safetensors');
const LIMIT = 100;

function failsWith(r: { code: number; stderr: string }, re: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, re);
  assert.doesNotMatch(r.stderr, / {4}at /, 'no stack trace');
}

test('bnff eval reproduces the test accuracy and loss that training reported for the checkpoint', () => {
  const t = bnff('train', '--limit', String(LIMIT), '--batch-size', '50', '--epochs', '1', '--threads', '1', '--out', run, '--json');
  assert.equal(t.code, 0, t.stderr);
  const last = (JSON.parse(t.stdout) as { epochs: { testAccuracy: number; testLoss: number }[] }).epochs[0]!;
  const r = bnff('eval', '--checkpoint', checkpoint, '--limit', String(LIMIT), '--threads', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout) as { model: string; epoch: number; images: number; accuracy: number; loss: number };
  assert.equal(e.model, 'resnet8');
  assert.equal(e.epoch, 1);
  assert.equal(e.images, LIMIT);
  assert.equal(e.accuracy, last.testAccuracy);
  assert.ok(Math.abs(e.loss - last.testLoss) < 1e-6 * last.testLoss, `eval loss ${e.loss} vs training's ${last.testLoss}`);
  const text = bnff('eval', '--checkpoint', checkpoint, '--batch-size', '64', '--threads', '1');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^resnet8 after 1 epoch\(s\) on fashion-mnist-subset-test \(500 images\): test accuracy \d+\.\d\d%, loss \d+\.\d{4}$/m);
});

test('bnff export writes an ONNX model that onnxruntime runs to the accuracy bnff eval reports', async () => {
  const out = path.join(root, 'model.onnx');
  const r = bnff('export', '--checkpoint', checkpoint, '--format', 'onnx', '--out', out, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).input, [1, 32, 32]);
  assert.deepEqual(fs.readdirSync(root).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  const session = await ort.InferenceSession.create(out);
  assert.deepEqual([session.inputNames, session.outputNames], [['input'], ['logits']]);
  const meta = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')) as { mean: number[]; std: number[]; seed: number };
  const te = normalize(padTo(take(loadDataset('embedded', { split: 'test' }), LIMIT, meta.seed), 32), meta.mean, meta.std);
  // normalize() returns shared memory (for the prefetch worker); onnxruntime's binding wants a plain buffer
  const { logits } = await session.run({ input: new ort.Tensor('float32', Float32Array.from(te.images), [te.count, 1, 32, 32]) });
  const accuracy = argmaxCorrect(logits!.data as Float32Array, te.labels, te.count, 10) / te.count;
  const e = JSON.parse(bnff('eval', '--checkpoint', checkpoint, '--limit', String(LIMIT), '--threads', '1', '--json').stdout) as { accuracy: number };
  assert.equal(accuracy, e.accuracy);
});

test('eval and export refuse a missing or truncated checkpoint, another model, and a mismatched dataset', () => {
  failsWith(bnff('eval', '--checkpoint', path.join(root, 'nope.safetensors')), /nope\.safetensors: cannot read/);
  const cut = path.join(root, 'cut.safetensors');
  fs.writeFileSync(cut, fs.readFileSync(checkpoint).subarray(0, 5000));
  failsWith(bnff('eval', '--checkpoint', cut), /cut\.safetensors: .*truncated file/);
  failsWith(bnff('export', '--checkpoint', cut, '--out', path.join(root, 'cut.onnx')), /cut\.safetensors: .*truncated file/);
  failsWith(bnff('eval', '--checkpoint', checkpoint, '--model', 'resnet20'), /is a checkpoint of resnet8, not resnet20/);
  failsWith(bnff('export', '--checkpoint', checkpoint, '--model', 'densenet40', '--out', path.join(root, 'x.onnx')), /is a checkpoint of resnet8, not densenet40/);

  // 3-channel CIFAR-10 images for a model trained on 1-channel Fashion-MNIST
  const cifar = path.join(root, 'cifar');
  fs.mkdirSync(cifar);
  fs.writeFileSync(path.join(cifar, 'test_batch.bin'), new Uint8Array(4 * 3073));
  failsWith(bnff('eval', '--checkpoint', checkpoint, '--data', `cifar10:${cifar}`), /dataset cifar10-test has 3-channel images, but checkpoint .* \(resnet8\) takes 1-channel images/);

  // a 5-class model against the 10 classes of Fashion-MNIST
  const net = new Network(getModel('resnet8', { numClasses: 5, inChannels: 1 }), new HostMemory('f32'), 1);
  const five = path.join(root, 'five.safetensors');
  saveCheckpoint(five, net, new SGD(net.params, { lr: 0.1 }), { model: 'resnet8', epoch: 1, globalStep: 1, seed: 0, dataset: 'x', config: { data: 'embedded', mean: [0.3], std: [0.3] }, metrics: [] });
  failsWith(bnff('eval', '--checkpoint', five, '--limit', '10'), /dataset fashion-mnist-subset-test\[10\] has 10 classes, but checkpoint .* \(resnet8\) has 5 outputs/);
});

test("a checkpoint without mean/std in its metadata (written before they were recorded) takes them from the run's config.json", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-oldckpt-'));
  try {
    const net = new Network(getModel('resnet8', { numClasses: 10, inChannels: 1 }), new HostMemory('f32'), 1);
    const file = path.join(dir, 'checkpoint.safetensors');
    saveCheckpoint(file, net, new SGD(net.params, { lr: 0.1 }), { model: 'resnet8', epoch: 1, globalStep: 1, seed: 0, dataset: 'x', config: { data: 'embedded', seed: 3 }, metrics: [] });
    assert.equal(inspectSavedModel(file).config.mean, undefined, 'no config.json yet');
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ data: 'mnist', seed: 9, mean: [0.25], std: [0.5] }));
    const c = inspectSavedModel(file).config;
    assert.deepEqual([c.mean, c.std, c.data, c.seed], [[0.25], [0.5], 'embedded', 3], "the checkpoint's own fields win; only the missing ones come from config.json");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
