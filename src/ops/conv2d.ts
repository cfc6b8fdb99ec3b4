/**
 * conv2d: y[n,k,oh,ow] = b[k] + sum_{c,kh,kw} w[k,c,kh,kw] * x[n, g*C/G + c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
 * Inputs: x [N,C,H,W], w [K,C/G,KH,KW], optional b [K]. Output: y [N,K,OH,OW].
 * Saved for backward: x and w (the inputs themselves).
 * Backward ops: conv2d_backward_data (dy, w -> dx) and conv2d_backward_weight (dy, x -> dw[, db]).
 */
import type { Shape } from '../graph/ir.js';
import { type Arr, type OpDef, ShapeErrorAt, expectRank, pair, windowOut } from './op.js';

/** A convolution's geometry, as torch.nn.Conv2d's arguments (a number: the same along H and W). */
export interface Conv2dAttrs {
  /** Step between windows (default 1). */
  stride?: number | [number, number];
  /** Zeros added on each side of H and W (default 0). */
  padding?: number | [number, number];
  /** Spacing of the kernel taps (default 1). */
  dilation?: number | [number, number];
  /** Channel groups: C and K split into this many independent convolutions (default 1). */
  groups?: number;
}

interface Geometry {
  N: number;
  C: number;
  H: number;
  W: number;
  K: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  G: number;
  Cg: number;
  Kg: number;
}

function geometry(xs: Shape, ws: Shape, attrs: Conv2dAttrs, layer: string, op: string): Geometry {
  const [N, C, H, W] = xs as [number, number, number, number];
  const [K, Cg, KH, KW] = ws as [number, number, number, number];
  const [sh, sw] = pair(attrs.stride ?? 1, 'stride', layer, op);
  const [ph, pw] = pair(attrs.padding ?? 0, 'padding', layer, op);
  const [dh, dw] = pair(attrs.dilation ?? 1, 'dilation', layer, op);
  const G = attrs.groups ?? 1;
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1) throw new ShapeErrorAt(layer, op, 'stride and dilation must be at least 1');
  if (!Number.isInteger(G) || G < 1 || C % G !== 0 || K % G !== 0) {
    throw new ShapeErrorAt(layer, op, `groups=${G} must divide input channels ${C} and output channels ${K}`);
  }
  if (Cg !== C / G) {
    throw new ShapeErrorAt(
      layer,
      op,
      `input [${xs.join(', ')}] has ${C} channels, but weight [${ws.join(', ')}] expects ${Cg * G} (${Cg} per group, groups=${G})`,
    );
  }
  const OH = windowOut(H, KH, sh, ph, dh);
  const OW = windowOut(W, KW, sw, pw, dw);
  if (OH < 1 || OW < 1) {
    throw new ShapeErrorAt(layer, op, `input [${xs.join(', ')}] is too small for a ${KH}x${KW} kernel with padding ${ph},${pw} and dilation ${dh},${dw}`);
  }
  return { N, C, H, W, K, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G, Cg, Kg: K / G };
}

/** Range of output columns ow for which iw = ow*sw - pw + kw*dw lies in [0, W). */
function validRange(kOff: number, s: number, size: number, outSize: number): [number, number] {
  // kOff = kw*dw - pw; need 0 <= ow*s + kOff < size
  const lo = kOff >= 0 ? 0 : Math.ceil(-kOff / s);
  const hi = Math.min(outSize, Math.floor((size - 1 - kOff) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

export const conv2d: OpDef<Conv2dAttrs> = {
  type: 'conv2d',
  infer(xs, attrs, layer) {
    expectRank(xs, 0, 4, layer, 'conv2d', 'input');
    expectRank(xs, 1, 4, layer, 'conv2d', 'weight');
    const g = geometry(xs[0]!, xs[1]!, attrs, layer, 'conv2d');
    if (xs.length > 2 && (xs[2]!.length !== 1 || xs[2]![0] !== g.K)) {
      throw new ShapeErrorAt(layer, 'conv2d', `bias must be [${g.K}], got [${xs[2]!.join(', ')}]`);
    }
    return [[g.N, g.K, g.OH, g.OW]];
  },
  run({ x, y, xs, attrs, node }) {
    const g = geometry(xs[0]!, xs[1]!, attrs, node.name, 'conv2d');
    convForward(g, x[0]!, x[1]!, x[2], y[0]!);
  },
  backward(b, node, [dy]) {
    if (dy === undefined) return [];
    const [xId, wId, bId] = node.inputs as [number, number, number | undefined];
    const attrs = { ...node.attrs, xShape: b.shape(xId), wShape: b.shape(wId), bias: bId !== undefined };
    const [dx] = b.emit('conv2d_backward_data', `${node.name}.backward_data`, [dy, wId], attrs);
    const dwdb = b.emit('conv2d_backward_weight', `${node.name}.backward_weight`, [dy, xId], attrs);
    return [dx, dwdb[0], dwdb[1]];
  },
};

function convForward(g: Geometry, x: Arr, w: Arr, bias: Arr | undefined, y: Arr): void {
  const { N, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G, Cg, Kg } = g;
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < G; gi++) {
      for (let kk = 0; kk < Kg; kk++) {
        const k = gi * Kg + kk;
        const yBase = (n * g.K + k) * OH * OW;
        const b0 = bias ? bias[k]! : 0;
        for (let i = 0; i < OH * OW; i++) y[yBase + i] = b0;
        for (let cc = 0; cc < Cg; cc++) {
          const xBase = (n * g.C + gi * Cg + cc) * H * W;
          for (let kh = 0; kh < KH; kh++) {
            const [ohLo, ohHi] = validRange(kh * dh - ph, sh, H, OH);
            for (let kw = 0; kw < KW; kw++) {
              const wv = w[((k * Cg + cc) * KH + kh) * KW + kw]!;
              const kOff = kw * dw - pw;
              const [owLo, owHi] = validRange(kOff, sw, W, OW);
              for (let oh = ohLo; oh < ohHi; oh++) {
                const xRow = xBase + (oh * sh + kh * dh - ph) * W + kOff;
                const yRow = yBase + oh * OW;
                for (let ow = owLo; ow < owHi; ow++) y[yRow + ow] += wv * x[xRow + ow * sw]!;
              }
            }
          }
        }
      }
    }
  }
}

type BackwardAttrs = Conv2dAttrs & { xShape: Shape; wShape: Shape; bias: boolean };

/** dx[n,c,ih,iw] = sum over the taps that read (ih,iw) of w * dy. Inputs: dy, w. Output: dx. */
export const conv2dBackwardData: OpDef<BackwardAttrs> = {
  type: 'conv2d_backward_data',
  infer(_xs, attrs) {
    return [attrs.xShape];
  },
  run({ x, y, attrs, node }) {
    const g = geometry(attrs.xShape, attrs.wShape, attrs, node.name, 'conv2d_backward_data');
    const [dy, w] = x as [Arr, Arr];
    const dx = y[0]!;
    const { N, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G, Cg, Kg } = g;
    dx.fill(0);
    for (let n = 0; n < N; n++) {
      for (let gi = 0; gi < G; gi++) {
        for (let cc = 0; cc < Cg; cc++) {
          const xBase = (n * g.C + gi * Cg + cc) * H * W;
          for (let kk = 0; kk < Kg; kk++) {
            const k = gi * Kg + kk;
            const yBase = (n * g.K + k) * OH * OW;
            for (let kh = 0; kh < KH; kh++) {
              const [ohLo, ohHi] = validRange(kh * dh - ph, sh, H, OH);
              for (let kw = 0; kw < KW; kw++) {
                const wv = w[((k * Cg + cc) * KH + kh) * KW + kw]!;
                const kOff = kw * dw - pw;
                const [owLo, owHi] = validRange(kOff, sw, W, OW);
                for (let oh = ohLo; oh < ohHi; oh++) {
                  const xRow = xBase + (oh * sh + kh * dh - ph) * W + kOff;
                  const yRow = yBase + oh * OW;
                  for (let ow = owLo; ow < owHi; ow++) dx[xRow + ow * sw] += wv * dy[yRow + ow]!;
                }
              }
            }
          }
        }
      }
    }
  },
};

/** dw[k,c,kh,kw] = sum_{n,oh,ow} dy[n,k,oh,ow] * x[n,c,ih,iw]; db[k] = sum dy. Inputs: dy, x. */
export const conv2dBackwardWeight: OpDef<BackwardAttrs> = {
  type: 'conv2d_backward_weight',
  infer(_xs, attrs) {
    return attrs.bias ? [attrs.wShape, [attrs.wShape[0]!]] : [attrs.wShape];
  },
  run({ x, y, attrs, node }) {
    const g = geometry(attrs.xShape, attrs.wShape, attrs, node.name, 'conv2d_backward_weight');
    const [dy, xv] = x as [Arr, Arr];
    const [dwv, db] = y as [Arr, Arr | undefined];
    const { N, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G, Cg, Kg } = g;
    for (let gi = 0; gi < G; gi++) {
      for (let kk = 0; kk < Kg; kk++) {
        const k = gi * Kg + kk;
        for (let cc = 0; cc < Cg; cc++) {
          for (let kh = 0; kh < KH; kh++) {
            const [ohLo, ohHi] = validRange(kh * dh - ph, sh, H, OH);
            for (let kw = 0; kw < KW; kw++) {
              const kOff = kw * dw - pw;
              const [owLo, owHi] = validRange(kOff, sw, W, OW);
              let acc = 0;
              for (let n = 0; n < N; n++) {
                const xBase = (n * g.C + gi * Cg + cc) * H * W;
                const yBase = (n * g.K + k) * OH * OW;
                for (let oh = ohLo; oh < ohHi; oh++) {
                  const xRow = xBase + (oh * sh + kh * dh - ph) * W + kOff;
                  const yRow = yBase + oh * OW;
                  for (let ow = owLo; ow < owHi; ow++) acc += dy[yRow + ow]! * xv[xRow + ow * sw]!;
                }
              }
              dwv[((k * Cg + cc) * KH + kh) * KW + kw] = acc;
            }
          }
        }
      }
    }
    if (db) {
      for (let k = 0; k < g.K; k++) {
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const base = (n * g.K + k) * OH * OW;
          for (let i = 0; i < OH * OW; i++) acc += dy[base + i]!;
        }
        db[k] = acc;
      }
    }
  },
};
