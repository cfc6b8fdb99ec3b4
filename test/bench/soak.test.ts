import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { slope, soak, summarize, type SoakSample } from '../../bench/soak.js';
import { readSafetensorsFile } from '../../src/io/safetensors.js';

test('soak: slopes over the second half and the verdict', () => {
  assert.equal(slope([0, 1, 2, 3], [1, 3, 5, 7]), 2);
  const samples = (f: (t: number) => number): SoakSample[] =>
    Array.from({ length: 21 }, (_, i) => ({ t: i * 6, step: i, epoch: 1, loss: 1, rssMB: f(i * 6), heapUsedMB: 5, wasmMB: 90 }));
  // A jump early on (warm-up) is outside the second half: flat.
  const warm = summarize(
    samples((t) => (t < 30 ? 100 : 200)),
    1,
  );
  assert.deepEqual(warm, { slopeMBPerMin: { rssMB: 0, heapUsedMB: 0, wasmMB: 0 }, verdict: 'flat' });
  // 2 MB/min of steady growth is not.
  const leak = summarize(
    samples((t) => 100 + (2 * t) / 60),
    1,
  );
  assert.ok(Math.abs(leak.slopeMBPerMin.rssMB - 2) < 1e-9);
  assert.equal(leak.verdict, 'not flat');
});

test('soak: a few seconds of training sample memory, write checkpoints and summarise', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-soak-test-'));
  try {
    const lines: string[] = [];
    const { samples, summary } = await soak({
      minutes: 0.05,
      model: 'resnet8',
      batchSize: 16,
      threads: 1,
      limit: 48,
      checkpointEvery: 2,
      sampleSeconds: 0.5,
      maxSlope: 1,
      dir,
      log: (l) => lines.push(l),
    });
    assert.ok(samples.length >= 3, `${samples.length} samples`);
    assert.ok(summary.steps >= 2 && summary.checkpoints >= 1 && summary.epochs >= 1, JSON.stringify(summary));
    for (const s of samples) assert.ok(s.rssMB > 0 && s.heapUsedMB > 0 && s.wasmMB > 0);
    assert.ok(samples.every((s, i) => i === 0 || s.t >= samples[i - 1]!.t));
    assert.ok(['flat', 'not flat'].includes(summary.verdict));
    assert.match(lines[1]!, /t\(s\) +step +epoch +loss +rss MB +heap MB +wasm MB/);
    assert.equal(lines.length, 2 + samples.length);
    const meta = JSON.parse(readSafetensorsFile(path.join(dir, 'checkpoint.safetensors')).metadata.bnff_checkpoint!) as { globalStep: number };
    assert.equal(meta.globalStep % 2, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
