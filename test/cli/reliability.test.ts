/**
 * Writes that must not destroy what is there, inputs that must not be accepted silently, and
 * tools that must work where they are needed most (docs/bad-input.md, the rows naming this
 * file). Each case checks the exit code, the one-line message, that there is no stack trace,
 * and that every pre-existing file (regular files, a FIFO, a socket, a device node where the
 * test may make one, symlinks, an existing run) is byte-identical or still the same kind of
 * file afterwards.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { bnff, bnffIn, type CliResult } from '../helpers/cli.js';
import { fromRoot } from '../helpers/paths.js';
import { snapshot, type Snapshot, type Specials, specials } from '../helpers/disk.js';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { SGD } from '../../src/train/sgd.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-rel-'));
const RUN = path.join(root, 'run');
const CKPT = path.join(RUN, 'checkpoint.safetensors');
const BENCH = path.join(root, 'bench.json');
let sp: Specials;
let before_: Snapshot;

before(async () => {
  const r = bnff('train', '--threads', '1', '--epochs', '1', '--batch-size', '16', '--limit', '32', '--out', RUN);
  assert.equal(r.code, 0, r.stderr);
  fs.copyFileSync(fromRoot('bench/results/resnet20-b64-s32.json'), BENCH);
  sp = await specials(path.join(root, 'specials'));
  before_ = snapshot(root);
});
after(async () => {
  await sp.close();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Exit code, one line on stderr matching `message`, no stack trace, and nothing on disk changed. */
function refused(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.ok(
    r.stderr.split('\n').some((l) => message.test(l)),
    `${message} not in:\n${r.stderr}`,
  );
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.deepEqual(snapshot(root), before_, 'every pre-existing file is as it was');
}

const exportTo = (out: string, ...more: string[]): CliResult => bnff('export', '--checkpoint', CKPT, '--out', out, ...more);

test('writes: export refuses to replace a FIFO, naming the path and what it is', () => {
  refused(exportTo(sp.fifo, '--force'), 1, /^bnff: error: refusing to replace \S+\/pipe: it is a FIFO \(named pipe\), not a regular file$/);
});

test('writes: export refuses to replace a device node or socket', () => {
  refused(exportTo(sp.device, '--force'), 1, /^bnff: error: refusing to replace \S+\/(full|sock2): it is a (character device|socket), not a regular file$/);
  refused(exportTo(sp.socket, '--force'), 1, /^bnff: error: refusing to replace \S+\/sock: it is a socket, not a regular file$/);
});

test('writes: export refuses to replace a symlink, naming its target', () => {
  refused(
    exportTo(sp.link, '--force'),
    1,
    /^bnff: error: refusing to replace \S+\/link: it is a symbolic link to \S+\/elsewhere\/target\.bin, not a regular file$/,
  );
});

test("writes: export refuses to overwrite its own checkpoint and the run's config.json, even with --force", () => {
  refused(
    exportTo(CKPT, '--force'),
    1,
    /^bnff: error: refusing to write \S+\/run\/checkpoint\.safetensors: it is an input of this command; choose another output path$/,
  );
  refused(
    exportTo(path.join(RUN, 'config.json'), '--force'),
    1,
    /^bnff: error: refusing to write \S+\/run\/config\.json: it is an input of this command; choose another output path$/,
  );
});

test('writes: export refuses to overwrite an existing regular file without --force, and replaces it with --force', () => {
  refused(exportTo(sp.file), 1, /^bnff: error: refusing to overwrite \S+\/precious\.txt: the file exists \(--force replaces it\)$/);
  const out = path.join(root, 'forced.onnx');
  fs.writeFileSync(out, 'old');
  const r = exportTo(out, '--force');
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual(fs.readFileSync(out, 'utf8'), 'old');
  fs.rmSync(out);
});

test('writes: train --out refuses a regular file, a symlink to a directory, a FIFO and a directory holding files it did not make', () => {
  const fast = ['train', '--threads', '1', '--epochs', '1', '--batch-size', '16', '--limit', '16', '--out'];
  refused(
    bnff(...fast, sp.file),
    1,
    /^bnff: error: refusing to use \S+\/precious\.txt as a run directory: it is a regular file; choose another --out directory$/,
  );
  refused(
    bnff(...fast, sp.dirLink),
    1,
    /^bnff: error: refusing to use \S+\/dirlink as a run directory: it is a symbolic link to \S+\/elsewhere; choose another --out directory$/,
  );
  refused(
    bnff(...fast, sp.fifo),
    1,
    /^bnff: error: refusing to use \S+\/pipe as a run directory: it is a FIFO \(named pipe\); choose another --out directory$/,
  );
  // a directory holding a checkpoint (and no config.json): not this run's to replace
  const foreign = path.join(root, 'foreign');
  fs.mkdirSync(foreign);
  fs.copyFileSync(CKPT, path.join(foreign, 'checkpoint.safetensors'));
  before_ = snapshot(root);
  refused(
    bnff(...fast, foreign),
    1,
    /^bnff: error: \S+\/foreign already holds checkpoint\.safetensors \(a regular file this run did not make\); choose another --out directory$/,
  );
});

test('writes: plot refuses to write over its own input and over a FIFO; redraws an .svg; needs --force for any other file', () => {
  refused(
    bnff('plot', '--bench', BENCH, '--out', BENCH, '--force'),
    1,
    /^bnff: error: refusing to write \S+\/bench\.json: it is an input of this command; choose another output path$/,
  );
  refused(
    bnff('plot', '--bench', BENCH, '--out', sp.fifo, '--force'),
    1,
    /^bnff: error: refusing to replace \S+\/pipe: it is a FIFO \(named pipe\), not a regular file$/,
  );
  refused(
    bnff('plot', '--bench', BENCH, '--out', sp.file),
    1,
    /^bnff: error: refusing to overwrite \S+\/precious\.txt: the file exists \(--force replaces it\)$/,
  );
  refused(bnff('plot', RUN, '--out', sp.file), 1, /^bnff: error: refusing to use \S+\/precious\.txt as a directory: it is a regular file$/);
  const svg = path.join(root, 'old.svg');
  fs.writeFileSync(svg, '<svg/>');
  const r = bnff('plot', '--bench', BENCH, '--out', svg);
  assert.equal(r.code, 0, r.stderr);
  assert.match(fs.readFileSync(svg, 'utf8'), />resnet20</);
  fs.rmSync(svg);
});

test('writes: bnff train with no options leaves a run directory (printed at start and end) that eval, export and plot accept', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-noout-'));
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));
  // --limit and --epochs keep it short; no --out
  const t = bnffIn(cwd, 'train', '--limit', '32', '--epochs', '1', '--threads', '1');
  assert.equal(t.code, 0, t.stderr);
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const dir = path.join('runs', `resnet8-${day}-1`);
  assert.equal(t.stderr.split('\n').filter((l) => l.startsWith(`  run directory: ${dir}`)).length, 1, t.stderr);
  assert.ok(t.stdout.includes(`run directory ${dir} holds the weights`), t.stdout);
  assert.deepEqual(fs.readdirSync(path.join(cwd, dir)).sort(), [
    'accuracy.svg',
    'checkpoint.safetensors',
    'config.json',
    'loss.svg',
    'metrics.jsonl',
    'weights.safetensors',
  ]);
  // the parameter count says why it differs from `bnff models`
  assert.match(t.stderr, /resnet8 \(75,002 parameters: 1 input channel where `bnff models` counts 3 \(75,290 there\)\)/);
  const ckpt = path.join(dir, 'checkpoint.safetensors');
  const e = bnffIn(cwd, 'eval', '--checkpoint', ckpt, '--threads', '1', '--limit', '32');
  assert.equal(e.code, 0, e.stderr);
  const x = bnffIn(cwd, 'export', '--checkpoint', ckpt, '--out', 'model.onnx');
  assert.equal(x.code, 0, x.stderr);
  const p = bnffIn(cwd, 'plot', dir);
  assert.equal(p.code, 0, p.stderr);
  // a second run gets the next directory
  const again = bnffIn(cwd, 'train', '--limit', '16', '--epochs', '1', '--threads', '1', '--json');
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { run_dir: string }).run_dir, path.join('runs', `resnet8-${day}-2`));
});

/** A checkpoint of resnet8 (1 channel) with `meta` overriding its metadata. */
function checkpointWith(name: string, meta: Record<string, unknown>): string {
  const net = new Network(getModel('resnet8', { inChannels: 1 }), new HostMemory('f32'), 0);
  const file = path.join(root, name);
  saveCheckpoint(file, net, new SGD(net.params, { lr: 0.1 }), {
    model: 'resnet8',
    epoch: 1,
    globalStep: 2,
    seed: 0,
    dataset: 'x',
    config: { data: 'embedded', mean: [0.3], std: [0.3] },
    metrics: [],
    ...meta,
  } as never);
  return file;
}

test('inputs: checkpoint metadata is validated on read, naming the file and the field', () => {
  const huge = checkpointWith('huge-epoch.safetensors', { epoch: 1e308, globalStep: 1e308 });
  const wrongMean = checkpointWith('wrong-mean.safetensors', { config: { data: 'embedded', mean: [0.1, 0.2, 0.3], std: [0.3, 0.3, 0.3] } });
  const badStd = checkpointWith('bad-std.safetensors', { config: { data: 'embedded', mean: [0.1], std: [0] } });
  before_ = snapshot(root);
  refused(
    bnff('eval', '--checkpoint', huge, '--threads', '1'),
    1,
    /^bnff: error: \S+\/huge-epoch\.safetensors: corrupt checkpoint metadata: epoch is 1e\+308, expected an integer in \[0, 1099511627776\]$/,
  );
  refused(
    bnff('eval', '--checkpoint', wrongMean, '--threads', '1'),
    1,
    /^bnff: error: \S+\/wrong-mean\.safetensors: mean has 3 value\(s\) but resnet8 here takes 1-channel images: one per channel expected$/,
  );
  refused(
    bnff('export', '--checkpoint', badStd, '--out', path.join(root, 'never.onnx')),
    1,
    /^bnff: error: \S+\/bad-std\.safetensors: corrupt checkpoint metadata: config\.std is \[0\], expected an array of numbers > 0$/,
  );
  refused(
    bnff('train', '--threads', '1', '--epochs', '2', '--limit', '16', '--resume', huge, '--out', path.join(root, 'never')),
    1,
    /huge-epoch\.safetensors: corrupt checkpoint metadata: epoch is 1e\+308/,
  );
});

test('inputs: sizes are checked against the model and memory before anything is allocated', () => {
  refused(
    bnff('train', '--augment', 'crop:100000', '--limit', '16', '--threads', '1', '--out', path.join(root, 'never')),
    2,
    /^bnff: error: --augment crop:100000: crop padding 100000 is not smaller than the 32x32 images resnet8 trains on \(at most 31\)$/,
  );
  refused(
    exportTo(path.join(root, 'never.onnx'), '--image-size', '100000'),
    1,
    /^bnff: error: resnet8 at batch 1 and --image-size 100000: the activations alone need \d+ GiB, more than the 4 GiB wasm32 heap holds; the largest size that fits is about \d+$/,
  );
  refused(
    bnff('bench', 'step', '--model', 'resnet8', '--image-size', '100000', '--threads', '1'),
    1,
    /^bnff: error: resnet8 at batch 64 and --image-size 100000: the activations alone need \d+ GiB, more than (the 4 GiB wasm32 heap holds|this machine's [\d.]+ GiB of memory \(the native arena\)); the largest size that fits is about \d+$/,
  );
  refused(
    bnff('traffic', '--model', 'resnet8', '--image-size', '1'),
    2,
    /^bnff: error: --image-size 1 is too small for resnet8 when training at batch 1 \(where traffic starts its search for the largest batch that fits\): layer "bn1" \(batch_norm2d\): .*; the smallest size it takes is 5$/,
  );
});

test('inputs: every usage error exits 2 (--threads 1000, an unknown augmentation, an unknown dataset spec or model)', () => {
  refused(bnff('train', '--data', 'bogus', '--out', path.join(root, 'never')), 2, /^bnff: error: unknown dataset spec "bogus"; accepted forms: embedded/);
  refused(bnff('eval', '--checkpoint', CKPT, '--data', 'cifar10'), 2, /^bnff: error: "cifar10" needs a directory in dataset spec "cifar10"; accepted forms: /);
  refused(bnff('bench', 'step', '--model', 'vgg16'), 2, /^bnff: error: unknown model "vgg16"; available: resnet8, /);
  refused(
    bnff('train', '--threads', '1000', '--out', path.join(root, 'never')),
    2,
    /^bnff: error: option '-t, --threads <n>' argument '1000' is invalid\. "1000" is more than the 64 threads the thread pool takes\.$/,
  );
  refused(
    bnff('train', '--augment', 'rotate', '--out', path.join(root, 'never')),
    2,
    /^bnff: error: option '--augment <spec>' argument 'rotate' is invalid\. unknown augmentation "rotate" in "rotate"; use none, or a comma list of crop\[:PADDING\], flip and rrc \(RandomResizedCrop\)$/,
  );
});

test('tools: plot reads a metrics.jsonl up to a torn last line and says what it skipped', () => {
  const dir = path.join(root, 'torn');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(RUN, 'metrics.jsonl'), path.join(dir, 'metrics.jsonl'));
  fs.appendFileSync(path.join(dir, 'metrics.jsonl'), '{"kind":"step","step":3,"ep');
  const r = bnff('plot', dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^bnff: note: \S+\/torn\/metrics\.jsonl:4: skipped a torn last line \(27 bytes, not complete JSON: a run that stopped mid-write\); read the 3 record\(s\) before it$/m,
  );
  assert.ok(fs.existsSync(path.join(dir, 'loss.svg')) && fs.existsSync(path.join(dir, 'accuracy.svg')));
  fs.rmSync(dir, { recursive: true });
});

/** Runs bnff with stdout a pipe whose reading end is closed at once (as `| head -1` does). */
function closedStdout(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fromRoot('bin/bnff.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('tools: a closed stdout (`bnff models | head -1`, `bnff explain | head -1`) is a normal end, without a stack trace', async () => {
  for (const args of [['models'], ['explain', '--model', 'resnet20']]) {
    const r = await closedStdout(...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '', args.join(' '));
  }
});

test('tools: --json still reports progress on stderr', () => {
  const r = bnff('train', '--limit', '32', '--batch-size', '16', '--epochs', '1', '--threads', '1', '--json', '--out', path.join(root, 'json-run'));
  assert.equal(r.code, 0, r.stderr);
  JSON.parse(r.stdout);
  assert.match(r.stderr, /^epoch 1\/1 {2}loss/m);
  assert.match(r.stderr, /^ {2}run directory: \S+json-run$/m);
  fs.rmSync(path.join(root, 'json-run'), { recursive: true });
});

test('tools: explain counts the batch norms it names (densenet121: 121, its 19 concatenations apart)', () => {
  const r = bnff('explain', '--model', 'densenet121', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { bns: unknown[]; others: { layer: string }[]; counts: { bns: number } };
  assert.equal(out.counts.bns, 121);
  assert.equal(out.bns.length, 121);
  assert.equal(out.others.length, 19);
  assert.ok(out.others.every((o) => o.layer.endsWith('.concat')));
});
