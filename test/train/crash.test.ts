/**
 * Crash safety of checkpoints: processes killed with SIGKILL at random moments, mostly in the
 * middle of a checkpoint write, leave the previous checkpoint whole and loadable, and
 * `bnff train --resume` continues from it. (The kill moments come from a seeded generator, so
 * a failure reproduces as far as the scheduler allows.)
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readSafetensorsFile } from '../../src/io/safetensors.js';
import { Rng } from '../../src/util/random.js';
import { bnff } from '../helpers/cli.js';
import { fromRoot } from '../helpers/paths.js';
import { readWrite } from '../helpers/checkpoint_writer.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `until()` holds (polled), rejecting after `ms`. */
async function waitFor(until: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!until()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** A killed writer's temporary file: ".<name>.<pid>.<random>.tmp". */
const isTemporary = (f: string): boolean => /^\..+\.\d+\.[0-9a-f]+\.tmp$/.test(f);
/** Files besides the checkpoint and temporary files. */
const leftovers = (dir: string, name: string): string[] => fs.readdirSync(dir).filter((f) => f !== name && !isTemporary(f));

test('SIGKILL during checkpoint writes (10 kills at random moments) always leaves a whole, loadable checkpoint', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-kill-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'checkpoint.safetensors');
  const rng = new Rng(2024);
  let last = 0;
  let midWrite = 0;
  for (let round = 0; round < 10; round++) {
    const child = spawn(process.execPath, [fromRoot('dist/test/helpers/checkpoint_writer.js'), file, String(last + 1)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let confirmed = last;
    child.stdout!.on('data', (b: Buffer) => {
      const m = /wrote (\d+)\n$/.exec(b.toString());
      if (m) confirmed = Number(m[1]);
    });
    await waitFor(() => confirmed > last, 30_000, 'the first write');
    // the first write removed what killed writers left
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => isTemporary(f) && !f.includes(`.${child.pid}.`)),
      [],
    );
    // A write takes a few milliseconds, most of it in writing and fsyncing the temporary file.
    await sleep(5 + rng.int(150));
    await kill(child);
    const got = readWrite(file);
    assert.ok(got >= confirmed && got <= confirmed + 1, `checkpoint holds write ${got}; the last confirmed write was ${confirmed}`);
    assert.deepEqual(leftovers(dir, 'checkpoint.safetensors'), []);
    last = got;
    if (fs.readdirSync(dir).some(isTemporary)) midWrite++;
  }
  console.log(`${midWrite} of 10 kills landed mid-write (a temporary file was left)`);
});

test('a real `bnff train --out` run killed with SIGKILL at random moments resumes from its last checkpoint', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-kill-run-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const rng = new Rng(7);
  const common = ['--limit', '48', '--batch-size', '16', '--threads', '1', '--seed', '1'];
  for (let round = 0; round < 3; round++) {
    const dir = path.join(root, `run${round}`);
    const ckpt = path.join(dir, 'checkpoint.safetensors');
    const child = spawn(process.execPath, [fromRoot('bin/bnff.js'), 'train', ...common, '--epochs', '100', '--out', dir, '--json'], { stdio: 'ignore' });
    await waitFor(() => fs.existsSync(ckpt), 60_000, 'the first checkpoint');
    await sleep(rng.int(1500));
    await kill(child);
    assert.deepEqual(leftovers(dir, 'checkpoint.safetensors').sort(), ['config.json', 'metrics.jsonl']);
    const meta = JSON.parse(readSafetensorsFile(ckpt).metadata.bnff_checkpoint!) as { epoch: number; metrics: { trainLoss: number }[] };
    assert.ok(meta.epoch >= 1 && meta.metrics.length === meta.epoch);
    const out = path.join(root, `resumed${round}`);
    const r = bnff('train', ...common, '--epochs', String(meta.epoch + 1), '--resume', ckpt, '--out', out, '--json');
    assert.equal(r.code, 0, r.stderr);
    const epochs = (JSON.parse(r.stdout) as { epochs: { epoch: number; trainLoss: number }[] }).epochs;
    assert.deepEqual(
      epochs.map((e) => e.epoch),
      Array.from({ length: meta.epoch + 1 }, (_, i) => i + 1),
    );
    assert.deepEqual(epochs.slice(0, meta.epoch), meta.metrics);
    assert.ok(Number.isFinite(epochs[meta.epoch]!.trainLoss));
  }
});
