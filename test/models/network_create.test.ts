/**
 * The API's defaults are the CLI's: `Network.create` without options places the network on the
 * fast engine (auto: native where the addon is built, else WebAssembly) with the fused training
 * graph (ALL_FUSION and the engine's cost guard, what `bnff train` uses); the reference kernels
 * and the unfused graph come only when asked for. Imported from the package entry, as a user
 * imports them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_FUSION, NO_FUSION, Network, createEngine, engineChoice, getModel, type Graph } from '../../src/index.js';
import { fusionCosts } from '../../src/runtime/engine.js';
import { nativeStatus } from '../../src/runtime/native.js';

const def = (): ReturnType<typeof getModel> => getModel('resnet8', { numClasses: 10, inChannels: 1 });
const fusedConvs = (g: Graph): number => g.nodes.filter((n) => n.op.startsWith('conv2d_fused')).length;
// batch 128: resnet8's first BN input is 8 MiB, above the native engine's cost guard (4 MiB)
const BIG = [128, 1, 32, 32];
const x = new Float32Array(4 * 32 * 32).map((_, i) => Math.sin(0.37 * i));
const labels = [3, 1, 4, 1];

test('Network.create without options: the fast engine the CLI picks, and the fused graph', async () => {
  const choice = engineChoice();
  const want = choice === 'auto' ? ((await nativeStatus()).ok ? 'native' : 'wasm') : choice;
  const net = await Network.create(def());
  try {
    const engine = net.engine!;
    assert.equal(engine.kind, want);
    if (process.env.BNFF_ENGINE === undefined) assert.notEqual(engine.kind, 'reference');
    assert.equal(net.memory, engine.memory);
    assert.equal(net.lowering, engine.lowering);
    assert.equal(net.backend, engine.backend);
    assert.deepEqual(net.fusion, { ...ALL_FUSION, ...fusionCosts(engine.kind) });
    const g = net.buildTrainGraph(BIG).graph;
    assert.ok(fusedConvs(g) >= 4, `${fusedConvs(g)} fused convolutions in resnet8's training step`);
    const whole = (h: Graph): number => h.nodes.filter((n) => n.op === 'batch_norm2d').length;
    const unfused = whole(net.buildTrainGraph(BIG, NO_FUSION).graph);
    assert.ok(whole(g) < unfused, `${whole(g)} of ${unfused} BNs left whole by the fused training step`);
    const loss = net.forwardBackward(x, labels, [4, 1, 32, 32], { seed: 0, step: 0 });
    assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
  } finally {
    net.close();
  }
});

test('Network.create: the reference kernels and the unfused graph are asked for, and give the same step', async () => {
  const ref = await Network.create(def(), { engine: 'reference', fusion: NO_FUSION });
  const fast = await Network.create(def());
  try {
    assert.equal(ref.engine!.kind, 'reference');
    assert.equal(ref.lowering, undefined);
    assert.equal(ref.backend, undefined);
    assert.equal(fusedConvs(ref.buildTrainGraph(BIG).graph), 0);
    const a = ref.forwardBackward(x, labels, [4, 1, 32, 32], { seed: 0, step: 0 });
    const b = fast.forwardBackward(x, labels, [4, 1, 32, 32], { seed: 0, step: 0 });
    assert.ok(Math.abs(a - b) <= 1e-4 * Math.abs(a), `reference loss ${a}, ${fast.engine!.kind} fused loss ${b}`);
  } finally {
    ref.close();
    fast.close();
  }
});

test('Network.create on a given engine: uses it, and close() leaves it open', async () => {
  const engine = await createEngine({ kind: 'reference', dtype: 'f64' });
  const net = await Network.create(def(), { engine, seed: 3 });
  assert.equal(net.engine, engine);
  assert.equal(net.memory.dtype, 'f64');
  assert.deepEqual(net.fusion, { ...ALL_FUSION, ...fusionCosts('reference') });
  assert.ok(fusedConvs(net.buildTrainGraph(BIG).graph) >= 4);
  net.close();
  // the engine still serves a second network
  const again = await Network.create(def(), { engine, seed: 3 });
  assert.deepEqual([...again.params.get('conv1.weight')!.slice(0, 4)], [...net.params.get('conv1.weight')!.slice(0, 4)]);
});
