/**
 * Determinism across thread counts. The same seed and thread count give bit-identical weights
 * (test/runtime/engine.test.ts, and one thread here); different thread counts split some
 * reductions (BN statistics, weight gradients) differently, so they agree to rounding:
 * measured over 48 runs (resnet8 and resnet20, fused and unfused, 6 data seeds, 2 and 3 vs 1
 * thread), 2.5e-8 to 7e-8 relative L2 over all weights and running statistics, and at most
 * 1.9e-6 relative per tensor. Rounding can also flip a ReLU whose input is within ~1e-6 of 0
 * (seen in 3 of the 48 runs), which passes or blocks one element's gradient: then up to 2.6e-4
 * in L2 and 1.8e-2 per tensor (a BN bias) after 5 steps. The tolerances cover that with
 * margin; docs/reliability.md states them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { ALL_FUSION, NO_FUSION } from '../../src/passes/index.js';
import { createEngine } from '../../src/runtime/engine.js';
import { SGD } from '../../src/train/sgd.js';
import { Rng } from '../../src/util/random.js';

const STEPS = 5;

/** Parameters and running statistics after STEPS SGD steps on seeded random data. */
async function train(model: string, size: number, threads: number, fused: boolean): Promise<Map<string, Float32Array>> {
  const engine = await createEngine({ threads });
  try {
    const net = new Network(getModel(model, { numClasses: 10 }), engine.memory, 5, engine.lowering, fused ? ALL_FUSION : NO_FUSION);
    const batch = 8;
    const shape = [batch, 3, size, size];
    const rng = new Rng(4);
    const opt = new SGD(net.params, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, engine.memory, engine.backend);
    for (let s = 0; s < STEPS; s++) {
      const x = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());
      net.forwardBackward(
        x,
        Array.from({ length: batch }, (_, i) => (i + s) % 10),
        shape,
        { seed: 5, step: s },
      );
      opt.step(net.trainPlan(shape).grads);
    }
    return new Map([...net.params, ...net.state].map(([k, a]) => [k, Float32Array.from(a)]));
  } finally {
    engine.close();
  }
}

/** Relative L2 difference over all tensors, and the worst per-tensor max |a - b| / max |b|. */
function differences(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { l2: number; key: string; perTensor: number } {
  let [d2, n2] = [0, 0];
  let w = { key: '', perTensor: 0 };
  for (const [k, v] of b) {
    const u = a.get(k)!;
    let scale = 1e-30;
    let d = 0;
    for (let i = 0; i < v.length; i++) {
      scale = Math.max(scale, Math.abs(v[i]!));
      d = Math.max(d, Math.abs(u[i]! - v[i]!));
      d2 += (u[i]! - v[i]!) ** 2;
      n2 += v[i]! ** 2;
    }
    if (d / scale > w.perTensor) w = { key: k, perTensor: d / scale };
  }
  return { l2: Math.sqrt(d2 / n2), ...w };
}

const TOL_L2 = 1e-3;
const TOL_TENSOR = 5e-2;

for (const [model, size] of [
  ['resnet8', 16],
  ['resnet20', 16],
] as const) {
  test(`1, 2 and 3 threads agree within ${TOL_L2} (relative L2) after ${STEPS} SGD steps: ${model}`, async () => {
    for (const fused of [true, false]) {
      const one = await train(model, size, 1, fused);
      assert.deepEqual(await train(model, size, 1, fused), one, 'one thread, twice: bit-identical');
      for (const threads of [2, 3]) {
        const d = differences(await train(model, size, threads, fused), one);
        const what = `${model} ${fused ? 'fused' : 'unfused'}, ${threads} vs 1 thread: relative L2 ${d.l2.toExponential(2)}, worst tensor ${d.key} ${d.perTensor.toExponential(2)}`;
        console.log(what);
        assert.ok(d.l2 <= TOL_L2 && d.perTensor <= TOL_TENSOR, what);
      }
    }
  });
}
