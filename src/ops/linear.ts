/**
 * linear: y[n,o] = b[o] + sum_i x[n,i] * w[o,i]. Inputs: x [N,I], w [O,I], optional b [O].
 * Saved: x, w. Backward: linear_backward_data (dy, w -> dx = dy w),
 * linear_backward_weight (dy, x -> dw = dy^T x [, db = sum_n dy]).
 */
import type { Shape } from '../graph/ir.js';
import { type OpDef, ShapeErrorAt, expectRank } from './op.js';

export const linear: OpDef = {
  type: 'linear',
  infer(xs, _a, layer) {
    expectRank(xs, 0, 2, layer, 'linear', 'input');
    expectRank(xs, 1, 2, layer, 'linear', 'weight');
    const [N, I] = xs[0]! as number[];
    const [O, I2] = xs[1]! as number[];
    if (I !== I2) throw new ShapeErrorAt(layer, 'linear', `input [${xs[0]!.join(', ')}] has ${I} features but weight [${xs[1]!.join(', ')}] expects ${I2}`);
    if (xs.length > 2 && (xs[2]!.length !== 1 || xs[2]![0] !== O)) throw new ShapeErrorAt(layer, 'linear', `bias must be [${O}], got [${xs[2]!.join(', ')}]`);
    return [[N!, O!]];
  },
  run({ x: [x, w, b], y: [y], xs }) {
    const [N, I] = xs[0]! as [number, number];
    const O = xs[1]![0]!;
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < O; o++) {
        let s = b ? b[o]! : 0;
        for (let i = 0; i < I; i++) s += x![n * I + i]! * w![o * I + i]!;
        y![n * O + o] = s;
      }
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    const [x, w, bias] = node.inputs as [number, number, number | undefined];
    const attrs = { xShape: b.shape(x), wShape: b.shape(w), bias: bias !== undefined };
    const [dx] = b.emit('linear_backward_data', `${node.name}.backward_data`, [dy, w], attrs);
    const [dw, db] = b.emit('linear_backward_weight', `${node.name}.backward_weight`, [dy, x], attrs);
    return [dx, dw, db];
  },
};

interface LinearBackwardAttrs {
  xShape: Shape;
  wShape: Shape;
  bias: boolean;
}

export const linearBackwardData: OpDef<LinearBackwardAttrs> = {
  type: 'linear_backward_data',
  infer(_xs, a) {
    return [a.xShape];
  },
  run({ x: [dy, w], y: [dx], attrs }) {
    const [N, I] = attrs.xShape as [number, number];
    const O = attrs.wShape[0]!;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < I; i++) {
        let s = 0;
        for (let o = 0; o < O; o++) s += dy![n * O + o]! * w![o * I + i]!;
        dx![n * I + i] = s;
      }
    }
  },
};

export const linearBackwardWeight: OpDef<LinearBackwardAttrs> = {
  type: 'linear_backward_weight',
  infer(_xs, a) {
    return a.bias ? [a.wShape, [a.wShape[0]!]] : [a.wShape];
  },
  run({ x: [dy, x], y: [dw, db], attrs }) {
    const [N, I] = attrs.xShape as [number, number];
    const O = attrs.wShape[0]!;
    for (let o = 0; o < O; o++) {
      for (let i = 0; i < I; i++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += dy![n * O + o]! * x![n * I + i]!;
        dw![o * I + i] = s;
      }
      if (db) {
        let s = 0;
        for (let n = 0; n < N; n++) s += dy![n * O + o]!;
        db[o] = s;
      }
    }
  },
};
