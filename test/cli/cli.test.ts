import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { bnff } from '../helpers/cli.js';


test('bnff models --json reports the exact parameter counts', () => {
  const r = bnff('models', '--json');
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { name: string; params: number }[];
  const byName = new Map(rows.map((m) => [m.name, m.params]));
  assert.equal(byName.get('resnet18'), 11_689_512);
  assert.equal(byName.get('resnet34'), 21_797_672);
  assert.equal(byName.get('resnet50'), 25_557_032);
  assert.equal(byName.get('densenet121'), 7_978_856);
  assert.equal(byName.get('resnet20'), 269_722);
});

test('bnff train runs a short job on the embedded dataset and prints test accuracy', () => {
  const r = bnff('train', '--limit', '96', '--batch-size', '32', '--epochs', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^test accuracy \d+\.\d\d% after 1 epoch\(s\)/m);
  assert.match(r.stderr, /epoch 1\/1 .*test acc/);
});

test('bnff train --json prints the metrics as JSON', () => {
  const r = bnff('train', '--limit', '64', '--batch-size', '32', '--epochs', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { epochs: { testAccuracy: number }[] };
  assert.equal(out.epochs.length, 1);
  assert.ok(out.epochs[0]!.testAccuracy >= 0 && out.epochs[0]!.testAccuracy <= 1);
});

const usage: [string[], RegExp][] = [
  [['train', '--epochs', '0'], /--epochs.*"0" is not a positive integer/],
  [['train', '--batch-size', 'big'], /--batch-size.*"big" is not a positive integer/],
  [['train', '--lr', '-1'], /--lr.*"-1" is not a positive number/],
  [['train', '--schedule', 'linear'], /"linear" is not one of: cosine, step, constant/],
  [['train', '--threads', '1.5'], /--threads.*"1.5" is not a positive integer/],
  [['frobnicate'], /unknown command 'frobnicate'/],
];
for (const [args, re] of usage) {
  test(`invalid usage exits 2 with a clear message: ${args.join(' ')}`, () => {
    const r = bnff(...args);
    assert.equal(r.code, 2);
    assert.match(r.stderr, re);
  });
}

test('--out writes config, metrics and weights, and never overwrites an existing run', () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-run-')), 'run');
  const r = bnff('train', '--limit', '64', '--batch-size', '32', '--epochs', '1', '--out', dir);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['config.json', 'metrics.jsonl', 'weights.safetensors']) assert.ok(fs.existsSync(path.join(dir, f)), f);
  const lines = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]!).epoch, 1);
  const before = fs.readFileSync(path.join(dir, 'weights.safetensors'));
  const again = bnff('train', '--limit', '64', '--out', dir);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds a run/);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'weights.safetensors')), before);
});

test('--no-fuse and the default fused run train the same model to the same loss curve shape', () => {
  const a = bnff('train', '--limit', '64', '--batch-size', '32', '--epochs', '1', '--json');
  const b = bnff('train', '--limit', '64', '--batch-size', '32', '--epochs', '1', '--json', '--no-fuse');
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const la = (JSON.parse(a.stdout) as { epochs: { trainLoss: number }[] }).epochs[0]!.trainLoss;
  const lb = (JSON.parse(b.stdout) as { epochs: { trainLoss: number }[] }).epochs[0]!.trainLoss;
  assert.ok(Math.abs(la - lb) < 1e-3 * Math.abs(lb), `fused ${la} vs unfused ${lb}`);
});

test('bnff explain names every BN and the guard that stopped each fusion', () => {
  const r = bnff('explain', '--model', 'resnet20', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { bns: { layer: string; notes: { rule: string; fired: boolean; guard?: string }[] }[] };
  assert.equal(out.bns.length, 19);
  const bn1 = out.bns.find((b) => b.layer === 'bn1')!;
  assert.ok(bn1.notes.some((n) => n.rule === 'normalize-into-conv' && !n.fired && n.guard === 'consumersAreConvs'));
  const text = bnff('explain', '--model', 'densenet121');
  assert.equal(text.code, 0);
  assert.match(text.stdout, /features\.norm5\n(.|\n)*guard consumersAreConvs failed: read by global_avg_pool "avgpool"/);
});

test('--resume continues a run so that weights and loss curve match an uninterrupted run', async () => {
  const { readSafetensorsFile } = await import('../../src/io/safetensors.js');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-resume-'));
  const common = ['train', '--limit', '64', '--batch-size', '16', '--threads', '2', '--seed', '3', '--json'];
  const whole = bnff(...common, '--epochs', '2', '--out', path.join(root, 'whole'));
  const half = bnff(...common, '--epochs', '1', '--out', path.join(root, 'half'));
  const rest = bnff(...common, '--epochs', '2', '--resume', path.join(root, 'half', 'checkpoint.safetensors'), '--out', path.join(root, 'rest'));
  for (const r of [whole, half, rest]) assert.equal(r.code, 0, r.stderr);
  const losses = (r: { stdout: string }): number[] => (JSON.parse(r.stdout) as { epochs: { trainLoss: number }[] }).epochs.map((e) => e.trainLoss);
  assert.deepEqual(losses(rest), losses(whole));
  const a = readSafetensorsFile(path.join(root, 'whole', 'weights.safetensors')).tensors;
  const b = readSafetensorsFile(path.join(root, 'rest', 'weights.safetensors')).tensors;
  for (const [k, t] of a) assert.deepEqual(b.get(k)!.data, t.data, k);
});
