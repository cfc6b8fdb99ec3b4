import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { ALL_FUSION, NO_FUSION } from '../../src/passes/index.js';
import { createEngine, type Engine } from '../../src/runtime/engine.js';
import type { Lowering } from '../../src/runtime/executor.js';
import { HostMemory } from '../../src/runtime/memory.js';
import type { ThreadPool } from '../../src/runtime/pool.js';
import { SGD } from '../../src/train/sgd.js';
import { Rng } from '../../src/util/random.js';

/** Worst |a - b| relative to the largest |b| of the tensor. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 1e-12;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst / scale;
}

interface Errors {
  loss: number;
  grad: number;
  state: number;
  logits: number;
}

/**
 * Errors of one forward/backward (and eval forward) against the float64 reference: on the
 * engine (fused or not), or, with engine undefined, of the plain float32 reference kernels.
 */
function errorsVsReference(engine: Engine | undefined, model: string, size: number, fused: boolean): Errors {
  const def = getModel(model, { numClasses: 10 });
  const shape = [4, 3, size, size];
  const rng = new Rng(11);
  const x = Float32Array.from({ length: 4 * 3 * size * size }, () => rng.normal());
  const labels = [1, 4, 9, 0];
  const ref = new Network(def, new HostMemory('f64'), 3);
  const fast = engine ? new Network(def, engine.memory, 3, engine.lowering, fused ? ALL_FUSION : NO_FUSION) : new Network(def, new HostMemory('f32'), 3);
  for (const [k, v] of ref.params) fast.params.get(k)!.set(v);
  const lr = ref.forwardBackward(x, labels, shape, { seed: 1, step: 0 });
  const lf = fast.forwardBackward(x, labels, shape, { seed: 1, step: 0 });
  const gr = ref.trainPlan(shape).grads;
  const gf = fast.trainPlan(shape).grads;
  let grad = 0;
  for (const [k, v] of gr) grad = Math.max(grad, relErr(gf.get(k)!, v));
  let state = 0;
  for (const [k, v] of ref.state) state = Math.max(state, relErr(fast.state.get(k)!, v));
  return { loss: Math.abs(lr - lf) / Math.abs(lr), grad, state, logits: relErr(fast.predict(x, shape), ref.predict(x, shape)) };
}

for (const threads of [1, 2]) {
  const models =
    threads === 1
      ? ([
          ['resnet8', 16],
          ['densenet40', 8],
        ] as const)
      : ([
          ['resnet8', 16],
          ['densenet40', 8],
          ['resnet18', 32],
          ['resnet50', 64],
          // ReLU6 folded into the normalize, residual ends without ReLU (MobileNetV2); SiLU folded,
          // squeeze-excitation's sigmoid and channel_scale, stochastic depth (EfficientNet)
          ['mobilenet_v2_050_cifar', 32],
          ['efficientnet_b0_cifar', 32],
        ] as const);
  for (const [model, size] of models) {
    test(`wasm engine (${threads} thread(s)) matches the float64 reference, unfused and fused: ${model}`, async () => {
      const engine = await createEngine({ threads });
      try {
        // Deep nets with tiny BN batches amplify float32 rounding (resnet50's last stage
        // normalises 16 values per channel here), so the bound is relative to plain float32
        // loops: the engine is as accurate as them, and fused as accurate as unfused.
        const r = errorsVsReference(undefined, model, size, false);
        const u = errorsVsReference(engine, model, size, false);
        const f = errorsVsReference(engine, model, size, true);
        for (const k of ['loss', 'grad', 'state', 'logits'] as const) {
          assert.ok(u[k] <= Math.max(3 * r[k], 1e-5), `unfused ${k} error ${u[k]} vs plain float32 ${r[k]}`);
          assert.ok(f[k] <= Math.max(2 * u[k], 3 * r[k], 1e-5), `fused ${k} error ${f[k]} vs unfused ${u[k]}`);
        }
        // (the lean models have parameters whose float64 gradient and running statistics are
        // all but zero at batch 4, against which any float32 error is large: their bound is the
        // comparison above, fused against unfused against plain float32 loops)
        if (!model.includes('_cifar')) assert.ok(r.grad < 0.5 && r.loss < 1e-3, `plain float32 errors ${JSON.stringify(r)}`);
        else assert.ok(r.loss < 1e-3 && f.loss < 1e-3 && f.logits < 1e-3, `float32 errors ${JSON.stringify({ r, u, f })}`);
      } finally {
        engine.close();
      }
    });
  }
}

test('concatenation gradients accumulated in place, and concatenations recomputed in backward, give the bits of slices and sums; with the epilogue rule, the same gradients (wasm, densenet40, 2 threads)', async () => {
  const engine = await createEngine({ threads: 2 });
  try {
    const shape = [4, 3, 8, 8];
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 4 * 3 * 8 * 8 }, () => rng.normal());
    const grads = (concatGrad: boolean, recomputeConcat = false, concatGradEpilogue = false): Map<string, Float32Array> => {
      const net = new Network(getModel('densenet40', { numClasses: 10 }), engine.memory, 3, engine.lowering, {
        ...ALL_FUSION,
        concatGrad,
        recomputeConcat,
        concatGradEpilogue,
      });
      net.forwardBackward(x, [1, 4, 9, 0], shape, { seed: 1, step: 0 });
      const plan = net.trainPlan(shape);
      const count = (op: string): number => plan.graph.nodes.filter((n) => n.op === op).length;
      assert.equal(count('bn_backward_data_acc'), concatGrad && !concatGradEpilogue ? 33 : 0);
      assert.equal(count('conv2d_fused_backward_data_acc'), concatGrad && concatGradEpilogue ? 33 : 0);
      assert.equal(count('concat'), recomputeConcat ? 2 * 36 : 36);
      return new Map([...plan.grads].map(([k, v]) => [k, Float32Array.from(v)]));
    };
    const a = grads(false);
    for (const b of [grads(true), grads(true, true)]) {
      for (const [k, v] of a) assert.deepEqual(new Uint32Array(b.get(k)!.buffer), new Uint32Array(v.buffer), k);
    }
    // the epilogue rule splits each BN's dx (A*dy in the conv epilogue, B*x + C0 at the slices):
    // other roundings, the same gradients to float32 accuracy
    const e = grads(true, false, true);
    for (const [k, v] of a) {
      const scale = Math.max(1e-30, ...v.map(Math.abs));
      const err = Math.max(...v.map((q, i) => Math.abs(q - e.get(k)![i]!)));
      assert.ok(err <= 1e-4 * scale, `${k}: ${err} (scale ${scale})`);
    }
  } finally {
    engine.close();
  }
});

test('concatenations as views of one buffer per block give the bits of copied concatenations, and a smaller plan (wasm, DenseNet-BC and DenseNet, 1 and 2 threads)', async () => {
  for (const threads of [1, 2]) {
    const engine = await createEngine({ threads });
    try {
      for (const [model, size] of [
        ['densenet_bc_100', 8],
        ['densenet121', 32],
        ['densenet40', 8],
      ] as const) {
        const shape = [2, 3, size, size];
        const rng = new Rng(5);
        const x = Float32Array.from({ length: 2 * 3 * size * size }, () => rng.normal());
        const run = (concatViews: boolean, concatViewMinFraction?: number) => {
          const net = new Network(getModel(model, { numClasses: 10 }), engine.memory, 3, engine.lowering, {
            ...ALL_FUSION,
            concatViews,
            concatViewMinFraction,
          });
          const loss = net.forwardBackward(x, [1, 4], shape, { seed: 1, step: 0 });
          const plan = net.trainPlan(shape);
          const views = plan.graph.nodes.filter((n) => n.op === 'concat' && n.attrs.view !== undefined).length;
          const grads = new Map([...plan.grads].map(([k, v]) => [k, Float32Array.from(v)]));
          const state = new Map([...net.state].map(([k, v]) => [k, Float32Array.from(v)]));
          return { loss, views, grads, state, bytes: plan.exec.stats.workspaceBytes };
        };
        const a = run(false);
        assert.equal(a.views, 0);
        // every concatenation that can be a view (minimum fraction 0), and those holding at least
        // half of their block's channels (the default, guard denseView)
        for (const [minFraction, want] of [
          // densenet_bc_100's third block starts from 150 channels: views need C % 4 == 0; densenet40's
          // first concatenation (28 channels) has no Winograd backward-weights (stridedReaders)
          [0, { densenet121: 6 + 12 + 24 + 16, densenet_bc_100: 2 * 16, densenet40: 11 + 12 + 12 }[model]],
          [undefined, { densenet121: 5 + 9 + 17 + 16, densenet_bc_100: 10 + 13, densenet40: 11 + 10 + 10 }[model]],
        ] as const) {
          const b = run(true, minFraction);
          const what = `${model} ${threads}T, views from ${minFraction ?? 'the default fraction'}`;
          assert.equal(b.views, want, `${what}: concatenations planned as views`);
          assert.equal(b.loss, a.loss, `${what}: loss`);
          for (const [k, v] of a.grads) assert.deepEqual(new Uint32Array(b.grads.get(k)!.buffer), new Uint32Array(v.buffer), `${what}: gradient ${k}`);
          for (const [k, v] of a.state) assert.deepEqual(new Uint32Array(b.state.get(k)!.buffer), new Uint32Array(v.buffer), `${what}: state ${k}`);
          assert.ok(b.bytes < a.bytes, `${what}: planned ${b.bytes} bytes with views, ${a.bytes} without`);
        }
      }
    } finally {
      engine.close();
    }
  }
});

for (const fused of [false, true]) {
  test(`same seed and thread count give bit-identical weights after training steps (${fused ? 'fused' : 'unfused'})`, async () => {
    const run = async (): Promise<Float32Array[]> => {
      const engine = await createEngine({ threads: 2 });
      try {
        const net = new Network(getModel('resnet8'), engine.memory, 5, engine.lowering, fused ? ALL_FUSION : NO_FUSION);
        const shape = [8, 3, 16, 16];
        const rng = new Rng(4);
        const opt = new SGD(net.params, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, engine.memory, engine.backend);
        for (let s = 0; s < 3; s++) {
          const x = Float32Array.from({ length: 8 * 3 * 16 * 16 }, () => rng.normal());
          net.forwardBackward(x, [0, 1, 2, 3, 4, 5, 6, 7], shape, { seed: 5, step: s });
          opt.step(net.trainPlan(shape).grads);
        }
        return [...net.params.values(), ...net.state.values()].map((a) => Float32Array.from(a));
      } finally {
        engine.close();
      }
    };
    assert.deepEqual(await run(), await run());
  });
}

test('a kernel that fails on a worker thread surfaces as an error naming the layer, not a hang', async () => {
  const engine = await createEngine({ kind: 'wasm', threads: 2 });
  try {
    const pool = engine.backend!;
    // A lowering whose ReLU kernel reads far outside the arena: it traps on every thread.
    const faulty: Lowering = {
      name: 'faulty',
      lower: (node, lc) =>
        node.op === 'relu'
          ? () =>
              pool.run(
                'triad',
                [0x7ffffff0, 0x7ffffff0, 0x7ffffff0, 1],
                [
                  [0, 64],
                  [64, 128],
                ],
              )
          : engine.lowering!.lower(node, lc),
    };
    const net = new Network(getModel('resnet8'), engine.memory, 1, faulty);
    const x = new Float32Array(4 * 3 * 8 * 8);
    assert.throws(
      () => net.forwardBackward(x, [0, 1, 2, 3], [4, 3, 8, 8], { seed: 1, step: 0 }),
      (e: Error) => /^layer "[^"]+" \(relu\): kernel triad failed on (worker thread 1|the main thread)/.test(e.message),
    );
  } finally {
    engine.close();
  }
});

test('a worker thread that exits mid-run fails the op it was running, naming the layer, and the pool then refuses work (no hang)', async () => {
  const engine = await createEngine({ kind: 'wasm', threads: 2 });
  try {
    const net = new Network(getModel('resnet8'), engine.memory, 1, engine.lowering);
    const x = new Float32Array(4 * 3 * 8 * 8);
    (engine.backend as ThreadPool).injectWorkerExit(1);
    assert.throws(
      () => net.forwardBackward(x, [0, 1, 2, 3], [4, 3, 8, 8], { seed: 1, step: 0 }),
      (e: Error) => /^layer "[^"]+" \([a-z0-9_]+\): kernel \w+ failed on worker thread 1: the thread exited \(code 70\) during the call$/.test(e.message),
    );
    assert.throws(
      () => net.forwardBackward(x, [0, 1, 2, 3], [4, 3, 8, 8], { seed: 1, step: 0 }),
      (e: Error) =>
        /^layer "conv1" \(conv2d\): kernel \w+ cannot run: worker thread 1 exited; the thread pool is unusable, create a new engine$/.test(e.message),
    );
  } finally {
    engine.close();
  }
});

test('a worker thread stopped from outside between runs makes the next op fail, naming the layer (no hang)', async () => {
  const engine = await createEngine({ kind: 'wasm', threads: 2 });
  try {
    const net = new Network(getModel('resnet8'), engine.memory, 1, engine.lowering);
    const x = new Float32Array(4 * 3 * 8 * 8);
    net.forwardBackward(x, [0, 1, 2, 3], [4, 3, 8, 8], { seed: 1, step: 0 });
    // terminate() runs no handler on the worker: the parent's 'exit' event must mark it.
    await (engine.backend as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0]!.terminate();
    assert.throws(
      () => net.forwardBackward(x, [0, 1, 2, 3], [4, 3, 8, 8], { seed: 1, step: 0 }),
      (e: Error) => /^layer "conv1" \(conv2d\): kernel \w+ cannot run: worker thread 1 exited \(code 1\)/.test(e.message),
    );
  } finally {
    engine.close();
  }
});
