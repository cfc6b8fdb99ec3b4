/**
 * Pooling over NCHW, PyTorch semantics (floor mode).
 * max_pool2d: y = max over the window (padding reads -inf); ties and backward pick the first
 *   maximum in window order, as PyTorch does. Saved: x. Backward: max_pool2d_backward (dy, x).
 * avg_pool2d: y = sum over the window / divisor; with count_include_pad (PyTorch's default)
 *   the divisor counts padded taps inside the padded input. Backward: avg_pool2d_backward (dy).
 * global_avg_pool: [N,C,H,W] -> [N,C,1,1], y = mean over H*W. Backward: global_avg_pool_backward.
 */
import type { Shape } from '../graph/ir.js';
import { type Arr, type OpDef, ShapeErrorAt, expectRank, pair, windowOut } from './op.js';

/** A pooling window's geometry (a number: the same along H and W). */
export interface Pool2dAttrs {
  /** Window size KH x KW. */
  kernel: number | [number, number];
  /** Step between windows (default: the kernel size, as PyTorch). */
  stride?: number | [number, number];
  /** Padding on each side of H and W (default 0). */
  padding?: number | [number, number];
  /** avg_pool2d only; default true as in PyTorch. */
  count_include_pad?: boolean;
  /** max_pool2d's backward needs the input shape. */
  xShape?: Shape;
}

interface PoolGeom {
  N: number;
  C: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

function geom(xs: Shape, a: Pool2dAttrs, layer: string, op: string): PoolGeom {
  const [N, C, H, W] = xs as [number, number, number, number];
  const [kh, kw] = pair(a.kernel, 'kernel', layer, op);
  const [sh, sw] = pair(a.stride ?? a.kernel, 'stride', layer, op);
  const [ph, pw] = pair(a.padding ?? 0, 'padding', layer, op);
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1) throw new ShapeErrorAt(layer, op, 'kernel and stride must be at least 1');
  if (2 * ph > kh || 2 * pw > kw) throw new ShapeErrorAt(layer, op, `padding ${ph},${pw} must be at most half the kernel ${kh}x${kw}`);
  const OH = windowOut(H, kh, sh, ph, 1);
  const OW = windowOut(W, kw, sw, pw, 1);
  if (OH < 1 || OW < 1) throw new ShapeErrorAt(layer, op, `input [${xs.join(', ')}] is smaller than the ${kh}x${kw} window`);
  return { N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw };
}

/** Calls f(outIndex, inIndex, first) for each in-bounds tap, per output, in window order. */
function argmaxIndex(x: Arr, g: PoolGeom, plane: number, oh: number, ow: number): number {
  let best = -Infinity;
  let bi = -1;
  const h0 = oh * g.sh - g.ph;
  const w0 = ow * g.sw - g.pw;
  for (let i = Math.max(0, h0); i < Math.min(g.H, h0 + g.kh); i++) {
    for (let j = Math.max(0, w0); j < Math.min(g.W, w0 + g.kw); j++) {
      const idx = plane + i * g.W + j;
      const v = x[idx]!;
      if (v > best || Number.isNaN(v) || bi < 0) {
        best = v;
        bi = idx;
        if (Number.isNaN(v)) return bi;
      }
    }
  }
  return bi;
}

export const maxPool2d: OpDef<Pool2dAttrs> = {
  type: 'max_pool2d',
  infer(xs, a, layer) {
    expectRank(xs, 0, 4, layer, 'max_pool2d', 'input');
    const g = geom(xs[0]!, a, layer, 'max_pool2d');
    return [[g.N, g.C, g.OH, g.OW]];
  },
  run({ x: [x], y: [y], xs, attrs, node }) {
    const g = geom(xs[0]!, attrs, node.name, 'max_pool2d');
    for (let nc = 0; nc < g.N * g.C; nc++) {
      const plane = nc * g.H * g.W;
      for (let oh = 0; oh < g.OH; oh++) {
        for (let ow = 0; ow < g.OW; ow++) y![(nc * g.OH + oh) * g.OW + ow] = x![argmaxIndex(x!, g, plane, oh, ow)]!;
      }
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    const xId = node.inputs[0]!;
    return b.emit('max_pool2d_backward', `${node.name}.backward`, [dy, xId], { ...node.attrs, xShape: b.shape(xId) });
  },
};

/** Inputs: dy, x. Output: dx (dy routed to each window's first maximum). */
export const maxPool2dBackward: OpDef<Pool2dAttrs> = {
  type: 'max_pool2d_backward',
  infer(xs) {
    return [xs[1]!];
  },
  run({ x: [dy, x], y: [dx], attrs, node }) {
    const g = geom(attrs.xShape!, attrs, node.name, 'max_pool2d_backward');
    dx!.fill(0);
    for (let nc = 0; nc < g.N * g.C; nc++) {
      const plane = nc * g.H * g.W;
      for (let oh = 0; oh < g.OH; oh++) {
        for (let ow = 0; ow < g.OW; ow++) dx![argmaxIndex(x!, g, plane, oh, ow)] += dy![(nc * g.OH + oh) * g.OW + ow]!;
      }
    }
  },
};

/** Visits each output of avg_pool2d with its in-bounds window and divisor. */
function forEachAvgWindow(
  g: PoolGeom,
  includePad: boolean,
  f: (out: number, plane: number, h0: number, h1: number, w0: number, w1: number, div: number) => void,
): void {
  for (let nc = 0; nc < g.N * g.C; nc++) {
    const plane = nc * g.H * g.W;
    for (let oh = 0; oh < g.OH; oh++) {
      let hs = oh * g.sh - g.ph;
      let he = Math.min(hs + g.kh, g.H + g.ph);
      const padH = he - hs;
      hs = Math.max(hs, 0);
      he = Math.min(he, g.H);
      for (let ow = 0; ow < g.OW; ow++) {
        let ws = ow * g.sw - g.pw;
        let we = Math.min(ws + g.kw, g.W + g.pw);
        const padW = we - ws;
        ws = Math.max(ws, 0);
        we = Math.min(we, g.W);
        const div = includePad ? padH * padW : (he - hs) * (we - ws);
        f((nc * g.OH + oh) * g.OW + ow, plane, hs, he, ws, we, div);
      }
    }
  }
}

export const avgPool2d: OpDef<Pool2dAttrs> = {
  type: 'avg_pool2d',
  infer(xs, a, layer) {
    expectRank(xs, 0, 4, layer, 'avg_pool2d', 'input');
    const g = geom(xs[0]!, a, layer, 'avg_pool2d');
    return [[g.N, g.C, g.OH, g.OW]];
  },
  run({ x: [x], y: [y], xs, attrs, node }) {
    const g = geom(xs[0]!, attrs, node.name, 'avg_pool2d');
    forEachAvgWindow(g, attrs.count_include_pad ?? true, (o, plane, h0, h1, w0, w1, div) => {
      let s = 0;
      for (let i = h0; i < h1; i++) for (let j = w0; j < w1; j++) s += x![plane + i * g.W + j]!;
      y![o] = s / div;
    });
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    return b.emit('avg_pool2d_backward', `${node.name}.backward`, [dy], { ...node.attrs, xShape: b.shape(node.inputs[0]!) });
  },
};

export const avgPool2dBackward: OpDef<Pool2dAttrs> = {
  type: 'avg_pool2d_backward',
  infer(_xs, a) {
    return [a.xShape!];
  },
  run({ x: [dy], y: [dx], attrs, node }) {
    const g = geom(attrs.xShape!, attrs, node.name, 'avg_pool2d_backward');
    dx!.fill(0);
    forEachAvgWindow(g, attrs.count_include_pad ?? true, (o, plane, h0, h1, w0, w1, div) => {
      const v = dy![o]! / div;
      for (let i = h0; i < h1; i++) for (let j = w0; j < w1; j++) dx![plane + i * g.W + j] += v;
    });
  },
};

export const globalAvgPool: OpDef = {
  type: 'global_avg_pool',
  infer(xs, _a, layer) {
    expectRank(xs, 0, 4, layer, 'global_avg_pool', 'input');
    const [N, C] = xs[0]! as number[];
    return [[N!, C!, 1, 1]];
  },
  run({ x: [x], y: [y], xs }) {
    const [N, C, H, W] = xs[0]! as number[];
    const HW = H! * W!;
    for (let nc = 0; nc < N! * C!; nc++) {
      let s = 0;
      for (let i = 0; i < HW; i++) s += x![nc * HW + i]!;
      y![nc] = s / HW;
    }
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    return b.emit('global_avg_pool_backward', `${node.name}.backward`, [dy], { xShape: b.shape(node.inputs[0]!) });
  },
};

export const globalAvgPoolBackward: OpDef<{ xShape: Shape }> = {
  type: 'global_avg_pool_backward',
  infer(_xs, a) {
    return [a.xShape];
  },
  run({ x: [dy], y: [dx], attrs }) {
    const [N, C, H, W] = attrs.xShape as number[];
    const HW = H! * W!;
    for (let nc = 0; nc < N! * C!; nc++) {
      const v = dy![nc]! / HW;
      for (let i = 0; i < HW; i++) dx![nc * HW + i] = v;
    }
  },
};
