/**
 * The browser side of bench/browser_step.ts for TensorFlow.js: bnff's resnet8 written in tfjs ops
 * (NHWC, tfjs's own layout): 3x3 stem of 16 channels, one basic block per stage of 16, 32 and 64
 * channels, option-A shortcuts (subsample, zero channels), training-mode batch norm, global average
 * pooling, a linear classifier; softmax cross-entropy, SGD with momentum. Timed like bnffSteps on
 * the backend asked for (cpu: tfjs's WebAssembly backend cannot train convolutions).
 */
import * as tf from '@tensorflow/tfjs';
import { type StepOptions, fixedBatch, rate } from './timing.js';

function model(seed: number): { vars: tf.Variable[]; forward: (x: tf.Tensor4D) => tf.Tensor2D } {
  const vars: tf.Variable[] = [];
  let k = seed;
  const conv = (cin: number, cout: number): tf.Variable => {
    const v = tf.variable(tf.randomNormal([3, 3, cin, cout], 0, Math.sqrt(2 / (9 * cout)), 'float32', k++));
    vars.push(v);
    return v;
  };
  const bn = (c: number): [tf.Variable, tf.Variable] => {
    const g = tf.variable(tf.ones([c]));
    const b = tf.variable(tf.zeros([c]));
    vars.push(g, b);
    return [g, b];
  };
  const layer = (x: tf.Tensor4D, w: tf.Variable, p: [tf.Variable, tf.Variable], stride: number, relu: boolean): tf.Tensor4D => {
    const y = tf.conv2d(x, w as tf.Tensor4D, stride, 'same');
    const { mean, variance } = tf.moments(y, [0, 1, 2]);
    const z = tf.batchNorm(y, mean, variance, p[1], p[0], 1e-5) as tf.Tensor4D;
    return (relu ? tf.relu(z) : z) as tf.Tensor4D;
  };
  const stem = { w: conv(1, 16), bn: bn(16) };
  const blocks = [16, 32, 64].map((c, s) => ({ c, stride: s === 0 ? 1 : 2, w1: conv(s === 0 ? 16 : c / 2, c), bn1: bn(c), w2: conv(c, c), bn2: bn(c) }));
  const fcW = tf.variable(tf.randomNormal([64, 10], 0, 0.1, 'float32', k++));
  const fcB = tf.variable(tf.zeros([10]));
  vars.push(fcW, fcB);
  const forward = (x: tf.Tensor4D): tf.Tensor2D => {
    let h = layer(x, stem.w, stem.bn, 1, true);
    for (const b of blocks) {
      let r = layer(h, b.w1, b.bn1, b.stride, true);
      r = layer(r, b.w2, b.bn2, 1, false);
      let id = h;
      if (b.stride !== 1) {
        const sub = tf.avgPool(h, 1, 2, 'valid'); // a 1x1 window at stride 2: the subsampling (stridedSlice has no gradient in tfjs)
        const pad = (b.c - h.shape[3]) >> 1;
        id = tf.pad(sub, [[0, 0], [0, 0], [0, 0], [pad, b.c - h.shape[3] - pad]]) as tf.Tensor4D;
      }
      h = tf.relu(tf.add(r, id)) as tf.Tensor4D;
    }
    return tf.add(tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, fcW), fcB);
  };
  return { vars, forward };
}

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<StepOptions & { backend: string }>) => void) | null; postMessage(m: unknown): void };
scope.onmessage = async (e) => {
  const o = e.data;
  try {
    if (!(await tf.setBackend(o.backend))) throw new Error(`tfjs backend ${o.backend} is unavailable here`);
    await tf.ready();
    const { x, labels } = fixedBatch(o.batch, 32);
    const xs = tf.tensor4d(x, [o.batch, 32, 32, 1]);
    const ys = tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), 10);
    const { vars, forward } = model(0);
    const opt = tf.train.momentum(0.01, 0.9);
    const times: number[] = [];
    for (let i = 0; i < o.warmup + o.steps; i++) {
      const t0 = performance.now();
      const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(ys, forward(xs)) as tf.Scalar, true, vars);
      await loss!.data();
      loss!.dispose();
      if (i >= o.warmup) times.push((performance.now() - t0) / 1000);
    }
    scope.postMessage({ ok: true, tfjs: rate(times, o.batch), version: tf.version.tfjs, backend: tf.getBackend() });
  } catch (err) {
    scope.postMessage({ ok: false, error: String((err as Error)?.stack ?? err) });
  }
};
