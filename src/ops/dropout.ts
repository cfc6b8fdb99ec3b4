/**
 * dropout: in training, y = x * mask with mask = 0 (probability p) or 1/(1-p); in eval, y = x.
 * Outputs: y, mask (saved for backward). Backward: mul (dy * mask).
 * The mask is a pure function of (run seed, step, layer name, element index), so a step is
 * reproducible whatever the kernel or thread split.
 */
import { hashUniform, strHash } from '../util/random.js';
import { type OpDef, ShapeErrorAt } from './op.js';

export interface DropoutAttrs {
  p: number;
  training?: boolean;
}

export const dropout: OpDef<DropoutAttrs> = {
  type: 'dropout',
  infer(xs, a, layer) {
    if (!(a.p >= 0 && a.p < 1)) throw new ShapeErrorAt(layer, 'dropout', `p must be in [0, 1), got ${a.p}`);
    return [xs[0]!, xs[0]!];
  },
  run({ x: [x], y: [y, mask], attrs, node, ctx }) {
    const keep = 1 / (1 - attrs.p);
    const layer = strHash(node.name);
    for (let i = 0; i < x!.length; i++) {
      const m = attrs.training && attrs.p > 0 ? (hashUniform(ctx.seed, ctx.step, layer, i) < attrs.p ? 0 : keep) : 1;
      mask![i] = m;
      y![i] = x![i]! * m;
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    return b.emit('mul', `${node.name}.backward`, [dy, node.outputs[1]!]);
  },
};

/** Elementwise product of two same-shaped tensors. */
export const mul: OpDef = {
  type: 'mul',
  infer(xs) {
    return [xs[0]!];
  },
  run({ x: [a, b], y: [y] }) {
    for (let i = 0; i < y!.length; i++) y![i] = a![i]! * b![i]!;
  },
};
