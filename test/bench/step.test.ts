/**
 * `bnff bench step` (src/bench/step.ts) on a tiny model: the JSON fields the issue asks for, the
 * ablation contenders all in one run and in rounds of two (the fallback when their weights do not
 * fit the heap together, as resnet50's nine), each with a positive rate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchStep } from '../../src/bench/step.js';
import { ABLATIONS } from '../../src/passes/index.js';

test('bench step: unfused, fused, speedup, breakdown and every ablation, in one run and in rounds', async () => {
  for (const ablationRounds of [false, true]) {
    const r = await benchStep({
      model: 'resnet8',
      batchSize: 2,
      imageSize: 8,
      threads: 1,
      steps: 1,
      warmup: 0,
      ablation: true,
      ablationRounds,
      vsPytorch: false,
    });
    assert.equal(r.model, 'resnet8');
    assert.ok(r.unfused.img_s > 0 && r.fused!.img_s > 0 && r.speedup! > 0);
    const sp = r.speedup_paired!;
    assert.ok(sp.min <= sp.median && sp.median <= sp.max && sp.min > 0, `paired speedup ${JSON.stringify(sp)}`);
    assert.deepEqual(Object.keys(r.breakdown).sort(), ['add', 'bn', 'concat', 'conv', 'other', 'pool', 'relu']);
    assert.ok(r.breakdown.conv! > 0 && r.fused!.breakdown.conv! > 0);
    assert.deepEqual(Object.keys(r.ablation!).sort(), Object.keys(ABLATIONS).sort(), `rounds=${ablationRounds}`);
    for (const [k, v] of Object.entries(r.ablation!)) assert.ok(v.img_s > 0 && v.speedup > 0 && v.speedup_paired.median > 0, `${k}: ${JSON.stringify(v)}`);
  }
});
