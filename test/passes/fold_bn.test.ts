import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { bnScaleShift, derivedTensor } from '../../src/passes/fold_bn.js';
import { createEngine } from '../../src/runtime/engine.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { Rng } from '../../src/util/random.js';
import { maxRelDiff, randomizeBatchNorms } from '../helpers/bn.js';

// resnet18 at a small image size: the torchvision topology (7x7 stem, max pool, projection
// shortcuts) on 32x32 inputs.
const CASES: { model: string; size: number; folded: number; affine: number }[] = [
  { model: 'resnet20', size: 16, folded: 19, affine: 0 },
  { model: 'resnet18', size: 32, folded: 20, affine: 0 },
  { model: 'densenet40', size: 16, folded: 0, affine: 39 },
];

function input(n: number, size: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n * 3 * size * size }, () => rng.normal());
}

for (const { model, size, folded, affine } of CASES) {
  test(`folded predict equals unfolded eval-mode predict: ${model} at ${size}x${size}`, (t) => {
    const shape = [3, 3, size, size];
    const x = input(3, size, 5);
    for (const dtype of ['f64', 'f32'] as const) {
      const net = new Network(getModel(model, { numClasses: 10 }), new HostMemory(dtype), 2);
      randomizeBatchNorms(net, 9);
      const f = net.buildInferenceGraph(shape);
      assert.equal(f.folded.length, folded, `${model}: folded BNs`);
      assert.equal(f.affine.length, affine, `${model}: BNs kept as channel_affine`);
      assert.ok(!f.graph.nodes.some((n) => n.op === 'batch_norm2d'), 'no batch_norm2d left');
      const ref = Float64Array.from(net.predict(x, shape, { fold: false }));
      const got = net.predict(x, shape);
      const err = maxRelDiff(got, ref);
      t.diagnostic(`${model} ${dtype}: relative logit difference folded vs unfolded ${err.toExponential(2)}`);
      assert.ok(err < (dtype === 'f64' ? 1e-12 : 1e-5), `${model} ${dtype}: relative difference ${err}`);
    }
  });
}

test('predict refolds: changed weights and running statistics are seen by the next call', () => {
  const net = new Network(getModel('resnet20'), new HostMemory('f64'), 1);
  const shape = [2, 3, 8, 8];
  const x = input(2, 8, 3);
  net.predict(x, shape);
  randomizeBatchNorms(net, 4);
  net.params.get('conv1.weight')![0]! *= 2;
  const ref = Float64Array.from(net.predict(x, shape, { fold: false }));
  assert.ok(maxRelDiff(net.predict(x, shape), ref) < 1e-12);
});

test('folding math: conv bias and BN land in one affine map per output channel', () => {
  const { scale, shift } = bnScaleShift([2], [0.5], [1], [3], 1);
  assert.deepEqual([...scale], [1]);
  assert.deepEqual([...shift], [-0.5]);
  const t: Record<string, number[]> = { w: [1, 2, 3, 4], b: [1, -1], g: [2, 1], be: [0.5, 0], m: [1, 2], v: [3, 0] };
  const bn = { layer: 'bn', gamma: 'g', beta: 'be', mean: 'm', variance: 'v', eps: 1 };
  assert.deepEqual([...derivedTensor({ kind: 'folded_weight', weight: 'w', bn }, (n) => t[n]!)], [1, 2, 3, 4]);
  // b' = beta + (b - mean) * gamma / sqrt(var + eps)
  assert.deepEqual([...derivedTensor({ kind: 'folded_bias', bias: 'b', bn }, (n) => t[n]!)], [0.5, -3]);
  assert.deepEqual([...derivedTensor({ kind: 'folded_bias', bn }, (n) => t[n]!)], [-0.5, -2]);
});

test('the wasm engine runs the folded graph (conv bias, channel_affine) as the float64 reference does', async () => {
  const engine = await createEngine({ threads: 1 });
  try {
    for (const model of ['resnet8', 'densenet40']) {
      const shape = [2, 3, 16, 16];
      const x = input(2, 16, 8);
      const ref = new Network(getModel(model), new HostMemory('f64'), 3);
      const fast = new Network(getModel(model), engine.memory, 3, engine.lowering);
      randomizeBatchNorms(ref, 6);
      for (const [k, v] of ref.params) fast.params.get(k)!.set(v);
      for (const [k, v] of ref.state) fast.state.get(k)!.set(v);
      const err = maxRelDiff(fast.predict(x, shape), ref.predict(x, shape, { fold: false }));
      assert.ok(err < 1e-5, `${model}: relative difference ${err}`);
    }
  } finally {
    engine.close();
  }
});
