/**
 * dropout and stochastic depth: the fraction they drop, the scale of what they keep, eval mode,
 * and that a mask is a function of (seed, step, layer, index) only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Builder } from '../../src/graph/builder.js';
import { Executor } from '../../src/runtime/executor.js';
import { HostMemory } from '../../src/runtime/memory.js';

/** Runs op on a tensor of ones; returns its output and mask for (seed, step). */
function masks(
  op: 'dropout' | 'stochastic_depth',
  shape: number[],
  p: number,
  training: boolean,
  runs: { seed: number; step: number }[],
): { y: Float64Array; mask: Float64Array }[] {
  const b = new Builder({ training });
  const x = b.input('x', shape);
  const y = op === 'dropout' ? b.dropout('drop', x, p) : b.stochasticDepth('sd', x, p);
  const g = b.g;
  const node = g.nodes.find((n) => n.outputs[0] === y);
  g.outputs.set('y', y);
  if (node) g.outputs.set('mask', node.outputs[1]!);
  const exec = new Executor(g, new HostMemory('f64'), () => undefined);
  exec.get(x).fill(1);
  return runs.map((r) => {
    exec.run(r);
    return { y: Float64Array.from(exec.get(y)), mask: node ? Float64Array.from(exec.output('mask')) : new Float64Array(0) };
  });
}

/** |dropped - n p| within 4.5 standard deviations of the binomial. */
function plausible(dropped: number, n: number, p: number): boolean {
  return Math.abs(dropped - n * p) <= 4.5 * Math.sqrt(n * p * (1 - p));
}

test('dropout drops a fraction p of the elements and scales the rest by 1/(1-p); a new step draws a new mask, the same step the same one', () => {
  const [a, b, c] = masks('dropout', [50, 400], 0.3, true, [
    { seed: 1, step: 0 },
    { seed: 1, step: 1 },
    { seed: 1, step: 0 },
  ]);
  const dropped = a!.y.filter((v) => v === 0).length;
  assert.ok(plausible(dropped, 20_000, 0.3), `${dropped} of 20000 dropped at p = 0.3`);
  assert.ok(a!.y.every((v) => v === 0 || v === 1 / 0.7));
  assert.notDeepEqual(a!.mask, b!.mask);
  assert.deepEqual(a!.mask, c!.mask);
});

test('stochastic depth drops whole samples with probability p, scales the kept ones by 1/(1-p), and is a mask of samples', () => {
  const N = 4000;
  const [a, b] = masks('stochastic_depth', [N, 2, 3, 1], 0.2, true, [
    { seed: 4, step: 7 },
    { seed: 5, step: 7 },
  ]);
  const dropped = a!.mask.filter((v) => v === 0).length;
  assert.ok(plausible(dropped, N, 0.2), `${dropped} of ${N} samples dropped at p = 0.2`);
  for (let n = 0; n < N; n++) {
    const m = a!.mask[n]!;
    assert.ok(m === 0 || m === 1 / 0.8);
    for (let i = 0; i < 6; i++) assert.equal(a!.y[n * 6 + i], m);
  }
  assert.notDeepEqual(a!.mask, b!.mask, 'another seed, another mask');
  const [all] = masks('stochastic_depth', [8, 2, 1, 1], 1, true, [{ seed: 0, step: 0 }]);
  assert.ok(
    all!.y.every((v) => v === 0),
    'p = 1 drops every sample',
  );
});

test('in eval, and at p = 0, dropout and stochastic depth are the identity; stochastic depth then emits no node', () => {
  const [d] = masks('dropout', [4, 5], 0.5, false, [{ seed: 1, step: 3 }]);
  assert.ok(d!.y.every((v) => v === 1));
  for (const [training, p] of [
    [false, 0.5],
    [true, 0],
  ] as const) {
    const b = new Builder({ training });
    const x = b.input('x', [2, 3, 2, 2]);
    assert.equal(b.stochasticDepth('sd', x, p), x);
    assert.equal(b.g.nodes.length, 0);
  }
});

test('stochastic depth rejects p outside [0, 1], naming the layer', () => {
  const b = new Builder({ training: true });
  const x = b.input('x', [2, 3, 2, 2]);
  assert.throws(() => b.stochasticDepth('blocks.3.sd', x, 1.5), /blocks\.3\.sd.*p must be in \[0, 1\]/);
});
