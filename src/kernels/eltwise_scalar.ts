/**
 * Scalar twins of the memory-bound NHWC kernels (src/kernels/eltwise.ts): plain TypeScript over
 * Float32Arrays, the same semantics, arguments and rounding points as the WebAssembly kernels
 * (float32 storage, float64 where the kernels use float64), for runtimes without WebAssembly
 * SIMD and as readable documentation of what each kernel computes.
 *
 * Layout: an NHWC tensor of N images of H*W pixels of C channels is M = N*H*W rows of C floats.
 * The pool geometry helpers here are shared with the host module.
 */
import type { Activation } from '../ops/activation.js';
import { act32, actGrad32, sigmoid32, sigmoidGrad32 } from './act_scalar.js';

const fr = Math.fround;

// ---------------------------------------------------------------------------------------------
// Batch norm

export interface BnStatsOptions {
  eps?: number;
  /** null: cumulative moving average (PyTorch momentum=None). Default 0.1. */
  momentum?: number | null;
}

/** Rows whose mean is the batch-norm statistics shift: up to 8, spread evenly over the M rows. */
export function bnShiftRows(M: number): number[] {
  const k = Math.min(M, 8);
  return Array.from({ length: k }, (_, i) => Math.floor(((2 * i + 1) * M) / (2 * k)));
}

/** Whether some channel's shift K lies more than 8 std from its mean (S1 = sum(x-K), S2 = sum((x-K)^2)). */
export function bnShiftTooFar(S1: Float64Array, S2: Float64Array, M: number): boolean {
  for (let c = 0; c < S1.length; c++) {
    const d = S1[c]! / M;
    if (d * d > 64 * (S2[c]! / M - d * d)) return true;
  }
  return false;
}

/**
 * Training statistics of x [M, C], as batch_norm2d: mean, rstd (biased var), running stats
 * (unbiased var, momentum), num_batches_tracked += 1. Sums of x - K and (x - K)^2 in float64,
 * K as the kernel's host (bnShiftRows, bnShiftTooFar).
 */
export function bnStats(
  x: Float32Array,
  M: number,
  C: number,
  mean: Float32Array,
  rstd: Float32Array,
  runningMean: Float32Array,
  runningVar: Float32Array,
  numBatchesTracked: Float32Array,
  opts: BnStatsOptions = {},
): void {
  if (!Number.isInteger(M) || M < 2) throw new RangeError(`M must be an integer >= 2, got ${M}`);
  const eps = opts.eps ?? 1e-5;
  const rows = bnShiftRows(M);
  const K = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (const r of rows) s += x[r * C + c]!;
    K[c] = fr(s / rows.length);
  }
  const sums = (): [Float64Array, Float64Array] => {
    const S1 = new Float64Array(C);
    const S2 = new Float64Array(C);
    for (let i = 0; i < M * C; i++) {
      const c = i % C;
      const d = fr(x[i]! - K[c]!);
      S1[c] += d;
      S2[c] += d * d;
    }
    return [S1, S2];
  };
  let [S1, S2] = sums();
  if (bnShiftTooFar(S1, S2, M)) {
    for (let c = 0; c < C; c++) K[c] = fr(K[c]! + S1[c]! / M);
    [S1, S2] = sums();
  }
  const tracked = numBatchesTracked[0]! + 1;
  const mom = opts.momentum === null ? 1 / tracked : (opts.momentum ?? 0.1);
  for (let c = 0; c < C; c++) {
    const d = S1[c]! / M;
    const mu = K[c]! + d;
    const v = Math.max(0, S2[c]! / M - d * d);
    mean[c] = mu;
    rstd[c] = 1 / Math.sqrt(v + eps);
    runningMean[c] = (1 - mom) * runningMean[c]! + mom * mu;
    runningVar[c] = (1 - mom) * runningVar[c]! + (mom * (v * M)) / (M - 1);
  }
  numBatchesTracked[0] = numBatchesTracked[0]! + 1;
}

/** Eval mode: mean = running_mean, rstd = 1/sqrt(running_var + eps). */
export function bnEvalStats(C: number, mean: Float32Array, rstd: Float32Array, runningMean: Float32Array, runningVar: Float32Array, eps = 1e-5): void {
  for (let c = 0; c < C; c++) {
    mean[c] = runningMean[c]!;
    rstd[c] = 1 / Math.sqrt(runningVar[c]! + eps);
  }
}

/** y = a*x + b per channel, a = gamma*rstd, b = beta - a*mean (float64, rounded), then ReLU if relu. */
export function bnNormalize(
  x: Float32Array,
  y: Float32Array,
  M: number,
  C: number,
  gamma: Float32Array,
  beta: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  act: boolean | Activation = false,
): void {
  const f = act === true ? 'relu' : act === false ? 'none' : act;
  for (let c = 0; c < C; c++) {
    const a64 = gamma[c]! * rstd[c]!;
    const a = fr(a64);
    const b = fr(beta[c]! - a64 * mean[c]!);
    for (let i = c; i < M * C; i += C) {
      const v = fr(a * x[i]! + b);
      y[i] = act32(f, v);
    }
  }
}

/** dx = dy * act'(a*x + b) per channel over x [M, C] (bnf_relu_mask; coef = a[C] then b[C]). */
export function bnReluMask(dy: Float32Array, x: Float32Array, coef: Float32Array, dx: Float32Array, M: number, C: number, act: Activation = 'relu'): void {
  for (let i = 0; i < M * C; i++) {
    const c = i % C;
    dx[i] = actGrad32(act, fr(fr(x[i]! * coef[c]!) + coef[C + c]!), dy[i]!);
  }
}

/** dbeta = sum dy, dgamma = rstd * sum dy*(x - mean), float64 sums of float32 products. */
export function bnBackwardReduce(
  dy: Float32Array,
  x: Float32Array,
  M: number,
  C: number,
  mean: Float32Array,
  rstd: Float32Array,
  dbeta: Float32Array,
  dgamma: Float32Array,
): void {
  for (let c = 0; c < C; c++) {
    let s1 = 0;
    let s2 = 0;
    for (let i = c; i < M * C; i += C) {
      s1 += dy[i]!;
      s2 += dy[i]! * fr(x[i]! - mean[c]!);
    }
    dbeta[c] = s1;
    dgamma[c] = s2 * rstd[c]!;
  }
}

/** dx = A*dy + B*x + C0 per channel (coefficients in float64, rounded to float32). */
export function bnBackwardData(
  dy: Float32Array,
  x: Float32Array,
  dx: Float32Array,
  M: number,
  C: number,
  mean: Float32Array,
  rstd: Float32Array,
  gamma: Float32Array,
  dbeta: Float32Array,
  dgamma: Float32Array,
): void {
  for (let c = 0; c < C; c++) {
    const r = rstd[c]!;
    const A64 = gamma[c]! * r;
    const B64 = (-A64 * r * dgamma[c]!) / M;
    const C64 = (-A64 * dbeta[c]!) / M - B64 * mean[c]!;
    const A = fr(A64);
    const B = fr(B64);
    const C0 = fr(C64);
    for (let i = c; i < M * C; i += C) dx[i] = A * dy[i]! + B * x[i]! + C0;
  }
}

/**
 * G[r][c] += A*dy[r][c] + B*x[r][c] + C0 for c < C, G in rows of LD floats, x in rows of LX
 * floats (bn_backward_data's coefficients).
 */
export function bnBackwardDataAcc(
  dy: Float32Array,
  x: Float32Array,
  G: Float32Array,
  M: number,
  C: number,
  LD: number,
  mean: Float32Array,
  rstd: Float32Array,
  gamma: Float32Array,
  dbeta: Float32Array,
  dgamma: Float32Array,
  LX = C,
): void {
  const dx = new Float32Array(M * C);
  const xc = LX === C ? x : Float32Array.from({ length: M * C }, (_, i) => x[Math.floor(i / C) * LX + (i % C)]!);
  bnBackwardData(dy, xc, dx, M, C, mean, rstd, gamma, dbeta, dgamma);
  for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) G[r * LD + c] = G[r * LD + c]! + dx[r * C + c]!;
}

/** Scalar twin of eltwise.ts sliceAffine (arrays from the slice's first channel). */
export function sliceAffine(
  G: Float32Array,
  LG: number,
  x: Float32Array,
  LX: number,
  y: Float32Array,
  C: number,
  B: Float32Array,
  C0: Float32Array,
  K: Float32Array,
  M: number,
): void {
  for (let r = 0; r < M; r++) {
    for (let c = 0; c < C; c++) y[r * C + c] = G[r * LG + c]! + (B[c]! * (x[r * LX + c]! - K[c]!) + C0[c]!);
  }
}

// ---------------------------------------------------------------------------------------------
// Element-wise

function reluScalar(v: number): number {
  return v > 0 || v !== v ? v : 0;
}

export function reluForward(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = reluScalar(x[i]!);
}

export function reluBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = y[i]! <= 0 ? 0 : dy[i]!;
}

/** act(x) over n elements in float32 (the relu6, silu, hardswish forward kernels). */
export function actForward(a: Activation, x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = act32(a, x[i]!);
}

/** dy * act'(z) over n elements in float32 (relu6, silu, hardswish backward kernels; z as they read it). */
export function actBackward(a: Activation, dy: Float32Array, z: Float32Array, dx: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = actGrad32(a, z[i]!, dy[i]!);
}

/** sigmoid over n elements in float32 (sigmoid_forward). */
export function sigmoidForward(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = sigmoid32(x[i]!);
}

/** (dy * y) * (1 - y) over n elements in float32 (sigmoid_backward). */
export function sigmoidBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = sigmoidGrad32(y[i]!, dy[i]!);
}

/** y[n, p, c] = x[n, p, c] * s[n, c] over NHWC [N, HW, C]. */
export function channelScale(x: Float32Array, s: Float32Array, y: Float32Array, N: number, HW: number, C: number): void {
  for (let r = 0; r < N * HW; r++) {
    const n = Math.floor(r / HW);
    for (let c = 0; c < C; c++) y[r * C + c] = x[r * C + c]! * s[n * C + c]!;
  }
}

/** ds[n, c] = float32 of the float64 sum, in pixel order, of the float32 products dy * x. */
export function channelScaleBackwardScale(dy: Float32Array, x: Float32Array, ds: Float32Array, N: number, HW: number, C: number): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      let acc = 0;
      for (let p = 0; p < HW; p++) {
        const o = (n * HW + p) * C + c;
        acc += fr(dy[o]! * x[o]!);
      }
      ds[n * C + c] = acc;
    }
  }
}

/** y[n, ...] = x[n, ...] * m[n] over N samples of `per` floats. */
export function sampleScale(x: Float32Array, m: Float32Array, y: Float32Array, N: number, per: number): void {
  for (let i = 0; i < N * per; i++) y[i] = x[i]! * m[Math.floor(i / per)]!;
}

export function add(a: Float32Array, b: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = a[i]! + b[i]!;
}

export function mul(a: Float32Array, b: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = a[i]! * b[i]!;
}

export function fill(dst: Float32Array, n: number, value = 0): void {
  dst.fill(value, 0, n);
}

// ---------------------------------------------------------------------------------------------
// Channel slices and layout

export function copyChannels(src: Float32Array, srcC: number, srcOff: number, dst: Float32Array, dstC: number, dstOff: number, width: number, M: number): void {
  for (let r = 0; r < M; r++) {
    for (let k = 0; k < width; k++) dst[r * dstC + dstOff + k] = src[r * srcC + srcOff + k]!;
  }
}

export function concatForward(inputs: readonly { data: Float32Array; C: number }[], y: Float32Array, M: number): void {
  const C = inputs.reduce((s, i) => s + i.C, 0);
  let c0 = 0;
  for (const i of inputs) {
    copyChannels(i.data, i.C, 0, y, C, c0, i.C, M);
    c0 += i.C;
  }
}

export function concatBackward(dy: Float32Array, outputs: readonly { data: Float32Array; C: number }[], M: number): void {
  const C = outputs.reduce((s, o) => s + o.C, 0);
  let c0 = 0;
  for (const o of outputs) {
    copyChannels(dy, C, c0, o.data, o.C, 0, o.C, M);
    c0 += o.C;
  }
}

export function sliceChannels(src: Float32Array, C: number, start: number, size: number, dst: Float32Array, M: number): void {
  copyChannels(src, C, start, dst, size, 0, size, M);
}

/**
 * The layout conversions (layout_convert), over any arrays: the executor uses them to move
 * tensors between the engines' NHWC and the reference kernels' NCHW.
 */
export function nhwcToNchw(src: ArrayLike<number>, dst: Float32Array | Float64Array, N: number, H: number, W: number, C: number): void {
  const P = H * W;
  for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) dst[(n * C + c) * P + p] = src[(n * P + p) * C + c]!;
}

export function nchwToNhwc(src: ArrayLike<number>, dst: Float32Array | Float64Array, N: number, H: number, W: number, C: number): void {
  const P = H * W;
  for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) dst[(n * P + p) * C + c] = src[(n * C + c) * P + p]!;
}

// ---------------------------------------------------------------------------------------------
// Pooling (NHWC, PyTorch floor mode)

export interface PoolShape {
  N: number;
  H: number;
  W: number;
  C: number;
  kernel: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
}

export interface PoolGeometry {
  N: number;
  H: number;
  W: number;
  C: number;
  OH: number;
  OW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

const pair = (v: number | [number, number]): [number, number] => (Array.isArray(v) ? v : [v, v]);

/** Output size and checked window parameters, PyTorch rules (padding at most half the kernel). */
export function poolGeometry(s: PoolShape): PoolGeometry {
  const [kh, kw] = pair(s.kernel);
  const [sh, sw] = pair(s.stride ?? s.kernel);
  const [ph, pw] = pair(s.padding ?? 0);
  if (![kh, kw, sh, sw].every((v) => Number.isInteger(v) && v >= 1) || ![ph, pw].every((v) => Number.isInteger(v) && v >= 0)) {
    throw new RangeError('pool: kernel and stride must be integers >= 1, padding >= 0');
  }
  if (2 * ph > kh || 2 * pw > kw) throw new RangeError(`pool: padding ${ph},${pw} must be at most half the kernel ${kh}x${kw}`);
  const OH = Math.floor((s.H + 2 * ph - kh) / sh) + 1;
  const OW = Math.floor((s.W + 2 * pw - kw) / sw) + 1;
  if (OH < 1 || OW < 1) throw new RangeError(`pool: input ${s.H}x${s.W} is smaller than the ${kh}x${kw} window`);
  if (s.H > 0xffff || s.W > 0xffff) throw new RangeError('pool: H and W must be below 65536');
  return { N: s.N, H: s.H, W: s.W, C: s.C, OH, OW, kh, kw, sh, sw, ph, pw };
}

/** The in-bounds window [h0, h1) x [w0, w1) of output (oh, ow) and the avg-pool divisor. */
export function poolWindow(g: PoolGeometry, oh: number, ow: number, countIncludePad: boolean): [number, number, number, number, number] {
  const ha = oh * g.sh - g.ph;
  const hb = Math.min(ha + g.kh, g.H + g.ph);
  const wa = ow * g.sw - g.pw;
  const wb = Math.min(wa + g.kw, g.W + g.pw);
  const h0 = Math.max(ha, 0);
  const h1 = Math.min(hb, g.H);
  const w0 = Math.max(wa, 0);
  const w1 = Math.min(wb, g.W);
  return [h0, h1, w0, w1, countIncludePad ? (hb - ha) * (wb - wa) : (h1 - h0) * (w1 - w0)];
}

/** Index (into x) of the first maximum of the window at (n, oh, ow, c); a NaN wins. */
function argmax(x: Float32Array, g: PoolGeometry, n: number, oh: number, ow: number, c: number): number {
  const [h0, h1, w0, w1] = poolWindow(g, oh, ow, true);
  let bi = ((n * g.H + h0) * g.W + w0) * g.C + c;
  let best = x[bi]!;
  for (let i = h0; i < h1; i++) {
    for (let j = w0; j < w1; j++) {
      const k = ((n * g.H + i) * g.W + j) * g.C + c;
      const v = x[k]!;
      if (v > best || (v !== v && best === best)) {
        best = v;
        bi = k;
      }
    }
  }
  return bi;
}

export function maxPoolForward(x: Float32Array, y: Float32Array, s: PoolShape): void {
  const g = poolGeometry(s);
  for (let n = 0; n < g.N; n++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        for (let c = 0; c < g.C; c++) y[((n * g.OH + oh) * g.OW + ow) * g.C + c] = x[argmax(x, g, n, oh, ow, c)]!;
      }
    }
  }
}

export function maxPoolBackward(dy: Float32Array, x: Float32Array, dx: Float32Array, s: PoolShape): void {
  const g = poolGeometry(s);
  dx.fill(0, 0, g.N * g.H * g.W * g.C);
  for (let n = 0; n < g.N; n++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        for (let c = 0; c < g.C; c++) {
          const k = argmax(x, g, n, oh, ow, c);
          dx[k] = dx[k]! + dy[((n * g.OH + oh) * g.OW + ow) * g.C + c]!;
        }
      }
    }
  }
}

/** Sums in float32 in window order, then divides (as the kernel). */
export function avgPoolForward(x: Float32Array, y: Float32Array, s: PoolShape, countIncludePad = true): void {
  const g = poolGeometry(s);
  for (let n = 0; n < g.N; n++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        const [h0, h1, w0, w1, div] = poolWindow(g, oh, ow, countIncludePad);
        for (let c = 0; c < g.C; c++) {
          let sum = 0;
          for (let i = h0; i < h1; i++) for (let j = w0; j < w1; j++) sum = fr(sum + x[((n * g.H + i) * g.W + j) * g.C + c]!);
          y[((n * g.OH + oh) * g.OW + ow) * g.C + c] = sum / div;
        }
      }
    }
  }
}

export function avgPoolBackward(dy: Float32Array, dx: Float32Array, s: PoolShape, countIncludePad = true): void {
  const g = poolGeometry(s);
  dx.fill(0, 0, g.N * g.H * g.W * g.C);
  for (let n = 0; n < g.N; n++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        const [h0, h1, w0, w1, div] = poolWindow(g, oh, ow, countIncludePad);
        for (let c = 0; c < g.C; c++) {
          const v = fr(dy[((n * g.OH + oh) * g.OW + ow) * g.C + c]! / div);
          for (let i = h0; i < h1; i++) {
            for (let j = w0; j < w1; j++) {
              const k = ((n * g.H + i) * g.W + j) * g.C + c;
              dx[k] = dx[k]! + v;
            }
          }
        }
      }
    }
  }
}

/** y[n][c] = (float32 sum over p of x[n][p][c]) / P. */
export function globalAvgPoolForward(x: Float32Array, y: Float32Array, N: number, P: number, C: number): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let p = 0; p < P; p++) sum = fr(sum + x[(n * P + p) * C + c]!);
      y[n * C + c] = sum / P;
    }
  }
}

export function globalAvgPoolBackward(dy: Float32Array, dx: Float32Array, N: number, P: number, C: number): void {
  for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) dx[(n * P + p) * C + c] = dy[n * C + c]! / P;
}

// ---------------------------------------------------------------------------------------------
// SGD

export interface SgdStepOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** One torch.optim.SGD step, exactly src/train/sgd.ts over float32 arrays. */
export function sgdUpdate(p: Float32Array, g: Float32Array, buf: Float32Array | null, n: number, o: SgdStepOptions, first: boolean): void {
  const lr = o.lr;
  const mu = o.momentum ?? 0;
  const om = 1 - (o.dampening ?? 0);
  const wd = o.weightDecay ?? 0;
  if (mu === 0) {
    for (let i = 0; i < n; i++) p[i] -= lr * (g[i]! + wd * p[i]!);
    return;
  }
  for (let i = 0; i < n; i++) {
    const d = g[i]! + wd * p[i]!;
    const b = first ? d : mu * buf![i]! + om * d;
    buf![i] = b;
    p[i] -= lr * (o.nesterov ? d + mu * b : b);
  }
}

/** shortcut_pad forward (NHWC), the twin of shortcut_pad_forward. */
export function shortcutPadForward(
  x: Float32Array,
  y: Float32Array,
  s: { N: number; C: number; H: number; W: number; stride: number; before: number; after: number },
): void {
  const K = s.before + s.C + s.after,
    OH = Math.ceil(s.H / s.stride),
    OW = Math.ceil(s.W / s.stride);
  y.fill(0, 0, s.N * OH * OW * K);
  for (let n = 0; n < s.N; n++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const src = ((n * s.H + oh * s.stride) * s.W + ow * s.stride) * s.C,
          dst = ((n * OH + oh) * OW + ow) * K + s.before;
        for (let c = 0; c < s.C; c++) y[dst + c] = x[src + c]!;
      }
}

/** shortcut_pad backward (NHWC), the twin of shortcut_pad_backward. */
export function shortcutPadBackward(
  dy: Float32Array,
  dx: Float32Array,
  s: { N: number; C: number; H: number; W: number; stride: number; before: number; after: number },
): void {
  const K = s.before + s.C + s.after,
    OH = Math.ceil(s.H / s.stride),
    OW = Math.ceil(s.W / s.stride);
  dx.fill(0, 0, s.N * s.H * s.W * s.C);
  for (let n = 0; n < s.N; n++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const dst = ((n * s.H + oh * s.stride) * s.W + ow * s.stride) * s.C,
          src = ((n * OH + oh) * OW + ow) * K + s.before;
        for (let c = 0; c < s.C; c++) dx[dst + c] = dy[src + c]!;
      }
}
