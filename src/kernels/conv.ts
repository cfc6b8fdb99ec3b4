/**
 * Host side of the convolution kernels (src/kernels/wasm/gemm.ts, gemm_w.ts, depthwise.ts,
 * winograd.ts): packed GEMM with a 4x8 register-blocked micro-kernel over NHWC activations, run
 * across the thread backend.
 *
 *   x  [N][H][W][C]      activations, NHWC
 *   w  [K][C/G][KH][KW]  weights, PyTorch OIHW (the model's storage layout)
 *   y  [N][OH][OW][K]    output, NHWC
 *
 * Pointers are byte offsets into the pool's arena; 0 means "none" for bias / db. Each call
 * needs a workspace of `convWorkspaceBytes(g)` bytes in the arena (packed weights, the
 * backward-weights accumulator, a small descriptor); reserve it once for the largest layer with
 * `convWorkspace(arena, geoms)` and pass it to every call. Calls are synchronous.
 *
 * This file: the calls and their BN fusions; the geometry: conv_geometry.ts; the tuning, path
 * choice, workspace and descriptor: conv_config.ts (both re-exported here, so callers import
 * this module).
 *
 * Determinism: every output element is computed by one thread in a fixed order that does not
 * depend on the thread count, so results are bit-identical across runs and thread counts.
 * Design notes: docs/design/conv-kernels.md.
 */
import { type Backend, mergePartials, mergePartialsAt, runChunkPartials, runChunks, splitRange } from '../runtime/backend.js';
import { bnDxAffine } from '../ops/batch_norm2d.js';
import {
  ACT_HARDSWISH,
  ACT_NONE,
  ACT_RELU,
  ACT_RELU6,
  ACT_SILU,
  DESC_BYTES,
  D_GACC,
  D_GACCH,
  D_GRING,
  D_GRT,
  D_GS,
  D_WTB,
  D_WWIN,
  D_YS,
} from './abi/conv_descriptor.js';
import {
  type ConvWorkspace,
  type FuseLayout,
  checkStrides,
  convDxAccumulates,
  convStridedOutput,
  convTuning,
  descriptor,
  dwChunk,
  dwSlots,
  dxRingLayout,
  forwardDot,
  forwardT,
  fuseLayout,
  setStrides,
  transposedGeom,
  up,
  weightsDot,
  weightsT,
  windowFits,
  winograd,
  winogradData,
  winogradW,
} from './conv_config.js';
import { type ConvGeom, dwGroups, isDepthwise, isPointwise, winoPixels, winoUnits } from './conv_geometry.js';

export { type ConvGeom, type ConvGeomSpec, convFlops, convGeom, convGeomOf, isDepthwise } from './conv_geometry.js';
export {
  type ConvWorkspace,
  convDxAccumulates,
  convFusedActivation,
  convFusedDepthwise,
  convStridedInput,
  convStridedOutput,
  convTightLayout,
  convTuning,
  convWorkspace,
  convWorkspaceBytes,
  dxRingLayout,
} from './conv_config.js';

// ---------------------------------------------------------------------------------------------
// BN fusion (docs/design/conv-kernels.md, "Fused variants"). Coefficients are f32 arrays in the
// arena; per channel c, bn(x) = a[c]*x + b[c] with a = gamma*rstd, b = beta - a*mean.

/** The activation codes of the kernel ABI (abi/conv_descriptor.ts ACT_*), by name (ops/activation.ts actCode maps an Activation). */
export const ACT = { none: ACT_NONE, relu: ACT_RELU, relu6: ACT_RELU6, silu: ACT_SILU, hardswish: ACT_HARDSWISH } as const;

/** The activation code of a prologue or epilogue: `act` where given, else ReLU or none by `relu`. */
export const actCodeOf = (p: { relu: boolean; act?: number }): number => p.act ?? (p.relu ? ACT.relu : ACT.none);

/** Forward prologue: x is normalised (and activated) while packed; zero padding is applied after. */
export interface XPrologue {
  /** a[C] then b[C] (f32), e.g. from bnCoefficients (src/kernels/bn_fused.ts). */
  coef: number;
  relu: boolean;
  /** Activation code (ACT), overriding relu; the Winograd paths take ReLU or none only (convFusedActivation). */
  act?: number;
  /**
   * Floats between x's pixels when x is a view of the leading C channels of a wider NHWC buffer
   * (default C); only where convStridedInput(g).
   */
  stride?: number;
}

/** Forward epilogue: per-channel moments of the output y (after bias), written as f32 [K]. */
export interface MomentsEpilogue {
  mean: number;
  /** biased variance */
  variance: number;
}

/**
 * Backward prologue: the output gradient is not read from `dy` but computed on load as the BN
 * backward-data of the next BN: dy = A[k]*dbn + B[k]*xbn + C0[k] (see bnDyCoefficients).
 */
export interface DyPrologue {
  /** gradient at that BN's output, [M][K] NHWC (M = N*OH*OW) */
  dbn: number;
  /** that BN's input (= this convolution's output), [M][K] */
  xbn: number;
  /** A[K], B[K], C0[K] (f32) */
  coef: number;
  /**
   * When given: that BN's saved tensors (f32 [K]: mean, rstd, gamma, and dbeta, dgamma of its
   * backward reduction), from which A, B, C0 are first written into coef (bnDyCoefficients,
   * m = N*OH*OW).
   */
  bn?: { mean: number; rstd: number; gamma: number; dbeta: number; dgamma: number };
}

/**
 * Backward-data epilogue for the BN (+ activation) that produced this convolution's input: dx is
 * multiplied by the activation's derivative at z = a2[c]*x2 + b2[c] (ReLU: dx = 0 where z <= 0)
 * and reduced: dbeta = sum dx,
 * dgamma = rstd2 * sum dx*(x2 - mean2) (f32 [C]).
 */
export interface DxEpilogue {
  /** that BN's input, [N][H][W][C] */
  x2: number;
  /** a2[C] then b2[C] (f32) */
  coef: number;
  mean: number;
  rstd: number;
  relu: boolean;
  /** Activation code (ACT) whose derivative multiplies dx, overriding relu (coef then needed unless none); the Winograd paths take ReLU or none only. */
  act?: number;
  dbeta: number;
  dgamma: number;
  /** Floats between x2's pixels (default C), as XPrologue.stride. */
  stride?: number;
  /**
   * Accumulate instead of store (a DenseNet block's gradient buffer, passes/concat_grad.ts): the
   * masked dx times a2 (= gamma2*rstd2, coef's first half, which must then be filled even without
   * the ReLU) is added into the leading C channels of the NHWC buffer G, `stride` floats per
   * pixel; the dx argument is then unused (dx is added from registers or the Winograd pass's
   * ring of tile rows, never stored). Only where convDxAccumulates(g).
   */
  accumulate?: { G: number; stride: number };
}

export interface ConvForwardFusion {
  xPrologue?: XPrologue;
  moments?: MomentsEpilogue;
  /**
   * Floats between y's pixels when y is a slice of a wider NHWC buffer (a DenseNet layer writing
   * its channels into its block's buffer; default K); only where convStridedOutput(g).
   */
  outputStride?: number;
}
export interface ConvBackwardDataFusion {
  dyPrologue?: DyPrologue;
  dxEpilogue?: DxEpilogue;
}
export interface ConvBackwardWeightFusion {
  dyPrologue?: DyPrologue;
  xPrologue?: XPrologue;
}

/**
 * Writes the dy-prologue coefficients of a BN over m = N*H*W values per channel (inputs f32
 * [K] pointers: mean, rstd, gamma, and dbeta, dgamma of its backward reduction) into coef:
 * A = gamma*rstd, B = -A*rstd*dgamma/m, C0 = -A*dbeta/m - B*mean (3*K floats), computed in f64.
 */
export function bnDyCoefficients(
  backend: Backend,
  K: number,
  m: number,
  mean: number,
  rstd: number,
  gamma: number,
  dbeta: number,
  dgamma: number,
  coef: number,
): void {
  const ar = backend.arena;
  const [mu, r, ga, db, dg, o] = [ar.f32(mean, K), ar.f32(rstd, K), ar.f32(gamma, K), ar.f32(dbeta, K), ar.f32(dgamma, K), ar.f32(coef, 3 * K)];
  for (let k = 0; k < K; k++) {
    const [A, B, C0] = bnDxAffine(m, mu[k]!, r[k]!, ga[k]!, db[k]!, dg[k]!);
    o[k] = A;
    o[K + k] = B;
    o[2 * K + k] = C0;
  }
}

function dyCoefficients(backend: Backend, g: ConvGeom, dp: DyPrologue | undefined): void {
  if (dp?.bn) bnDyCoefficients(backend, g.K, g.N * g.OH * g.OW, dp.bn.mean, dp.bn.rstd, dp.bn.gamma, dp.bn.dbeta, dp.bn.dgamma, dp.coef);
}

/** The activation code of a dx epilogue (none without one), checked: an activation needs the coefficients a2, b2. */
function dxAct(de: DxEpilogue | undefined): number {
  const act = de ? actCodeOf(de) : ACT.none;
  if (act !== ACT.none && !de!.coef) throw new RangeError('convBackwardData: the dx epilogue of an activation needs its coefficients a2, b2 (coef)');
  return act;
}

/** The Winograd kernels take ReLU or no activation (convFusedActivation); the GEMM and depthwise ones every code. */
function winogradReluOnly(what: string, wino: boolean, p: { relu: boolean; act?: number } | undefined): void {
  if (wino && p && actCodeOf(p) > ACT.relu) throw new RangeError(`${what}: activation code ${actCodeOf(p)} is not implemented by the Winograd kernels`);
}

/**
 * y = conv(x, w) + bias. x NHWC, w OIHW, bias [K] or 0, y NHWC. With `fusion`: x is
 * BN-normalised (+ ReLU) on load (xPrologue) and/or the per-channel mean and biased variance of
 * y are computed from the output tiles while they are in registers (moments: per-thread shifted
 * sums, f32 over 64 rows then f64, merged in f64 in thread order: bit-identical for a given
 * thread count; a large |mean|/std does not cancel).
 */
export function convForward(backend: Backend, g: ConvGeom, x: number, w: number, bias: number, y: number, ws: ConvWorkspace, fusion?: ConvForwardFusion): void {
  if (fusion && (fusion.xPrologue || fusion.moments || fusion.outputStride !== undefined)) return convForwardFused(backend, g, x, w, bias, y, ws, fusion);
  const v = descriptor(backend, g, ws);
  const d = ws.ptr,
    buf = ws.ptr + DESC_BYTES,
    T = backend.threads;
  if (winograd(g)) {
    backend.run('conv_wino_pack_w_fwd', [d, w, buf], splitRange(g.K, T));
    backend.run('conv_wino_fwd', [d, x, buf, bias, y], splitRange(winoUnits(g), T));
    return;
  }
  if (isDepthwise(g)) {
    backend.run('conv_dw_pack_w', [d, w, buf], splitRange(g.C, T));
    runChunks(backend, 'conv_dw_fwd', [d, x, buf, bias, y], g.N * g.OH);
    return;
  }
  if (forwardDot(g)) {
    backend.run('conv_pack_w_fwd_dot', [d, w, buf], splitRange(up(g.K, 4), T));
    backend.run('conv_fwd_dot', [d, x, buf, bias, y], splitRange(g.N * g.OH * g.OW, T, 2));
    return;
  }
  if (forwardT(g)) {
    backend.run('conv_pack_w_fwd_t', [d, w, buf], splitRange(Math.ceil(g.K / 4), T));
    backend.run('conv_fwd_t', [d, x, buf, bias, y], splitRange(g.N * g.OH * g.OW, T, 8));
    return;
  }
  backend.run('conv_pack_w_fwd', [d, w, buf], splitRange(g.groups * (v.Kg8 / 8), T));
  backend.run('conv_fwd', [d, x, buf, bias, y], splitRange(g.N * g.OH * g.OW, T, 4));
}

/**
 * dx = dL/dx from dy (NHWC) and w (OIHW); dx NHWC is overwritten. With `fusion`: dy is computed
 * on load from the next BN's backward (dyPrologue; `dy` is then not read) and/or dx is masked by
 * the previous BN's ReLU and reduced into its dbeta, dgamma (dxEpilogue: f32 sums over at most
 * one image row or 64 rows, then f64, merged in thread order: bit-identical for a given thread
 * count). Depthwise convolutions run conv_dw_bwd_data_f (any activation code, no accumulating
 * epilogue, dense x2).
 */
export function convBackwardData(backend: Backend, g: ConvGeom, dy: number, w: number, dx: number, ws: ConvWorkspace, fusion?: ConvBackwardDataFusion): void {
  if (fusion && (fusion.dyPrologue || fusion.dxEpilogue)) return convBackwardDataFused(backend, g, w, dx, ws, fusion, dy);
  const d = ws.ptr,
    buf = ws.ptr + DESC_BYTES,
    T = backend.threads;
  const wg = winogradData(g);
  if (wg) {
    descriptor(backend, wg, ws, undefined, g);
    backend.run('conv_wino_pack_w_fwd_flip', [d, w, buf], splitRange(wg.K, T));
    backend.run('conv_wino_fwd', [d, dy, buf, 0, dx], splitRange(winoUnits(wg), T));
    return;
  }
  const tg = transposedGeom(g);
  if (tg) {
    // dx = conv(dY, flip(w)^T): a forward pass, every dx element written once
    const tv = descriptor(backend, tg, ws, undefined, g);
    backend.run('conv_pack_w_fwd_flip', [d, w, buf], splitRange(tg.groups * (tv.Kg8 / 8), T));
    backend.run('conv_fwd', [d, dy, buf, 0, dx], splitRange(tg.N * tg.OH * tg.OW, T, 4));
    return;
  }
  const v = descriptor(backend, g, ws);
  if (isDepthwise(g)) {
    backend.run('conv_dw_pack_w', [d, w, buf], splitRange(g.C, T));
    runChunks(backend, 'conv_dw_bwd_data', [d, dy, buf, dx], g.N * g.H);
    return;
  }
  backend.run('conv_pack_w_bwd_data', [d, w, buf], splitRange(g.groups * v.DNP, T));
  if (isPointwise(g)) backend.run('conv_bwd_data_1x1', [d, dy, buf, dx], splitRange(g.N * g.H * g.W, T, 4));
  else backend.run('conv_bwd_data', [d, dy, buf, dx], splitRange(g.N, T));
}

/**
 * dw = dL/dw (OIHW, overwritten) from dy and x (NHWC); db = sum of dy over N, OH, OW if db != 0.
 * With `fusion`: dy is computed on load (dyPrologue; `dy` is then not read) and/or x is
 * BN-normalised (+ ReLU) on load (xPrologue).
 */
export function convBackwardWeight(
  backend: Backend,
  g: ConvGeom,
  dy: number,
  x: number,
  dw: number,
  db: number,
  ws: ConvWorkspace,
  fusion?: ConvBackwardWeightFusion,
): void {
  if (fusion && (fusion.dyPrologue || fusion.xPrologue)) return convBackwardWeightFused(backend, g, x, dw, db, ws, fusion, dy);
  const v = descriptor(backend, g, ws);
  const d = ws.ptr,
    acc = ws.ptr + DESC_BYTES,
    T = backend.threads;
  if (isDepthwise(g)) {
    runChunks(backend, 'conv_dw_bwd_w', [d, dy, x, acc], dwGroups(g.N));
    backend.run('conv_dw_bwd_w_out', [d, acc, dw], splitRange(g.C, T));
  } else if (winogradW(g, backend.kind)) {
    backend.run('conv_wino_bwd_w', [d, dy, x, acc], splitRange(up(g.C, 8) / 8, T));
    backend.run('conv_wino_bwd_w_out', [d, acc, dw], splitRange(g.K, T));
  } else if (weightsDot(g)) {
    backend.run('conv_bwd_w_dot', [d, dy, x, acc], splitRange(g.KH * g.KW * Math.ceil(g.K / 4) * Math.ceil(g.C / 8), T));
    backend.run('conv_bwd_w_dot_out', [d, acc, dw], splitRange(g.K, T));
  } else if (weightsT(g)) {
    backend.run('conv_bwd_w_t', [d, dy, x, acc], splitRange(g.KH * g.KW * (v.Cg8 / 8), T));
    backend.run('conv_bwd_w_t_out', [d, acc, dw], splitRange(g.K, T));
  } else {
    backend.run('conv_bwd_w', [d, dy, x, acc], splitRange(v.WSL * g.groups * (v.wcols ? v.Kg8 / 8 : v.ROWS / 4), T));
    backend.run('conv_bwd_w_out', [d, acc, dw], splitRange(g.K, T));
  }
  if (db) backend.run('conv_bias_grad', [d, dy, db], splitRange(g.K, T, 4));
}

// ---------------------------------------------------------------------------------------------
// Fused variants (conv_*_f): the same loop nests, with the BN work in the packing
// (prologue) or in the write-back of the final tiles (epilogue).

function convForwardFused(backend: Backend, g: ConvGeom, x: number, w: number, bias: number, y: number, ws: ConvWorkspace, f: ConvForwardFusion): void {
  if (isDepthwise(g)) return dwForwardFused(backend, g, x, w, bias, y, ws, f);
  const xp = f.xPrologue,
    mo = f.moments;
  const wn = winograd(g);
  winogradReluOnly('convForward', wn, xp);
  const fl = fuseLayout(g, mo ? g.K : 0, !!xp && !wn);
  const v = descriptor(backend, g, ws, fl);
  setStrides(backend, g, ws, xp?.stride, undefined);
  const ys = f.outputStride;
  if (ys !== undefined && ys !== g.K) {
    if (!Number.isInteger(ys) || ys < g.K) throw new RangeError(`y pixel stride ${ys} is below K = ${g.K}`);
    if (!convStridedOutput(g))
      throw new RangeError(`a ${g.KH}x${g.KW} convolution ${g.C}->${g.K} cannot write y at a pixel stride of ${ys} (convStridedOutput)`);
    backend.arena.i32(ws.ptr, DESC_BYTES / 4)[D_YS] = ys;
  }
  const d = ws.ptr,
    buf = ws.ptr + DESC_BYTES,
    T = backend.threads;
  const args = [d, x, buf, bias, y, xp ? xp.coef : 0, xp ? actCodeOf(xp) : 0, mo ? 1 : 0];
  let ranges: [number, number][], pixels: number[];
  if (wn) {
    // x prologue in the input transform, moments over each completed tile row
    backend.run('conv_wino_pack_w_fwd', [d, w, buf], splitRange(g.K, T));
    ranges = splitRange(winoUnits(g), T);
    backend.run('conv_wino_fwd_f', args, ranges);
    pixels = winoPixels(g, ranges);
  } else {
    const dot = forwardDot(g) && (!xp || windowFits(g, fl));
    const wt = !dot && forwardT(g);
    if (dot) backend.run('conv_pack_w_fwd_dot', [d, w, buf], splitRange(up(g.K, 4), T));
    else if (wt) backend.run('conv_pack_w_fwd_t', [d, w, buf], splitRange(Math.ceil(g.K / 4), T));
    else backend.run('conv_pack_w_fwd', [d, w, buf], splitRange(g.groups * (v.Kg8 / 8), T));
    ranges = splitRange(g.N * g.OH * g.OW, T, dot ? 2 : wt ? 8 : 4);
    backend.run(dot ? 'conv_fwd_dot_f' : wt ? 'conv_fwd_t_f' : 'conv_fwd_f', args, ranges);
    pixels = ranges.map((r) => r[1] - r[0]);
  }
  if (mo) mergeMoments(backend, g.K, g.N * g.OH * g.OW, fl, pixels, mo);
}

/**
 * The moments epilogue's result from the threads' partials (fl.part: f64 S[K], Q[K], then the
 * f32 shifts), pixels[t] the output pixels thread t reduced.
 */
function mergeMoments(backend: Backend, K: number, M: number, fl: FuseLayout, pixels: readonly number[], mo: MomentsEpilogue): void {
  const parts: { base: number; n: number }[] = [];
  pixels.forEach((n, t) => parts.push({ base: backend.scratch(t) + fl.part, n }));
  mergeMomentsAt(backend, K, M, parts, mo);
}

/** The moments from partials laid out as fuseLayout's at each base, of n output pixels each, in that order. */
function mergeMomentsAt(backend: Backend, K: number, M: number, at: readonly { base: number; n: number }[], mo: MomentsEpilogue): void {
  // Part t holds, per channel, its shift K_t and S_t = sum(y - K_t), Q_t = sum((y - K_t)^2)
  // over its n_t rows; merged exactly (f64, in order): sum y = sum_t n_t K_t + S_t and
  // sum (y - mean)^2 = sum_t Q_t + 2 (K_t - mean) S_t + n_t (K_t - mean)^2.
  const ar = backend.arena;
  const used = at.filter((u) => u.n > 0).map(({ base, n }) => ({ n, parts: ar.f64(base, 2 * K), shifts: ar.f32(base + 16 * K, K) }));
  const [meanOut, varOut] = [ar.f32(mo.mean, K), ar.f32(mo.variance, K)];
  for (let k = 0; k < K; k++) {
    let sum = 0;
    for (const { n, parts, shifts } of used) sum += n * shifts[k]! + parts[k]!;
    const mean = sum / M;
    let ss = 0;
    for (const { n, parts, shifts } of used) {
      const dk = shifts[k]! - mean;
      ss += parts[K + k]! + 2 * dk * parts[k]! + n * dk * dk;
    }
    meanOut[k] = mean;
    varOut[k] = Math.max(0, ss / M);
  }
}

function convBackwardDataFused(backend: Backend, g: ConvGeom, w: number, dx: number, ws: ConvWorkspace, f: ConvBackwardDataFusion, dy: number): void {
  const act = dxAct(f.dxEpilogue);
  if (isDepthwise(g)) return dwBackwardDataFused(backend, g, w, dx, ws, f, dy, act);
  const dp = f.dyPrologue,
    de = f.dxEpilogue;
  const d = ws.ptr,
    buf = ws.ptr + DESC_BYTES,
    T = backend.threads;
  checkStrides(g, undefined, de?.stride);
  const wg = winogradData(g);
  winogradReluOnly('convBackwardData', wg !== undefined, de);
  if (wg) {
    // a Winograd forward pass over dY: the dy prologue in its input transform, the dx epilogue
    // over each completed tile row
    const fl = fuseLayout(wg, de ? g.C : 0, false);
    descriptor(backend, wg, ws, fl, g);
    setStrides(backend, g, ws, undefined, de?.stride);
    setAccumulate(backend, g, ws, de);
    if (de) setDxRing(backend, wg, ws, fl, de.accumulate !== undefined);
    dyCoefficients(backend, g, dp);
    backend.run('conv_wino_pack_w_fwd_flip', [d, w, buf], splitRange(wg.K, T));
    const ranges = splitRange(winoUnits(wg), T);
    const ep = de ? [de.x2, de.coef, de.mean, act] : [0, 0, 0, 0];
    if (dp) backend.run('conv_wino_fwd_dy_f', [d, dp.dbn, buf, dx, dp.xbn - dp.dbn, dp.coef, ...ep], ranges);
    else backend.run('conv_wino_fwd_dx_f', [d, dy, buf, dx, ...ep], ranges);
    if (de) dxReductions(backend, g, fl, ranges, de);
    return;
  }
  if (de?.accumulate && !isPointwise(g)) setAccumulate(backend, g, ws, de); // throws: no such path
  const tg = transposedGeom(g);
  const dyWindow = tg && dp ? fuseLayout(tg, de ? g.C : 0, true, 3) : undefined;
  if (tg && dp && dyWindow && windowFits(tg, dyWindow)) {
    // a forward pass over dY computed on load: A*dbn + B*xbn + C0 into each block's window
    const tv = descriptor(backend, tg, ws, dyWindow, g);
    dyCoefficients(backend, g, dp);
    backend.run('conv_pack_w_fwd_flip', [d, w, buf], splitRange(tg.groups * (tv.Kg8 / 8), T));
    const ranges = splitRange(tg.N * tg.OH * tg.OW, T, 4);
    backend.run('conv_fwd_dy_f', [d, dp.dbn, buf, dx, dp.xbn - dp.dbn, dp.coef, de ? de.x2 : 0, de ? de.coef : 0, de ? de.mean : 0, act], ranges);
    if (de) dxReductions(backend, g, dyWindow, ranges, de);
    return;
  }
  if (tg && de && !dp) {
    // as the unfused path: a forward pass over dY, the dx epilogue on each block of final rows
    const fl = fuseLayout(tg, g.C, false);
    const tv = descriptor(backend, tg, ws, fl, g);
    backend.run('conv_pack_w_fwd_flip', [d, w, buf], splitRange(tg.groups * (tv.Kg8 / 8), T));
    const ranges = splitRange(tg.N * tg.OH * tg.OW, T, 4);
    backend.run('conv_fwd_dx_f', [d, dy, buf, dx, de.x2, de.coef, de.mean, act], ranges);
    dxReductions(backend, g, fl, ranges, de);
    return;
  }
  const fl = fuseLayout(g, de ? g.C : 0, false);
  const v = descriptor(backend, g, ws, fl);
  setStrides(backend, g, ws, undefined, de?.stride);
  setAccumulate(backend, g, ws, de);
  dyCoefficients(backend, g, dp);
  backend.run('conv_pack_w_bwd_data', [d, w, buf], splitRange(g.groups * v.DNP, T));
  const src = dp ? dp.dbn : dy;
  // xbn = dbn + dlt, as a wrapping 32-bit offset
  const args = [d, src, buf, dx, dp ? dp.xbn - dp.dbn : 0, dp ? dp.coef : 0, de ? de.x2 : 0, de ? de.coef : 0, de ? de.mean : 0, act];
  const pw = isPointwise(g);
  const ranges = pw ? splitRange(g.N * g.H * g.W, T, 4) : splitRange(g.N, T);
  backend.run(pw ? 'conv_bwd_data_1x1_f' : 'conv_bwd_data_f', args, ranges);
  if (de) dxReductions(backend, g, fl, ranges, de);
}

/** Writes the accumulating epilogue's buffer into the descriptor (after descriptor()), checked. */
function setAccumulate(backend: Backend, g: ConvGeom, ws: ConvWorkspace, de: DxEpilogue | undefined): void {
  const acc = de?.accumulate;
  if (!acc) return;
  if (!convDxAccumulates(g))
    throw new RangeError(`a ${g.KH}x${g.KW} convolution ${g.C}->${g.K} cannot accumulate its dx epilogue into a buffer (convDxAccumulates)`);
  if (!Number.isInteger(acc.stride) || acc.stride < g.C) throw new RangeError(`gradient buffer pixel stride ${acc.stride} is below C = ${g.C}`);
  if (!de.coef) throw new RangeError('an accumulating dx epilogue needs the coefficients a2, b2 (coef)');
  const d = backend.arena.i32(ws.ptr, DESC_BYTES / 4);
  d[D_GACC] = acc.G % 2 ** 32;
  d[D_GACCH] = Math.floor(acc.G / 2 ** 32);
  d[D_GS] = acc.stride;
}

/**
 * The Winograd dx pass with a dx epilogue (wg: the forward geometry over dY; after descriptor()
 * and setAccumulate()): a ring of dx tile rows in the thread scratch below the fusion region
 * (fl), above the transformed block and the normalised window, with the block's tiles (D_WTB)
 * cut so that U and the ring fit convTuning.winoAccBytes (or two tile rows) and the scratch.
 */
function setDxRing(backend: Backend, wg: ConvGeom, ws: ConvWorkspace, fl: FuseLayout, accumulate: boolean): void {
  if (!accumulate && convTuning.winoAccBytes <= 0) return;
  const d = backend.arena.i32(ws.ptr, DESC_BYTES / 4);
  const ring = dxRingLayout(wg, d[D_WTB]!, fl.bytes, d[D_WWIN] !== 0);
  if (!ring) {
    // stored dx: staged in the output instead; accumulating: convDxAccumulates said no
    if (accumulate)
      throw new RangeError(`Winograd backward-data ${wg.K}x${wg.OH}x${wg.OW}: a ring of dx tile rows does not fit the thread scratch (convDxAccumulates)`);
    return;
  }
  d[D_WTB] = ring.TB;
  d[D_GRING] = ring.offset;
  d[D_GRT] = ring.RT;
}

/** dbeta, dgamma of a dx epilogue from the threads' partials. */
function dxReductions(backend: Backend, g: ConvGeom, fl: FuseLayout, ranges: readonly (readonly [number, number])[], de: DxEpilogue): void {
  dxReductionsFrom(backend, g, mergePartials(backend, ranges, fl.P, fl.part), de);
}

/** dbeta, dgamma of the dx epilogue from the merged sums S, Q. */
function dxReductionsFrom(backend: Backend, g: ConvGeom, [S, Q]: [Float64Array, Float64Array], de: DxEpilogue): void {
  const [db, dg, rs] = [backend.arena.f32(de.dbeta, g.C), backend.arena.f32(de.dgamma, g.C), backend.arena.f32(de.rstd, g.C)];
  for (let c = 0; c < g.C; c++) {
    db[c] = S[c]!;
    dg[c] = Q[c]! * rs[c]!;
  }
}

function convBackwardWeightFused(
  backend: Backend,
  g: ConvGeom,
  x: number,
  dw: number,
  db: number,
  ws: ConvWorkspace,
  f: ConvBackwardWeightFusion,
  dy: number,
): void {
  if (isDepthwise(g)) return dwBackwardWeightFused(backend, g, x, dw, db, ws, f, dy);
  const dp = f.dyPrologue,
    xp = f.xPrologue;
  winogradReluOnly('convBackwardWeight', winogradW(g, backend.kind), xp);
  const fl = fuseLayout(g, 0, !!xp && !winogradW(g, backend.kind));
  const v = descriptor(backend, g, ws, fl);
  setStrides(backend, g, ws, xp?.stride, undefined);
  dyCoefficients(backend, g, dp);
  const d = ws.ptr,
    acc = ws.ptr + DESC_BYTES,
    T = backend.threads;
  const src = dp ? dp.dbn : dy;
  const dlt = dp ? dp.xbn - dp.dbn : 0;
  const args = [d, src, x, acc, dlt, dp ? dp.coef : 0, xp ? xp.coef : 0, xp ? actCodeOf(xp) : 0];
  if (winogradW(g, backend.kind)) {
    backend.run('conv_wino_bwd_w_f', args, splitRange(up(g.C, 8) / 8, T));
    backend.run('conv_wino_bwd_w_out', [d, acc, dw], splitRange(g.K, T));
  } else if (weightsDot(g) && (!xp || windowFits(g, fl, v.Mch))) {
    backend.run('conv_bwd_w_dot_f', args, splitRange(g.KH * g.KW * Math.ceil(g.K / 4) * Math.ceil(g.C / 8), T));
    backend.run('conv_bwd_w_dot_out', [d, acc, dw], splitRange(g.K, T));
  } else if (weightsT(g)) {
    backend.run('conv_bwd_w_t_f', args, splitRange(g.KH * g.KW * (v.Cg8 / 8), T));
    backend.run('conv_bwd_w_t_out', [d, acc, dw], splitRange(g.K, T));
  } else {
    backend.run('conv_bwd_w_f', args, splitRange(v.WSL * g.groups * (v.wcols ? v.Kg8 / 8 : v.ROWS / 4), T));
    backend.run('conv_bwd_w_out', [d, acc, dw], splitRange(g.K, T));
  }
  if (db) biasGrad(backend, g, d, dy, db, dp);
}

// ---------------------------------------------------------------------------------------------
// Depthwise (groups == C == K): the direct kernels of depthwise.ts with the BN work on load and on
// the final values (conv_dw_*_f), every activation code. x and x2 dense (no views), y dense, dx
// stored (no accumulating epilogue).

function denseOnly(g: ConvGeom, what: string, stride: number | undefined, C: number): void {
  if (stride !== undefined && stride !== C)
    throw new RangeError(`${what}: a depthwise convolution (${g.C} channels) reads and writes dense tensors only (stride ${stride})`);
}

/** db = the sum of dy over N, OH, OW, dy read or (dp) computed on load; after descriptor(). */
function biasGrad(backend: Backend, g: ConvGeom, d: number, dy: number, db: number, dp: DyPrologue | undefined): void {
  const T = backend.threads;
  if (dp) backend.run('conv_bias_grad_f', [d, dp.dbn, db, dp.xbn - dp.dbn, dp.coef], splitRange(g.K, T, 4));
  else backend.run('conv_bias_grad', [d, dy, db], splitRange(g.K, T, 4));
}

function dwForwardFused(backend: Backend, g: ConvGeom, x: number, w: number, bias: number, y: number, ws: ConvWorkspace, f: ConvForwardFusion): void {
  const xp = f.xPrologue,
    mo = f.moments;
  denseOnly(g, 'convForward', xp?.stride, g.C);
  denseOnly(g, 'convForward', f.outputStride, g.K);
  const fl = fuseLayout(g, mo ? g.K : 0, false);
  descriptor(backend, g, ws, fl);
  const d = ws.ptr,
    buf = ws.ptr + DESC_BYTES,
    T = backend.threads;
  backend.run('conv_dw_pack_w', [d, w, buf], splitRange(g.C, T));
  const args = [d, x, buf, bias, y, xp ? xp.coef : 0, xp ? actCodeOf(xp) : 0, mo ? 1 : 0];
  const rows = g.N * g.OH;
  if (!mo) return runChunks(backend, 'conv_dw_fwd_f', args, rows);
  // the moments' partials per chunk of rows (DW_CHUNKS), merged in chunk order
  const chunk = dwChunk(rows),
    sl = dwSlots(g);
  const slots = runChunkPartials(backend, 'conv_dw_fwd_f', args, rows, chunk, { offset: fl.part, bytes: sl.bytes, slots: d + sl.offset });
  const at = slots.map((base, i) => ({ base, n: (Math.min(rows, (i + 1) * chunk) - i * chunk) * g.OW }));
  mergeMomentsAt(backend, g.K, rows * g.OW, at, mo);
}

function dwBackwardDataFused(
  backend: Backend,
  g: ConvGeom,
  w: number,
  dx: number,
  ws: ConvWorkspace,
  f: ConvBackwardDataFusion,
  dy: number,
  act: number,
): void {
  const dp = f.dyPrologue,
    de = f.dxEpilogue;
  if (de?.accumulate) throw new RangeError('convBackwardData: a depthwise convolution cannot accumulate its dx epilogue into a buffer (convDxAccumulates)');
  denseOnly(g, 'convBackwardData', de?.stride, g.C);
  const fl = fuseLayout(g, de ? g.C : 0, false);
  descriptor(backend, g, ws, fl);
  dyCoefficients(backend, g, dp);
  const d = ws.ptr,
    buf = ws.ptr + DESC_BYTES,
    T = backend.threads;
  backend.run('conv_dw_pack_w', [d, w, buf], splitRange(g.C, T));
  const args = [d, dp ? dp.dbn : dy, buf, dx, dp ? dp.xbn - dp.dbn : 0, dp ? dp.coef : 0, de ? de.x2 : 0, de && act ? de.coef : 0, de ? de.mean : 0, act];
  const rows = g.N * g.H;
  if (!de) return runChunks(backend, 'conv_dw_bwd_data_f', args, rows);
  // the dx epilogue's partials per chunk of rows (DW_CHUNKS), merged in chunk order
  const sl = dwSlots(g);
  const slots = runChunkPartials(backend, 'conv_dw_bwd_data_f', args, rows, dwChunk(rows), { offset: fl.part, bytes: sl.bytes, slots: d + sl.offset });
  dxReductionsFrom(backend, g, mergePartialsAt(backend.arena, slots, g.C), de);
}

function dwBackwardWeightFused(
  backend: Backend,
  g: ConvGeom,
  x: number,
  dw: number,
  db: number,
  ws: ConvWorkspace,
  f: ConvBackwardWeightFusion,
  dy: number,
): void {
  const dp = f.dyPrologue,
    xp = f.xPrologue;
  denseOnly(g, 'convBackwardWeight', xp?.stride, g.C);
  descriptor(backend, g, ws);
  dyCoefficients(backend, g, dp);
  const d = ws.ptr,
    T = backend.threads;
  const src = dp ? dp.dbn : dy;
  const dlt = dp ? dp.xbn - dp.dbn : 0;
  const acc = d + DESC_BYTES;
  runChunks(backend, 'conv_dw_bwd_w_f', [d, src, x, acc, dlt, dp ? dp.coef : 0, xp ? xp.coef : 0, xp ? actCodeOf(xp) : 0], dwGroups(g.N));
  backend.run('conv_dw_bwd_w_out', [d, acc, dw], splitRange(g.C, T));
  if (db) biasGrad(backend, g, d, dy, db, dp);
}
