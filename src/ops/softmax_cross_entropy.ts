/**
 * softmax_cross_entropy (mean reduction, as torch.nn.CrossEntropyLoss):
 *   p = softmax(logits), loss = -(1/N) sum_n log p[n, label[n]].
 * Inputs: logits [N,K], labels [N] (class indices stored as numbers). Outputs: loss [1], p [N,K].
 * Saved: p. Backward: softmax_cross_entropy_backward (dloss, p, labels -> dlogits = dloss*(p - onehot)/N).
 */
import { type Arr, type OpDef, ShapeErrorAt, expectRank } from './op.js';

/** Labels must be integers in [0, K): a wrong label is a data error, named with its position. */
export class LabelError extends Error {
  override name = 'LabelError';
}

function checkLabels(labels: Arr, K: number, layer: string): void {
  for (let n = 0; n < labels.length; n++) {
    const l = labels[n]!;
    if (!Number.isInteger(l) || l < 0 || l >= K) {
      throw new LabelError(`layer "${layer}": label ${l} at batch position ${n} is out of range [0, ${K})`);
    }
  }
}

export const softmaxCrossEntropy: OpDef = {
  type: 'softmax_cross_entropy',
  infer(xs, _a, layer) {
    expectRank(xs, 0, 2, layer, 'softmax_cross_entropy', 'logits');
    const [N, K] = xs[0]! as number[];
    if (xs[1]!.length !== 1 || xs[1]![0] !== N) {
      throw new ShapeErrorAt(layer, 'softmax_cross_entropy', `labels must be [${N}], got [${xs[1]!.join(', ')}]`);
    }
    return [[1], [N!, K!]];
  },
  run({ x: [logits, labels], y: [loss, p], xs, node }) {
    const [N, K] = xs[0]! as [number, number];
    checkLabels(labels!, K, node.name);
    let total = 0;
    for (let n = 0; n < N; n++) {
      let mx = -Infinity;
      for (let k = 0; k < K; k++) mx = Math.max(mx, logits![n * K + k]!);
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.exp(logits![n * K + k]! - mx);
      const lse = mx + Math.log(s);
      for (let k = 0; k < K; k++) p![n * K + k] = Math.exp(logits![n * K + k]! - lse);
      total += lse - logits![n * K + labels![n]!]!;
    }
    loss![0] = total / N;
  },
  backward(b, node, [dloss]) {
    if (dloss === undefined) return [];
    const [, labels] = node.inputs as [number, number];
    const [dlogits] = b.emit('softmax_cross_entropy_backward', `${node.name}.backward`, [dloss, node.outputs[1]!, labels]);
    return [dlogits, undefined];
  },
};

export const softmaxCrossEntropyBackward: OpDef = {
  type: 'softmax_cross_entropy_backward',
  infer(xs) {
    return [xs[1]!];
  },
  run({ x: [dloss, p, labels], y: [dx], xs }) {
    const [N, K] = xs[1]! as [number, number];
    const s = dloss![0]! / N;
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) dx![n * K + k] = s * (p![n * K + k]! - (labels![n] === k ? 1 : 0));
    }
  },
};
