/**
 * Finite-difference gradient checks in float64. The objective is L = sum(y * r) for a fixed
 * random r, so dL/dy = r seeds autodiff; every input and parameter gradient is compared with
 * central differences (h = 1e-6) on every element (or a seeded sample of them).
 */
import assert from 'node:assert/strict';
import { appendBackward, pruneDead } from '../../src/autodiff/backward.js';
import { Builder } from '../../src/graph/builder.js';
import { numel, type Shape } from '../../src/graph/ir.js';
import { Executor } from '../../src/runtime/executor.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { Rng } from '../../src/util/random.js';

export interface GradCheckCase {
  inputs: Shape[];
  /** Builds the op(s) under test on inputs; returns the value whose gradient is seeded. */
  build: (b: Builder, xs: number[]) => number;
  /** Inputs that are not differentiable (labels), by index. */
  nonDiff?: number[];
  /** Fills input i (default: standard normal). */
  fill?: (i: number, a: Float64Array, rng: Rng) => void;
  /** Elements checked per tensor (default: all up to 200). */
  sample?: number;
  tol?: number;
  /**
   * Skip elements where the two one-sided differences disagree by more than tol: a kink (ReLU
   * at 0, a max-pool tie) or curvature too strong for h, where no difference quotient is the
   * derivative. At most a fifth of the elements may be skipped.
   */
  skipKinks?: boolean;
  /** Parameters that do not reach the output (a dead branch) have no gradient to check. */
  allowUnreachable?: boolean;
}

export function gradCheck(c: GradCheckCase, seed = 1): { maxRelErr: number; checked: number } {
  const rng = new Rng(seed);
  const b = new Builder({ training: true });
  const xs = c.inputs.map((s, i) => b.input(`x${i}`, s));
  const y = c.build(b, xs);
  const g = b.g;
  const dy = g.addValue('dy', g.value(y).shape, 'input').id;
  g.outputs.set('y', y);
  const paramIds = g.values.filter((v) => v.kind === 'param').map((v) => v.id);
  const diffInputs = xs.filter((_, i) => !(c.nonDiff ?? []).includes(i));
  const { grads } = appendBackward(g, new Map([[y, dy]]), [...diffInputs, ...paramIds]);
  for (const [v, d] of grads) g.outputs.set(`grad:${v}`, d);
  const graph = pruneDead(g);

  const mem = new HostMemory('f64');
  const store = new Map<string, Float64Array>();
  for (const s of b.specs) {
    const a = new Float64Array(numel(s.shape));
    for (let i = 0; i < a.length; i++)
      a[i] =
        s.kind === 'state'
          ? s.name.endsWith('running_var')
            ? 0.5 + rng.next()
            : s.name.endsWith('num_batches_tracked')
              ? 0
              : rng.normal()
          : rng.normal() * 0.5 + (s.name.endsWith('.weight') && s.shape.length === 1 ? 1 : 0);
    store.set(s.name, a);
  }
  const exec = new Executor(graph, mem, (name) => store.get(name));
  xs.forEach((id, i) => {
    const a = exec.get(id) as Float64Array;
    if (c.fill) c.fill(i, a, rng);
    else for (let k = 0; k < a.length; k++) a[k] = rng.normal();
  });
  const r = exec.get(dy) as Float64Array;
  for (let k = 0; k < r.length; k++) r[k] = rng.normal();

  const objective = (): number => {
    exec.run({ seed: 7, step: 0 });
    const yv = exec.get(y);
    let s = 0;
    for (let k = 0; k < yv.length; k++) s += yv[k]! * r[k]!;
    return s;
  };
  const f0 = objective();
  const analytic = new Map<number, Float64Array>();
  for (const [v, d] of grads) analytic.set(v, Float64Array.from(exec.get(d)));
  if (!c.allowUnreachable) assert.equal(analytic.size, diffInputs.length + paramIds.length, 'every differentiable input and parameter got a gradient');

  const h = 1e-6;
  let maxRelErr = 0;
  let checked = 0;
  let skipped = 0;
  const tol = c.tol ?? 1e-6;
  for (const [v, an] of analytic) {
    const target = g.value(v).kind === 'param' ? store.get(g.value(v).name)! : (exec.get(v) as Float64Array);
    const n = target.length;
    const limit = c.sample ?? 200;
    const idx = n <= limit ? [...Array(n).keys()] : Array.from({ length: limit }, () => rng.int(n));
    for (const k of idx) {
      const old = target[k]!;
      target[k] = old + h;
      const fp = objective();
      target[k] = old - h;
      const fm = objective();
      target[k] = old;
      const num = (fp - fm) / (2 * h);
      if (c.skipKinks) {
        const [up, down] = [(fp - f0) / h, (f0 - fm) / h];
        if (Math.abs(up - down) > tol * Math.max(1, Math.abs(up), Math.abs(down))) {
          skipped++;
          continue;
        }
      }
      const err = Math.abs(num - an[k]!) / Math.max(1, Math.abs(num), Math.abs(an[k]!));
      if (err > tol) {
        assert.fail(`gradient of "${g.value(v).name}"[${k}]: analytic ${an[k]}, finite difference ${num} (rel err ${err.toExponential(2)})`);
      }
      maxRelErr = Math.max(maxRelErr, err);
      checked++;
    }
  }
  if (skipped > (checked + skipped) / 5) assert.fail(`${skipped} of ${checked + skipped} elements sit on kinks: too few were checked`);
  return { maxRelErr, checked };
}
