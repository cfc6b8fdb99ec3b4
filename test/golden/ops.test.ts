/**
 * Every op against PyTorch (test/golden/data/ops.safetensors): forward output and the
 * gradients of inputs and parameters for a random upstream gradient, plus BN running
 * statistics. Inputs, parameters and dy are float16-exact; references were computed in float64.
 * Tolerances: float64 1e-9 relative + 1e-9 absolute; float32 1e-4 relative + 1e-5 absolute.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Builder } from '../../src/graph/builder.js';
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

for (const dtype of ['f64', 'f32'] as DType[]) {
  const tol = dtype === 'f64' ? TOL_F64 : TOL_F32;
  for (const c of cases) {
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
