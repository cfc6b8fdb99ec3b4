/**
 * The default `bnff train` is what the documents say it is:
 *   - every "(default X)" of docs/cli.md's train options is the option's default in the CLI;
 *   - the README's output block of `npx bnff train` shows the set-up line a default run prints
 *     (run here on 64 images: the same line, other counts), and its last line has the form of
 *     the line the run ends with;
 *   - the API's train() uses the CLI's defaults where TrainConfig leaves a choice open.
 * Not a timing or accuracy test: docs/design/2026-12-07-default-train.md has the measurements.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildProgram } from '../../src/cli/main.js';
import { BN_STATS_BATCHES, WARMUP_EPOCHS } from '../../src/train/trainer.js';
import { bnffIn } from '../helpers/cli.js';
import { fromRoot } from '../helpers/paths.js';

const train = buildProgram(() => {}).commands.find((c) => c.name() === 'train')!;

/** The first fenced block after a heading, as lines. */
function blockAfter(file: string, heading: string): string[] {
  const text = fs.readFileSync(fromRoot(file), 'utf8');
  const at = text.indexOf(heading);
  assert.ok(at >= 0, `${file} has no "${heading}"`);
  const m = /```\w*\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(m, `no code block after "${heading}" in ${file}`);
  return m[1]!.split('\n');
}

test('docs/cli.md: every "(default X)" of bnff train is the CLI default', () => {
  const lines = blockAfter('docs/cli.md', '## bnff train');
  let checked = 0;
  for (const line of lines) {
    const m = /^(?:-\w, )?\s*(--[\w-]+)(?: <\w+>)?\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, long, rest] = m;
    const opt = train.options.find((o) => o.long === long);
    assert.ok(opt, `docs/cli.md documents ${long}, which bnff train does not have`);
    // "(default X)" / "(default X;" / "X (default" where X is the first word of a choice list
    const d = /\(default ([^;),]+(?:,\d{3})*)[;),]/.exec(rest!) ?? /^(\S+) \(default\b/.exec(rest!);
    if (!d || /^(the|a|\$)/.test(d[1]!)) continue;
    const want = d[1]!.trim();
    const wantNumber = Number(want.replace(/,(?=\d{3})/g, ''));
    const have = opt.defaultValue as unknown;
    const same = typeof have === 'number' ? wantNumber === have : String(have) === want;
    assert.ok(same, `docs/cli.md says ${long} defaults to ${want}; the CLI's default is ${String(have)}`);
    checked++;
  }
  assert.ok(checked >= 10, `only ${checked} defaults checked: the parsing is broken`);
});

test('README: the set-up line and the last line of `npx bnff train` are what a default run prints', () => {
  const text = fs.readFileSync(fromRoot('README.md'), 'utf8');
  const start = text.indexOf('```\nbnff train: ');
  assert.ok(start >= 0, 'README.md has no output block of bnff train');
  const block = text
    .slice(start + 4, text.indexOf('```', start + 4))
    .trim()
    .split('\n');
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-defaults-'));
  try {
    // the defaults on 64 images (and 1 thread): the same set-up line, smaller counts
    const r = bnffIn(cwd, 'train', '--limit', '64', '--threads', '1');
    assert.equal(r.code, 0, r.stderr);
    const err = r.stderr.split('\n');
    // --limit 64 names the subset "fashion-mnist-subset-train[64]" and counts 64 images
    const head = (l: string): string => l.replace(/\[\d+\]/, '').replace(/: \d[\d,]* train \/ \d+ test images/, ': N train / N test images');
    assert.equal(head(block[0]!), head(err.find((l) => l.startsWith('bnff train: '))!));
    assert.equal(block[1], err[err.findIndex((l) => l.startsWith('bnff train: ')) + 1], "the README's set-up line differs from a default run's");
    const epochs = train.options.find((o) => o.long === '--epochs')!.defaultValue as number;
    assert.match(
      block.find((l) => l.startsWith('epoch 1/'))!,
      new RegExp(`^epoch 1/${epochs} `),
    );
    const form = (l: string): string =>
      l
        .replace(/\[\d+\]/, '')
        .replace(/\d+(\.\d+)?/g, '#')
        .replace(/runs\/\S+ holds/, 'DIR holds');
    assert.equal(form(block[block.length - 1]!), form(r.stdout.trim()), "the README's last line has another form than the run's");
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});

test("the API's train() defaults to the CLI's warm-up and BN statistics", () => {
  const opt = (long: string): unknown => train.options.find((o) => o.long === long)!.defaultValue;
  assert.equal(opt('--warmup'), WARMUP_EPOCHS);
  assert.equal(opt('--bn-stats'), BN_STATS_BATCHES);
});
