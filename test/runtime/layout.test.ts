import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import type { Lowering } from '../../src/runtime/executor.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { Rng } from '../../src/util/random.js';

/** Lowers nothing: every node runs its reference kernel through the NHWC <-> NCHW fallback. */
const nothing: Lowering = { name: 'none', lower: () => undefined };

test('NHWC storage with reference fallback computes exactly what the NCHW plan computes', () => {
  const shape = [2, 3, 16, 16];
  const rng = new Rng(3);
  const x = Float32Array.from({ length: 2 * 3 * 16 * 16 }, () => rng.normal());
  const labels = [1, 7];
  for (const model of ['resnet8', 'densenet40']) {
    const a = new Network(getModel(model), new HostMemory('f32'), 1);
    const b = new Network(getModel(model), new HostMemory('f32'), 1, nothing);
    const la = a.forwardBackward(x, labels, shape, { seed: 1, step: 0 });
    const lb = b.forwardBackward(x, labels, shape, { seed: 1, step: 0 });
    assert.equal(la, lb, model);
    const ga = a.trainPlan(shape).grads;
    const gb = b.trainPlan(shape).grads;
    for (const [k, v] of ga) assert.deepEqual(gb.get(k), v, `${model} ${k}`);
    for (const [k, v] of a.state) assert.deepEqual(b.state.get(k), v, `${model} ${k}`);
    assert.deepEqual(b.predict(x, shape), a.predict(x, shape));
  }
});
