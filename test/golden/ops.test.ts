/**
 * Every op against PyTorch (test/golden/data/ops.safetensors): forward output and the
 * gradients of inputs and parameters for a random upstream gradient, plus BN running
 * statistics. Inputs, parameters and dy are float16-exact; references were computed in float64.
 * Tolerances: float64 1e-9 relative + 1e-9 absolute; float32 1e-4 relative + 1e-5 absolute.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appendBackward, pruneDead } from '../../src/autodiff/backward.js';
import { Builder } from '../../src/graph/builder.js';
import { Executor } from '../../src/runtime/executor.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { type DType, ErrorLog, Golden, TOL_F32, TOL_F64, checkCase } from './harness.js';

const gold = new Golden('ops.safetensors');

type Build = (b: Builder, c: string, x: Record<string, number>, a: any) => number;

const builders: Record<string, Build> = {
  conv2d: (b, c, x, a) => {
    const w = gold.shape(`${c}.param.weight`);
    return b.conv2d(c, x.x!, {
      out: w[0]!,
      kernel: [w[2]!, w[3]!],
      stride: a.stride,
      padding: a.padding,
      dilation: a.dilation,
      groups: a.groups,
      bias: a.bias,
    });
  },
  batch_norm2d: (b, c, x, a) => b.batchNorm2d(c, x.x!, { eps: a.eps, momentum: a.momentum }),
  relu: (b, c, x) => b.relu(c, x.x!),
  silu: (b, c, x) => b.silu(c, x.x!),
  relu6: (b, c, x) => b.relu6(c, x.x!),
  hardswish: (b, c, x) => b.hardswish(c, x.x!),
  sigmoid: (b, c, x) => b.sigmoid(c, x.x!),
  channel_scale: (b, c, x) => b.channelScale(c, x.x!, x.s!),
  dropout: (b, c, x, a) => b.dropout(c, x.x!, a.p),
  stochastic_depth: (b, c, x, a) => b.stochasticDepth(c, x.x!, a.p),
  max_pool2d: (b, c, x, a) => b.maxPool2d(c, x.x!, { kernel: a.kernel, stride: a.stride, padding: a.padding }),
  avg_pool2d: (b, c, x, a) => b.avgPool2d(c, x.x!, { kernel: a.kernel, stride: a.stride, padding: a.padding, count_include_pad: a.count_include_pad }),
  global_avg_pool: (b, c, x) => b.globalAvgPool(c, x.x!),
  add: (b, c, x) => b.add(c, x.a!, x.b!),
  concat: (b, c, x) => b.concat(c, [x.x0!, x.x1!, x.x2!]),
  flatten: (b, c, x) => b.flatten(c, x.x!),
  linear: (b, c, x) => b.linear(c, x.x!, { out: gold.shape(`${c}.param.weight`)[0]!, bias: true }),
  softmax_cross_entropy: (b, c, x) => b.crossEntropy(c, x.logits!, x.labels!),
};

const cases = gold.cases();

test('the golden file covers every op of the brief', () => {
  const ops = new Set(cases.map((c) => gold.meta<{ op: string }>(c).op));
  for (const op of Object.keys(builders)) assert.ok(ops.has(op), `no golden case for ${op}`);
  assert.ok(cases.filter((c) => gold.meta<{ op: string }>(c).op === 'conv2d').length >= 7);
});

/** Random ops in training mode: torch's mask is its own, so their cases are checked by semantics below. */
const isRandom = (c: string): boolean => {
  const { op, attrs } = gold.meta<{ op: string; attrs: { training?: boolean } }>(c);
  return (op === 'dropout' || op === 'stochastic_depth') && attrs.training === true;
};

for (const dtype of ['f64', 'f32'] as DType[]) {
  const tol = dtype === 'f64' ? TOL_F64 : TOL_F32;
  for (const c of cases.filter((k) => !isRandom(k))) {
    const { op } = gold.meta<{ op: string }>(c);
    test(`${c} (${op}) matches torch in ${dtype}`, (t) => {
      const build = builders[op];
      assert.ok(build, `no builder for op ${op}`);
      const log = new ErrorLog();
      checkCase(gold, c, dtype, tol, (b, x, a) => build(b, c, x, a), log);
      t.diagnostic(`${dtype} ${log}`);
    });
  }
}

/**
 * dropout and stochastic depth in training, against torch's outputs for its own random mask:
 * every element torch kept is x * (1/(1-p)) there, and bnff's kept elements must carry exactly
 * torch's scale; dropped ones are 0 with gradient 0; stochastic depth drops whole samples.
 * (That bnff's masks drop a fraction p is tested on large tensors in test/ops/random_ops.test.ts.)
 */
for (const c of cases.filter(isRandom)) {
  const { op, attrs } = gold.meta<{ op: string; attrs: { p: number } }>(c);
  test(`${c} (${op}, training): torch's scale 1/(1-p) and zeroing pattern, with bnff's own mask`, () => {
    const x = gold.values(`${c}.in.x`);
    const tout = gold.values(`${c}.out`);
    const dy = gold.values(`${c}.dy`);
    const tgrad = gold.values(`${c}.grad.x`);
    const shape = gold.shape(`${c}.in.x`);
    const per = x.length / shape[0]!;
    // torch's scale, read off the elements it kept (x is never 0: float16 normals)
    const scales = [...x.keys()].filter((i) => tout[i] !== 0).map((i) => tout[i]! / x[i]!);
    assert.ok(scales.length > 0 && scales.length < x.length, 'torch kept some elements and dropped some');
    const scale = 1 / (1 - attrs.p);
    for (const s of scales) assert.ok(Math.abs(s - scale) < 1e-12, `torch's scale ${s} is 1/(1-p) = ${scale}`);
    const close = (a: number, e: number): boolean => Math.abs(a - e) <= 1e-12 * Math.abs(e);
    for (let i = 0; i < x.length; i++) assert.ok(close(tgrad[i]!, tout[i] === 0 ? 0 : dy[i]! * scale), `torch's gradient at ${i}`);

    const b = new Builder({ training: true });
    const xi = b.input('x', shape);
    const y = builders[op]!(b, c, { x: xi }, attrs);
    const g = b.g;
    const node = g.nodes.find((n) => n.outputs[0] === y)!;
    g.outputs.set('out', y);
    g.outputs.set('mask', node.outputs[1]!);
    const dyId = g.addValue('dy', shape, 'input').id;
    const { grads } = appendBackward(g, new Map([[y, dyId]]), [xi]);
    g.outputs.set('dx', grads.get(xi)!);
    const exec = new Executor(pruneDead(g), new HostMemory('f64'), () => undefined);
    exec.get(xi).set(x);
    exec.get(dyId).set(dy);
    exec.run({ seed: 3, step: 1 });
    const out = exec.output('out');
    const dx = exec.output('dx');
    const mask = exec.output('mask');
    let kept = 0;
    for (let i = 0; i < x.length; i++) {
      const m = op === 'dropout' ? mask[i]! : mask[Math.floor(i / per)]!;
      assert.ok(m === 0 || m === scale, `mask ${m} is 0 or torch's scale ${scale}`);
      assert.ok(out[i] === x[i]! * m && dx[i] === dy[i]! * m, `element ${i}: y ${out[i]}, dx ${dx[i]} for mask ${m}`);
      if (m !== 0) kept++;
    }
    assert.ok(kept > 0 && kept < x.length, `bnff kept ${kept} of ${x.length}: some, not all`);
  });
}
