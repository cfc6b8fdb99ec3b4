/**
 * Structure tests of the fusion passes: each rule fires where it should (kernel counts per
 * step, so a fusion that silently stops firing fails) and each named guard stops its rule
 * where fusing would be wrong. Numerics: random graphs, fused vs unfused in float64.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appendBackward, pruneDead } from '../../src/autodiff/backward.js';
import { Builder } from '../../src/graph/builder.js';
import { type Graph, numel } from '../../src/graph/ir.js';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { ABLATIONS, ALL_FUSION, type FusionOptions, NO_FUSION, applyFusion } from '../../src/passes/index.js';
import { FAST_KERNELS } from '../../src/runtime/capabilities.js';
import type { KernelCapabilities } from '../../src/passes/capabilities.js';
import type { FusedConvAttrs } from '../../src/ops/conv2d_fused.js';
import type { FusionReport } from '../../src/passes/rewrite.js';
import { Executor } from '../../src/runtime/executor.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { planMemory } from '../../src/runtime/planner.js';
import { Rng } from '../../src/util/random.js';

/** A training graph (forward, loss-free backward seeded at the output) for a small network. */
function trainGraph(inputShape: number[], build: (b: Builder, x: number) => number): { g: Graph; b: Builder; x: number; y: number; dy: number } {
  const b = new Builder({ training: true });
  const x = b.input('x', inputShape);
  const y = build(b, x);
  const g = b.g;
  const dy = g.addValue('dy', g.value(y).shape, 'input').id;
  g.outputs.set('y', y);
  const params = g.values.filter((v) => v.kind === 'param').map((v) => v.id);
  const { grads } = appendBackward(g, new Map([[y, dy]]), [x, ...params]);
  for (const [v, d] of grads) g.outputs.set(`grad:${g.value(v).name}`, d);
  return { g: pruneDead(g), b, x, y, dy };
}

function fuse(g: Graph, o: FusionOptions = ALL_FUSION, caps: KernelCapabilities = FAST_KERNELS): { graph: Graph; report: FusionReport } {
  return applyFusion(g, o, caps);
}

/** Kernels that would apply and differentiate every activation in the convolutions' prologues and dx epilogues (the float64 graphs' semantics). */
const EVERY_ACTIVATION: KernelCapabilities = { ...FAST_KERNELS, convActivation: () => true };

function blockedBy(report: FusionReport, layer: string, rule: string): string | undefined {
  return report.notes.find((n) => n.layer === layer && n.rule === rule && !n.fired)?.guard;
}
function fired(report: FusionReport, layer: string, rule: string): boolean {
  return report.notes.some((n) => n.layer === layer && n.rule === rule && n.fired);
}
const count = (g: Graph, op: string): number => g.nodes.filter((n) => n.op === op).length;

/** Runs the graph unfused and with `o` in float64 and checks outputs, gradients and running statistics agree. */
function agreeInFloat64(
  shape: number[],
  build: () => (b: Builder, x: number) => number,
  o: FusionOptions = ALL_FUSION,
  caps: KernelCapabilities = FAST_KERNELS,
): void {
  const results = [NO_FUSION, o].map((opts) => {
    const { g, b, x, dy } = trainGraph(shape, build());
    const graph = applyFusion(g, opts, caps).graph;
    const vals = new Rng(7);
    const store = new Map(
      b.specs.map((s) => [
        s.name,
        Float64Array.from({ length: numel(s.shape) }, () => (s.name.endsWith('running_var') ? 1 : s.name.endsWith('num_batches_tracked') ? 0 : vals.normal())),
      ]),
    );
    const exec = new Executor(graph, new HostMemory('f64'), (n) => store.get(n));
    const xin = new Rng(8);
    exec.write(
      x,
      Float64Array.from({ length: numel(shape) }, () => xin.normal()),
    );
    exec.write(
      dy,
      Float64Array.from({ length: exec.get(dy).length }, () => xin.normal()),
    );
    exec.run({ seed: 1, step: 0 });
    const out = new Map<string, Float64Array>();
    for (const [k, id] of graph.outputs) out.set(k, Float64Array.from(exec.get(id)));
    for (const [k, v] of store) if (k.includes('running')) out.set(k, v);
    return out;
  });
  const [a, f] = results as [Map<string, Float64Array>, Map<string, Float64Array>];
  assert.deepEqual([...f.keys()].sort(), [...a.keys()].sort());
  for (const [k, v] of a) {
    const w = f.get(k)!;
    let scale = 1e-30;
    let err = 0;
    for (let i = 0; i < v.length; i++) {
      scale = Math.max(scale, Math.abs(v[i]!));
      err = Math.max(err, Math.abs(v[i]! - w[i]!));
    }
    assert.ok(err <= 1e-9 * scale, `${k}: ${err} of ${scale}`);
  }
}

const convBnRelu = (b: Builder, name: string, x: number, out: number, relu = true): number => {
  const h = b.batchNorm2d(`${name}.bn`, b.conv2d(`${name}.conv`, x, { out, kernel: 3, padding: 1 }));
  return relu ? b.relu(`${name}.relu`, h) : h;
};

test('conv -> BN -> ReLU -> conv fuses both halves both ways; kernel counts per step', () => {
  const { g } = trainGraph([2, 3, 6, 6], (b, x) => b.conv2d('c2', convBnRelu(b, 'l1', x, 4), { out: 5, kernel: 3, padding: 1 }));
  const { graph, report } = fuse(g);
  for (const r of ['fission', 'moments-into-conv', 'normalize-into-conv', 'reduce-into-conv-backward', 'bn-grad-into-conv-backward'])
    assert.ok(fired(report, 'l1.bn', r), r);
  // Standalone BN/ReLU kernels are gone: only the tiny finalize remains.
  for (const op of ['batch_norm2d', 'channel_moments', 'bn_apply', 'relu', 'relu_backward', 'bn_backward_reduce', 'bn_backward_data', 'bn_relu_mask'])
    assert.equal(count(graph, op), 0, op);
  assert.equal(count(graph, 'bn_finalize'), 1);
  assert.equal(count(graph, 'conv2d_fused'), 2);
  assert.equal(count(graph, 'conv2d_fused_backward_data'), 2);
  assert.equal(count(graph, 'conv2d_fused_backward_weight'), 2);
  assert.ok(graph.nodes.length < g.nodes.length);
});

test('store mode: the normalized input is written once and read plainly by the convolution and its backward-weights', () => {
  const { g } = trainGraph([2, 3, 6, 6], (b, x) => b.conv2d('c2', convBnRelu(b, 'l1', x, 4), { out: 5, kernel: 3, padding: 1 }));
  const { graph, report } = fuse(g, { ...ALL_FUSION, storeNormalized: true });
  for (const r of ['fission', 'moments-into-conv', 'normalize-into-conv', 'reduce-into-conv-backward', 'bn-grad-into-conv-backward'])
    assert.ok(fired(report, 'l1.bn', r), r);
  assert.ok(report.notes.some((n) => n.layer === 'l1.bn' && n.rule === 'normalize-into-conv' && /store mode/.test(n.detail)));
  assert.equal(count(graph, 'bn_apply'), 1); // z written once
  const c2 = graph.nodes.find((n) => n.name === 'c2')!;
  const z = graph.nodes.find((n) => n.op === 'bn_apply')!.outputs[0]!;
  assert.equal(c2.inputs[0], z);
  const bw = graph.nodes.filter((n) => n.inputs.includes(z) && n.op.includes('backward_weight'));
  assert.equal(bw.length, 1);
  assert.ok(!bw[0]!.attrs.xPrologue, 'backward-weights reads z, no prologue');
  for (const op of ['relu', 'relu_backward', 'bn_relu_mask', 'bn_backward_reduce']) assert.equal(count(graph, op), 0, op);
});

test('guard reluIsSoleConsumer: a BN feeding a residual add keeps its ReLU separate; the residual rule takes it', () => {
  const { g } = trainGraph([2, 4, 5, 5], (b, x) => b.relu('out', b.add('add', convBnRelu(b, 'l1', x, 4, false), x)));
  const { graph, report } = fuse(g);
  assert.equal(blockedBy(report, 'l1.bn', 'fold-relu'), 'reluIsSoleConsumer');
  assert.equal(blockedBy(report, 'l1.bn', 'normalize-into-conv'), 'consumersAreConvs');
  assert.ok(fired(report, 'l1.bn', 'residual-add-relu'));
  assert.equal(count(graph, 'bn_add_relu'), 1);
  assert.equal(count(graph, 'bn_add_relu_backward'), 1);
});

test('residual end without a ReLU: an add read by something other than a ReLU fuses forward, ReLU off, backward unchanged', () => {
  const build = () => (b: Builder, x: number) => b.maxPool2d('pool', b.add('add', convBnRelu(b, 'l1', x, 4, false), x), { kernel: 2 });
  const { g } = trainGraph([2, 4, 5, 5], build());
  const { graph, report } = fuse(g);
  assert.ok(fired(report, 'l1.bn', 'residual-add-relu'));
  assert.match(report.notes.find((n) => n.layer === 'l1.bn' && n.rule === 'residual-add-relu')!.detail, /no ReLU after the add/);
  const fused = graph.nodes.filter((n) => n.op === 'bn_add_relu');
  assert.equal(fused.length, 1);
  assert.equal(fused[0]!.attrs.relu, false);
  assert.equal(count(graph, 'bn_add_relu_backward'), 0, 'the add passes its gradient on unmasked');
  assert.ok(!graph.nodes.some((n) => n.name === 'add'), 'the add itself is gone');
  assert.equal(count(graph, 'bn_apply'), 0);
  agreeInFloat64([2, 4, 5, 5], build);
  // with a projection shortcut's BN as the other operand too
  const proj = () => (b: Builder, x: number) =>
    b.maxPool2d('pool', b.add('add', convBnRelu(b, 'l1', x, 4, false), convBnRelu(b, 'sc', x, 4, false)), { kernel: 2 });
  const two = fuse(trainGraph([2, 4, 5, 5], proj()).g);
  assert.equal(two.graph.nodes.find((n) => n.op === 'bn_add_relu')?.attrs.shortcut, 'bn');
  agreeInFloat64([2, 4, 5, 5], proj);
});

test('guard consumersAreConvs: BN-ReLU read by a pooling layer stays materialised', () => {
  const { g } = trainGraph([2, 3, 6, 6], (b, x) => b.maxPool2d('pool', convBnRelu(b, 'l1', x, 4), { kernel: 2 }));
  const { graph, report } = fuse(g);
  assert.equal(blockedBy(report, 'l1.bn', 'normalize-into-conv'), 'consumersAreConvs');
  assert.equal(count(graph, 'bn_apply'), 1);
});

test('guard producerIsConv: statistics of a pooled tensor are computed standalone', () => {
  const { g } = trainGraph([2, 3, 8, 8], (b, x) => {
    const p = b.avgPool2d('pool', b.conv2d('c0', x, { out: 4, kernel: 1 }), { kernel: 2 });
    return b.conv2d('c1', b.relu('r', b.batchNorm2d('bn', p)), { out: 3, kernel: 3, padding: 1 });
  });
  const { graph, report } = fuse(g);
  assert.equal(blockedBy(report, 'bn', 'moments-into-conv'), 'producerIsConv');
  assert.equal(count(graph, 'channel_moments'), 1);
  assert.equal(blockedBy(report, 'bn', 'bn-grad-into-conv-backward'), 'readersAreConvBackward');
});

test('guard producerFree: two BNs on one convolution output, statistics reuse off', () => {
  const { g } = trainGraph([2, 3, 6, 6], (b, x) => {
    const h = b.conv2d('c0', x, { out: 4, kernel: 3, padding: 1 });
    return b.add('sum', b.batchNorm2d('bnA', h), b.batchNorm2d('bnB', h));
  });
  const { report } = fuse(g, { ...ALL_FUSION, statsReuse: false });
  assert.ok(fired(report, 'bnA', 'moments-into-conv'));
  assert.equal(blockedBy(report, 'bnB', 'moments-into-conv'), 'producerFree');
  const reuse = fuse(g).report;
  assert.ok(fired(reuse, 'bnB', 'moments-reuse'), "with reuse on, the second BN reads the first one's statistics");
});

test('guard reluFolded: a BN without ReLU before a conv gets no backward-data epilogue', () => {
  const { g } = trainGraph([2, 3, 6, 6], (b, x) => b.conv2d('c2', convBnRelu(b, 'l1', x, 4, false), { out: 3, kernel: 1 }));
  const { report } = fuse(g);
  assert.ok(fired(report, 'l1.bn', 'normalize-into-conv'));
  assert.equal(blockedBy(report, 'l1.bn', 'reduce-into-conv-backward'), 'reluFolded');
});

test('guard gradientFromConv: a BN-ReLU read by two convolutions (gradient is a sum)', () => {
  const { g } = trainGraph([2, 3, 6, 6], (b, x) => {
    const z = convBnRelu(b, 'l1', x, 4);
    return b.add('sum', b.conv2d('a', z, { out: 2, kernel: 1 }), b.conv2d('b', z, { out: 2, kernel: 3, padding: 1 }));
  });
  const { report } = fuse(g);
  assert.ok(fired(report, 'l1.bn', 'normalize-into-conv'));
  assert.equal(blockedBy(report, 'l1.bn', 'reduce-into-conv-backward'), 'gradientFromConv');
});

test('guard inputIsConcat and statistics reuse in a dense block', () => {
  const { graph, report } = fuse(new Network(getModel('densenet40'), new HostMemory('f64'), 0).buildTrainGraph([2, 3, 8, 8]).graph);
  assert.equal(blockedBy(report, 'features.denseblock1.denselayer1.norm1', 'moments-reuse'), 'inputIsConcat');
  assert.ok(fired(report, 'features.denseblock1.denselayer2.norm1', 'moments-reuse'));
  // every conv output's statistics are computed once: 36 dense-layer convs + stem + 2 pools' inputs
  assert.equal(count(graph, 'channel_moments'), 2, 'only the two transition pools need standalone statistics');
  assert.equal(graph.nodes.filter((n) => n.op === 'conv2d_fused' && n.attrs.epilogue === 'moments').length, 37);
});

test('kernel counts of whole models (a fusion that stops firing fails here)', () => {
  const counts = (m: string): Record<string, number> => {
    const net = new Network(getModel(m), new HostMemory('f64'), 0, undefined, ALL_FUSION);
    const c: Record<string, number> = {};
    for (const n of net.buildTrainGraph([2, 3, 32, 32]).graph.nodes) c[n.op] = (c[n.op] ?? 0) + 1;
    return c;
  };
  const r = counts('resnet20');
  assert.equal(r.batch_norm2d, undefined);
  assert.equal(r.bn_finalize, 19);
  assert.equal(r.channel_moments, undefined, 'all 19 BNs take their statistics from a conv epilogue');
  assert.equal(r.bn_apply, 1, 'only the stem BN (read by layer1.0.conv1 and by the first identity shortcut)');
  assert.equal(r.bn_add_relu, 9, 'one residual kernel per block');
  assert.equal(r.bn_add_relu_backward, 9);
  assert.equal(r.relu, undefined);
  assert.equal(r.bn_backward_data, undefined, 'every BN dx is computed on load by a conv backward');
  const r50 = counts('resnet50');
  assert.equal(r50.bn_add_relu, 16);
  assert.equal(r50.bn_apply, 1);
  assert.equal(r50.bn_backward_data, undefined);
  const d = counts('densenet121');
  assert.equal(d.bn_finalize, 121);
  assert.equal(d.channel_moments, 4, 'stem pool and three transition pools');
  assert.equal(d.bn_apply, 2, 'norm0 (read by max pool) and norm5 (read by global pool)');
  assert.equal(
    d.conv2d_fused_backward_data_acc,
    58 - 4,
    "every dense layer but the first of each block adds A*dy into its block's gradient buffer from its conv1 backward-data epilogue",
  );
  assert.equal(d.bn_dx_coef, 58 - 4, "and sums its BN's B*x + C0 per channel");
  assert.equal(d.bn_backward_data_acc, undefined, 'no BN dx pass over the gradient buffer is left');
  assert.equal(d.slice_channels_affine, 58, 'one slice with the summed B*x + C0 per layer output but the last of each block, and per block input');
  assert.equal(d.slice_channels, 4, 'the last layer of each block (no BN of the block reads it)');
  const written = (m: string): number => {
    const net = new Network(getModel(m), new HostMemory('f64'), 0, undefined, ALL_FUSION);
    return net
      .buildTrainGraph([2, 3, 32, 32])
      .graph.nodes.reduce((k, n) => k + ((n.attrs.view as { inPlace?: number[] } | undefined)?.inPlace?.length ?? 0), 0);
  };
  // the views start where a concatenation holds half its block's channels (denseView); from there
  // on, each new layer writes its channels into the block buffer
  assert.equal(
    written('densenet121'),
    5 + 9 + 17 + 16,
    'the dense layers of the views write their new channels into their block buffer (concat-views, producerWrites)',
  );
  assert.equal(written('densenet40'), 11 + 10 + 10, 'densenet40 likewise (its first concatenation keeps its own buffer anyway: stridedReaders)');
  const d40 = counts('densenet40');
  assert.equal(d40.conv2d_fused_backward_data_acc, 33, 'the Winograd backward-data epilogue accumulates too (36 layers, 3 blocks)');
  assert.equal(d40.bn_backward_data_acc, undefined);
  assert.equal(d.add, 4, "each block input also gets the first layer's BN gradient");
});

for (let trial = 0; trial < 6; trial++) {
  test(`random conv/BN/ReLU/add/concat graph ${trial}: fused equals unfused (forward and every gradient, float64)`, () => {
    const top = new Rng(100 + trial);
    const shape = [1 + top.int(2), 1 + top.int(5), 3 + top.int(5), 3 + top.int(5)];
    /** The same random architecture every time it is called with a fresh generator. */
    const build =
      (rng: Rng) =>
      (b: Builder, x: number): number => {
        const pool: number[] = [x];
        for (let i = 0; i < 5; i++) {
          const src = pool[rng.int(pool.length)]!;
          const k = [1, 3][rng.int(2)]!;
          const kind = rng.int(4);
          let h = b.conv2d(`c${i}`, src, { out: 1 + rng.int(6), kernel: k, padding: k >> 1 });
          h = b.batchNorm2d(`bn${i}`, h);
          if (rng.next() < 0.7) h = b.relu(`r${i}`, h);
          if (kind === 1) {
            const other = pool.find((p) => b.shape(p)[1] === b.shape(h)[1] && b.shape(p)[2] === b.shape(h)[2]);
            if (other !== undefined) h = b.add(`add${i}`, h, other);
          } else if (kind === 2 && b.shape(src)[2] === b.shape(h)[2]) {
            h = b.concat(`cat${i}`, [src, h]);
          }
          pool.push(h);
        }
        return b.conv2d('head', b.relu('rh', b.batchNorm2d('bnh', pool[pool.length - 1]!)), { out: 2, kernel: 3, padding: 1 });
      };
    agreeInFloat64(shape, () => build(new Rng(200 + trial)));
  });
}

// ---------------------------------------------------------------------------------------------
// concat-grad-in-place (src/passes/concat_grad.ts)

const brc = (b: Builder, name: string, x: number, out: number): number =>
  b.conv2d(`${name}.conv`, b.relu(`${name}.relu`, b.batchNorm2d(`${name}.bn`, x)), { out, kernel: 3, padding: 1 });

/** A dense block of `layers` layers (growth 2) on a 3-channel stem, then BN-ReLU-conv. */
const denseBlock =
  (layers: number) =>
  (b: Builder, x: number): number => {
    const parts = [b.conv2d('stem', x, { out: 3, kernel: 3, padding: 1 })];
    for (let i = 1; i <= layers; i++) {
      const input = parts.length === 1 ? parts[0]! : b.concat(`cat${i}`, parts);
      parts.push(brc(b, `l${i}`, input, 2));
    }
    return brc(b, 'head', b.concat('out', parts), 3);
  };

test('concat-grad-in-place: a dense block accumulates its concatenation gradients in one buffer', () => {
  const { g } = trainGraph([2, 2, 5, 5], denseBlock(4));
  for (const o of [ALL_FUSION, ABLATIONS['concat-grad']!]) {
    const { graph, report } = fuse(g, o);
    // cat2, cat3, cat4 add into the buffer of "out"; l1 reads the stem output directly
    for (const l of ['l2.bn', 'l3.bn', 'l4.bn']) assert.ok(fired(report, l, 'concat-grad-in-place'), l);
    assert.equal(count(graph, 'bn_backward_data_acc'), 3);
    assert.equal(count(graph, 'slice_channels'), 5, 'one slice per part: stem, l1..l4');
    assert.equal(graph.nodes.filter((n) => n.op === 'add').length, 1, 'only the stem output sums a gradient from outside the chain (l1.bn)');
  }
  assert.equal(count(fuse(g, { ...ALL_FUSION, concatGrad: false }).graph, 'slice_channels'), 2 + 3 + 4 + 5);
  agreeInFloat64([2, 2, 5, 5], () => denseBlock(4));
  agreeInFloat64([2, 2, 5, 5], () => denseBlock(4), ABLATIONS['concat-grad']);
});

/** denseBlock with 1x1 layers (the backward-data path that accumulates) and 4 stem channels. */
const denseBlock1x1 =
  (layers: number) =>
  (b: Builder, x: number): number => {
    const parts = [b.conv2d('stem', x, { out: 4, kernel: 3, padding: 1 })];
    for (let i = 1; i <= layers; i++) {
      const input = parts.length === 1 ? parts[0]! : b.concat(`cat${i}`, parts);
      parts.push(b.conv2d(`l${i}.conv`, b.relu(`l${i}.relu`, b.batchNorm2d(`l${i}.bn`, input)), { out: 4, kernel: 1 }));
    }
    return brc(b, 'head', b.concat('out', parts), 3);
  };

test('concat-grad-epilogue: A*dy added into the buffer by the conv backward-data epilogues, B*x + C0 at the slices', () => {
  const { g } = trainGraph([2, 2, 5, 5], denseBlock1x1(4));
  const { graph, report } = fuse(g);
  for (const l of ['l2.bn', 'l3.bn', 'l4.bn']) assert.ok(fired(report, l, 'concat-grad-epilogue'), l);
  assert.equal(count(graph, 'conv2d_fused_backward_data_acc'), 3);
  assert.equal(count(graph, 'bn_dx_coef'), 3);
  assert.equal(count(graph, 'bn_backward_data_acc'), 0);
  assert.equal(count(graph, 'slice_channels_affine'), 4, 'stem, l1..l3 (each read by a BN of the block)');
  assert.equal(count(graph, 'slice_channels'), 1, 'l4: only the head reads it');
  const plan = planMemory(graph, (k) => k === 'param' || k === 'state');
  for (const n of graph.nodes.filter((q) => q.op === 'conv2d_fused_backward_data_acc'))
    assert.equal(plan.offsets[n.outputs[0]!], plan.offsets[n.inputs[0]!], `${n.name}: in place`);
  agreeInFloat64([2, 2, 5, 5], () => denseBlock1x1(4));
  // off: each BN's dx added whole
  const off = fuse(g, { ...ALL_FUSION, concatGradEpilogue: false });
  assert.equal(count(off.graph, 'conv2d_fused_backward_data_acc'), 0);
  assert.equal(count(off.graph, 'bn_backward_data_acc'), 3);
  agreeInFloat64([2, 2, 5, 5], () => denseBlock1x1(4), { ...ALL_FUSION, concatGradEpilogue: false });
});

test('guard producerWrites: each block input comes from a pooling layer and is copied into the buffer (densenet121)', () => {
  const net = new Network(getModel('densenet121'), new HostMemory('f64'), 0, undefined, NO_FUSION);
  const { report } = fuse(net.buildTrainGraph([2, 3, 32, 32], NO_FUSION).graph, { ...ALL_FUSION, concatViewMinFraction: 0 });
  const blocked = report.notes.filter((q) => q.rule === 'concat-views' && q.guard === 'producerWrites');
  assert.equal(blocked.length, 4);
  for (const q of blocked) assert.match(q.detail, /is copied into the buffer: it comes from (max|avg)_pool2d/);
  // with the default fraction, the first view of a block also copies the parts that the dense
  // concatenations before it read: 1 + 3 + 7 of them, in blocks 1 to 3 (block 4 is all views)
  const dflt = fuse(net.buildTrainGraph([2, 3, 32, 32], NO_FUSION).graph).report.notes.filter((q) => q.rule === 'concat-views' && q.guard === 'producerWrites');
  assert.equal(dflt.filter((q) => /it comes from (max|avg)_pool2d/.test(q.detail)).length, 4);
  assert.equal(dflt.filter((q) => /it is also read by "features\.denseblock\d\.denselayer\d+\.concat"/.test(q.detail)).length, 1 + 3 + 7);
  assert.equal(dflt.length, 4 + 1 + 3 + 7);
});

test("guard denseView: a concatenation holding under half of its block's channels keeps its own buffer (the views start after it)", () => {
  const { g } = trainGraph([2, 2, 5, 5], bottleneckBlock(4));
  // channels: cat2 12, cat3 20, cat4 28, out 36: at the default 0.5, cat2 is thinner than 18
  const { graph, report } = fuse(g);
  assert.equal(blockedBy(report, 'cat2', 'concat-views'), 'denseView');
  assert.match(report.notes.find((q) => q.layer === 'cat2' && q.guard === 'denseView')!.detail, /would hold 12 of each pixel's 36 channels/);
  const views = graph.nodes.filter((n) => n.attrs.view !== undefined);
  assert.deepEqual(
    views.map((n) => [n.name, (n.attrs.view as { from: number }).from]),
    [
      ['cat3', 0],
      ['cat4', 3],
      ['out', 4],
    ],
  );
  // must not fire at fraction 0 (cat2 a view too), nor on what holds enough: at 0.75 (27
  // channels), cat2 and cat3 keep their buffers
  assert.equal(fuse(g, { ...ALL_FUSION, concatViewMinFraction: 0 }).report.notes.filter((q) => q.guard === 'denseView').length, 0);
  const strict = fuse(g, { ...ALL_FUSION, concatViewMinFraction: 0.75 });
  assert.deepEqual(
    strict.report.notes.filter((q) => q.guard === 'denseView').map((q) => q.layer),
    ['cat2', 'cat3'],
  );
  assert.deepEqual(
    strict.graph.nodes.filter((n) => n.attrs.view !== undefined).map((n) => n.name),
    ['cat4', 'out'],
  );
  agreeInFloat64([2, 2, 5, 5], () => bottleneckBlock(4));
});

test('guard dxEpilogueConv: without backward fusion dy comes from a plain backward-data (dx added whole)', () => {
  const { report, graph } = fuse(trainGraph([2, 2, 5, 5], denseBlock1x1(3)).g, { ...ABLATIONS['concat-grad']!, concatGradEpilogue: true });
  assert.equal(blockedBy(report, 'l2.bn', 'concat-grad-epilogue'), 'dxEpilogueConv');
  assert.equal(count(graph, 'conv2d_fused_backward_data_acc'), 0);
  assert.equal(count(graph, 'bn_backward_data_acc'), 2);
});

test('guard accumulatingPath: 3x3 layers of 5 and 7 channels run a backward-data path that cannot accumulate', () => {
  const { report, graph } = fuse(trainGraph([2, 2, 5, 5], denseBlock(3)).g);
  assert.equal(blockedBy(report, 'l2.bn', 'concat-grad-epilogue'), 'accumulatingPath');
  assert.equal(count(graph, 'conv2d_fused_backward_data_acc'), 0);
  assert.equal(count(graph, 'bn_backward_data_acc'), 2);
});

test('concat-grad-in-place: the planned step updates the buffer in place', () => {
  const { g } = trainGraph([2, 2, 5, 5], denseBlock(3));
  const graph = fuse(g).graph;
  const plan = planMemory(graph, (k) => k === 'param' || k === 'state');
  for (const n of graph.nodes.filter((q) => q.op === 'bn_backward_data_acc')) assert.equal(plan.offsets[n.outputs[0]!], plan.offsets[n.inputs[0]!], n.name);
});

test('guard prefixChain: two concatenations extend the same one (a branch ends the chain)', () => {
  const build =
    () =>
    (b: Builder, x: number): number => {
      const x0 = b.conv2d('stem', x, { out: 3, kernel: 3, padding: 1 });
      const f1 = brc(b, 'l1', x0, 2);
      const p1 = b.concat('cat1', [x0, f1]);
      const f2 = brc(b, 'l2', p1, 2);
      const fa = brc(b, 'a', b.concat('catA', [x0, f1, f2]), 2);
      const fb = brc(b, 'b', b.concat('catB', [x0, f1, f2]), 2);
      return b.add('sum', fa, fb);
    };
  const { report } = fuse(trainGraph([1, 2, 4, 4], build()).g);
  assert.equal(blockedBy(report, 'cat1', 'concat-grad-in-place'), 'prefixChain');
  agreeInFloat64([1, 2, 4, 4], build);
});

test('guard gradOnlySliced: the largest concatenation is the graph output (its gradient is an input)', () => {
  const build =
    () =>
    (b: Builder, x: number): number => {
      const x0 = b.conv2d('stem', x, { out: 3, kernel: 3, padding: 1 });
      const f1 = brc(b, 'l1', x0, 2);
      const p1 = b.concat('cat1', [x0, f1]);
      return b.concat('out', [x0, f1, brc(b, 'l2', p1, 2)]);
    };
  const { report } = fuse(trainGraph([1, 2, 4, 4], build()).g);
  assert.equal(blockedBy(report, 'out', 'concat-grad-in-place'), 'gradOnlySliced');
  agreeInFloat64([1, 2, 4, 4], build);
});

test('guard gradFromBnBackward: a concatenation read by a convolution, not a BN', () => {
  const build =
    () =>
    (b: Builder, x: number): number => {
      const x0 = b.conv2d('stem', x, { out: 3, kernel: 3, padding: 1 });
      const f1 = brc(b, 'l1', x0, 2);
      const p1 = b.concat('cat1', [x0, f1]);
      const f2 = b.conv2d('plain', p1, { out: 2, kernel: 1 });
      return brc(b, 'head', b.concat('out', [x0, f1, f2]), 3);
    };
  const { report } = fuse(trainGraph([1, 2, 4, 4], build()).g);
  assert.equal(blockedBy(report, 'cat1', 'concat-grad-in-place'), 'gradFromBnBackward');
  agreeInFloat64([1, 2, 4, 4], build);
});

test("guard partsSumSlices: a part whose gradient is not autodiff's sum of its slices", () => {
  const { g } = trainGraph([1, 2, 4, 4], denseBlock(3));
  // the same values summed by adds that autodiff did not mark as its gradient sums
  for (const n of g.nodes) if (n.op === 'add' && n.attrs.gradSum === true) (n.attrs as Record<string, unknown>).gradSum = false;
  const { graph, report } = fuse(g);
  assert.equal(blockedBy(report, 'out', 'concat-grad-in-place'), 'partsSumSlices');
  assert.equal(count(graph, 'bn_backward_data_acc'), 0);
});

test("guard backwardOrder: the smaller concatenation's gradient arrives first", () => {
  const build =
    () =>
    (b: Builder, x: number): number => {
      const x0 = b.conv2d('stem', x, { out: 3, kernel: 3, padding: 1 });
      const f1 = brc(b, 'l1', x0, 2);
      const p1 = b.concat('cat1', [x0, f1]);
      const f2 = b.conv2d('side', x0, { out: 2, kernel: 3, padding: 1 });
      const p2 = b.concat('out', [x0, f1, f2]);
      const big = brc(b, 'big', p2, 2); // the larger concatenation is read first ...
      const small = brc(b, 'small', p1, 2); // ... so in backward the smaller one's gradient comes first
      return b.add('sum', big, small);
    };
  const { report } = fuse(trainGraph([1, 2, 4, 4], build()).g);
  assert.equal(blockedBy(report, 'small.bn', 'concat-grad-in-place'), 'backwardOrder');
  agreeInFloat64([1, 2, 4, 4], build);
});

test('concat-recompute: backward concatenates the parts again instead of keeping the concatenations', () => {
  const { g } = trainGraph([2, 2, 5, 5], denseBlock(4));
  const o = { ...ALL_FUSION, recomputeConcat: true };
  const { graph, report } = fuse(g, o);
  for (const c of ['cat2', 'cat3', 'cat4', 'out']) assert.ok(fired(report, c, 'concat-recompute'), c);
  assert.equal(count(graph, 'concat'), 2 * 4);
  // no forward concatenation is read after the first gradient is written
  const start = graph.nodes.findIndex((n) => n.outputs.some((v) => graph.value(v).kind === 'grad'));
  const fwd = new Set(graph.nodes.filter((n) => n.op === 'concat' && !n.name.endsWith('.recompute')).map((n) => n.outputs[0]!));
  assert.equal(fwd.size, 4);
  assert.ok(graph.nodes.slice(start).every((n) => n.inputs.every((v) => !fwd.has(v))));
  const peak = (x: Graph): number => planMemory(x, (k) => k === 'param' || k === 'state').size;
  assert.ok(peak(graph) < peak(fuse(g).graph), `peak ${peak(graph)} vs ${peak(fuse(g).graph)}`);
  agreeInFloat64([2, 2, 5, 5], () => denseBlock(4), o);
  agreeInFloat64([2, 2, 5, 5], () => denseBlock(4), { ...NO_FUSION, recomputeConcat: true });
});

test('guard readByBackward: a concatenation only forward reads stays as it is', () => {
  const build =
    () =>
    (b: Builder, x: number): number => {
      const a = b.conv2d('a', x, { out: 2, kernel: 3, padding: 1 });
      const c = b.conv2d('c', x, { out: 2, kernel: 1 });
      return b.conv2d('head', b.relu('r', b.concat('cat', [a, c])), { out: 2, kernel: 1 });
    };
  const { graph, report } = fuse(trainGraph([1, 2, 4, 4], build()).g, { ...ALL_FUSION, recomputeConcat: true });
  assert.equal(blockedBy(report, 'cat', 'concat-recompute'), 'readByBackward');
  assert.equal(count(graph, 'concat'), 1);
});

// ---------------------------------------------------------------------------------------------
// concat-views (src/passes/concat_views.ts)

/**
 * A DenseNet-BC-like block: 1x1 BN-ReLU-conv layers of growth 8 on a 4-channel stem (K % 8 == 0
 * and C % 4 == 0: the 1x1 GEMM paths, which read views).
 */
const bottleneckBlock =
  (layers: number) =>
  (b: Builder, x: number): number => {
    const one = (name: string, v: number): number => b.conv2d(`${name}.conv`, b.relu(`${name}.relu`, b.batchNorm2d(`${name}.bn`, v)), { out: 8, kernel: 1 });
    const parts = [b.conv2d('stem', x, { out: 4, kernel: 3, padding: 1 })];
    for (let i = 1; i <= layers; i++) parts.push(one(`l${i}`, parts.length === 1 ? parts[0]! : b.concat(`cat${i}`, parts)));
    return one('head', b.concat('out', parts));
  };

test('concat-views: a block of 1x1 layers plans its concatenations as views of one buffer', () => {
  const { g } = trainGraph([2, 2, 5, 5], bottleneckBlock(4));
  for (const o of [ALL_FUSION, ABLATIONS['concat-views']!].map((f) => ({ ...f, concatViewMinFraction: 0 }))) {
    const { graph, report } = fuse(g, o);
    assert.ok(fired(report, 'out', 'concat-views'));
    const views = graph.nodes.filter((n) => n.op === 'concat' && n.attrs.view !== undefined);
    assert.deepEqual(
      views.map((n) => n.name),
      ['cat2', 'cat3', 'cat4', 'out'],
    );
    assert.deepEqual(
      views.map((n) => (n.attrs.view as { from: number }).from),
      [0, 2, 3, 4],
      'cat2 copies its two parts, the others their last one',
    );
    // the engine's plan: one buffer (the size of "out") for all four
    const plan = planMemory(graph, (k) => k === 'param' || k === 'state', { views: true });
    const offs = new Set(views.map((n) => plan.offsets[n.outputs[0]!]));
    assert.equal(offs.size, 1);
    // the reference engine ignores the marks: the same numbers as unfused
    agreeInFloat64([2, 2, 5, 5], () => bottleneckBlock(4), o);
  }
  assert.equal(fuse(g, { ...ALL_FUSION, concatViews: false }).graph.nodes.filter((n) => n.attrs.view !== undefined).length, 0);
  assert.equal(fuse(g, { ...ALL_FUSION, recomputeConcat: true }).graph.nodes.filter((n) => n.attrs.view !== undefined).length, 0);
});

test('guard stridedReaders: concatenations read by 3x3 convolutions (Winograd) or with C % 4 != 0 keep their copies', () => {
  const { report } = fuse(trainGraph([2, 2, 5, 5], denseBlock(4)).g, { ...ALL_FUSION, concatViewMinFraction: 0 });
  assert.equal(blockedBy(report, 'cat2', 'concat-views'), 'stridedReaders');
  assert.equal(fired(report, 'out', 'concat-views'), false);
});

test('guard notAnOutput: a concatenation that is an output of the graph is not a view (the views start after it)', () => {
  const { g } = trainGraph([2, 2, 5, 5], bottleneckBlock(3));
  const cat2 = g.nodes.find((n) => n.name === 'cat2')!;
  g.outputs.set('cat2', cat2.outputs[0]!);
  const { graph, report } = fuse(g, { ...ALL_FUSION, concatViewMinFraction: 0 });
  assert.equal(blockedBy(report, 'cat2', 'concat-views'), 'notAnOutput');
  // cat2 keeps its own buffer; the views start after it (cat3 copies all its parts)
  const views = graph.nodes.filter((n) => n.attrs.view !== undefined);
  assert.deepEqual(
    views.map((n) => [n.name, (n.attrs.view as { from: number }).from]),
    [
      ['cat3', 0],
      ['out', 3],
    ],
  );
});

test('guard cacheResident: a thin BN on a small tensor stays whole (no rule fuses it, forward or backward); a wider or larger one is fused', () => {
  const build = (C: number, HW: number) =>
    trainGraph([4, C, HW, HW], (b, x) => {
      const h = b.relu('relu1', b.batchNorm2d('bn1', b.conv2d('conv1', x, { out: C, kernel: 3, padding: 1, bias: false })));
      return b.conv2d('conv2', h, { out: C, kernel: 3, padding: 1, bias: false });
    });
  const opts = { ...ALL_FUSION, minFissionBytes: 4 << 20 };
  // 4 x 16 x 32 x 32 floats = 256 KiB, 16 channels: kept whole
  const small = fuse(build(16, 32).g, opts);
  assert.equal(blockedBy(small.report, 'bn1', 'fission'), 'cacheResident');
  assert.equal(small.report.whole.has('bn1'), true);
  assert.equal(small.report.notes.filter((n) => n.layer === 'bn1' && n.fired).length, 0, 'no rule fires on a BN kept whole');
  const ops = (g: Graph): string[] => g.nodes.map((n) => n.op);
  assert.equal(ops(small.graph).filter((o) => o === 'batch_norm2d').length, 1);
  assert.equal(ops(small.graph).filter((o) => o.startsWith('conv2d_fused')).length, 0);
  // the same network without the guard, and with 80 channels (above the thin limit), is fused
  for (const [C, o] of [
    [16, ALL_FUSION],
    [80, opts],
  ] as const) {
    const r = fuse(build(C, 32).g, o);
    assert.equal(blockedBy(r.report, 'bn1', 'fission'), undefined);
    assert.ok(ops(r.graph).some((x) => x.startsWith('conv2d_fused')));
  }
  // a tensor above the byte limit is fused: 4 x 16 x 32 x 32 x 4 B = 256 KiB > 128 KiB
  const big = fuse(build(16, 32).g, { ...ALL_FUSION, minFissionBytes: 128 << 10 });
  assert.equal(blockedBy(big.report, 'bn1', 'fission'), undefined);
});

/** expand 1x1 -> BN -> ReLU -> depthwise 3x3 -> BN -> ReLU -> project 1x1: MobileNet's block with ReLU, so every rule can fire. */
const dwBlock =
  () =>
  (b: Builder, x: number): number => {
    let h = b.relu('r1', b.batchNorm2d('bn1', b.conv2d('expand', x, { out: 6, kernel: 1 })));
    h = b.relu('r2', b.batchNorm2d('bn2', b.conv2d('dw', h, { out: 6, kernel: 3, padding: 1, groups: 6 })));
    return b.conv2d('project', h, { out: 3, kernel: 1 });
  };

/** Kernels without fused depthwise variants (an engine that lacks them). */
const NO_DW_KERNELS: KernelCapabilities = { ...FAST_KERNELS, convFusedDepthwise: () => false };

test('guard depthwiseFused: kernels without fused depthwise variants get no BN work in a depthwise convolution, forward or backward; the other side of each BN still fuses', () => {
  const { g } = trainGraph([2, 3, 5, 5], dwBlock());
  const { graph, report } = applyFusion(g, ALL_FUSION, NO_DW_KERNELS);
  // bn1 sits between the expand conv and the depthwise conv, bn2 between the depthwise and the project conv
  assert.equal(blockedBy(report, 'bn1', 'normalize-into-conv'), 'depthwiseFused');
  // (the ReLU mask and reductions need the normalize in the consuming conv: no mask, no epilogue)
  assert.equal(blockedBy(report, 'bn1', 'reduce-into-conv-backward'), 'reluFolded');
  assert.equal(blockedBy(report, 'bn2', 'moments-into-conv'), 'depthwiseFused');
  assert.equal(blockedBy(report, 'bn2', 'bn-grad-into-conv-backward'), 'depthwiseFused');
  assert.match(
    report.notes.find((n) => n.layer === 'bn2' && n.guard === 'depthwiseFused')!.detail,
    /"dw" is a depthwise convolution, for which the kernels have no fused variant/,
  );
  for (const r of ['moments-into-conv', 'bn-grad-into-conv-backward']) assert.ok(fired(report, 'bn1', r), `bn1 ${r} (the expand conv)`);
  for (const r of ['normalize-into-conv', 'reduce-into-conv-backward']) assert.ok(fired(report, 'bn2', r), `bn2 ${r} (the project conv)`);
  const dw = graph.nodes.filter((n) => n.name.startsWith('dw'));
  assert.deepEqual(
    dw.map((n) => n.op).sort(),
    ['conv2d', 'conv2d_backward_data', 'conv2d_backward_weight'],
    'the depthwise convolution and its backward stay plain',
  );
  assert.equal(count(graph, 'channel_moments'), 1, 'bn2 statistics standalone');
  assert.equal(count(graph, 'bn_apply'), 1, 'bn1 normalize+ReLU standalone');
  assert.equal(count(graph, 'bn_backward_data'), 1, 'bn2 dx standalone');
  agreeInFloat64([2, 3, 5, 5], dwBlock);
});

test('guard depthwiseFused: depthwise fusion off (ablation depthwise-unfused) keeps the depthwise convolution plain with the fast kernels too', () => {
  const o = ABLATIONS['depthwise-unfused']!;
  assert.equal(o.depthwiseFusion, false);
  const { g } = trainGraph([2, 3, 5, 5], dwBlock());
  const { graph, report } = fuse(g, o);
  assert.equal(blockedBy(report, 'bn1', 'normalize-into-conv'), 'depthwiseFused');
  assert.equal(blockedBy(report, 'bn2', 'moments-into-conv'), 'depthwiseFused');
  assert.equal(blockedBy(report, 'bn2', 'bn-grad-into-conv-backward'), 'depthwiseFused');
  assert.match(report.notes.find((n) => n.layer === 'bn2' && n.guard === 'depthwiseFused')!.detail, /depthwise fusion is off/);
  assert.deepEqual(
    graph.nodes
      .filter((n) => n.name.startsWith('dw'))
      .map((n) => n.op)
      .sort(),
    ['conv2d', 'conv2d_backward_data', 'conv2d_backward_weight'],
  );
  agreeInFloat64([2, 3, 5, 5], dwBlock, o);
});

test('depthwise fusion (default, fast kernels): every rule fires through the depthwise convolution, and the graph equals the unfused one in float64', () => {
  const { g } = trainGraph([2, 3, 5, 5], dwBlock());
  const { graph, report } = fuse(g);
  for (const bn of ['bn1', 'bn2'])
    for (const r of ['moments-into-conv', 'normalize-into-conv', 'reduce-into-conv-backward', 'bn-grad-into-conv-backward'])
      assert.ok(fired(report, bn, r), `${bn} ${r}`);
  for (const op of ['channel_moments', 'bn_apply', 'bn_backward_data', 'bn_relu_mask', 'bn_backward_reduce', 'relu']) assert.equal(count(graph, op), 0, op);
  // the depthwise convolution carries every operand group: x prologue and moments forward, dy
  // prologue and dx epilogue in backward-data, both prologues in backward-weights
  const dw = (op: string): FusedConvAttrs => graph.nodes.find((n) => n.name.startsWith('dw') && n.op === op)!.attrs as unknown as FusedConvAttrs;
  assert.deepEqual([dw('conv2d_fused').xPrologue, dw('conv2d_fused').epilogue], [{ relu: true }, 'moments']);
  assert.deepEqual([dw('conv2d_fused_backward_data').dyPrologue, dw('conv2d_fused_backward_data').dxEpilogue], [true, { relu: true }]);
  assert.deepEqual([dw('conv2d_fused_backward_weight').dyPrologue, dw('conv2d_fused_backward_weight').xPrologue], [true, { relu: true }]);
  agreeInFloat64([2, 3, 5, 5], dwBlock);
});

test('kernel counts of mobilenet_v2_cifar and efficientnet_b0_cifar: what fuses through the lean blocks', () => {
  const counts = (m: string, o: FusionOptions = ALL_FUSION): Record<string, number> => {
    const net = new Network(getModel(m), new HostMemory('f64'), 0, undefined, o);
    const c: Record<string, number> = {};
    for (const n of net.buildTrainGraph([2, 3, 32, 32]).graph.nodes) c[n.op] = (c[n.op] ?? 0) + 1;
    return c;
  };
  // 52 BNs: 17 after a depthwise conv, 35 after a dense one (stem, 16 expand, 17 project, last)
  const m = counts('mobilenet_v2_cifar');
  assert.equal(m.batch_norm2d, undefined);
  assert.equal(m.bn_finalize, 52);
  assert.equal(m.channel_moments, undefined, 'every BN has its statistics in its producing conv, the 17 depthwise ones included');
  assert.equal(m.conv2d_fused, 52, 'every conv is fused, the depthwise ones included');
  assert.equal(m.conv2d, undefined);
  assert.equal(m.bn_backward_data, undefined, "every BN dx computed on load in the producing conv's backward");
  assert.equal(m.conv2d_fused_backward_data, 51, 'every conv but the stem (whose input needs no gradient)');
  assert.equal(m.relu6, undefined, 'every ReLU6 is folded into its normalize');
  assert.equal(m.relu6_backward, undefined, 'no ReLU6 backward of its own');
  assert.equal(m.bn_act_reduce, 1, "the last BN (read by the pooling): the ReLU6 mask in the BN's reduce pass (act-with-reduce)");
  assert.equal(
    m.bn_relu_mask,
    undefined,
    "the 17 before a depthwise conv and the 17 before a project 1x1 conv: derivative and reductions in the conv's backward-data epilogue",
  );
  assert.equal(m.bn_backward_reduce, 17, 'the 17 project BNs: no activation');
  assert.equal(m.bn_add_relu, 10, 'every residual end fuses its BN and add (no ReLU after the add)');
  assert.equal(
    m.bn_apply,
    52 - 17 - 17 - 2 - 10,
    'normalize+ReLU6 in the 17 depthwise and the 17 project convs, two project BNs in their consumers, ten in the residual kernel',
  );
  const dw = counts('mobilenet_v2_cifar', ABLATIONS['depthwise-unfused']);
  assert.equal(dw.channel_moments, 17, 'depthwise fusion off: the BNs after a depthwise conv keep their statistics pass (depthwiseFused)');
  assert.equal(dw.bn_backward_data, 17, "depthwise fusion off: BN dx standalone before a depthwise conv's backward");
  assert.equal(dw.conv2d, 17);
  const e = counts('efficientnet_b0_cifar');
  assert.equal(e.bn_finalize, 49);
  assert.equal(e.channel_moments, undefined, 'the 16 depthwise convs take their BN statistics');
  assert.equal(e.bn_backward_data, undefined);
  assert.equal(e.conv2d_fused, 49);
  assert.equal(e.conv2d, 2 * 16, "squeeze-excitation's two 1x1 convs with bias, no BN");
  assert.equal(e.channel_scale, 2 * 16, 'one squeeze-excitation per MBConv block, forward and dx');
  assert.equal(e.stochastic_depth, 9 - 0, 'every residual MBConv block but none at p = 0 (the first block has no residual)');
  assert.equal(counts('efficientnet_b0_cifar', ABLATIONS['depthwise-unfused']).channel_moments, 16, 'one per depthwise conv with depthwise fusion off');
  assert.equal(e.silu, 16, "every SiLU after a BN is folded; the 16 left are the squeeze-excitations' own (after a biased 1x1 conv)");
  assert.equal(e.silu_backward, 16);
  assert.equal(e.bn_relu_mask, undefined, 'no SiLU derivative pass of its own');
  assert.equal(
    e.bn_act_reduce,
    33 - 16,
    "stem, 15 expand and 16 depthwise BNs fold SiLU; the 16 before a depthwise conv differentiate it in its backward-data epilogue, the 17 others in the BN's reduce pass (act-with-reduce)",
  );
});

/**
 * conv -> BN -> act -> depthwise 3x3 -> BN -> act -> project 1x1 -> BN -> act -> head 3x3 4->4
 * (a Winograd convolution: convFusedActivation), act folding through every rule it can.
 */
const actBlock =
  (act: 'relu6' | 'silu' | 'hardswish') =>
  () =>
  (b: Builder, x: number): number => {
    let h = b[act]('a1', b.batchNorm2d('bn1', b.conv2d('expand', x, { out: 6, kernel: 1 })));
    h = b[act]('a2', b.batchNorm2d('bn2', b.conv2d('dw', h, { out: 6, kernel: 3, padding: 1, groups: 6 })));
    h = b[act]('a3', b.batchNorm2d('bn3', b.conv2d('project', h, { out: 4, kernel: 1 })));
    return b.conv2d('head', h, { out: 4, kernel: 3, padding: 1 });
  };

for (const act of ['relu6', 'silu', 'hardswish'] as const) {
  test(`fission folds ${act} into the normalize; the GEMM and depthwise kernels take it, guard activationInConv keeps it out of the Winograd ones; float64 agrees`, () => {
    const { g } = trainGraph([2, 3, 5, 5], actBlock(act)());
    const { graph, report } = fuse(g);
    for (const bn of ['bn1', 'bn2', 'bn3']) {
      assert.ok(fired(report, bn, 'fission'));
      assert.match(report.notes.find((n) => n.layer === bn && n.rule === 'fission')!.detail, /folded into normalize/);
    }
    assert.equal(count(graph, act), 0, `every ${act} folded`);
    // the fused depthwise (bn1) and GEMM (bn2: the 1x1 project conv) kernels apply and differentiate every activation
    for (const bn of ['bn1', 'bn2']) {
      assert.ok(fired(report, bn, 'normalize-into-conv'), bn);
      assert.ok(fired(report, bn, 'reduce-into-conv-backward'), bn);
    }
    const project = graph.nodes.find((n) => n.op === 'conv2d_fused' && n.name === 'project')!;
    assert.deepEqual(project.attrs.xPrologue, { relu: false, act });
    const projectDx = graph.nodes.find((n) => n.op === 'conv2d_fused_backward_data' && n.name.startsWith('project'))!;
    assert.deepEqual(projectDx.attrs.dxEpilogue, { relu: false, act });
    // the Winograd head (3x3, 4 -> 4) takes ReLU only: bn3's normalize+activation stays a kernel of its own
    assert.equal(blockedBy(report, 'bn3', 'normalize-into-conv'), 'activationInConv');
    assert.match(report.notes.find((n) => n.layer === 'bn3' && n.guard === 'activationInConv')!.detail, new RegExp(`"head" cannot apply ${act}`));
    const applies = graph.nodes.filter((n) => n.op === 'bn_apply');
    assert.equal(applies.length, 1, 'before the Winograd conv the normalize+activation stays a kernel of its own');
    assert.equal(applies[0]!.attrs.act, act);
    // there the activation's backward goes into the BN's reduce pass (act-with-reduce): ReLU6's
    // mask read from the normalize+ReLU6 output, SiLU's and hardswish's derivative (their input,
    // the BN output, is gone) recomputed from the BN input
    assert.equal(count(graph, `${act}_backward`), 0);
    assert.equal(count(graph, 'bn_relu_mask'), 0);
    assert.equal(count(graph, 'bn_backward_reduce'), 0);
    const fusedReduces = graph.nodes.filter((n) => n.op === 'bn_act_reduce');
    assert.equal(fusedReduces.length, 1);
    assert.deepEqual(fusedReduces[0]!.attrs, { act, from: act === 'relu6' ? 'output' : 'input' });
    assert.ok(fired(report, 'bn3', 'act-with-reduce'));
    // the Winograd backward-data could take it as its dx epilogue, but its kernels cannot differentiate it
    if (act !== 'relu6') assert.equal(blockedBy(report, 'bn3', 'reduce-into-conv-backward'), 'activationInConv');
    agreeInFloat64([2, 3, 5, 5], actBlock(act));
  });

  test(`${act} in the convolutions' x prologue and dx epilogue (kernels that apply every activation): every rule fires, float64 agrees`, () => {
    const { g } = trainGraph([2, 3, 5, 5], actBlock(act)());
    const { graph, report } = fuse(g, ALL_FUSION, EVERY_ACTIVATION);
    assert.ok(fired(report, 'bn3', 'normalize-into-conv'));
    assert.ok(fired(report, 'bn3', 'reduce-into-conv-backward'));
    // the depthwise convolution applies and differentiates every activation (fused depthwise kernels)
    assert.ok(fired(report, 'bn1', 'normalize-into-conv'));
    assert.ok(fired(report, 'bn1', 'reduce-into-conv-backward'));
    const fwd = graph.nodes.find((n) => n.op === 'conv2d_fused' && n.name === 'head')!;
    assert.deepEqual(fwd.attrs.xPrologue, { relu: false, act });
    const bwd = graph.nodes.find((n) => n.op === 'conv2d_fused_backward_data' && n.name.startsWith('head'))!;
    assert.deepEqual(bwd.attrs.dxEpilogue, { relu: false, act });
    agreeInFloat64([2, 3, 5, 5], actBlock(act), ALL_FUSION, EVERY_ACTIVATION);
    agreeInFloat64([2, 3, 5, 5], actBlock(act), { ...ALL_FUSION, depthwiseFusion: false }, EVERY_ACTIVATION);
  });
}

test('cost guard activationCost: SiLU and hardswish stay out of the fused convolutions where fusedActivations says so (the native engine); ReLU6 goes in', () => {
  const costs = { ...ALL_FUSION, fusedActivations: ['none', 'relu', 'relu6'] as const };
  for (const act of ['silu', 'hardswish'] as const) {
    const { g } = trainGraph([2, 3, 5, 5], actBlock(act)());
    const { graph, report } = fuse(g, costs, EVERY_ACTIVATION);
    for (const bn of ['bn1', 'bn2', 'bn3']) {
      assert.equal(blockedBy(report, bn, 'normalize-into-conv'), 'activationCost');
      assert.equal(blockedBy(report, bn, 'reduce-into-conv-backward'), 'activationCost');
      assert.ok(fired(report, bn, 'act-with-reduce'), `${act} ${bn}: its derivative in the reduce pass`);
    }
    assert.match(report.notes.find((n) => n.layer === 'bn1' && n.guard === 'activationCost')!.detail, new RegExp(`${act} stays in its standalone normalize`));
    assert.equal(graph.nodes.filter((n) => n.op === 'bn_apply').length, 3);
  }
  const { g } = trainGraph([2, 3, 5, 5], actBlock('relu6')());
  const { report } = fuse(g, costs, EVERY_ACTIVATION);
  for (const bn of ['bn1', 'bn2', 'bn3']) assert.ok(fired(report, bn, 'normalize-into-conv'));
  agreeInFloat64([2, 3, 5, 5], actBlock('silu'));
});

test('guard reluIsSoleConsumer: an activation read by something else besides stays a node of its own', () => {
  const { g } = trainGraph([2, 3, 5, 5], (b, x) => {
    const h = b.batchNorm2d('bn1', b.conv2d('c1', x, { out: 4, kernel: 3, padding: 1 }));
    return b.add('sum', b.silu('act', h), h);
  });
  const { graph, report } = fuse(g);
  assert.equal(blockedBy(report, 'bn1', 'fold-relu'), 'reluIsSoleConsumer');
  assert.equal(count(graph, 'silu'), 1);
  assert.equal(count(graph, 'silu_backward'), 1);
});
