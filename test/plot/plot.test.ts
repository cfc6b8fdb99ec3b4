import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricsRecord } from '../../src/cli/metrics.js';
import { readBenchResult } from '../../src/cli/plot.js';
import { accuracyChart, breakdownChart, compareChart, downsample, lossChart, MAX_STEP_POINTS } from '../../src/plot/charts.js';
import { renderSvg } from '../../src/plot/render.js';
import { fromRoot } from '../helpers/paths.js';

function run(epochs: number, stepsPerEpoch: number): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (let e = 1; e <= epochs; e++) {
    for (let s = 1; s <= stepsPerEpoch; s++) {
      out.push({
        kind: 'step',
        step: (e - 1) * stepsPerEpoch + s,
        epoch: e,
        step_in_epoch: s,
        steps_per_epoch: stepsPerEpoch,
        loss: 2 / (e + s / stepsPerEpoch),
        lr: 0.1,
        images_per_s: 100,
      });
    }
    out.push({
      kind: 'epoch',
      epoch: e,
      train_loss: 2 / e,
      train_accuracy: 0.5 + e / 20,
      test_loss: 2.1 / e,
      test_accuracy: 0.45 + e / 20,
      lr: 0.1,
      seconds: 1,
      images_per_s: 100,
    });
  }
  return out;
}

/** The lines of text of an SVG: each <text> element, or each <tspan> line of a multi-line one. */
const texts = (svg: string): string[] => [...svg.matchAll(/<(?:text|tspan)[^>]*>([^<]+)<\/(?:text|tspan)>/g)].map((m) => m[1]!);

test('downsample keeps short curves and averages long ones to at most max points', () => {
  const pts = Array.from({ length: 10 }, (_, i) => ({ x: i, y: i }));
  assert.equal(downsample(pts, 20), pts);
  assert.deepEqual(downsample(pts, 5), [
    { x: 1, y: 0.5 },
    { x: 3, y: 2.5 },
    { x: 5, y: 4.5 },
    { x: 7, y: 6.5 },
    { x: 9, y: 8.5 },
  ]);
});

test('the loss chart draws per-step and per-epoch curves against epochs, with labelled axes and a legend', async () => {
  const spec = lossChart(run(3, 1000), 'a run');
  const values = (spec as { layer: { data: { values: { epoch: number }[] } }[] }).layer.map((l) => l.data.values);
  assert.ok(values[0]!.length <= MAX_STEP_POINTS, `${values[0]!.length} step points`);
  assert.equal(values[0]!.at(-1)!.epoch, 3);
  assert.equal(values[1]!.length, 6);
  const svg = await renderSvg(spec);
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const t = texts(svg);
  for (const label of ['Loss', 'a run', 'epoch', 'cross-entropy loss', 'train, per step', 'train, epoch mean', 'test', '0', '1', '2', '3'])
    assert.ok(t.includes(label), `no text "${label}" in ${t.join('|')}`);
});

test('the accuracy chart shows train and test accuracy in percent', async () => {
  const t = texts(await renderSvg(accuracyChart(run(4, 2), 'a run')));
  for (const label of ['Accuracy', 'epoch', 'accuracy (%)', 'train', 'test', '1', '4']) assert.ok(t.includes(label), `no text "${label}" in ${t.join('|')}`);
});

test('the breakdown chart has an unfused and a fused bar per bench result, by op type', async () => {
  const results = ['resnet20-b64-s32', 'densenet121-b16-s224'].map((n) => readBenchResult(fromRoot('bench/results', `${n}.json`)));
  const t = texts(await renderSvg(breakdownChart(results)));
  const speedup = `speedup ${results[1]!.speedup!.toFixed(3)}x`; // of the committed result
  for (const label of [
    'resnet20',
    'densenet121',
    'batch 16, 224px',
    speedup,
    'unfused',
    'fused',
    'conv',
    'bn',
    'relu',
    'op type',
    'time per step (% of unfused)',
    '100.0',
  ]) {
    assert.ok(t.includes(label), `no text "${label}" in ${t.join('|')}`);
  }
  const unfusedOnly = breakdownChart([{ ...results[0]!, fused: undefined, speedup: undefined }]);
  const rows = (unfusedOnly as { data: { values: { variant: string }[] } }).data.values;
  assert.deepEqual([...new Set(rows.map((r) => r.variant))], ['unfused']);
});

test('the compare charts put several runs on shared axes: test accuracy, and train (dashed) and test loss per epoch', async () => {
  const runs = [
    { label: 'fused', records: run(3, 2) },
    { label: 'unfused', records: run(2, 2) },
  ];
  const acc = compareChart(runs, 'accuracy');
  const rows = (acc as { data: { values: { run: string; epoch: number; value: number }[] } }).data.values;
  assert.deepEqual(
    rows.map((r) => [r.run, r.epoch, +r.value.toFixed(6)]),
    [
      ['fused', 1, 50],
      ['fused', 2, 55],
      ['fused', 3, 60],
      ['unfused', 1, 50],
      ['unfused', 2, 55],
    ],
  );
  const t = texts(await renderSvg(acc));
  for (const label of ['Test accuracy per epoch', 'fused vs unfused', 'epoch', 'test accuracy (%)', 'fused', 'unfused'])
    assert.ok(t.includes(label), `no text "${label}" in ${t.join('|')}`);
  const loss = compareChart(runs, 'loss');
  assert.equal((loss as { data: { values: unknown[] } }).data.values.length, 10, 'train and test loss per epoch of each run');
  assert.ok(texts(await renderSvg(loss)).includes('Loss per epoch'));
});
