/**
 * The traffic model of `bnff traffic` (src/bench/traffic.ts): totals are the sums of the per-layer
 * figures, fusion removes BN/ReLU traffic, and the store variant keeps the normalized input
 * alive (more peak memory, no recompute).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { traffic } from '../../src/bench/traffic.js';

test('traffic model: totals, the BN/ReLU share and the store variant (resnet20 and densenet40, batch 2)', () => {
  for (const model of ['resnet20', 'densenet40']) {
    const r = traffic(model, 2, 32);
    const sum = (l: { bytes: number }[]): number => l.reduce((s, x) => s + x.bytes, 0);
    assert.equal(sum(r.layers.unfused), r.unfused_bytes, model);
    assert.equal(sum(r.layers.fused), r.fused_bytes, model);
    assert.ok(r.fused_bytes < r.unfused_bytes, `${model}: fused ${r.fused_bytes} >= unfused ${r.unfused_bytes}`);
    assert.ok(r.bn_relu_concat.ratio > 0 && r.bn_relu_concat.ratio < 1, `${model}: BN+ReLU+concat ratio ${r.bn_relu_concat.ratio}`);
    // fused convolutions read what the BN passes read before (x instead of z, dbn and xbn instead of dy)
    assert.ok(r.by_category.conv!.fused >= r.by_category.conv!.unfused, `${model}: conv bytes`);
    const st = r.store_normalized;
    assert.ok(st.bn_relu_concat > r.bn_relu_concat.fused, `${model}: storing z writes it once more`);
    assert.ok(st.peak_bytes >= r.fused_peak_bytes, `${model}: the stored z lives until backward`);
    assert.ok(st.max_batch <= r.max_batch.fused && st.max_batch > 0, `${model}: largest batch ${st.max_batch}`);
    // the native engine's arena (this machine's memory) is not bound by wasm32's 4 GiB
    const nb = r.max_batch_native;
    if (nb.arena_bytes > 2 ** 32) assert.ok(nb.fused > r.max_batch.fused && nb.unfused > r.max_batch.unfused, `${model}: native ${JSON.stringify(nb)}, wasm ${JSON.stringify(r.max_batch)}`);
    const rc = r.recompute_concat;
    if (model === 'densenet40') {
      // the default plans the concatenations as views of one buffer per block: about as little
      // memory as recomputing them in backward, without the copies
      assert.ok(r.peak_ratio < 0.35 && rc.peak_ratio < 0.35, `${model}: views ${r.peak_ratio}, recomputed ${rc.peak_ratio} of unfused peak memory`);
      assert.ok(rc.bytes > r.fused_bytes && rc.bn_relu_concat > r.bn_relu_concat.fused, `${model}: recomputing copies more (${JSON.stringify(rc)})`);
      assert.ok(r.layers.fused.filter((l) => l.op === 'concat').length > 0);
    } else assert.equal(rc.bytes, r.fused_bytes, `${model}: no concatenation, nothing changes`);
  }
});

test('traffic model: a channel slice moves its own channels, read once and written once', () => {
  const r = traffic('densenet40', 2, 32);
  const slices = r.layers.unfused.filter((l) => l.op === 'slice_channels');
  const concats = r.layers.unfused.filter((l) => l.op === 'concat');
  assert.ok(slices.length > 0 && concats.length > 0);
  // every concat's backward slices its gradient back into the inputs: together they move what
  // the concat moved (read its inputs, write its output)
  const sum = (l: { bytes: number }[]): number => l.reduce((s, x) => s + x.bytes, 0);
  assert.equal(sum(slices), sum(concats));
});

