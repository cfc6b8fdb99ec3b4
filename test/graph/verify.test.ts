/**
 * verify(): each invariant of the IR has a graph that breaks it and the message that names
 * where; every model's training graph passes it after every fusion pass; and applyFusion with
 * verification on names the pass that broke a graph.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Builder } from '../../src/graph/builder.js';
import { type Graph } from '../../src/graph/ir.js';
import { GraphError, verify } from '../../src/graph/verify.js';
import { MODELS, getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { ABLATIONS, ALL_FUSION, applyFusion, runPasses } from '../../src/passes/index.js';
import { FusionReport, type Pass, rebuild } from '../../src/passes/rewrite.js';
import { FAST_KERNELS } from '../../src/runtime/capabilities.js';
import { HostMemory } from '../../src/runtime/memory.js';

/** x -> conv -> bn -> relu -> output y: a small valid graph. */
function small(): { g: Graph; x: number; conv: number; y: number } {
  const b = new Builder({ training: true });
  const x = b.input('x', [2, 3, 8, 8]);
  const conv = b.conv2d('conv', x, { out: 4, kernel: 3, padding: 1 });
  const y = b.relu('relu', b.batchNorm2d('bn', conv));
  b.g.outputs.set('y', y);
  return { g: b.g, x, conv, y };
}

const fails = (g: Graph, re: RegExp): void =>
  assert.throws(
    () => verify(g, 'test graph'),
    (e: Error) => e instanceof GraphError && e.message.startsWith('test graph: ') && re.test(e.message),
    `expected ${re}`,
  );

test('verify: a valid graph passes', () => {
  verify(small().g);
});

test('verify: a node reading a value that does not exist', () => {
  const { g } = small();
  (g.nodes[1]!.inputs as number[])[0] = 999;
  fails(g, /node 1 batch_norm2d "bn" reads value 999, which does not exist/);
});

test('verify: nodes out of order (a value read before it is written)', () => {
  const { g } = small();
  // swap conv and bn: bn now reads conv's output before conv runs
  const [conv, bn] = [g.nodes[0]!, g.nodes[1]!];
  g.nodes[0] = { ...bn, id: 0 };
  g.nodes[1] = { ...conv, id: 1 };
  for (const o of g.nodes[0].outputs) g.value(o).producer = 0;
  for (const o of g.nodes[1].outputs) g.value(o).producer = 1;
  fails(g, /node 0 batch_norm2d "bn" reads "conv" before any node writes it/);
});

test('verify: a cycle (a node reading its own output)', () => {
  const { g, y } = small();
  (g.nodes[2]!.inputs as number[])[0] = y;
  fails(g, /node 2 relu "relu" reads "relu" before any node writes it \(its producer is node 2: a cycle or a node out of order\)/);
});

test("verify: a shape that disagrees with the op's shape rule", () => {
  const { g, conv } = small();
  (g.value(conv) as { shape: readonly number[] }).shape = [2, 4, 6, 6];
  fails(g, /node 0 conv2d "conv" output 0 "conv" is \[2, 4, 6, 6\], its op's shape rule gives \[2, 4, 8, 8\]/);
});

test('verify: a value written twice, and a wrong producer', () => {
  const a = small();
  // Graph.addNode refuses a second producer; a pass writing g.nodes directly could still do it
  a.g.nodes.push({ id: 3, op: 'relu', name: 'again', inputs: [a.x], outputs: [a.y], attrs: {} });
  fails(a.g, /node 3 relu "again" writes "relu", already written by node 2/);
  const b = small();
  b.g.value(b.conv).producer = 2;
  fails(b.g, /node 0 conv2d "conv" writes "conv", whose producer is node 2/);
});

test('verify: an output that is computed by no node, or does not exist', () => {
  const a = small();
  a.g.outputs.set('ghost', a.g.addValue('ghost', [2, 4], 'activation').id);
  fails(a.g, /output "ghost" \("ghost"\) is computed by no node/);
  const b = small();
  b.g.outputs.set('nothing', 12345);
  fails(b.g, /output "nothing" is value 12345, which does not exist/);
});

test("verify: every model's training graph after every pass, with every ablation", () => {
  for (const m of MODELS) {
    const size = getModel(m.name).imageSize > 64 ? 64 : 32;
    for (const [name, fusion] of [['all', ALL_FUSION] as const, ...Object.entries(ABLATIONS)]) {
      const net = new Network(getModel(m.name), new HostMemory('f32'), 0, undefined, fusion);
      const g = net.buildTrainGraph([2, 3, size, size], fusion).graph;
      assert.doesNotThrow(() => verify(g, `${m.name} ${name}`));
    }
  }
});

test('the pass runner with verification names the pass that broke the graph', () => {
  const net = new Network(getModel('resnet8'), new HostMemory('f32'), 0);
  const g = net.buildTrainGraph([2, 3, 32, 32]).graph;
  // a pass that rewires the last node to read a value that does not exist
  const breaks: Pass = {
    name: 'breaks-things',
    run(h) {
      return rebuild(h, (n, w) => (n === h.nodes[h.nodes.length - 1] ? w.node(n.op, n.name, [99_999, ...n.inputs.slice(1)], n.outputs, n.attrs) : w.keep(n)));
    },
  };
  const keeps: Pass = { name: 'keeps-things', run: (h) => rebuild(h, (n, w) => w.keep(n)) };
  assert.doesNotThrow(() => runPasses(g, [keeps], new FusionReport(), true));
  assert.throws(
    () => runPasses(g, [keeps, breaks], new FusionReport(), true),
    (e: Error) => e instanceof GraphError && /^after pass breaks-things: node \d+ .* reads value 99999, which does not exist$/.test(e.message),
  );
  // without the check the broken graph goes through (what verification is there to catch)
  assert.doesNotThrow(() => runPasses(g, [breaks], new FusionReport(), false));
  // applyFusion honours the flag: a broken input graph is named before any pass
  const bad = runPasses(g, [breaks], new FusionReport(), false);
  assert.throws(
    () => applyFusion(bad, ALL_FUSION, FAST_KERNELS, new FusionReport(), true),
    (e: Error) => e instanceof GraphError && /^the graph before fusion: /.test(e.message),
  );
});
