/**
 * Network.recomputeBnStatistics: every BN's running mean and variance become the mean over the
 * batches of the batch means and of the unbiased batch variances of its input, computed here by
 * hand for a 1x1 convolution (y[n, k, p] = sum_c w[k, c] x[n, c, p]); num_batches_tracked keeps
 * its count; on the reference kernels in float64 and on the fast engines in float32.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Builder } from '../../src/graph/builder.js';
import { Network, type ModelDef } from '../../src/models/network.js';
import { NO_FUSION } from '../../src/passes/index.js';
import { createEngine } from '../../src/runtime/engine.js';
import { Rng } from '../../src/util/random.js';

const [N, C, K, H, W] = [4, 3, 5, 6, 6];

/** 1x1 conv -> BN -> ReLU -> global pool -> linear. */
const pointwise: ModelDef = {
  name: 'pointwise-bn',
  inChannels: C,
  numClasses: 4,
  imageSize: H,
  build(b: Builder, x: number): number {
    const h = b.relu('relu', b.batchNorm2d('bn', b.conv2d('conv', x, { out: K, kernel: 1, bias: false })));
    return b.linear('fc', b.flatten('flat', b.globalAvgPool('pool', h)), { out: 4 });
  },
};

/** Per channel k: [mean, unbiased variance] of the 1x1 convolution of one batch x [N, C, H, W]. */
function convStats(w: ArrayLike<number>, x: ArrayLike<number>): [number, number][] {
  const P = H * W;
  const out: [number, number][] = [];
  for (let k = 0; k < K; k++) {
    const ys: number[] = [];
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < P; p++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += w[k * C + c]! * x[(n * C + c) * P + p]!;
        ys.push(s);
      }
    }
    const mean = ys.reduce((a, v) => a + v, 0) / ys.length;
    const variance = ys.reduce((a, v) => a + (v - mean) ** 2, 0) / (ys.length - 1);
    out.push([mean, variance]);
  }
  return out;
}

for (const kind of ['reference', 'auto'] as const) {
  test(`recomputeBnStatistics on the ${kind} engine: the mean of the batches' statistics, num_batches_tracked kept`, async () => {
    const engine = await createEngine({ kind, threads: 2, dtype: 'f64' });
    const net = await Network.create(pointwise, { engine, seed: 3, fusion: NO_FUSION });
    try {
      const rng = new Rng(11);
      const batches = [0, 1, 2].map(() => ({ x: Float64Array.from({ length: N * C * H * W }, () => 1.5 * rng.normal() + 0.3), size: N }));
      net.state.get('bn.running_mean')!.fill(7); // whatever was there does not count
      net.state.get('bn.num_batches_tracked')![0] = 41;
      assert.equal(net.recomputeBnStatistics(batches, [C, H, W]), 3);
      const w = net.params.get('conv.weight')!;
      const per = batches.map((b) => convStats(w, b.x));
      const tol = engine.memory.dtype === 'f64' ? 1e-12 : 2e-5;
      for (let k = 0; k < K; k++) {
        const mean = per.reduce((a, s) => a + s[k]![0], 0) / per.length;
        const variance = per.reduce((a, s) => a + s[k]![1], 0) / per.length;
        const gotMean = net.state.get('bn.running_mean')![k]!;
        const gotVar = net.state.get('bn.running_var')![k]!;
        assert.ok(Math.abs(gotMean - mean) <= tol * (1 + Math.abs(mean)), `channel ${k}: running mean ${gotMean}, expected ${mean}`);
        assert.ok(Math.abs(gotVar - variance) <= tol * variance, `channel ${k}: running var ${gotVar}, expected ${variance}`);
      }
      assert.equal(net.state.get('bn.num_batches_tracked')![0], 41);
      // no batches: nothing changes
      const before = [...net.state.get('bn.running_var')!];
      assert.equal(net.recomputeBnStatistics([], [C, H, W]), 0);
      assert.deepEqual([...net.state.get('bn.running_var')!], before);
    } finally {
      net.close();
      engine.close();
    }
  });
}
