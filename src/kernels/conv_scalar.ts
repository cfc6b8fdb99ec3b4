/**
 * Plain TypeScript twin of src/kernels/conv.ts: the same three convolution functions with the
 * same layouts (activations NHWC, weights PyTorch OIHW), on host arrays instead of arena
 * pointers, with straight scalar loops. Generic over Float32Array / Float64Array: on
 * Float64Array it is a float64 reference in NHWC; on Float32Array a portable fallback.
 */
import type { Arr } from '../ops/op.js';
import type { ConvGeom } from './conv.js';

/** y[n][oh][ow][k] = bias[k] + sum_{c,kh,kw} w[k][c][kh][kw] * x[n][ih][iw][g*Cg + c]. */
export function convForward(g: ConvGeom, x: Arr, w: Arr, bias: Arr | undefined, y: Arr): void {
  const { N, C, H, W, K, KH, KW, OH, OW } = g;
  const [sh, sw] = g.stride, [ph, pw] = g.pad, [dh, dw] = g.dilation;
  const Cg = C / g.groups, Kg = K / g.groups;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const yo = ((n * OH + oh) * OW + ow) * K;
        for (let k = 0; k < K; k++) {
          const c0 = Math.floor(k / Kg) * Cg;
          let s = bias ? bias[k]! : 0;
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * sh - ph + kh * dh;
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = ow * sw - pw + kw * dw;
              if (iw < 0 || iw >= W) continue;
              const xo = ((n * H + ih) * W + iw) * C + c0;
              for (let c = 0; c < Cg; c++) s += w[((k * Cg + c) * KH + kh) * KW + kw]! * x[xo + c]!;
            }
          }
          y[yo + k] = s;
        }
      }
    }
  }
}

/** dx[n][ih][iw][c] = sum over the (k, kh, kw) whose tap reads (ih, iw) of w * dy. dx is overwritten. */
export function convBackwardData(g: ConvGeom, dy: Arr, w: Arr, dx: Arr): void {
  const { N, C, H, W, K, KH, KW, OH, OW } = g;
  const [sh, sw] = g.stride, [ph, pw] = g.pad, [dh, dw] = g.dilation;
  const Cg = C / g.groups, Kg = K / g.groups;
  dx.fill(0);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const yo = ((n * OH + oh) * OW + ow) * K;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - ph + kh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pw + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const xo = ((n * H + ih) * W + iw) * C;
            for (let k = 0; k < K; k++) {
              const c0 = Math.floor(k / Kg) * Cg;
              const d = dy[yo + k]!;
              for (let c = 0; c < Cg; c++) dx[xo + c0 + c] += w[((k * Cg + c) * KH + kh) * KW + kw]! * d;
            }
          }
        }
      }
    }
  }
}

/** dw[k][c][kh][kw] = sum_{n,oh,ow} dy[n][oh][ow][k] * x[n][ih][iw][g*Cg + c]; db[k] = sum dy. Overwritten. */
export function convBackwardWeight(g: ConvGeom, dy: Arr, x: Arr, dw: Arr, db?: Arr): void {
  const { N, C, H, W, K, KH, KW, OH, OW } = g;
  const [sh, sw] = g.stride, [ph, pw] = g.pad, [dh, ddw] = g.dilation;
  const Cg = C / g.groups, Kg = K / g.groups;
  dw.fill(0);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const yo = ((n * OH + oh) * OW + ow) * K;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - ph + kh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pw + kw * ddw;
            if (iw < 0 || iw >= W) continue;
            const xo = ((n * H + ih) * W + iw) * C;
            for (let k = 0; k < K; k++) {
              const c0 = Math.floor(k / Kg) * Cg;
              const d = dy[yo + k]!;
              for (let c = 0; c < Cg; c++) dw[((k * Cg + c) * KH + kh) * KW + kw] += d * x[xo + c0 + c]!;
            }
          }
        }
      }
    }
  }
  if (db) {
    db.fill(0);
    const M = N * OH * OW;
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) db[k] += dy[m * K + k]!;
  }
}
