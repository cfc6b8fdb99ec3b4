import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { bnff } from '../helpers/cli.js';
import { fromRoot } from '../helpers/paths.js';

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
  assert.equal(byName.get('mobilenet_v2'), 3_504_872);
  assert.equal(byName.get('efficientnet_b0'), 5_288_548);
});

test('the lean models go through train, bench step, traffic and explain', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-lean-'));
  try {
    const t = bnff(
      'train',
      '--model',
      'mobilenet_v2_050_cifar',
      '--limit',
      '32',
      '--batch-size',
      '16',
      '--epochs',
      '1',
      '--out',
      path.join(root, 'run'),
      '--json',
    );
    assert.equal(t.code, 0, t.stderr);
    assert.ok(Number.isFinite((JSON.parse(t.stdout) as { epochs: { trainLoss: number }[] }).epochs[0]!.trainLoss));
    const s = bnff('bench', 'step', '--model', 'efficientnet_b0_cifar', '--batch-size', '2', '--steps', '1', '--warmup', '0', '--json');
    assert.equal(s.code, 0, s.stderr);
    assert.ok((JSON.parse(s.stdout) as { fused: { img_s: number } }).fused.img_s > 0);
    const tr = bnff('traffic', '--model', 'mobilenet_v2_cifar', '--batch-size', '8', '--json');
    assert.equal(tr.code, 0, tr.stderr);
    const by = (JSON.parse(tr.stdout) as { by_category: Record<string, { unfused: number }> }).by_category;
    assert.ok(by.relu!.unfused > 0, 'ReLU6 counts with the activations');
    type Out = { bns: { layer: string; notes: { rule: string; fired: boolean; guard?: string; detail: string }[] }[] };
    // the reference engine: every rule without the engines' cost guards (WebAssembly keeps depthwise fusion off)
    const e = bnff('explain', '--model', 'mobilenet_v2_cifar', '--engine', 'reference', '--json');
    assert.equal(e.code, 0, e.stderr);
    const bns = (JSON.parse(e.stdout) as Out).bns;
    assert.equal(bns.length, 52);
    // the BN after features.2's depthwise conv: its statistics go into the depthwise conv's epilogue
    const dw = bns.find((b) => b.layer === 'features.2.conv.1.1')!;
    assert.ok(dw.notes.some((n) => n.rule === 'moments-into-conv' && n.fired));
    assert.ok(dw.notes.some((n) => n.rule === 'bn-grad-into-conv-backward' && n.fired));
    // its ReLU6 folds into the normalize, which goes into the dense project conv's packing, and
    // its derivative into that conv's backward-data epilogue
    assert.ok(dw.notes.some((n) => n.rule === 'fission' && n.fired && /ReLU6 .* folded into normalize/.test(n.detail)));
    assert.ok(dw.notes.some((n) => n.rule === 'normalize-into-conv' && n.fired && /normalize\+ReLU6 .*"features\.2\.conv\.2"/.test(n.detail)));
    assert.ok(
      dw.notes.some((n) => n.rule === 'reduce-into-conv-backward' && n.fired),
      'its ReLU6 derivative and reductions in the project conv backward-data epilogue',
    );
    assert.ok(!bns.some((b) => b.notes.some((n) => n.guard === 'activationInConv')), 'every ReLU6 BN before a convolution goes into it');
    // the expand BN before the depthwise conv: normalize+ReLU6 in the depthwise conv, its derivative in the conv's backward-data
    const ex = bns.find((b) => b.layer === 'features.2.conv.0.1')!;
    assert.ok(ex.notes.some((n) => n.rule === 'normalize-into-conv' && n.fired && /normalize\+ReLU6/.test(n.detail)));
    assert.ok(ex.notes.some((n) => n.rule === 'reduce-into-conv-backward' && n.fired));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('bnff train runs a short job on the embedded dataset and ends with one line: what, how well, where', () => {
  const r = bnff('train', '--limit', '96', '--batch-size', '32', '--epochs', '1');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  assert.match(
    lines[0]!,
    /^trained resnet8 on fashion-mnist-subset-train\[96\] for 1 epoch in \d+\.\d s: test accuracy \d+\.\d\d%; run directory (\S+) holds the weights \(weights\.safetensors\), plots \(loss\.svg, accuracy\.svg\), metrics\.jsonl and checkpoint\.safetensors$/,
  );
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

test('--out writes config, metrics, weights and plots, and never overwrites an existing run', () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-run-')), 'run');
  const r = bnff('train', '--limit', '64', '--batch-size', '32', '--epochs', '1', '--out', dir);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['config.json', 'metrics.jsonl', 'weights.safetensors', 'checkpoint.safetensors', 'loss.svg', 'accuracy.svg'])
    assert.ok(fs.existsSync(path.join(dir, f)), f);
  const lines = fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => [l.kind, l.step ?? null, l.epoch]),
    [
      ['step', 1, 1],
      ['step', 2, 1],
      ['epoch', null, 1],
    ],
  );
  for (const k of ['loss', 'lr', 'images_per_s']) assert.equal(typeof lines[0]![k], 'number', k);
  for (const k of ['train_loss', 'train_accuracy', 'test_loss', 'test_accuracy', 'lr', 'seconds', 'images_per_s'])
    assert.equal(typeof lines[2]![k], 'number', k);
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

test('--recompute-concat trains a DenseNet to the same loss as the default', () => {
  const common = ['train', '--model', 'densenet40', '--limit', '16', '--batch-size', '8', '--epochs', '1', '--json', '--seed', '2'];
  const a = bnff(...common);
  const b = bnff(...common, '--recompute-concat');
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const loss = (r: { stdout: string }): number => (JSON.parse(r.stdout) as { epochs: { trainLoss: number }[] }).epochs[0]!.trainLoss;
  assert.equal(loss(b), loss(a), 'the recomputed concatenations hold the same values');
});

test('bnff explain names every BN and the guard that stopped each fusion', () => {
  type Out = { bns: { layer: string; notes: { rule: string; fired: boolean; guard?: string }[] }[] };
  // the rules' own guards (the WebAssembly engine fuses every BN the rules allow)
  const r = bnff('explain', '--model', 'resnet20', '--engine', 'wasm', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Out;
  assert.equal(out.bns.length, 19);
  const bn1 = out.bns.find((b) => b.layer === 'bn1')!;
  assert.ok(bn1.notes.some((n) => n.rule === 'normalize-into-conv' && !n.fired && n.guard === 'consumersAreConvs'));
  // the native engine's cost guard keeps resnet20's thin BNs whole at batch 64, and names itself
  const nat = bnff('explain', '--model', 'resnet20', '--engine', 'native', '--json');
  if (nat.code === 0) {
    const bns = (JSON.parse(nat.stdout) as Out).bns;
    assert.equal(bns.filter((b) => b.notes.some((n) => n.rule === 'fission' && !n.fired && n.guard === 'cacheResident')).length, 19);
    assert.equal(bns.filter((b) => b.notes.some((n) => n.fired)).length, 0);
  } else assert.match(nat.stderr, /engine native is unavailable/);
  const text = bnff('explain', '--model', 'densenet121', '--engine', 'wasm');
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
  // without --out, a resumed run continues in the checkpoint's run directory
  const inPlace = bnff(...common, '--epochs', '2', '--resume', path.join(root, 'half', 'checkpoint.safetensors'));
  assert.equal(inPlace.code, 0, inPlace.stderr);
  const c = readSafetensorsFile(path.join(root, 'half', 'weights.safetensors')).tensors;
  for (const [k, t] of a) assert.deepEqual(c.get(k)!.data, t.data, k);
  const kinds = (dir: string): string[] =>
    fs
      .readFileSync(path.join(root, dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { kind: string }).kind);
  assert.deepEqual(kinds('half'), kinds('whole'));
  assert.deepEqual(kinds('rest'), kinds('whole'), 'a resumed run in a new directory starts from the metrics of the one it resumes');
  // a checkpoint of another model is refused with both names
  const wrong = bnff('train', '--model', 'resnet20', '--limit', '64', '--epochs', '2', '--resume', path.join(root, 'half', 'checkpoint.safetensors'));
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /checkpoint of resnet8, not resnet20; resume it with --model resnet8/);
});

/** Runs `bnff train ...`, sends SIGINT once metrics.jsonl holds a step line, resolves to how it ended. */
function interruptTrain(dir: string, args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fromRoot('bin/bnff.js'), 'train', ...args, '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const metrics = path.join(dir, 'metrics.jsonl');
    const poll = setInterval(() => {
      if (fs.existsSync(metrics) && fs.readFileSync(metrics, 'utf8').includes('"kind":"step"')) {
        clearInterval(poll);
        child.kill('SIGINT');
      }
    }, 10);
    const limit = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(limit);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test('Ctrl-C (SIGINT) stops after the step, checkpoints mid-epoch, exits 130, and the printed command resumes to the same weights', async () => {
  const { readSafetensorsFile } = await import('../../src/io/safetensors.js');
  const { loadCheckpoint } = await import('../../src/train/checkpoint.js');
  const { createNetwork } = await import('../../src/train/trainer.js');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-sigint-'));
  // 32 steps per epoch: the signal lands while the first epoch is still running
  const args = ['--limit', '512', '--batch-size', '16', '--epochs', '2', '--threads', '2', '--seed', '5', '--schedule', 'constant'];
  const dir = path.join(root, 'run');
  const r = await interruptTrain(dir, args);
  assert.equal(r.code, 130, `exit ${r.code} (signal ${r.signal}): ${r.stderr}`);
  // (epoch 1 unless this machine is so loaded that the first epoch ended before the signal came)
  const m = /interrupted in epoch ([12]) after step (\d+)\/32 \(global step (\d+)\); wrote (\S+checkpoint\.safetensors)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.equal(m[4], path.join(dir, 'checkpoint.safetensors'));
  const net = createNetwork({ model: 'resnet8', seed: 0 }, { channels: 1, numClasses: 10 });
  const { meta } = loadCheckpoint(m[4], net);
  assert.deepEqual([meta.epoch, meta.globalStep, meta.partial?.step], [Number(m[1]) - 1, Number(m[3]), Number(m[2])]);
  assert.ok(meta.partial!.seen === 16 * meta.partial!.step && (meta.partial!.step === 0 || meta.partial!.lossSum > 0), JSON.stringify(meta.partial));
  assert.ok(fs.existsSync(path.join(dir, 'loss.svg')));
  const resume = /resume with: bnff (.+)/.exec(r.stderr)?.[1];
  assert.ok(resume, r.stderr);
  const again = bnff(...resume.match(/'[^']*'|\S+/g)!.map((a) => a.replace(/^'(.*)'$/, '$1')));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /resuming from \S+ at step \d+ of epoch [12]/);
  const whole = bnff('train', ...args, '--out', path.join(root, 'whole'));
  assert.equal(whole.code, 0, whole.stderr);
  const a = readSafetensorsFile(path.join(root, 'whole', 'weights.safetensors')).tensors;
  const b = readSafetensorsFile(path.join(dir, 'weights.safetensors')).tensors;
  for (const [k, t] of a) assert.deepEqual(b.get(k)!.data, t.data, k);
  // the resumed run's metrics.jsonl reads as the uninterrupted run's, timings aside
  const curve = (d: string): unknown[] =>
    fs
      .readFileSync(path.join(d, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const { images_per_s: _i, seconds: _s, ...rest } = JSON.parse(l) as Record<string, unknown>;
        return rest;
      });
  assert.deepEqual(curve(dir), curve(path.join(root, 'whole')));
});

test("bnff plot redraws a run's loss.svg and accuracy.svg, and --bench draws the op-type breakdown", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-plot-'));
  const dir = path.join(root, 'run');
  assert.equal(bnff('train', '--limit', '64', '--batch-size', '32', '--epochs', '2', '--out', dir).code, 0);
  for (const f of ['loss.svg', 'accuracy.svg']) fs.rmSync(path.join(dir, f));
  const r = bnff('plot', dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrote \S+loss\.svg\nwrote \S+accuracy\.svg/);
  const loss = fs.readFileSync(path.join(dir, 'loss.svg'), 'utf8');
  for (const s of ['>epoch<', '>cross-entropy loss<', '>train, per step<', '>test<', 'resnet8 on fashion-mnist-subset-train[64]'])
    assert.ok(loss.includes(s), s);
  assert.match(fs.readFileSync(path.join(dir, 'accuracy.svg'), 'utf8'), />accuracy \(%\)</);
  const out = path.join(root, 'b.svg');
  const b = bnff('plot', '--bench', fromRoot('bench/results/resnet20-b64-s32.json'), fromRoot('bench/results/resnet50-b16-s224.json'), '--out', out);
  assert.equal(b.code, 0, b.stderr);
  const svg = fs.readFileSync(out, 'utf8');
  for (const s of ['>resnet20<', '>resnet50<', '>unfused<', '>fused<', '>conv<']) assert.ok(svg.includes(s), s);
  // usage and input errors
  assert.equal(bnff('plot').code, 2);
  assert.equal(bnff('plot', dir, '--bench', out).code, 2);
  const missing = bnff('plot', path.join(root, 'nothing'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read \S+nothing\/metrics\.jsonl: no such file/);
  const bad = bnff('plot', '--bench', path.join(dir, 'config.json'));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /is not the JSON of `bnff bench step --json`/);
});

test('every command and subcommand has --help with examples', async () => {
  const { buildProgram } = await import('../../src/cli/main.js');
  const paths: string[][] = [[]];
  const walk = (cmd: { name(): string; commands: readonly unknown[] }, prefix: string[]): void => {
    for (const c of cmd.commands as { name(): string; commands: readonly unknown[] }[]) {
      paths.push([...prefix, c.name()]);
      walk(c, [...prefix, c.name()]);
    }
  };
  walk(
    buildProgram(() => {}),
    [],
  );
  assert.ok(paths.length >= 9, paths.join(' '));
  for (const p of paths) {
    const r = bnff(...p, '--help');
    assert.equal(r.code, 0, `${p.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /\nExamples:\n {2}bnff /, `bnff ${p.join(' ')} --help has no examples`);
  }
  const v = bnff('--version');
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), (JSON.parse(fs.readFileSync(fromRoot('package.json'), 'utf8')) as { version: string }).version);
});
