/**
 * Numerical robustness of batch normalization on the WebAssembly engine, unfused and fused,
 * against the float64 reference (PyTorch semantics): large |mean|/std, tiny and zero
 * variances, 1x1 feature maps (and PyTorch's error for one value per channel). Inputs and parameters are the same float32 values everywhere;
 * the engine must be as accurate as plain float32 loops (the reference kernels on float32
 * storage, which round like PyTorch's CPU kernels), and the statistics accurate outright.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Builder } from '../../src/graph/builder.js';
import { ShapeError } from '../../src/graph/ir.js';
import { type ModelDef, Network } from '../../src/models/network.js';
import { ALL_FUSION, NO_FUSION } from '../../src/passes/index.js';
import { createEngine, type Engine } from '../../src/runtime/engine.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { type StepCase, type StepOutputs, relErrs, trainStep } from '../helpers/step.js';

let engine: Engine;
before(async () => {
  engine = await createEngine({ threads: 2 });
});
after(() => engine.close());

/**
 * x -> bn0 -> relu -> conv1 -> bn1 -> relu -> conv2 -> bn2 -> y: bn0 normalises the input
 * (standalone moments when fused), bn1 and bn2 a convolution's output (moments in the conv's
 * epilogue, normalisation in the next conv's prologue, BN backward in its dy prologue).
 * Channel counts 5 and 7 are not multiples of the SIMD width. The convolutions' biases shift
 * bn1's and bn2's inputs (a shifted input instead would make the convolution's own weight
 * gradient ill-conditioned, in any float32 implementation).
 */
function bnNet(b: Builder, x: number): number {
  const h = b.relu('relu0', b.batchNorm2d('bn0', x));
  const h1 = b.relu('relu1', b.batchNorm2d('bn1', b.conv2d('conv1', h, { out: 7, kernel: 3, padding: 1, bias: true })));
  return b.batchNorm2d('bn2', b.conv2d('conv2', h1, { out: 6, kernel: 3, padding: 1, bias: true }));
}

/** Batch mean / std per channel of each BN, recovered from the running statistics after one step from (0, 1). */
function ratios(ref: StepOutputs, bns: string[], m: number): number[] {
  return bns.flatMap((bn) => {
    const rm = ref.get(`${bn}.running_mean`)!;
    const rv = ref.get(`${bn}.running_var`)!;
    return [...rm].map((v, c) => Math.abs(10 * v) / Math.sqrt(((rv[c]! - 0.9) * 10 * (m - 1)) / m));
  });
}

interface Errors {
  /** Per tensor: engine unfused, engine fused, plain float32 loops. */
  unfused: Map<string, number>;
  fused: Map<string, number>;
  plain: Map<string, number>;
  ref: StepOutputs;
  /** The engine's outputs, unfused and fused. */
  outputs: StepOutputs[];
}

function errors(c: StepCase): Errors {
  const ref = trainStep(c, NO_FUSION, new HostMemory('f64'));
  for (const [k, e] of relErrs(ref, trainStep(c, ALL_FUSION, new HostMemory('f64')))) assert.ok(e < 1e-9, `float64 fused vs unfused: ${k} ${e}`);
  const outputs = [NO_FUSION, ALL_FUSION].map((f) => trainStep(c, f, engine.memory, engine.lowering));
  for (const o of [ref, ...outputs]) finite(o);
  return {
    ref,
    outputs,
    unfused: relErrs(ref, outputs[0]!),
    fused: relErrs(ref, outputs[1]!),
    plain: relErrs(ref, trainStep(c, NO_FUSION, new HostMemory('f32'))),
  };
}

function finite(o: StepOutputs): void {
  for (const [k, v] of o) assert.ok(v.every(Number.isFinite), `${k} is not finite`);
}

/** Worst error over tensors, leaving out the gradients of conv biases feeding a BN (zero in theory: rounding noise). */
function worst(m: Map<string, number>, keep: (k: string) => boolean = (k) => !/^grad:conv\d\.bias$/.test(k)): number {
  return Math.max(...[...m].filter(([k]) => keep(k)).map(([, e]) => e));
}

const stats = (k: string): boolean => k.includes('running');
const fmt = (e: number): string => e.toExponential(1);

function report(what: string, e: Errors): string {
  return `${what}: worst relative error unfused ${fmt(worst(e.unfused))}, fused ${fmt(worst(e.fused))}, plain float32 ${fmt(worst(e.plain))}; running statistics ${fmt(worst(e.unfused, stats))}, ${fmt(worst(e.fused, stats))}, ${fmt(worst(e.plain, stats))}`;
}

/** The engine's worst error is at most `factor` times plain float32 loops' (or `floor`), overall and for the statistics. */
function asAccurateAsPlain(e: Errors, what: string, factor = 3, floor = 1e-5): void {
  for (const keep of [undefined, stats]) {
    const p = worst(e.plain, keep);
    for (const mode of ['unfused', 'fused'] as const) assert.ok(worst(e[mode], keep) <= Math.max(factor * p, floor), report(what, e));
  }
}

// Measured (2 threads): |mean|/std up to 1.1e2: engine 2.4e-5, plain float32 2.3e-5; up to
// 1.1e4: engine 1.0e-3, plain 2.4e-3 (float32 storage of a 2e4 +- 2 activation alone is
// 5e-4 of its spread). Running means within 2e-7, running variances 1.2e-4 (plain 1.9e-4).
for (const [ratio, bound] of [
  [1e2, 1e-4],
  [1e4, 2e-3],
] as const) {
  test(`BN with |mean|/std up to ${ratio}: engine (unfused and fused), forward and backward, vs float64`, () => {
    const e = errors({
      input: [4, 5, 8, 8],
      build: bnNet,
      // Input channel c: mean ratio * (c + 1), std (c + 1).
      fillX: (a) => a.forEach((v, i) => (a[i] = ((Math.floor(i / 64) % 5) + 1) * (ratio + v))),
      // Conv outputs have std ~ 2: biases of +-2 ratio give |mean|/std ~ ratio.
      fillParam: (name, a) => {
        if (name.endsWith('conv1.bias') || name.endsWith('conv2.bias')) a.forEach((_, i) => (a[i] = 2 * ratio * (i % 2 ? 1 : -1)));
      },
    });
    const r = ratios(e.ref, ['bn0', 'bn1', 'bn2'], 4 * 64);
    assert.ok(Math.min(...r) > 0.3 * ratio && Math.max(...r) < 3 * ratio, `|mean|/std per channel: ${r.map(fmt)}`);
    const what = `|mean|/std ${fmt(Math.min(...r))}..${fmt(Math.max(...r))}`;
    console.log(report(what, e));
    asAccurateAsPlain(e, what);
    for (const mode of ['unfused', 'fused'] as const) {
      assert.ok(worst(e[mode]) < bound, report(what, e));
      assert.ok(worst(e[mode], (k) => k.endsWith('running_mean')) < 1e-6, report(what, e));
    }
  });
}

test('BN with tiny (std 1e-4) and zero variances: no NaN, PyTorch semantics with eps, engine vs float64', () => {
  const [N, C, H, W] = [4, 5, 6, 6];
  const e = errors({
    input: [N, C, H, W],
    build: bnNet,
    // Input channels: 1 + 1e-4 N(0,1), constant 3, constant 0, 1e-4 N(0,1), N(0,1).
    fillX: (a) =>
      a.forEach((v, i) => {
        const c = Math.floor(i / (H * W)) % C;
        a[i] = [1 + 1e-4 * v, 3, 0, 1e-4 * v, v][c]!;
      }),
    // conv1 and conv2: output channel 0 constant (zero weights, bias 0.5), channel 1 of std ~ 1e-4.
    fillParam: (name, a) => {
      const per = a.length / (name.endsWith('bias') ? a.length : name.startsWith('conv1') ? 7 : 6);
      if (/^conv\d\.weight$/.test(name)) {
        a.fill(0, 0, per);
        for (let i = per; i < 2 * per; i++) a[i]! *= 1e-4;
      }
      if (/^conv\d\.bias$/.test(name)) a[0] = 0.5;
      if (name === 'bn2.bias') a[0] = 0.25;
    },
  });
  console.log(report('tiny and zero variances', e));
  asAccurateAsPlain(e, 'tiny and zero variances');
  for (const mode of ['unfused', 'fused'] as const) assert.ok(worst(e[mode]) < 1e-4, report('tiny and zero variances', e));
  // A constant channel normalises to beta (x - mean = 0, rstd = 1/sqrt(eps)), and its unbiased
  // batch variance 0 pulls the running variance to 0.9.
  for (const o of [e.ref, ...e.outputs]) {
    const y = o.get('y')!;
    for (let n = 0; n < N; n++)
      for (let i = 0; i < H * W; i++) assert.ok(Math.abs(y[n * 6 * H * W + i]! - 0.25) < 1e-5, `constant channel: y = ${y[n * 6 * H * W + i]}`);
    for (const bn of ['bn0', 'bn1', 'bn2']) {
      const c = bn === 'bn0' ? 1 : 0;
      assert.ok(Math.abs(o.get(`${bn}.running_var`)![c]! - 0.9) < 1e-7, `${bn}.running_var[${c}] = ${o.get(`${bn}.running_var`)![c]}`);
    }
  }
});

test('BN over 1x1 feature maps with batch > 1 (linear-like stacks, after a global pool)', () => {
  const stack = (b: Builder, x: number): number => {
    const h = b.relu('relu0', b.batchNorm2d('bn0', x));
    const h1 = b.relu('relu1', b.batchNorm2d('bn1', b.conv2d('conv1', h, { out: 7, kernel: 1 })));
    return b.batchNorm2d('bn2', b.conv2d('conv2', h1, { out: 6, kernel: 1 }));
  };
  for (const [what, c] of [
    ['1x1 input, batch 6', { input: [6, 5, 1, 1], build: stack }],
    [
      'after a global average pool, batch 3',
      { input: [3, 5, 4, 4], build: (b: Builder, x: number) => stack(b, b.globalAvgPool('gap', b.conv2d('conv0', x, { out: 5, kernel: 3, padding: 1 }))) },
    ],
    ['1x1 input, batch 2 (two values per channel)', { input: [2, 5, 1, 1], build: stack }],
  ] as const) {
    const e = errors(c);
    console.log(report(what, e));
    asAccurateAsPlain(e, what);
    for (const mode of ['unfused', 'fused'] as const) assert.ok(worst(e[mode]) < 1e-4, report(what, e));
  }
});

test('BN in training at batch 1 over a 1x1 map is PyTorch\'s "Expected more than 1 value per channel" error, naming the layer', () => {
  const def: ModelDef = {
    name: 'tiny',
    inChannels: 3,
    numClasses: 2,
    imageSize: 4,
    build: (b, x) =>
      b.linear('fc', b.flatten('flat', b.batchNorm2d('bn', b.globalAvgPool('gap', b.conv2d('conv', x, { out: 4, kernel: 3, padding: 1 })))), { out: 2 }),
  };
  for (const eng of [undefined, engine]) {
    for (const fusion of [NO_FUSION, ALL_FUSION]) {
      const net = new Network(def, eng?.memory ?? new HostMemory('f64'), 1, eng?.lowering, fusion);
      assert.throws(
        () => net.forwardBackward(new Float32Array(3 * 16), [0], [1, 3, 4, 4], { seed: 1, step: 0 }),
        (e: Error) =>
          e instanceof ShapeError &&
          e.message ===
            'layer "bn" (batch_norm2d): expected more than 1 value per channel when training, got input size [1, 4, 1, 1] (batch x height x width must be 2 or more)',
      );
      // batch 2 trains, and batch 1 evaluates (running statistics)
      assert.ok(Number.isFinite(net.forwardBackward(new Float32Array(2 * 3 * 16).fill(0.5), [0, 1], [2, 3, 4, 4], { seed: 1, step: 0 })));
      assert.ok(net.predict(new Float32Array(3 * 16), [1, 3, 4, 4]).every(Number.isFinite));
    }
  }
});
