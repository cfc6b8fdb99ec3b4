/**
 * A property of the CLI's writing commands: for a random existing target (a regular file, an
 * .svg file, a directory, a symlink to a file elsewhere, a FIFO, the command's own input, or
 * nothing), each command either refuses with exit 1 or 2 and a clear message, leaving the
 * disk as it was, or writes where nothing was, or replaces a regular file it is documented to
 * replace (plot's .svg files) or was told to (--force). Nothing else changes on disk.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { bnff } from '../helpers/cli.js';
import { fromRoot } from '../helpers/paths.js';
import { snapshot } from '../helpers/disk.js';
import { spawnSync } from 'node:child_process';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-wprop-'));
const RUN = path.join(root, 'run');
const CKPT = path.join(RUN, 'checkpoint.safetensors');
after(() => fs.rmSync(root, { recursive: true, force: true }));
before(() => {
  const r = bnff('train', '--threads', '1', '--epochs', '1', '--batch-size', '16', '--limit', '32', '--out', RUN);
  assert.equal(r.code, 0, r.stderr);
});

const KINDS = ['missing', 'file', 'svg', 'directory', 'symlink', 'fifo', 'input'] as const;
type Kind = (typeof KINDS)[number];
const COMMANDS = ['export', 'plot-bench', 'plot-run', 'train'] as const;
type Cmd = (typeof COMMANDS)[number];

let cases = 0;

/** A fresh work directory with the target of `kind` in it; returns the target path and the command's input. */
function setUp(cmd: Cmd, kind: Kind): { work: string; target: string; args: (target: string) => string[] } {
  const work = path.join(root, `c${++cases}`);
  fs.mkdirSync(work);
  const bench = path.join(work, 'bench.json');
  fs.copyFileSync(fromRoot('bench/results/resnet20-b64-s32.json'), bench);
  const elsewhere = path.join(work, 'elsewhere.txt');
  fs.writeFileSync(elsewhere, 'elsewhere\n');
  const input = cmd === 'export' ? CKPT : cmd === 'plot-bench' ? bench : cmd === 'plot-run' ? path.join(RUN, 'metrics.jsonl') : CKPT;
  const target = kind === 'input' ? input : path.join(work, kind === 'svg' ? 'target.svg' : 'target.out');
  if (kind === 'file' || kind === 'svg') fs.writeFileSync(target, 'existing\n');
  if (kind === 'directory') {
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'inside.txt'), 'inside\n');
  }
  if (kind === 'symlink') fs.symlinkSync(elsewhere, target);
  if (kind === 'fifo') assert.equal(spawnSync('mkfifo', [target]).status, 0);
  const args = {
    export: (t: string) => ['export', '--checkpoint', CKPT, '--out', t],
    'plot-bench': (t: string) => ['plot', '--bench', bench, '--out', t],
    // a run's plots go into the directory --out names
    'plot-run': (t: string) => ['plot', RUN, '--out', t],
    train: (t: string) => ['train', '--threads', '1', '--epochs', '1', '--batch-size', '16', '--limit', '16', '--out', t],
  }[cmd];
  return { work, target, args };
}

/** What the documentation says the command does with a target of this kind. */
function expected(cmd: Cmd, kind: Kind, force: boolean): 'writes' | 'refuses' {
  if (kind === 'input' || kind === 'symlink' || kind === 'fifo') return 'refuses';
  // a run directory (train --out, plot's --out for a run) may exist as a directory: files of other names in it stay
  if (cmd === 'train' || cmd === 'plot-run') return kind === 'missing' || kind === 'directory' ? 'writes' : 'refuses';
  if (kind === 'directory') return 'refuses';
  if (kind === 'missing') return 'writes';
  if (kind === 'svg' && cmd === 'plot-bench') return 'writes';
  return force ? 'writes' : 'refuses';
}

test('property: a writing command refuses (exit 1 or 2, a clear message, nothing changed) or writes only what it may', () => {
  const runs = Number(process.env.BNFF_PROPERTY_RUNS ?? 16);
  fc.assert(
    fc.property(fc.constantFrom(...COMMANDS), fc.constantFrom(...KINDS), fc.boolean(), (cmd, kind, force) => {
      const { work, target, args } = setUp(cmd, kind);
      const watched = [work, RUN];
      const before = watched.map((d) => snapshot(d));
      const withForce = force && cmd !== 'train' ? ['--force'] : [];
      const r = bnff(...args(target), ...withForce);
      const want = expected(cmd, kind, force && cmd !== 'train');
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
      if (want === 'refuses') {
        assert.ok(r.code === 1 || r.code === 2, `${cmd} ${kind}: exit ${r.code}: ${r.stderr}`);
        assert.match(r.stderr, /^bnff: error: (refusing to|\S+ already holds)/m);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.deepEqual(
          watched.map((d) => snapshot(d)),
          before,
          `${cmd} ${kind}: the disk changed`,
        );
      } else {
        assert.equal(r.code, 0, `${cmd} ${kind}: ${r.stderr}`);
        // the target is now a regular file (or, for a directory target, a directory); nothing else changed
        const st = fs.lstatSync(target);
        assert.ok(cmd === 'train' || cmd === 'plot-run' ? st.isDirectory() : st.isFile(), `${cmd} ${kind}: target is not what was written`);
        const after = snapshot(work);
        const rel = path.relative(work, target);
        for (const [k, v] of before[0]!) if (k !== rel || kind === 'directory') assert.equal(after.get(k), v, `${cmd} ${kind}: ${k} changed`);
        assert.deepEqual(snapshot(RUN), before[1], `${cmd} ${kind}: the run directory changed`);
      }
      fs.rmSync(work, { recursive: true, force: true });
    }),
    { numRuns: runs, seed: 21 + Number(process.env.BNFF_PROPERTY_SEED ?? 0) },
  );
});
