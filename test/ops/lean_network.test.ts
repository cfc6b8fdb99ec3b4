/**
 * The ops of MobileNetV2 and EfficientNet in whole networks, on every engine. ReLU6, hardswish,
 * sigmoid, channel_scale, stochastic depth and dropout have no WebAssembly or native kernel: the
 * engines run their reference kernels in float32 between lowered neighbours (the elementwise and
 * per-sample ones on the NHWC arrays as they are, channel_scale through NCHW copies). With the
 * fused graph around them a training step must still match the float64 reference, random masks
 * included (they depend on seed, step, layer and index, never on the engine).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Builder } from '../../src/graph/builder.js';
import { efficientnetB0Cifar, mbconv } from '../../src/models/efficientnet.js';
import { invertedResidual, mobilenetV2Cifar } from '../../src/models/mobilenet.js';
import { Network, type ModelDef } from '../../src/models/network.js';
import { ALL_FUSION } from '../../src/passes/index.js';
import { createEngine } from '../../src/runtime/engine.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { Rng } from '../../src/util/random.js';
import { maxRelDiff } from '../helpers/bn.js';

/** stem conv -> BN -> hardswish -> inverted residual -> MBConv (SE, stochastic depth) -> pool -> dropout -> linear. */
const tinyLean: ModelDef = {
  name: 'tiny-lean',
  inChannels: 3,
  numClasses: 5,
  imageSize: 8,
  build(b: Builder, x: number): number {
    let h = b.hardswish('act1', b.batchNorm2d('bn1', b.conv2d('conv1', x, { out: 8, kernel: 3, padding: 1, bias: false })));
    h = invertedResidual(b, 'ir', h, 8, 1, 4);
    h = mbconv(b, 'mb', h, { expandRatio: 4, kernel: 3, stride: 1, out: 8 }, 0.5);
    h = b.dropout('drop', b.flatten('flat', b.globalAvgPool('pool', h)), 0.3);
    return b.linear('fc', h, { out: 5 });
  },
};

async function agrees(def: ModelDef, shape: number[], labels: number[], kind: 'reference' | 'wasm' | 'auto', steps: number[]): Promise<void> {
  const engine = await createEngine({ kind, threads: 2 });
  try {
    const rng = new Rng(5);
    const x = Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => rng.normal());
    const ref = new Network(def, new HostMemory('f64'), 9);
    const net = new Network(def, engine.memory, 9, engine.lowering, ALL_FUSION);
    for (const step of steps) {
      const lr = ref.forwardBackward(x, labels, shape, { seed: 1, step });
      const lf = net.forwardBackward(x, labels, shape, { seed: 1, step });
      assert.ok(Number.isFinite(lf));
      assert.ok(Math.abs(lf - lr) / lr < 1e-5, `step ${step}: loss ${lf} vs float64 ${lr}`);
      const gr = ref.trainPlan(shape).grads;
      for (const [k, g] of net.trainPlan(shape).grads)
        assert.ok(maxRelDiff(g, gr.get(k)!) < 1e-4, `step ${step}: gradient of ${k}: ${maxRelDiff(g, gr.get(k)!)}`);
    }
    assert.ok(maxRelDiff(net.predict(x, shape), ref.predict(x, shape)) < 1e-4, 'eval logits');
  } finally {
    engine.close();
  }
}

for (const kind of ['reference', 'wasm', 'auto'] as const) {
  test(`ReLU6, hardswish, squeeze-excitation, stochastic depth and dropout train on the ${kind} engine, fused, as the float64 reference does`, async () => {
    // several steps: the random masks change from step to step, and must agree on each
    await agrees(tinyLean, [6, 3, 8, 8], [0, 3, 1, 4, 2, 2], kind, [0, 1, 2]);
  });
}

/**
 * The largest gradient error of a float32 network (an engine's, fused or not, or with engine
 * undefined the plain float32 reference kernels) against the float64 one after one step: each
 * tensor's worst |difference| relative to its largest |gradient|, floored at 1e-4 of the largest
 * gradient of the model (the shifts of the project BNs have gradient 0 in exact arithmetic: the
 * next BN removes any constant, so float32 leaves only rounding there).
 */
async function worstGradError(def: ModelDef, kind: 'auto' | undefined, fused: boolean): Promise<number> {
  const shape = [4, 3, 32, 32];
  const labels = [1, 7, 0, 9];
  const engine = kind ? await createEngine({ kind, threads: 2 }) : undefined;
  try {
    const rng = new Rng(5);
    const x = Float32Array.from({ length: 4 * 3 * 32 * 32 }, () => rng.normal());
    const ref = new Network(def, new HostMemory('f64'), 9);
    const net = engine ? new Network(def, engine.memory, 9, engine.lowering, fused ? ALL_FUSION : undefined) : new Network(def, new HostMemory('f32'), 9);
    ref.forwardBackward(x, labels, shape, { seed: 1, step: 0 });
    net.forwardBackward(x, labels, shape, { seed: 1, step: 0 });
    const gr = ref.trainPlan(shape).grads;
    const absMax = (a: ArrayLike<number>): number => {
      let m = 0;
      for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
      return m;
    };
    const G = Math.max(...[...gr.values()].map(absMax));
    let worst = 0;
    for (const [k, g] of net.trainPlan(shape).grads) {
      const r = gr.get(k)!;
      let d = 0;
      for (let i = 0; i < r.length; i++) d = Math.max(d, Math.abs(g[i]! - r[i]!));
      worst = Math.max(worst, d / Math.max(absMax(r), 1e-4 * G));
    }
    return worst;
  } finally {
    engine?.close();
  }
}

// deep float32 networks with 4-image BN batches: the engine is held to the plain float32 loops,
// and fused to unfused (as in test/runtime/engine.test.ts)
for (const def of [mobilenetV2Cifar({ widthMult: 0.25 }), efficientnetB0Cifar({ widthMult: 0.25 })]) {
  test(`${def.name} (width 0.25) trains on the default engine, fused and unfused, as the float64 reference does`, async (t) => {
    const r = await worstGradError(def, undefined, false);
    const u = await worstGradError(def, 'auto', false);
    const f = await worstGradError(def, 'auto', true);
    t.diagnostic(`worst gradient error vs float64: plain float32 ${r.toExponential(2)}, engine unfused ${u.toExponential(2)}, fused ${f.toExponential(2)}`);
    assert.ok(r < 1e-2, `plain float32 ${r}`);
    assert.ok(u <= Math.max(3 * r, 1e-5), `unfused ${u} vs plain float32 ${r}`);
    assert.ok(f <= Math.max(2 * u, 3 * r, 1e-5), `fused ${f} vs unfused ${u}`);
  });
}
