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
  const [sh, sw] = g.stride,
    [ph, pw] = g.pad,
    [dh, dw] = g.dilation;
  const Cg = C / g.groups,
    Kg = K / g.groups;
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

/**
 * Calls f(yo, xo, kh, kw) for every output pixel and every tap of it inside the image, in (n, oh,
 * ow, kh, kw) order: the offsets of the output pixel in y (K floats a pixel) and of the tapped
 * pixel in x (C floats a pixel).
 */
function convTaps(g: ConvGeom, f: (yo: number, xo: number, kh: number, kw: number) => void): void {
  const { N, C, H, W, K, KH, KW, OH, OW } = g;
  const [sh, sw] = g.stride,
    [ph, pw] = g.pad,
    [dh, dw] = g.dilation;
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
            f(yo, ((n * H + ih) * W + iw) * C, kh, kw);
          }
        }
      }
    }
  }
}

/** dx[n][ih][iw][c] = sum over the (k, kh, kw) whose tap reads (ih, iw) of w * dy. dx is overwritten. */
export function convBackwardData(g: ConvGeom, dy: Arr, w: Arr, dx: Arr): void {
  const { C, K, KH, KW } = g;
  const Cg = C / g.groups,
    Kg = K / g.groups;
  dx.fill(0);
  convTaps(g, (yo, xo, kh, kw) => {
    for (let k = 0; k < K; k++) {
      const c0 = Math.floor(k / Kg) * Cg;
      const d = dy[yo + k]!;
      for (let c = 0; c < Cg; c++) dx[xo + c0 + c] += w[((k * Cg + c) * KH + kh) * KW + kw]! * d;
    }
  });
}

/** dw[k][c][kh][kw] = sum_{n,oh,ow} dy[n][oh][ow][k] * x[n][ih][iw][g*Cg + c]; db[k] = sum dy. Overwritten. */
export function convBackwardWeight(g: ConvGeom, dy: Arr, x: Arr, dw: Arr, db?: Arr): void {
  const { N, C, K, KH, KW, OH, OW } = g;
  const Cg = C / g.groups,
    Kg = K / g.groups;
  dw.fill(0);
  convTaps(g, (yo, xo, kh, kw) => {
    for (let k = 0; k < K; k++) {
      const c0 = Math.floor(k / Kg) * Cg;
      const d = dy[yo + k]!;
      for (let c = 0; c < Cg; c++) dw[((k * Cg + c) * KH + kh) * KW + kw] += d * x[xo + c0 + c]!;
    }
  });
  if (db) {
    db.fill(0);
    const M = N * OH * OW;
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) db[k] += dy[m * K + k]!;
  }
}

/**
 * B^T d B of the 4x4 input tile of output tile (n, oh, ow) (zero outside the image), for every
 * channel c: u[xi][C], xi = 4*i + j. Shared by the Winograd twins below.
 */
function inputTile(g: ConvGeom, x: Arr, n: number, oh: number, ow: number, u: Arr): void {
  const { C, H, W } = g;
  const [ph, pw] = g.pad;
  const d = new Float64Array(16);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) {
        const ih = oh - ph + i,
          iw = ow - pw + j;
        d[i * 4 + j] = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[((n * H + ih) * W + iw) * C + c]! : 0;
      }
    for (let i = 0; i < 4; i++) {
      const [a0, a1, a2, a3] = [d[i * 4]!, d[i * 4 + 1]!, d[i * 4 + 2]!, d[i * 4 + 3]!];
      d[i * 4] = a0 - a2;
      d[i * 4 + 1] = a1 + a2;
      d[i * 4 + 2] = a2 - a1;
      d[i * 4 + 3] = a1 - a3;
    }
    for (let j = 0; j < 4; j++) {
      const [a0, a1, a2, a3] = [d[j]!, d[4 + j]!, d[8 + j]!, d[12 + j]!];
      u[j * C + c] = a0 - a2;
      u[(4 + j) * C + c] = a1 + a2;
      u[(8 + j) * C + c] = a2 - a1;
      u[(12 + j) * C + c] = a1 - a3;
    }
  }
}

/**
 * Winograd F(2x2, 3x3) forward, the twin of winograd.ts conv_wino_fwd (3x3, stride 1, dilation 1, no
 * groups): per 2x2 output tile, y = A^T [(G g G^T) . (B^T d B)] A with d the 4x4 input tile
 * (zero outside the image). Exact in float64 up to rounding; the float32 error is a few times
 * that of the direct sum.
 */
export function winogradForward(g: ConvGeom, x: Arr, w: Arr, bias: Arr | undefined, y: Arr): void {
  const { N, C, K, OH, OW } = g;
  if (g.KH !== 3 || g.KW !== 3 || g.groups !== 1 || g.stride.some((s) => s !== 1) || g.dilation.some((d) => d !== 1)) {
    throw new RangeError('winogradForward: 3x3, stride 1, dilation 1, one group only');
  }
  const mk = (n: number): Arr => (x instanceof Float32Array ? new Float32Array(n) : new Float64Array(n));
  // V[xi][k][c] = (G g G^T)[xi]
  const V = mk(16 * K * C);
  for (let k = 0; k < K; k++)
    for (let c = 0; c < C; c++) {
      const f = (i: number, j: number): number => w[((k * C + c) * 3 + i) * 3 + j]!;
      const t: number[][] = [];
      for (let j = 0; j < 3; j++) {
        const g0 = f(0, j),
          g1 = f(1, j),
          g2 = f(2, j);
        t.push([g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]);
      }
      for (let a = 0; a < 4; a++) {
        const r0 = t[0]![a]!,
          r1 = t[1]![a]!,
          r2 = t[2]![a]!;
        const row = [r0, 0.5 * (r0 + r1 + r2), 0.5 * (r0 - r1 + r2), r2];
        for (let b = 0; b < 4; b++) V[((a * 4 + b) * K + k) * C + c] = row[b]!;
      }
    }
  const u = mk(16 * C),
    m = new Float64Array(16);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < OH; oh += 2)
      for (let ow = 0; ow < OW; ow += 2) {
        inputTile(g, x, n, oh, ow, u);
        for (let k = 0; k < K; k++) {
          for (let xi = 0; xi < 16; xi++) {
            let s = 0;
            for (let c = 0; c < C; c++) s += u[xi * C + c]! * V[(xi * K + k) * C + c]!;
            m[xi] = s;
          }
          // A^T m A
          const s0 = [0, 1, 2, 3].map((j) => m[j]! + m[4 + j]! + m[8 + j]!);
          const s1 = [0, 1, 2, 3].map((j) => m[4 + j]! - m[8 + j]! - m[12 + j]!);
          const out = [
            [s0[0]! + s0[1]! + s0[2]!, s0[1]! - s0[2]! - s0[3]!],
            [s1[0]! + s1[1]! + s1[2]!, s1[1]! - s1[2]! - s1[3]!],
          ];
          for (let a = 0; a < 2; a++)
            for (let b = 0; b < 2; b++) {
              if (oh + a < OH && ow + b < OW) y[((n * OH + oh + a) * OW + ow + b) * K + k] = out[a]![b]! + (bias ? bias[k]! : 0);
            }
        }
      }
}

/**
 * Winograd F(2x2, 3x3) backward-weights, the twin of winograd.ts conv_wino_bwd_w (same geometries as
 * winogradForward): per tile, Z += (A dY A^T) . (B^T x B) (dY the 2x2 output-gradient tile, 0
 * outside the output), then dw[k][c] = G^T Z G. dw (OIHW) is overwritten.
 */
export function winogradBackwardWeight(g: ConvGeom, dy: Arr, x: Arr, dw: Arr): void {
  const { N, C, K, OH, OW } = g;
  if (g.KH !== 3 || g.KW !== 3 || g.groups !== 1 || g.stride.some((s) => s !== 1) || g.dilation.some((d) => d !== 1)) {
    throw new RangeError('winogradBackwardWeight: 3x3, stride 1, dilation 1, one group only');
  }
  const Z = new Float64Array(16 * K * C);
  const u = new Float64Array(16 * C),
    e = new Float64Array(16 * K);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < OH; oh += 2)
      for (let ow = 0; ow < OW; ow += 2) {
        inputTile(g, x, n, oh, ow, u);
        for (let k = 0; k < K; k++) {
          const v = (a: number, b: number): number => (oh + a < OH && ow + b < OW ? dy[((n * OH + oh + a) * OW + ow + b) * K + k]! : 0);
          // A dY A^T, A = [1 0; 1 1; 1 -1; 0 -1]
          const r = [0, 1].map((a) => [v(a, 0), v(a, 0) + v(a, 1), v(a, 0) - v(a, 1), -v(a, 1)]);
          for (let j = 0; j < 4; j++) {
            e[j * K + k] = r[0]![j]!;
            e[(4 + j) * K + k] = r[0]![j]! + r[1]![j]!;
            e[(8 + j) * K + k] = r[0]![j]! - r[1]![j]!;
            e[(12 + j) * K + k] = -r[1]![j]!;
          }
        }
        for (let xi = 0; xi < 16; xi++) for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) Z[(xi * K + k) * C + c] += e[xi * K + k]! * u[xi * C + c]!;
      }
  for (let k = 0; k < K; k++)
    for (let c = 0; c < C; c++) {
      const z = (a: number, b: number): number => Z[((a * 4 + b) * K + k) * C + c]!;
      // G^T Z G, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]
      const t = [0, 1, 2, 3].map((b) => [z(0, b) + 0.5 * (z(1, b) + z(2, b)), 0.5 * (z(1, b) - z(2, b)), 0.5 * (z(1, b) + z(2, b)) + z(3, b)]);
      for (let i = 0; i < 3; i++) {
        const [t0, t1, t2, t3] = [t[0]![i]!, t[1]![i]!, t[2]![i]!, t[3]![i]!];
        const o = (k * C + c) * 9 + i * 3;
        dw[o] = t0 + 0.5 * (t1 + t2);
        dw[o + 1] = 0.5 * (t1 - t2);
        dw[o + 2] = 0.5 * (t1 + t2) + t3;
      }
    }
}

// ---------------------------------------------------------------------------------------------
// Fused depthwise convolutions (groups == C == K; conv_dw_*_f in src/kernels/wasm/depthwise.ts):
// the BN work on load and on the final values, with the activation as a code (ACT in conv.ts:
// 0 none, 1 ReLU, 2 ReLU6, 3 SiLU, 4 hardswish). On Float64Array (exp from Math.exp) a float64
// reference in NHWC.

/** act(z) for an activation code. */
export function actForward(z: number, act: number): number {
  switch (act) {
    case 1:
      return z <= 0 ? 0 : z;
    case 2:
      return z <= 0 ? 0 : z >= 6 ? 6 : z;
    case 3:
      return z / (1 + Math.exp(-z));
    case 4: {
      const t = z + 3;
      return (z * (t <= 0 ? 0 : t >= 6 ? 6 : t)) / 6;
    }
    default:
      return z;
  }
}

/** g * act'(z) for an activation code (the derivative at the BN output z). */
export function actBackward(g: number, z: number, act: number): number {
  switch (act) {
    case 1:
      return z <= 0 ? 0 : g;
    case 2:
      return z > 0 && z < 6 ? g : 0;
    case 3: {
      const s = 1 / (1 + Math.exp(-z));
      return g * (s * (1 + z * (1 - s)));
    }
    case 4:
      return z < -3 ? 0 : z > 3 ? g : g * (z / 3 + 0.5);
    default:
      return g;
  }
}

/** A BN as a per-channel affine map and its activation: act(a[c]*x + b[c]). */
export interface DwAffine {
  a: Arr;
  b: Arr;
  act: number;
}

/** dy computed from the next BN's backward: dy = A[c]*dbn + (B[c]*xbn + C0[c]). */
export interface DwDyPrologue {
  dbn: Arr;
  xbn: Arr;
  A: Arr;
  B: Arr;
  C0: Arr;
}

const dyAt = (dy: Arr | DwDyPrologue, i: number, c: number): number =>
  dy instanceof Float32Array || dy instanceof Float64Array ? dy[i]! : dy.A[c]! * dy.dbn[i]! + (dy.B[c]! * dy.xbn[i]! + dy.C0[c]!);

/**
 * Depthwise forward with an x prologue (x read as act(a*x + b), padding zero after it) and the
 * moments of y (mean and biased variance per channel) when `moments` is given.
 */
export function depthwiseForwardFused(g: ConvGeom, x: Arr, w: Arr, bias: Arr | undefined, y: Arr, xp?: DwAffine, moments?: { mean: Arr; variance: Arr }): void {
  const { N, C, KH, KW, OH, OW } = g;
  const T = KH * KW;
  const M = N * OH * OW;
  for (let m = 0; m < M; m++) for (let c = 0; c < C; c++) y[m * C + c] = bias ? bias[c]! : 0;
  convTaps(g, (yo, xo, kh, kw) => {
    const t = kh * KW + kw;
    for (let c = 0; c < C; c++) {
      let v = x[xo + c]!;
      if (xp) v = actForward(xp.a[c]! * v + xp.b[c]!, xp.act);
      y[yo + c] += v * w[c * T + t]!;
    }
  });
  if (!moments) return;
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let m = 0; m < M; m++) s += y[m * C + c]!;
    const mean = s / M;
    let q = 0;
    for (let m = 0; m < M; m++) q += (y[m * C + c]! - mean) ** 2;
    moments.mean[c] = mean;
    moments.variance[c] = q / M;
  }
}

/**
 * Depthwise backward-data with dy given or computed on load (DwDyPrologue) and a dx epilogue:
 * dx = dx * act'(a2*x2 + b2), dbeta = sum dx, dgamma = rstd2 * sum dx*(x2 - mean2).
 */
export function depthwiseBackwardDataFused(
  g: ConvGeom,
  dy: Arr | DwDyPrologue,
  w: Arr,
  dx: Arr,
  de?: DwAffine & { x2: Arr; mean: Arr; rstd: Arr; dbeta: Arr; dgamma: Arr },
): void {
  const { N, C, H, W, KH, KW } = g;
  const T = KH * KW;
  dx.fill(0);
  convTaps(g, (yo, xo, kh, kw) => {
    const t = kh * KW + kw;
    for (let c = 0; c < C; c++) dx[xo + c] += w[c * T + t]! * dyAt(dy, yo + c, c);
  });
  if (!de) return;
  const M = N * H * W;
  for (let c = 0; c < C; c++) {
    let s = 0,
      q = 0;
    for (let m = 0; m < M; m++) {
      const i = m * C + c,
        x2 = de.x2[i]!;
      const v = actBackward(dx[i]!, de.a[c]! * x2 + de.b[c]!, de.act);
      dx[i] = v;
      s += v;
      q += v * (x2 - de.mean[c]!);
    }
    de.dbeta[c] = s;
    de.dgamma[c] = q * de.rstd[c]!;
  }
}

/** Depthwise backward-weights with dy given or computed on load and x read as act(a*x + b) when xp. dw OIHW [C][1][KH][KW], overwritten. */
export function depthwiseBackwardWeightFused(g: ConvGeom, dy: Arr | DwDyPrologue, x: Arr, dw: Arr, xp?: DwAffine): void {
  const { C, KH, KW } = g;
  const T = KH * KW;
  dw.fill(0);
  convTaps(g, (yo, xo, kh, kw) => {
    const t = kh * KW + kw;
    for (let c = 0; c < C; c++) {
      let v = x[xo + c]!;
      if (xp) v = actForward(xp.a[c]! * v + xp.b[c]!, xp.act);
      dw[c * T + t] += dyAt(dy, yo + c, c) * v;
    }
  });
}
