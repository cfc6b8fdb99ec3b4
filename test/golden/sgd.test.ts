/**
 * torch.optim.SGD semantics alone (sgd.safetensors): four steps on a 3x4 tensor with given
 * gradients for Nesterov + weight decay, dampening, plain momentum, and no momentum; and the
 * learning rates of StepLR and CosineAnnealingLR per epoch.
 * Tolerances: float64 1e-12 relative + 1e-14 absolute; float32 (parameters and momentum
 * buffers in Float32Array) 1e-6 relative + 1e-6 absolute; learning rates 1e-12 relative + 1e-15.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Arr } from '../../src/ops/op.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { learningRate } from '../../src/train/schedule.js';
import { SGD } from '../../src/train/sgd.js';
import { type DType, ErrorLog, Golden, type Tol, compare } from './harness.js';

const gold = new Golden('sgd.safetensors');

interface SgdCase {
  lr: number;
  momentum: number;
  dampening: number;
  weight_decay: number;
  nesterov: boolean;
  steps: number;
}

const TOL: Record<DType, Tol> = { f64: { rtol: 1e-12, atol: 1e-14 }, f32: { rtol: 1e-6, atol: 1e-6 } };

for (const name of ['nesterov', 'dampening', 'momentum_wd', 'plain_wd']) {
  for (const dtype of ['f64', 'f32'] as DType[]) {
    test(`SGD ${name} matches torch.optim.SGD in ${dtype}`, (t) => {
      const o = gold.meta<SgdCase>(name);
      const memory = new HostMemory(dtype);
      const p = memory.alloc(gold.values(`${name}.p0`).length);
      p.set(gold.values(`${name}.p0`));
      const sgd = new SGD(
        new Map([['p', p]]),
        { lr: o.lr, momentum: o.momentum, dampening: o.dampening, weightDecay: o.weight_decay, nesterov: o.nesterov },
        memory,
      );
      const log = new ErrorLog();
      for (let s = 1; s <= o.steps; s++) {
        const g: Arr = memory.alloc(p.length);
        g.set(gold.values(`${name}.g${s}`));
        sgd.step(new Map([['p', g]]));
        log.add(`step ${s}`, compare(`SGD ${name} (${dtype}) step ${s}`, p, gold.values(`${name}.p${s}`), gold.shape(`${name}.p${s}`), TOL[dtype]));
      }
      t.diagnostic(`${dtype} ${log}`);
    });
  }
}

const LR_TOL: Tol = { rtol: 1e-12, atol: 1e-15 };

test('StepLR learning rates match torch', (t) => {
  const o = gold.meta<{ base: number; step_size: number; gamma: number; epochs: number }>('steplr');
  const got = Array.from({ length: o.epochs }, (_, e) => learningRate(o.base, e, { kind: 'step', stepSize: o.step_size, gamma: o.gamma }));
  const r = compare('StepLR', got, gold.values('steplr.lr'), [o.epochs], LR_TOL);
  t.diagnostic(`${o.epochs} epochs: max|diff| ${r.maxAbs.toExponential(2)}`);
});

for (const name of ['cosine', 'cosine_200']) {
  test(`CosineAnnealingLR learning rates match torch (${name})`, (t) => {
    const o = gold.meta<{ base: number; T_max: number; eta_min: number; epochs: number }>(name);
    const got = Array.from({ length: o.epochs }, (_, e) => learningRate(o.base, e, { kind: 'cosine', tMax: o.T_max, etaMin: o.eta_min }));
    const r = compare(`CosineAnnealingLR ${name}`, got, gold.values(`${name}.lr`), [o.epochs], LR_TOL);
    t.diagnostic(`T_max ${o.T_max}, ${o.epochs} epochs: max|diff| ${r.maxAbs.toExponential(2)}`);
  });
}

test('the comparison helper fails on a perturbed reference and names the worst element', () => {
  const ref = gold.values('nesterov.p1');
  const bad = Float64Array.from(ref);
  bad[5] = bad[5]! * (1 + 1e-6);
  assert.throws(() => compare('probe', bad, ref, [3, 4], TOL.f64), /probe: worst element 5 \[1, 1\] of \[3, 4\]/);
  assert.throws(
    () =>
      compare(
        'probe',
        Float64Array.from(ref, () => NaN),
        ref,
        [3, 4],
        TOL.f32,
      ),
    /worst element 0/,
  );
  compare('probe', bad, ref, [3, 4], TOL.f32);
});
