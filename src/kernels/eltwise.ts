/**
 * Host side of the memory-bound kernels in src/kernels/wasm/eltwise.ts (batch norm, ReLU,
 * add, mul, channel-slice copies, layout conversion, pooling, SGD), over NHWC activations in
 * the arena: a tensor of N images of H*W pixels of C channels is M = N*H*W rows of C
 * contiguous floats. Pointers are arena byte offsets (`arena.alloc(n).byteOffset`).
 *
 * Each function splits its work over the pool's threads (splitRange, aligned to 16 elements or
 * to whole row groups) and calls one kernel per range. The reductions (batch norm statistics
 * and backward reduce) have each thread write float64 partials into its own scratch; the host
 * merges them in thread order, so results are bit-identical for the same thread count.
 */
import { type Backend, SCRATCH_BYTES, mergePartials, splitRange } from '../runtime/backend.js';
import { ACT_HARDSWISH, ACT_NONE, ACT_RELU, ACT_RELU6 } from './abi/conv_descriptor.js';
import { type PoolGeometry, type PoolShape, type SgdStepOptions, bnShiftRows, bnShiftTooFar, poolGeometry } from './eltwise_scalar.js';

export { type PoolGeometry, type PoolShape, poolGeometry };

const F32 = 4;

/** n floats at byte offset p of the arena (a view of its own: the arena may exceed what one typed array spans). */
function f32(backend: Backend, p: number, n: number): Float32Array {
  return backend.arena.f32(p, n);
}

/** lcm(C, 4): the period, in floats, of the channel pattern of an NHWC element stream. */
export function channelPeriod(C: number): number {
  return C % 4 === 0 ? C : C % 2 === 0 ? 2 * C : 4 * C;
}

function checkPtr(name: string, p: number): void {
  if (!Number.isInteger(p) || p < 0 || p % F32 !== 0) throw new RangeError(`${name}: pointer must be a 4-byte aligned arena offset, got ${p}`);
}

/** An activation argument as the kernels take it: an ACT_* code (true: ReLU, false: none). */
function actArg(act: boolean | number): number {
  const code = act === true ? ACT_RELU : act === false ? ACT_NONE : act;
  if (!Number.isInteger(code) || code < ACT_NONE || code > ACT_HARDSWISH) throw new RangeError(`activation code ${code} is not one of ACT_NONE..ACT_HARDSWISH`);
  return code;
}

function checkCount(name: string, n: number, min = 0): void {
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${n}`);
}

/**
 * Row ranges aligned to 16 / gcd(C, 16) rows: whole groups of lcm(C, 4) / C rows (so that only
 * the last range has a scalar tail) starting on 64-byte boundaries.
 */
function rowRanges(backend: Backend, M: number, C: number): [number, number][] {
  let g = 16;
  while (C % g !== 0) g >>= 1;
  return splitRange(M, backend.threads, 16 / g);
}

function elemRanges(backend: Backend, n: number): [number, number][] {
  return splitRange(n, backend.threads, 16);
}

/** Scratch bytes the statistics kernels need for C channels (16*C + perL*L; bn_backward_reduce_act: perL = 36). */
function statsScratch(C: number, perL = 28): number {
  return 16 * C + perL * channelPeriod(C);
}

function checkStatsC(C: number, perL = 28): void {
  checkCount('C', C, 1);
  if (statsScratch(C, perL) > SCRATCH_BYTES) throw new RangeError(`C = ${C} channels exceed the per-thread scratch of the batch-norm reductions`);
}

// ---------------------------------------------------------------------------------------------
// Batch norm

export interface BnStatsOptions {
  eps?: number;
  /** null: cumulative moving average (PyTorch momentum=None). Default 0.1. */
  momentum?: number | null;
}

/**
 * Training-mode statistics of x [M, C] (NHWC rows), as src/ops/batch_norm2d.ts: writes
 * mean[c], rstd[c] = 1/sqrt(var + eps) (biased var), updates running_mean, running_var
 * (unbiased var) with the momentum and num_batches_tracked += 1. All pointers to f32 arrays
 * ([C], [C], [C], [C], [1]).
 *
 * One pass over x: every thread sums x - K and (x - K)^2 per channel over its rows (f32 blocks
 * of 16 row groups, added in f64), K = the float32 mean of up to 8 rows spread over x, so that a large
 * |mean|/std does not cancel; the partials are merged in f64 in thread order. Where some channel's
 * K lies more than 8 std from its mean, a second pass shifts by the mean found by the first.
 */
export function bnStats(
  backend: Backend,
  x: number,
  M: number,
  C: number,
  mean: number,
  rstd: number,
  runningMean: number,
  runningVar: number,
  numBatchesTracked: number,
  opts: BnStatsOptions = {},
): void {
  checkCount('M', M, 2);
  for (const [k, p] of Object.entries({ rstd, runningMean, runningVar, numBatchesTracked })) checkPtr(k, p);
  const variance = bnMomentsInto(backend, x, M, C, mean);
  const eps = opts.eps ?? 1e-5;
  const [mu, rs, rm, rv, nb] = [
    f32(backend, mean, C),
    f32(backend, rstd, C),
    f32(backend, runningMean, C),
    f32(backend, runningVar, C),
    f32(backend, numBatchesTracked, 1),
  ];
  const tracked = nb[0]! + 1;
  const mom = opts.momentum === null ? 1 / tracked : (opts.momentum ?? 0.1);
  for (let c = 0; c < C; c++) {
    const v = variance[c]!;
    rs[c] = 1 / Math.sqrt(v + eps);
    rm[c] = (1 - mom) * rm[c]! + mom * mu[c]!;
    rv[c] = (1 - mom) * rv[c]! + (mom * (v * M)) / (M - 1);
  }
  nb[0] = nb[0]! + 1;
}

/**
 * Per-channel mean and biased variance of x [M, C] (the statistics half of a BN after fission,
 * with no running-statistics update): writes f32 mean[C] and variance[C]. Same single pass and
 * shift as bnStats.
 */
export function bnMoments(backend: Backend, x: number, M: number, C: number, mean: number, variance: number): void {
  checkPtr('variance', variance);
  const v = bnMomentsInto(backend, x, M, C, mean);
  f32(backend, variance, C).set(v);
}

/**
 * The one pass both bnStats and bnMoments use: shifted sums per thread (shift K = the float32
 * mean of up to 8 rows spread over x, passed to the kernel through mean[]), merged in f64 in
 * thread order; a second pass when some channel's K lies more than 8 std from its mean. Writes
 * mean[C] and returns the biased variance in f64.
 */
function bnMomentsInto(backend: Backend, x: number, M: number, C: number, mean: number): Float64Array {
  checkCount('M', M, 1);
  checkStatsC(C);
  checkPtr('x', x);
  checkPtr('mean', mean);
  const mu = f32(backend, mean, C);
  const rows = bnShiftRows(M);
  const K = new Float64Array(C);
  const xr = rows.map((r) => f32(backend, x + r * C * F32, C));
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (const row of xr) s += row[c]!;
    K[c] = Math.fround(s / rows.length);
    mu[c] = K[c]!;
  }
  const ranges = rowRanges(backend, M, C);
  backend.run('bn_stats', [x, C, mean], ranges);
  let [S1, S2] = mergePartials(backend, ranges, C);
  if (bnShiftTooFar(S1, S2, M)) {
    // a sample far from the mean (> 8 std): once more, shifted by the mean just found
    for (let c = 0; c < C; c++) mu[c] = K[c] = Math.fround(K[c]! + S1[c]! / M);
    backend.run('bn_stats', [x, C, mean], ranges);
    [S1, S2] = mergePartials(backend, ranges, C);
  }
  const variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const d = S1[c]! / M;
    mu[c] = K[c]! + d;
    variance[c] = Math.max(0, S2[c]! / M - d * d);
  }
  return variance;
}

/** Eval mode: mean = running_mean, rstd = 1/sqrt(running_var + eps). */
export function bnEvalStats(backend: Backend, C: number, mean: number, rstd: number, runningMean: number, runningVar: number, eps = 1e-5): void {
  const [mu, rs, rm, rv] = [f32(backend, mean, C), f32(backend, rstd, C), f32(backend, runningMean, C), f32(backend, runningVar, C)];
  for (let c = 0; c < C; c++) {
    mu[c] = rm[c]!;
    rs[c] = 1 / Math.sqrt(rv[c]! + eps);
  }
}

/**
 * y = act(gamma*(x - mean)*rstd + beta) per channel over x [M, C]; act: an ACT_* code
 * (src/ops/activation.ts actCode), or true for ReLU and false for none. y may be x.
 */
export function bnNormalize(
  backend: Backend,
  x: number,
  y: number,
  M: number,
  C: number,
  gamma: number,
  beta: number,
  mean: number,
  rstd: number,
  act: boolean | number = false,
): void {
  checkCount('M', M);
  checkCount('C', C, 1);
  if (12 * channelPeriod(C) > SCRATCH_BYTES) throw new RangeError(`C = ${C} too large`);
  backend.run('bn_normalize', [x, y, C, gamma, beta, mean, rstd, actArg(act)], rowRanges(backend, M, C));
}

export interface BnForwardOptions extends BnStatsOptions {
  training: boolean;
  relu?: boolean;
}

/** batch_norm2d forward (+ fused ReLU): statistics (training) or running stats (eval), then normalize. */
export function bnForward(
  backend: Backend,
  x: number,
  y: number,
  M: number,
  C: number,
  gamma: number,
  beta: number,
  mean: number,
  rstd: number,
  runningMean: number,
  runningVar: number,
  numBatchesTracked: number,
  opts: BnForwardOptions,
): void {
  if (opts.training) bnStats(backend, x, M, C, mean, rstd, runningMean, runningVar, numBatchesTracked, opts);
  else bnEvalStats(backend, C, mean, rstd, runningMean, runningVar, opts.eps);
  bnNormalize(backend, x, y, M, C, gamma, beta, mean, rstd, opts.relu ?? false);
}

/** The activation whose backward bnBackwardReduce runs first, in the same pass (its `act` argument). */
export interface ActGrad {
  /** an ACT_* code */
  code: number;
  /**
   * where z comes from: `{ coef }`, recomputed from the BN input, z = coef[c]*x + coef[C + c]
   * (bnCoefficients' layout); `{ y }`, ReLU's or ReLU6's mask read from their stored output y
   */
  src: { coef: number } | { y: number };
  /** where dz goes (may be dy) */
  dz: number;
}

/**
 * bn_backward_reduce: dbeta[c] = sum dy, dgamma[c] = rstd[c] * sum dy*(x - mean[c]), one pass
 * over dy and x with per-thread f64 partials merged in thread order. With `act`, the activation's
 * backward in the same pass (kernel bn_backward_reduce_act): dz = dy * act'(z) is stored and
 * reduced in place of dy, the same sums in the same order as that backward followed by
 * bn_backward_reduce.
 */
export function bnBackwardReduce(
  backend: Backend,
  dy: number,
  x: number,
  M: number,
  C: number,
  mean: number,
  rstd: number,
  dbeta: number,
  dgamma: number,
  act?: ActGrad,
): void {
  checkCount('M', M);
  if (!act) {
    checkStatsC(C);
    reduceInto(backend, 'bn_backward_reduce', [dy, x, C, mean], M, C, rstd, dbeta, dgamma);
    return;
  }
  checkStatsC(C, 36);
  const code = actArg(act.code);
  const fromY = 'y' in act.src;
  if (fromY && code !== ACT_RELU && code !== ACT_RELU6)
    throw new RangeError(`activation code ${code}: only ReLU's and ReLU6's masks can be read from their output`);
  const [s, a] = 'y' in act.src ? [act.src.y, 0] : [0, act.src.coef];
  for (const [n, p] of [
    ['dz', act.dz],
    ['y', s],
    ['coef', a],
  ] as const)
    checkPtr(n, p);
  if (!fromY && a === 0) throw new RangeError('coef: the BN coefficients cannot be at offset 0');
  if (fromY && backend.kind === 'wasm') {
    // On WebAssembly the mask from y in the reduce pass measured 1.2-1.9x slower than the two
    // passes (docs/design/eltwise-kernels.md): the same bits, in two kernels there.
    if (code === ACT_RELU) reluBackward(backend, dy, s, act.dz, M * C);
    else actBackward(backend, 'relu6', dy, s, act.dz, M * C);
    bnBackwardReduce(backend, act.dz, x, M, C, mean, rstd, dbeta, dgamma);
    return;
  }
  reduceInto(backend, 'bn_backward_reduce_act', [dy, x, C, mean, s, a, fromY ? 0 : a + C * F32, code, act.dz], M, C, rstd, dbeta, dgamma);
}

/** Runs one of the backward reduce kernels over row ranges and writes dbeta, dgamma from the merged partials. */
function reduceInto(backend: Backend, kernel: string, args: number[], M: number, C: number, rstd: number, dbeta: number, dgamma: number): void {
  const ranges = rowRanges(backend, M, C);
  backend.run(kernel, args, ranges);
  const [S1, S2] = mergePartials(backend, ranges, C);
  const [db, dg, rs] = [f32(backend, dbeta, C), f32(backend, dgamma, C), f32(backend, rstd, C)];
  for (let c = 0; c < C; c++) {
    db[c] = S1[c]!;
    dg[c] = S2[c]! * rs[c]!;
  }
}

/** bn_backward_data: dx = A*dy + B*x + C0 per channel (src/ops/batch_norm2d.ts). dx may be dy or x. */
export function bnBackwardData(
  backend: Backend,
  dy: number,
  x: number,
  dx: number,
  M: number,
  C: number,
  mean: number,
  rstd: number,
  gamma: number,
  dbeta: number,
  dgamma: number,
): void {
  checkCount('M', M);
  checkCount('C', C, 1);
  if (12 * channelPeriod(C) > SCRATCH_BYTES) throw new RangeError(`C = ${C} too large`);
  backend.run('bn_backward_data', [dy, x, dx, C, mean, rstd, gamma, dbeta, dgamma, M], rowRanges(backend, M, C));
}

/**
 * bn_backward_data added in place into the leading C channels of a gradient buffer whose rows
 * hold LD >= C channels: G[r][c] += A*dy[r][c] + B*x[r][c] + C0 over M rows.
 */
export function bnBackwardDataAcc(
  backend: Backend,
  dy: number,
  x: number,
  G: number,
  M: number,
  C: number,
  LD: number,
  mean: number,
  rstd: number,
  gamma: number,
  dbeta: number,
  dgamma: number,
  LX = C,
): void {
  checkCount('M', M);
  checkCount('C', C, 1);
  if (!Number.isInteger(LD) || LD < C) throw new RangeError(`LD = ${LD}: the gradient buffer must hold at least C = ${C} channels per row`);
  if (!Number.isInteger(LX) || LX < C) throw new RangeError(`LX = ${LX}: x must hold at least C = ${C} channels per row`);
  if (12 * (C + 4) > SCRATCH_BYTES) throw new RangeError(`C = ${C} too large`);
  backend.run('bn_backward_data_acc', [dy, x, G, C, LD, LX, mean, rstd, gamma, dbeta, dgamma, M], splitRange(M, backend.threads, 1));
}

// ---------------------------------------------------------------------------------------------
// Element-wise (n elements)

/** y = max(0, x), NaN propagating. y may be x. */
export function reluForward(backend: Backend, x: number, y: number, n: number): void {
  backend.run('relu_forward', [x, y], elemRanges(backend, n));
}

/** dx = 0 where y <= 0, else dy. dx may be dy. */
export function reluBackward(backend: Backend, dy: number, y: number, dx: number, n: number): void {
  backend.run('relu_backward', [dy, y, dx], elemRanges(backend, n));
}

/** The standalone activations with a kernel of their own: forward (x -> y) and backward ((dy, z) -> dx) kernel names. */
const ACT_KERNELS = {
  relu6: ['relu6_forward', 'relu6_backward'],
  silu: ['silu_forward', 'silu_backward'],
  hardswish: ['hardswish_forward', 'hardswish_backward'],
  sigmoid: ['sigmoid_forward', 'sigmoid_backward'],
} as const;

/** An elementwise op with forward and backward kernels (src/kernels/wasm/common/act.ts). */
export type ActOp = keyof typeof ACT_KERNELS;

/** y = act(x) over n elements (relu6, silu, hardswish, sigmoid). y may be x. */
export function actForward(backend: Backend, op: ActOp, x: number, y: number, n: number): void {
  backend.run(ACT_KERNELS[op][0], [x, y], elemRanges(backend, n));
}

/**
 * dx = dy * act'(z) over n elements, z the tensor the op's backward reads: y for relu6 and
 * sigmoid, x for silu and hardswish. dx may be dy.
 */
export function actBackward(backend: Backend, op: ActOp, dy: number, z: number, dx: number, n: number): void {
  backend.run(ACT_KERNELS[op][1], [dy, z, dx], elemRanges(backend, n));
}

/**
 * y[n, p, c] = x[n, p, c] * s[n, c] over NHWC x [N, HW, C] and s [N, C] (squeeze-excitation's
 * excitation, and its backward-data with dy for x). y may be x.
 */
export function channelScale(backend: Backend, x: number, s: number, y: number, N: number, HW: number, C: number): void {
  checkCount('N', N);
  checkCount('HW', HW, 1);
  checkCount('C', C, 1);
  backend.run('channel_scale_forward', [x, s, y, C, HW], splitRange(N * HW, backend.threads, 1));
}

/** ds[n, c] = sum over the HW pixels of dy * x (NHWC [N, HW, C]; float64 sums of float32 products). Threads split the samples. */
export function channelScaleBackwardScale(backend: Backend, dy: number, x: number, ds: number, N: number, HW: number, C: number): void {
  checkCount('N', N);
  checkCount('HW', HW, 1);
  checkCount('C', C, 1);
  if (8 * C > SCRATCH_BYTES) throw new RangeError(`C = ${C} channels exceed the per-thread scratch of channel_scale_backward_scale`);
  backend.run('channel_scale_backward_scale', [dy, x, ds, C, HW], splitRange(N, backend.threads, 1));
}

/**
 * y[n, ...] = x[n, ...] * m[n] over N samples of `per` contiguous floats (stochastic depth's
 * per-sample scale, m [N] its mask; the backward is the same with dy for x). y may be x.
 */
export function sampleScale(backend: Backend, x: number, m: number, y: number, N: number, per: number): void {
  checkCount('N', N);
  checkCount('per', per, 1);
  backend.run('stochastic_depth_forward', [x, m, y, per], elemRanges(backend, N * per));
}

/** y = a + b. */
export function add(backend: Backend, a: number, b: number, y: number, n: number): void {
  backend.run('add_forward', [a, b, y], elemRanges(backend, n));
}

/** y = a * b (dropout forward with its mask, dropout backward: dy * mask). */
export function mul(backend: Backend, a: number, b: number, y: number, n: number): void {
  backend.run('mul_forward', [a, b, y], elemRanges(backend, n));
}

/** dst[i] = value for i < n. */
export function fill(backend: Backend, dst: number, n: number, value = 0): void {
  backend.run('copy_fill', [dst, value], elemRanges(backend, n));
}

// ---------------------------------------------------------------------------------------------
// Channel slices and layout

/**
 * dst[r][dstOff + k] = src[r][srcOff + k], k < width, for M rows of an [M, srcC] and an
 * [M, dstC] tensor.
 */
export function copyChannels(
  backend: Backend,
  src: number,
  srcC: number,
  srcOff: number,
  dst: number,
  dstC: number,
  dstOff: number,
  width: number,
  M: number,
): void {
  if (srcOff < 0 || dstOff < 0 || width < 0 || srcOff + width > srcC || dstOff + width > dstC) {
    throw new RangeError(`copyChannels: slice [${srcOff}, ${srcOff + width}) of ${srcC} -> [${dstOff}, ${dstOff + width}) of ${dstC} out of range`);
  }
  if (width === 0) return;
  const align = Math.max(1, Math.ceil(16 / Math.max(1, Math.min(srcC, dstC))));
  backend.run('copy_channels', [src, srcC, srcOff, dst, dstC, dstOff, width], splitRange(M, backend.threads, align));
}

/**
 * concat forward along channels: y [M, sum C_i] = [x_0, x_1, ...] per row, in one pass (y and
 * every input streamed front to back).
 */
export function concatForward(backend: Backend, inputs: readonly { ptr: number; C: number }[], y: number, M: number): void {
  concatPass(backend, inputs, y, M, 1);
}

/** concat backward: every dx_i [M, C_i] = its channel slice of dy [M, sum C_i], in one pass. */
export function concatBackward(backend: Backend, dy: number, outputs: readonly { ptr: number; C: number }[], M: number): void {
  concatPass(backend, outputs, dy, M, 0);
}

function concatPass(backend: Backend, parts: readonly { ptr: number; C: number }[], wide: number, M: number, toWide: number): void {
  if (parts.length === 0) return;
  if (16 * parts.length > SCRATCH_BYTES) throw new RangeError(`concat: ${parts.length} parts is too many`);
  let C = 0;
  for (const p of parts) {
    checkPtr('concat part', p.ptr);
    checkCount('concat part channels', p.C, 1);
    C += p.C;
  }
  // the part table, in every thread's scratch
  for (let t = 0; t < backend.threads; t++) {
    const i32 = backend.arena.i32(backend.scratch(t), 4 * parts.length);
    parts.forEach((p, i) => {
      i32[4 * i] = p.ptr % 2 ** 32;
      i32[4 * i + 1] = Math.floor(p.ptr / 2 ** 32);
      i32[4 * i + 2] = p.C;
      i32[4 * i + 3] = 0;
    });
  }
  backend.run('copy_concat', [wide, C, parts.length, toWide], splitRange(M, backend.threads, Math.max(1, Math.ceil(16 / C))));
}

/** concat backward / slice_channels: dst [M, size] = src[:, start:start+size] of src [M, C]. */
export function sliceChannels(backend: Backend, src: number, C: number, start: number, size: number, dst: number, M: number): void {
  copyChannels(backend, src, C, start, dst, size, 0, size, M);
}

/**
 * y [M, C] = G[:, :C] + B*(x[:, :C] - K) + C0 per channel: a slice of a gradient buffer (rows LG
 * floats apart) with the affine half of BN dx applied (op slice_channels_affine), x rows LX apart
 * (a view of a concatenation buffer, or its own tensor). G, x, B, C0, K point at the slice's
 * first channel.
 */
export function sliceAffine(
  backend: Backend,
  G: number,
  LG: number,
  x: number,
  LX: number,
  y: number,
  C: number,
  B: number,
  C0: number,
  K: number,
  M: number,
): void {
  if (C < 1 || LG < C || LX < C) throw new RangeError(`sliceAffine: ${C} channels of rows of ${LG} (gradient) and ${LX} (x)`);
  for (const [k, p] of Object.entries({ G, x, y, B, C0, K })) checkPtr(k, p);
  backend.run('slice_affine', [G, LG, x, LX, y, C, B, C0, K], splitRange(M, backend.threads, 1));
}

/** NHWC [N, H, W, C] -> NCHW [N, C, H, W] (src and dst distinct). */
export function nhwcToNchw(backend: Backend, src: number, dst: number, N: number, H: number, W: number, C: number): void {
  backend.run('layout_convert', [src, dst, H * W, C, 1], splitRange(N * H * W, backend.threads, 4));
}

/** NCHW [N, C, H, W] -> NHWC [N, H, W, C] (src and dst distinct). */
export function nchwToNhwc(backend: Backend, src: number, dst: number, N: number, H: number, W: number, C: number): void {
  backend.run('layout_convert', [dst, src, H * W, C, 0], splitRange(N * H * W, backend.threads, 4));
}

// ---------------------------------------------------------------------------------------------
// Pooling (NHWC, floor mode)

/** Backward partition: units (image, channel group) so that threads never share a dx element. */
function channelGroups(backend: Backend, N: number, C: number): [number, number] {
  const T = backend.threads;
  if (T === 1 || N >= 4 * T) return [1, C];
  const align = C >= 64 ? 16 : 4;
  let cg = Math.ceil(C / Math.ceil((4 * T) / N) / align) * align;
  cg = Math.max(align, cg);
  return [Math.ceil(C / cg), cg];
}

/** The backward kernels keep one or two output rows [OW, C] in the thread's scratch. */
function checkRowScratch(g: PoolGeometry, bytesPerValue: number): void {
  if (bytesPerValue * g.OW * g.C > SCRATCH_BYTES) throw new RangeError(`pool backward: an output row of ${g.OW}x${g.C} values exceeds the thread scratch`);
}

function geomArgs(g: PoolGeometry): number[] {
  return [g.H, g.W, g.C, g.OH, g.OW, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw];
}

/** max_pool2d forward: y [N, OH, OW, C]; ties keep the first maximum, a NaN in the window gives NaN. */
export function maxPoolForward(backend: Backend, x: number, y: number, s: PoolShape): void {
  const g = poolGeometry(s);
  backend.run('pool_max_forward', [x, y, ...geomArgs(g)], splitRange(g.N * g.OH, backend.threads, 1));
}

/** max_pool2d backward: dx (fully written) = dy routed to each window's first maximum, recomputed from x. */
export function maxPoolBackward(backend: Backend, dy: number, x: number, dx: number, s: PoolShape): void {
  const g = poolGeometry(s);
  checkRowScratch(g, 8);
  const [G, cg] = channelGroups(backend, g.N, g.C);
  backend.run('pool_max_backward', [dy, x, dx, ...geomArgs(g), G, cg], splitRange(g.N * G, backend.threads, 1));
}

/** avg_pool2d forward (count_include_pad default true, as PyTorch). */
export function avgPoolForward(backend: Backend, x: number, y: number, s: PoolShape, countIncludePad = true): void {
  const g = poolGeometry(s);
  backend.run('pool_avg_forward', [x, y, ...geomArgs(g), countIncludePad ? 1 : 0], splitRange(g.N * g.OH, backend.threads, 1));
}

/** avg_pool2d backward: dx (fully written). */
export function avgPoolBackward(backend: Backend, dy: number, dx: number, s: PoolShape, countIncludePad = true): void {
  const g = poolGeometry(s);
  checkRowScratch(g, 4);
  const [G, cg] = channelGroups(backend, g.N, g.C);
  backend.run('pool_avg_backward', [dy, dx, ...geomArgs(g), countIncludePad ? 1 : 0, G, cg], splitRange(g.N * G, backend.threads, 1));
}

/** global average pool: x [N, P, C] -> y [N, C]. */
export function globalAvgPoolForward(backend: Backend, x: number, y: number, N: number, P: number, C: number): void {
  const [G, cg] = channelGroups(backend, N, C);
  backend.run('pool_gap_forward', [x, y, P, C, G, cg], splitRange(N * G, backend.threads, 1));
}

/** global average pool backward: dx [N, P, C] = dy [N, C] / P. */
export function globalAvgPoolBackward(backend: Backend, dy: number, dx: number, N: number, P: number, C: number): void {
  backend.run('pool_gap_backward', [dy, dx, P, C], splitRange(N * P, backend.threads, Math.max(1, Math.ceil(16 / C))));
}

// ---------------------------------------------------------------------------------------------
// shortcut_pad (CIFAR ResNet "option A" shortcut), NHWC

/** Geometry of shortcut_pad: x [N, H, W, C] -> y [N, OH, OW, K], K = before + C + after, OH = ceil(H / stride). */
export interface ShortcutShape {
  N: number;
  C: number;
  H: number;
  W: number;
  stride: number;
  before: number;
  after: number;
}

const shortcutArgs = (s: ShortcutShape): number[] => {
  const K = s.before + s.C + s.after,
    OH = Math.ceil(s.H / s.stride),
    OW = Math.ceil(s.W / s.stride);
  return [s.C, s.H, s.W, K, OH, OW, s.stride, s.before];
};

/** y[n][oh][ow][before + c] = x[n][oh*stride][ow*stride][c], zero in the padded channels. */
export function shortcutPadForward(backend: Backend, x: number, y: number, s: ShortcutShape): void {
  backend.run('shortcut_pad_forward', [x, y, ...shortcutArgs(s)], splitRange(s.N * Math.ceil(s.H / s.stride), backend.threads));
}

/** dx[n][ih][iw][c] = dy[n][ih/stride][iw/stride][before + c] on the strided taps, 0 elsewhere. */
export function shortcutPadBackward(backend: Backend, dy: number, dx: number, s: ShortcutShape): void {
  backend.run('shortcut_pad_backward', [dy, dx, ...shortcutArgs(s)], splitRange(s.N * s.H, backend.threads));
}

// ---------------------------------------------------------------------------------------------
// SGD

/**
 * One torch.optim.SGD step on n parameters (src/train/sgd.ts), in f64 per element like that
 * loop over f32 arrays, so bit-identical to it. `first`: the momentum buffer does not exist yet
 * (buf = d); buf is ignored when momentum is 0.
 */
export function sgdUpdate(backend: Backend, p: number, g: number, buf: number, n: number, o: SgdStepOptions, first: boolean): void {
  const mu = o.momentum ?? 0;
  const flags = (o.nesterov ? 1 : 0) | (first ? 2 : 0);
  backend.run('sgd_update', [p, g, buf, o.lr, mu, o.dampening ?? 0, o.weightDecay ?? 0, flags], elemRanges(backend, n));
}
