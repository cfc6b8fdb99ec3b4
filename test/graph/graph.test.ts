import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Builder } from '../../src/graph/builder.js';
import { dumpGraph } from '../../src/graph/dump.js';
import { ShapeError } from '../../src/graph/ir.js';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { planMemory, plannerTuning } from '../../src/runtime/planner.js';

test('shape errors name the layer and the shapes', () => {
  const b = new Builder({ training: true });
  const x = b.input('x', [2, 3, 8, 8]);
  const h = b.conv2d('stem', x, { out: 4, kernel: 3 });
  assert.throws(
    () => b.add('block.add', h, x),
    (e: Error) => e instanceof ShapeError && /block\.add/.test(e.message) && /\[2, 4, 6, 6\]/.test(e.message) && /\[2, 3, 8, 8\]/.test(e.message),
  );
  assert.throws(
    () => b.conv2d('big', h, { out: 2, kernel: 9 }),
    (e: Error) => e instanceof ShapeError && /"big"/.test(e.message) && /too small/.test(e.message),
  );
  assert.throws(
    () => b.conv2d('grp', x, { out: 4, kernel: 1, groups: 2 }),
    (e: Error) => e instanceof ShapeError && /grp/.test(e.message) && /groups=2/.test(e.message),
  );
  const f = b.flatten('flat', h);
  assert.throws(
    () => b.concat('cat', [h, x]),
    (e: Error) => /cat/.test(e.message) && /agree on N, H, W/.test(e.message),
  );
  assert.throws(
    () => b.batchNorm2d('bn', f),
    (e: Error) => /bn/.test(e.message),
  );
});

test('a model given the wrong input names the model and the shape', () => {
  const net = new Network(getModel('resnet20'), new HostMemory('f64'));
  assert.throws(
    () => net.trainPlan([2, 1, 32, 32]),
    (e: Error) => e instanceof ShapeError && /resnet20/.test(e.message) && /\[2, 1, 32, 32\]/.test(e.message),
  );
  assert.throws(
    () => net.trainPlan([1, 3, 4, 4]),
    (e: Error) => e instanceof ShapeError && /layer "layer3.0.bn1"/.test(e.message) && /more than 1 value/.test(e.message),
  );
});

test('text dump shows ops, layer names, parameters and shapes', () => {
  const b = new Builder({ training: true });
  const x = b.input('x', [8, 3, 32, 32]);
  const h = b.relu('relu', b.batchNorm2d('bn1', b.conv2d('conv1', x, { out: 16, kernel: 3, padding: 1 })));
  b.g.outputs.set('y', h);
  const text = dumpGraph(b.g);
  assert.match(text, /^input @x: \[8, 3, 32, 32\]$/m);
  assert.match(text, /%\d+ = conv2d "conv1" \(@x, \$conv1\.weight\) stride=1 padding=1 dilation=1 groups=1 -> \[8, 16, 32, 32\]/);
  assert.match(text, /batch_norm2d "bn1" \(%\d+, \$bn1\.weight, \$bn1\.bias, \$bn1\.running_mean, \$bn1\.running_var, \$bn1\.num_batches_tracked\)/);
  assert.match(text, /relu "relu"/);
  assert.match(text, /^output y = %\d+$/m);
});

test('the training graph holds explicit backward nodes, including BN fission halves', () => {
  const net = new Network(getModel('resnet20'), new HostMemory('f64'));
  const { graph } = net.buildTrainGraph([2, 3, 32, 32]);
  const count = (op: string): number => graph.nodes.filter((n) => n.op === op).length;
  assert.equal(count('batch_norm2d'), 19);
  assert.equal(count('bn_backward_reduce'), 19);
  assert.equal(count('bn_backward_data'), 19);
  assert.equal(count('conv2d'), 19);
  assert.equal(count('conv2d_backward_weight'), 19);
  // the stem's input gradient is never needed: its backward-data is pruned
  assert.equal(count('conv2d_backward_data'), 18);
  // each residual add feeds its input twice (branch + shortcut): one gradient sum per block
  assert.equal(count('add'), 9 + 9);
});

test('memory planner: reuse makes the workspace smaller, and live values never overlap', () => {
  const net = new Network(getModel('resnet20'), new HostMemory('f64'));
  const { graph } = net.buildTrainGraph([4, 3, 32, 32]);
  const plan = planMemory(graph, (k) => k === 'param' || k === 'state');
  assert.ok(plan.size < 0.6 * plan.unsharedSize, `planned ${plan.size} of ${plan.unsharedSize}`);
  // Check overlaps: value intervals [def, lastUse] that intersect in time must not intersect in memory.
  const def = new Map<number, number>();
  const last = new Map<number, number>();
  graph.nodes.forEach((n, i) => {
    for (const o of n.outputs) def.set(o, i);
    for (const x of n.inputs) last.set(x, i);
  });
  for (const id of graph.outputs.values()) last.set(id, graph.nodes.length);
  const vals = [...def.keys()].filter((id) => plan.offsets[id] !== undefined);
  const size = (id: number): number => graph.value(id).shape.reduce((a, d) => a * d, 1);
  for (let i = 0; i < vals.length; i++) {
    for (let j = i + 1; j < vals.length; j++) {
      const a = vals[i]!;
      const c = vals[j]!;
      const la = last.get(a) ?? def.get(a)!;
      const lc = last.get(c) ?? def.get(c)!;
      const timeOverlap = def.get(a)! <= lc && def.get(c)! <= la;
      const memOverlap = plan.offsets[a]! < plan.offsets[c]! + size(c) && plan.offsets[c]! < plan.offsets[a]! + size(a);
      assert.ok(!(timeOverlap && memOverlap), `values ${graph.value(a).name} and ${graph.value(c).name} overlap`);
    }
  }
});

test('memory planner: large values start at rotating cache lines of a 4 KiB page, small ones stay packed', () => {
  const net = new Network(getModel('resnet20'), new HostMemory('f64'));
  const { graph } = net.buildTrainGraph([16, 3, 32, 32]);
  const external = (k: string): boolean => k === 'param' || k === 'state';
  const plan = planMemory(graph, external);
  const size = (id: number): number => graph.value(id).shape.reduce((a, d) => a * d, 1);
  const planned = graph.values.filter((v) => plan.offsets[v.id] !== undefined);
  const large = planned.filter((v) => size(v.id) * 4 >= plannerTuning.skewMinBytes);
  assert.ok(large.length > 20, `${large.length} large values`);
  // byte offset within the page: cache-line aligned, and spread over many lines
  const lines = new Set(large.map((v) => ((plan.offsets[v.id]! * 4) % 4096) / 64));
  for (const v of large) assert.equal((plan.offsets[v.id]! * 4) % 64, 0, `${v.name} is not cache-line aligned`);
  assert.ok(lines.size >= 16, `large values start at only ${lines.size} lines of a page`);
  // the padding costs at most a page per large value
  const saved = plannerTuning.skewLines;
  plannerTuning.skewLines = 0;
  try {
    const packed = planMemory(graph, external);
    assert.ok(plan.size <= packed.size + large.length * 1024, `${plan.size} against ${packed.size} packed`);
    assert.equal(plan.unsharedSize, packed.unsharedSize);
    assert.ok(new Set(large.map((v) => (packed.offsets[v.id]! * 4) % 4096)).size < lines.size);
  } finally {
    plannerTuning.skewLines = saved;
  }
});

test('nodes keep their own input lists (dense blocks grow the feature list after each concat)', () => {
  const net = new Network(getModel('densenet40'), new HostMemory('f64'));
  const { graph } = net.buildTrainGraph([2, 3, 32, 32]);
  const cat = graph.nodes.find((n) => n.name === 'features.denseblock1.denselayer3.concat')!;
  assert.equal(cat.inputs.length, 3);
  assert.deepEqual(graph.value(cat.outputs[0]!).shape, [2, 16 + 2 * 12, 32, 32]);
});

test('a step that would overflow the 4 GiB wasm32 heap names a batch size that fits', async () => {
  const { Arena, HeapOverflowError } = await import('../../src/runtime/memory.js');
  const net = new Network(getModel('resnet50'), new Arena(), 0);
  const fits = net.maxTrainBatch([3, 224, 224]);
  assert.ok(fits > 4 && fits < 512, `fits ${fits}`);
  // the named batch is planned to fit, and one more image is not
  const { MAX_ARENA_BYTES } = await import('../../src/runtime/memory.js');
  const { planMemory } = await import('../../src/runtime/planner.js');
  const planned = (n: number): number =>
    planMemory(net.buildTrainGraph([n, 3, 224, 224]).graph, (k) => k === 'param' || k === 'state').size * 4 + net.memory.usedBytes;
  assert.ok(planned(fits) <= MAX_ARENA_BYTES, `batch ${fits} does not fit`);
  assert.ok(planned(fits + 1) > MAX_ARENA_BYTES, `batch ${fits + 1} fits too`);
  assert.throws(
    () => net.trainPlan([512, 3, 224, 224]),
    (e: Error) =>
      e instanceof HeapOverflowError && /resnet50 at batch 512/.test(e.message) && new RegExp(`largest batch that fits is ${fits}$`).test(e.message),
  );
});

test('for a DenseNet the overflow message also names the batch that fits with recomputed concatenations', async () => {
  const { Arena, HeapOverflowError } = await import('../../src/runtime/memory.js');
  const net = new Network(getModel('densenet40'), new Arena(), 0);
  const plain = net.maxTrainBatch([3, 32, 32]);
  const more = net.maxTrainBatch([3, 32, 32], { ...net.fusion, recomputeConcat: true });
  assert.ok(more > 1.5 * plain, `${more} vs ${plain}`);
  assert.throws(
    () => net.trainPlan([8192, 3, 32, 32]),
    (e: Error) =>
      e instanceof HeapOverflowError &&
      e.message.endsWith(`largest batch that fits is ${plain} (${more} with the concatenations recomputed in backward: --recompute-concat)`),
  );
});
