/**
 * A new op in a whole network, on every engine: SiLU after a BN is folded into the normalize by
 * fission (bn_apply{act: silu}, its derivative recomputed from the BN input by
 * bn_relu_mask{act: silu}, which act-with-reduce puts into the BN's reduce pass:
 * bn_act_reduce{act: silu}); with the fused graph around it (statistics in the convolution's
 * epilogue) a training step must still match the float64 reference.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Builder } from '../../src/graph/builder.js';
import { Network, type ModelDef } from '../../src/models/network.js';
import { ALL_FUSION } from '../../src/passes/index.js';
import { createEngine } from '../../src/runtime/engine.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { Rng } from '../../src/util/random.js';

/** conv -> BN -> SiLU -> conv -> BN -> SiLU -> global pool -> linear. */
const tinySilu: ModelDef = {
  name: 'tiny-silu',
  inChannels: 3,
  numClasses: 5,
  imageSize: 8,
  build(b: Builder, x: number): number {
    let h = b.silu('act1', b.batchNorm2d('bn1', b.conv2d('conv1', x, { out: 8, kernel: 3, padding: 1, bias: false })));
    h = b.silu('act2', b.batchNorm2d('bn2', b.conv2d('conv2', h, { out: 8, kernel: 3, padding: 1, bias: false })));
    return b.linear('fc', b.flatten('flat', b.globalAvgPool('pool', h)), { out: 5 });
  },
};

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 1e-12;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst / scale;
}

for (const kind of ['reference', 'wasm', 'auto'] as const) {
  test(`a network with SiLU trains on the ${kind} engine, fused, as the float64 reference does`, async () => {
    const engine = await createEngine({ kind, threads: 2 });
    try {
      const shape = [4, 3, 8, 8];
      const rng = new Rng(5);
      const x = Float32Array.from({ length: 4 * 3 * 8 * 8 }, () => rng.normal());
      const labels = [0, 3, 1, 4];
      const ref = new Network(tinySilu, new HostMemory('f64'), 9);
      const net = new Network(tinySilu, engine.memory, 9, engine.lowering, ALL_FUSION);
      const lr = ref.forwardBackward(x, labels, shape, { seed: 1, step: 0 });
      const lf = net.forwardBackward(x, labels, shape, { seed: 1, step: 0 });
      assert.ok(Number.isFinite(lf));
      assert.ok(Math.abs(lf - lr) / lr < 1e-5, `loss ${lf} vs float64 ${lr}`);
      const gr = ref.trainPlan(shape).grads;
      for (const [k, g] of net.trainPlan(shape).grads) assert.ok(relErr(g, gr.get(k)!) < 1e-4, `gradient of ${k}`);
      assert.ok(relErr(net.predict(x, shape), ref.predict(x, shape)) < 1e-4, 'eval logits');
      // fission folds each SiLU into its normalize; conv2 (3x3, 8 -> 8) is a Winograd convolution,
      // whose kernels apply ReLU only (activationInConv)
      const nodes = net.trainPlan(shape).graph.nodes;
      assert.equal(nodes.filter((n) => n.op === 'silu' || n.op === 'silu_backward').length, 0);
      assert.equal(nodes.filter((n) => n.op === 'bn_apply' && n.attrs.act === 'silu').length, 2);
      // its derivative, recomputed from the BN input, runs in the BN's reduce pass (act-with-reduce)
      assert.equal(nodes.filter((n) => n.op === 'bn_act_reduce' && n.attrs.act === 'silu' && n.attrs.from === 'input').length, 2);
    } finally {
      engine.close();
    }
  });
}
