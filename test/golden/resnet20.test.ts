/**
 * Three SGD steps (lr 0.1, momentum 0.9, weight decay 5e-4) of bnff's resnet20 on a fixed
 * batch of 8 CIFAR-shaped images, against PyTorch (resnet20.safetensors): the loss of each
 * step, every parameter gradient at steps 1 and 3, running statistics after step 3 and the
 * final parameters. Initial parameters and images are float16-exact (stored F16); gradients and
 * final parameters were computed in float64 and stored as F32, losses and running stats as F64.
 *
 * Tolerances (|diff| <= atol * max|ref of the tensor| + rtol * |ref|; losses: atol absolute):
 *   float64 (HostMemory('f64')): losses and running stats (F64) rtol 1e-9, atol 1e-9; gradients
 *     and final parameters (stored F32) rtol 1.2e-7, i.e. their float32 rounding (2^-24 = 6e-8).
 *   float32 (Arena): losses rtol 1e-5; gradients at steps 1 and 3 rtol 2e-3, atol 2e-4;
 *     running stats and final parameters rtol 1e-4, atol 1e-5.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { Arena, HostMemory, type Memory } from '../../src/runtime/memory.js';
import { SGD } from '../../src/train/sgd.js';
import { type DType, ErrorLog, Golden, type Tol, compare } from './harness.js';

const gold = new Golden('resnet20.safetensors');
const cfg = gold.meta<{ lr: number; momentum: number; weight_decay: number; steps: number; batch: number[] }>('config');

interface Tols {
  loss: Tol;
  stats: Tol;
  grads: Tol;
  params: Tol;
}
const TOLS: Record<DType, Tols> = {
  f64: {
    loss: { rtol: 1e-9, atol: 1e-9 },
    stats: { rtol: 1e-9, atol: 1e-9, scaled: true },
    grads: { rtol: 1.2e-7, atol: 1e-9, scaled: true },
    params: { rtol: 1.2e-7, atol: 1e-9, scaled: true },
  },
  f32: {
    loss: { rtol: 1e-5, atol: 1e-6 },
    stats: { rtol: 1e-4, atol: 1e-5, scaled: true },
    grads: { rtol: 2e-3, atol: 2e-4, scaled: true },
    params: { rtol: 1e-4, atol: 1e-5, scaled: true },
  },
};

function run(dtype: DType, memory: Memory): string[] {
  const tol = TOLS[dtype];
  const logs = { loss: new ErrorLog(), grads: new ErrorLog(), stats: new ErrorLog(), params: new ErrorLog() };
  const net = new Network(getModel('resnet20'), memory);
  const check = (kind: keyof Tols, what: string, actual: ArrayLike<number>, ref: string, t: Tol = tol[kind]): void => {
    logs[kind].add(what, compare(`resnet20 (${dtype}) ${what}`, actual, gold.values(ref), gold.shape(ref), t));
  };

  // Initial parameters from the golden file (not bnff's initialisation); buffers at their defaults.
  assert.deepEqual([...net.params.keys()].sort(), gold.suffixes('init.').sort(), 'parameter names differ from the golden model');
  for (const [name, a] of net.params) a.set(gold.values(`init.${name}`));
  for (const [name, a] of net.state) {
    const v = name.endsWith('running_var') ? 1 : 0;
    assert.ok(
      a.every((e) => e === v),
      `${name} starts at ${v}`,
    );
  }
  assert.deepEqual([...net.state.keys()].sort(), gold.suffixes('after.').sort(), 'buffer names differ from the golden model');

  const shape = cfg.batch;
  const x = gold.values('x');
  const labels = gold.values('labels');
  const sgd = new SGD(net.params, { lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weight_decay }, memory);
  const losses = gold.values('loss');
  const got: number[] = [];
  for (let step = 1; step <= cfg.steps; step++) {
    got.push(net.forwardBackward(x, labels, shape, { seed: 0, step }));
    const grads = net.trainPlan(shape).grads;
    if (step === 1 || step === 3) {
      assert.deepEqual([...grads.keys()].sort(), gold.suffixes(`grad${step}.`).sort());
      for (const [name, g] of grads) check('grads', `step ${step} grad ${name}`, g, `grad${step}.${name}`);
    }
    sgd.step(grads);
  }
  logs.loss.add('losses', compare(`resnet20 (${dtype}) losses`, got, losses, [cfg.steps], tol.loss));
  for (const [name, a] of net.state) check('stats', `after ${name}`, a, `after.${name}`, name.endsWith('num_batches_tracked') ? tol.loss : tol.stats);
  for (const [name, a] of net.params) check('params', `final ${name}`, a, `final.${name}`);
  return Object.entries(logs).map(([k, l]) => `${dtype} ${k}: ${l}`);
}

test('resnet20: three SGD steps match torch in float64', (t) => {
  for (const line of run('f64', new HostMemory('f64'))) t.diagnostic(line);
});

test('resnet20: three SGD steps match torch in float32 (Arena)', (t) => {
  for (const line of run('f32', new Arena())) t.diagnostic(line);
});
