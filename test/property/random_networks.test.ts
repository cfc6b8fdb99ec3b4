/**
 * Property-based tests (fast-check): random small networks of conv / BN / ReLU / add / concat /
 * pool with random shapes, strides, paddings, groups, channel counts that are not multiples of
 * the SIMD width, and batch 1. Properties:
 *  1. fused equals unfused in float64 (forward, every gradient, running statistics);
 *  2. the WebAssembly engine (fused) equals the float64 reference within float32 tolerance.
 * Shrinking reduces a failure to a minimal network. CI runs a fixed seed and a small count;
 * BNFF_PROPERTY_RUNS=500 runs more.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { appendBackward, pruneDead } from '../../src/autodiff/backward.js';
import { Builder } from '../../src/graph/builder.js';
import { type Graph, numel } from '../../src/graph/ir.js';
import { ALL_FUSION, type FusionOptions, NO_FUSION, applyFusion } from '../../src/passes/index.js';
import { createEngine, type Engine } from '../../src/runtime/engine.js';
import { Executor, type Lowering } from '../../src/runtime/executor.js';
import { HostMemory, type Memory } from '../../src/runtime/memory.js';
import { Rng } from '../../src/util/random.js';

const RUNS = Number(process.env.BNFF_PROPERTY_RUNS ?? 12);

interface LayerSpec {
  kind: 'conv' | 'add' | 'concat' | 'pool';
  src: number;
  out: number;
  kernel: number;
  stride: number;
  groups: number;
  relu: boolean;
  bn: boolean;
}

interface NetSpec {
  batch: number;
  channels: number;
  size: number;
  layers: LayerSpec[];
}

const layerArb = fc.record({
  kind: fc.constantFrom<LayerSpec['kind']>('conv', 'conv', 'add', 'concat', 'pool'),
  src: fc.nat(8),
  out: fc.integer({ min: 1, max: 9 }),
  kernel: fc.constantFrom(1, 3),
  stride: fc.constantFrom(1, 1, 2),
  groups: fc.constantFrom(1, 1, 2),
  relu: fc.boolean(),
  bn: fc.boolean(),
});

const netArb = fc.record({
  batch: fc.integer({ min: 1, max: 3 }),
  channels: fc.integer({ min: 1, max: 6 }),
  size: fc.integer({ min: 3, max: 9 }),
  layers: fc.array(layerArb, { minLength: 1, maxLength: 6 }),
});

/** Builds the network; layers that do not fit the shapes they are given degrade to a plain conv. */
function build(spec: NetSpec, b: Builder, x: number): number {
  const vals = [x];
  spec.layers.forEach((l, i) => {
    const src = vals[l.src % vals.length]!;
    const [, C, H] = b.shape(src) as number[];
    let h: number;
    if (l.kind === 'pool' && H! >= 2) {
      h = b.maxPool2d(`pool${i}`, src, { kernel: 2, stride: l.stride });
    } else if (l.kind === 'add' || l.kind === 'concat') {
      const other = vals.find((v) => v !== src && b.shape(v)[2] === H && (l.kind === 'concat' || b.shape(v)[1] === C));
      if (other === undefined) return;
      h = l.kind === 'add' ? b.add(`add${i}`, src, other) : b.concat(`cat${i}`, [src, other]);
    } else {
      const groups = C! % l.groups === 0 && (l.out * l.groups) % l.groups === 0 ? l.groups : 1;
      const stride = H! > 2 ? l.stride : 1;
      h = b.conv2d(`conv${i}`, src, { out: l.out * groups, kernel: l.kernel, stride, padding: l.kernel >> 1, groups, bias: !l.bn });
    }
    if (l.bn && b.shape(h)[0]! * b.shape(h)[2]! * b.shape(h)[3]! > 1) h = b.batchNorm2d(`bn${i}`, h);
    if (l.relu) h = b.relu(`relu${i}`, h);
    vals.push(h);
  });
  const last = vals[vals.length - 1]!;
  return b.conv2d('head', last, { out: 2, kernel: 1, bias: true });
}

interface Run {
  outputs: Map<string, Float64Array>;
}

function run(spec: NetSpec, fusion: FusionOptions, memory: Memory, lowering?: Lowering): Run {
  const b = new Builder({ training: true });
  const x = b.input('x', [spec.batch, spec.channels, spec.size, spec.size]);
  const y = build(spec, b, x);
  let g: Graph = b.g;
  const dy = g.addValue('dy', g.value(y).shape, 'input').id;
  g.outputs.set('y', y);
  const params = g.values.filter((v) => v.kind === 'param').map((v) => v.id);
  const { grads } = appendBackward(g, new Map([[y, dy]]), [x, ...params]);
  for (const [v, d] of grads) g.outputs.set(`grad:${g.value(v).name}`, d);
  g = applyFusion(pruneDead(g), fusion).graph;
  const vals = new Rng(5);
  const store = new Map(
    b.specs.map((s) => {
      const a = memory.alloc(numel(s.shape));
      for (let i = 0; i < a.length; i++) a[i] = s.name.endsWith('running_var') ? 1 : s.name.endsWith('num_batches_tracked') ? 0 : s.shape.length === 1 ? 1 + 0.5 * vals.normal() : 0.5 * vals.normal();
      return [s.name, a] as const;
    }),
  );
  const exec = new Executor(g, memory, (n) => store.get(n), lowering);
  const inp = new Rng(6);
  exec.write(x, Float64Array.from({ length: numel(g.value(x).shape) }, () => inp.normal()));
  exec.write(dy, Float64Array.from({ length: numel(g.value(dy).shape) }, () => inp.normal()));
  exec.run({ seed: 1, step: 0 });
  const outputs = new Map<string, Float64Array>();
  for (const [k, id] of g.outputs) outputs.set(k, Float64Array.from(exec.read(id)));
  for (const [k, v] of store) if (k.includes('running')) outputs.set(k, Float64Array.from(v));
  return { outputs };
}

function worst(a: Run, b: Run): { key: string; err: number } {
  let w = { key: '', err: 0 };
  for (const [k, v] of a.outputs) {
    const u = b.outputs.get(k);
    if (!u) return { key: `missing ${k}`, err: Infinity };
    // Gradients that BN's scale invariance makes exactly zero in theory (a 1x1 conv feeding a BN
    // of one channel) are rounding noise: compare against an O(1) floor, as inputs and dy are.
    let scale = 1e-2;
    let err = 0;
    for (let i = 0; i < v.length; i++) {
      scale = Math.max(scale, Math.abs(v[i]!));
      err = Math.max(err, Math.abs(v[i]! - u[i]!));
    }
    if (err / scale > w.err) w = { key: k, err: err / scale };
  }
  return w;
}

test('property: fused equals unfused in float64 on random networks', () => {
  fc.assert(
    fc.property(netArb, (spec) => {
      const w = worst(run(spec, NO_FUSION, new HostMemory('f64')), run(spec, ALL_FUSION, new HostMemory('f64')));
      if (w.err >= 1e-8) assert.fail(`${w.key}: relative error ${w.err}`);
      return true;
    }),
    { seed: 42, numRuns: RUNS * 2 },
  );
});

let engine: Engine | undefined;
after(() => engine?.close());

test('property: the WebAssembly engine (fused) matches the float64 reference on random networks', async () => {
  engine = await createEngine({ threads: 2 });
  const e = engine;
  fc.assert(
    fc.property(netArb, (spec) => {
      const ref = run(spec, NO_FUSION, new HostMemory('f64'));
      const fast = run(spec, ALL_FUSION, e.memory, e.lowering);
      const w = worst(ref, fast);
      if (w.err >= 2e-3) assert.fail(`${w.key}: relative error ${w.err}`);
      return true;
    }),
    { seed: 7, numRuns: RUNS },
  );
});
