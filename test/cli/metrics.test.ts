import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsError, metricsUpTo, parseMetrics, StepLog, type StepRecord } from '../../src/cli/metrics.js';
import type { StepEvent } from '../../src/train/trainer.js';

const ev = (step: number, loss: number, size = 10): StepEvent => ({
  epoch: 2,
  step,
  size,
  stepSeconds: 0.5,
  stepsPerEpoch: 5,
  globalStep: 5 + step,
  loss,
  lr: 0.1,
  imagesPerSec: 20,
  etaSec: 1,
});

test('StepLog writes every k steps the image-weighted mean loss, and the last steps of an epoch', () => {
  const log = new StepLog(2);
  const out = [ev(1, 1), ev(2, 3), ev(3, 2), ev(4, 2), ev(5, 4, 5)].map((e) => log.add(e));
  assert.deepEqual(
    out.map((r) => r?.step ?? null),
    [null, 7, null, 9, 10],
  );
  assert.deepEqual(out[1], { kind: 'step', step: 7, epoch: 2, step_in_epoch: 2, steps_per_epoch: 5, loss: 2, lr: 0.1, images_per_s: 20 });
  assert.equal(out[4]!.loss, 4);
  assert.equal(out[4]!.images_per_s, 10);
  assert.throws(() => new StepLog(0), RangeError);
});

test('metrics.jsonl reads step and epoch lines, and the older camelCase epoch lines', () => {
  const text = [
    JSON.stringify({ epoch: 1, trainLoss: 2, trainAccuracy: 0.3, testAccuracy: 0.4, testLoss: 1.9, lr: 0.05, seconds: 3, imagesPerSec: 100 }),
    '',
    JSON.stringify({ kind: 'step', step: 4, epoch: 2, step_in_epoch: 1, steps_per_epoch: 3, loss: 1.5, lr: 0.05, images_per_s: 90 }),
    JSON.stringify({
      kind: 'epoch',
      epoch: 2,
      train_loss: 1.4,
      train_accuracy: 0.5,
      test_loss: 1.6,
      test_accuracy: 0.45,
      lr: 0.05,
      seconds: 3,
      images_per_s: 95,
    }),
    JSON.stringify({ kind: 'note', text: 'lines of other kinds are skipped' }),
  ].join('\n');
  const r = parseMetrics(text, 'm.jsonl');
  assert.deepEqual(
    r.map((x) => x.kind),
    ['epoch', 'step', 'epoch'],
  );
  assert.deepEqual(r[0], {
    kind: 'epoch',
    epoch: 1,
    train_loss: 2,
    train_accuracy: 0.3,
    test_loss: 1.9,
    test_accuracy: 0.4,
    lr: 0.05,
    seconds: 3,
    images_per_s: 100,
  });
  assert.equal((r[1] as StepRecord).step_in_epoch, 1);
  assert.throws(
    () => parseMetrics('{"kind":"step"}\n{oops', 'm.jsonl'),
    (e: Error) => e instanceof MetricsError && /m\.jsonl:1: step line lacks/.test(e.message),
  );
  assert.throws(
    () => parseMetrics('{"kind":"epoch","epoch":1,"train_loss":1}\n{oops\n{"kind":"epoch","epoch":2,"train_loss":1}', 'm.jsonl'),
    /m\.jsonl:2: not a JSON line/,
  );
  // a torn last line (a run killed mid-write) is skipped, and said
  const warnings: string[] = [];
  const torn = parseMetrics('{"kind":"epoch","epoch":1,"train_loss":1}\n{"kind":"step","st', 'm.jsonl', (w) => warnings.push(w));
  assert.deepEqual(
    torn.map((x) => x.kind),
    ['epoch'],
  );
  assert.deepEqual(warnings, [
    'm.jsonl:2: skipped a torn last line (18 bytes, not complete JSON: a run that stopped mid-write); read the 1 record(s) before it',
  ]);
});

test('metricsUpTo keeps what a checkpoint had seen', () => {
  const text = [1, 2, 3, 4].map((s) =>
    JSON.stringify({ kind: 'step', step: s, epoch: s <= 2 ? 1 : 2, step_in_epoch: ((s - 1) % 2) + 1, steps_per_epoch: 2, loss: 1, lr: 1, images_per_s: 1 }),
  );
  text.splice(
    2,
    0,
    JSON.stringify({ kind: 'epoch', epoch: 1, train_loss: 1, train_accuracy: 0, test_loss: 1, test_accuracy: 0, lr: 1, seconds: 1, images_per_s: 1 }),
  );
  const r = parseMetrics(text.join('\n'), 'm');
  assert.deepEqual(
    metricsUpTo(r, 1, 3).map((x) => (x.kind === 'step' ? `s${x.step}` : `e${x.epoch}`)),
    ['s1', 's2', 'e1', 's3'],
  );
  assert.deepEqual(
    metricsUpTo(r, 0, 1).map((x) => x.kind),
    ['step'],
  );
});
