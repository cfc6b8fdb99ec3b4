/**
 * concat along channels: y[n] = [x0[n]; x1[n]; ...]. Backward: slice_channels of dy per input.
 */
import { type OpDef, ShapeErrorAt } from './op.js';

/**
 * A concatenation planned as a view of its chain's buffer: node.attrs.view, set by
 * passes/concat_views.ts, read by the planner and the lowering.
 */
export interface ConcatView {
  /** The value whose buffer holds the block: the chain's last concatenation. */
  buffer: number;
  /** Inputs [from, end) are written into the buffer by this node; the others are already there. */
  from: number;
  /**
   * Inputs (of [from, end)) that their producers wrote into their channels of the buffer
   * themselves: planned there (at their channel offset, the buffer's pixel stride), not copied.
   */
  inPlace?: number[];
}

/** The view attributes of a node, if it is a marked concatenation. */
export function viewOf(n: { op: string; attrs: Record<string, unknown> }): ConcatView | undefined {
  return n.op === 'concat' ? (n.attrs.view as ConcatView | undefined) : undefined;
}

export const concat: OpDef = {
  type: 'concat',
  infer(xs, _attrs, layer) {
    if (xs.length < 1) throw new ShapeErrorAt(layer, 'concat', 'needs at least one input');
    const [N, , H, W] = xs[0]! as number[];
    let C = 0;
    for (const s of xs) {
      if (s.length !== 4 || s[0] !== N || s[2] !== H || s[3] !== W) {
        throw new ShapeErrorAt(layer, 'concat', `inputs must agree on N, H, W: got ${xs.map((q) => `[${q.join(', ')}]`).join(', ')}`);
      }
      C += s[1]!;
    }
    return [[N!, C, H!, W!]];
  },
  run({ x, y: [y], xs, ys }) {
    const [N, C, H, W] = ys[0]! as number[];
    const HW = H! * W!;
    let c0 = 0;
    for (let i = 0; i < x.length; i++) {
      const Ci = xs[i]![1]!;
      const xi = x[i]!;
      for (let n = 0; n < N!; n++) {
        const src = n * Ci * HW;
        const dst = (n * C! + c0) * HW;
        for (let j = 0; j < Ci * HW; j++) y![dst + j] = xi[src + j]!;
      }
      c0 += Ci;
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    let start = 0;
    return node.inputs.map((id, i) => {
      const size = b.shape(id)[1]!;
      const [dx] = b.emit('slice_channels', `${node.name}.backward.${i}`, [dy], { start, size });
      start += size;
      return dx;
    });
  },
};

/** y = x[:, start:start+size]. */
export const sliceChannels: OpDef<{ start: number; size: number }> = {
  type: 'slice_channels',
  infer(xs, { start, size }, layer) {
    const [N, C, H, W] = xs[0]! as number[];
    if (start < 0 || size < 1 || start + size > C!) throw new ShapeErrorAt(layer, 'slice_channels', `channels ${start}..${start + size} out of [0, ${C})`);
    return [[N!, size, H!, W!]];
  },
  run({ x: [x], y: [y], xs, attrs: { start, size } }) {
    const [N, C, H, W] = xs[0]! as number[];
    const HW = H! * W!;
    for (let n = 0; n < N!; n++) {
      const src = (n * C! + start) * HW;
      const dst = n * size * HW;
      for (let j = 0; j < size * HW; j++) y![dst + j] = x![src + j]!;
    }
  },
};
