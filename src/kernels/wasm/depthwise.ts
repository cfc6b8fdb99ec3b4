// Depthwise convolution (groups == C == K). Conventions and shape letters: common/conv.ts.

import { D_N, D_C, D_H, D_W, D_KH, D_KW, D_SH, D_SW, D_PH, D_PW, D_DH, D_DW, D_OH, D_OW, D_FPART } from '../abi/conv_descriptor';
import { fma } from './common/simd';
import { ld, dyr, SC_PACK } from './common/conv';

// =====================================================================================
// Depthwise (groups == C == K): direct SIMD along channels, weights repacked as wt[tap][C].
// =====================================================================================

/** wt[tap][c] = w[c][0][kh][kw]. Units: channels. */
export function conv_dw_pack_w(d: usize, w: usize, wt: usize, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), T = ld(d, D_KH) * ld(d, D_KW);
  for (let c = start; c < end; c++) {
    for (let tap = 0; tap < T; tap++) {
      store<f32>(wt + ((<usize>(tap * C + c)) << 2), load<f32>(w + ((<usize>(c * T + tap)) << 2)));
    }
  }
}

/** Forward: conv_dw_fwd_f without its prologue and epilogue. Units: output rows (n, oh). */
export function conv_dw_fwd(d: usize, x: usize, wt: usize, bias: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  conv_dw_fwd_f(d, x, wt, bias, y, 0, 0, 0, start, end, scratch);
}

/**
 * Backward-data as a gather (no scatter, no zeroing): dx[n][ih][iw][c] = sum over the taps
 * (kh, kw) whose output pixel oh = (ih + PH - kh*DH)/SH, ow likewise, is whole and in range,
 * of dy[n][oh][ow][c] * wt[tap][c]: conv_dw_bwd_data_f without its prologue and epilogue.
 * Units: input rows (n, ih).
 */
export function conv_dw_bwd_data(d: usize, dy: usize, wt: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  conv_dw_bwd_data_f(d, dy, wt, dx, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/**
 * Backward-weights: dw[c][0][kh][kw] = sum over (n, oh, ow) of dy[..][c] * x[n][ih][iw][c], in
 * two steps so that the threads split images, not channels (each thread then reads whole pixels).
 * conv_dw_bwd_w (units: the dwGroups(N) groups of consecutive images): for each image a partial
 * sum from zero (blocks of 64 channels with per-tap accumulators in scratch), added over the
 * group's images in order into acc[group][c][tap]; conv_dw_bwd_w_f without its prologues.
 * conv_dw_bwd_w_out (units: channels): dw = the groups' sums added in order, from zero. A fixed
 * order, independent of the thread count.
 */
export function conv_dw_bwd_w(d: usize, dy: usize, x: usize, acc: usize, start: i32, end: i32, scratch: usize): void {
  conv_dw_bwd_w_f(d, dy, x, acc, 0, 0, 0, 0, start, end, scratch);
}

/** dw[c][tap] = sum over the groups g in order of acc[g][c][tap] (conv_dw_bwd_w). Units: channels. */
export function conv_dw_bwd_w_out(d: usize, acc: usize, dw: usize, start: i32, end: i32, scratch: usize): void {
  const T = ld(d, D_KH) * ld(d, D_KW), G = dwGroups(ld(d, D_N));
  const gs = <usize>(ld(d, D_C) * T) << 2;
  for (let i = start * T; i < end * T; i++) {
    let s: f32 = 0;
    for (let g = 0; g < G; g++) s += load<f32>(acc + <usize>g * gs + (<usize>i << 2));
    store<f32>(dw + (<usize>i << 2), s);
  }
}

/** The groups of images of the backward-weights (8, or N when fewer); group g holds images [g*N/G, (g+1)*N/G). */
@inline function dwGroups(N: i32): i32 {
  return N < 8 ? N : 8;
}

// =====================================================================================
// Fused depthwise kernels (BN work in the prologue or epilogue, docs/design/conv-kernels.md):
// the loop nests above with the normalize + activation applied to x on load (x prologue; a
// padding tap is skipped, i.e. zero AFTER the normalize), the BN backward-data computed on load
// for dy (dy prologue: dY = A*dbn + (B*xbn + C0), xbn at dbn + dlt), the moments of y taken
// from the accumulators (moments epilogue), and the activation derivative plus the BN
// reductions applied to each final dx (dx epilogue). Coefficients: coef = a[C] then b[C]
// (bn(x) = a*x + b); cdy = A[C], B[C], C0[C].
//
// Activation codes (act), shared with the other fused kernels: 0 none, 1 ReLU, 2 ReLU6, 3 SiLU,
// 4 hardswish. The derivative is recomputed from the stored BN input x2: z = a2*x2 + b2, then
// ReLU: z > 0; ReLU6: 0 < z < 6; SiLU: s(1 + z(1 - s)), s = sigmoid(z); hardswish: 0 below -3,
// z/3 + 1/2 up to 3, 1 above. exp is a Cephes-style polynomial written in plain multiplies and
// adds (no fma), so the native twins give the same bits.
//
// Fusion region (D_FPART, in the thread scratch): f64 S[P], Q[P], f32 shift[P], S32[P], Q32[P]
// (P = C). Moments: S, Q the shifted sums of y - shift (shift: the first output pixel of the
// call, one chunk of rows: conv_config.ts DW_CHUNKS), read back with the shifts by the host; dx epilogue: S = sum dz,
// Q = sum dz*(x2 - mean2). f32 sums over one row of pixels, then added to the f64 partials.
// =====================================================================================

const ACT_RELU = 1, ACT_RELU6 = 2, ACT_SILU = 3, ACT_HARDSWISH = 4;

@inline function splat(v: f32): v128 {
  return f32x4.splat(v);
}

/** e^v for 4 lanes (v clamped to [-87, 88]): 2^k * p(r), r = v - k ln 2. */
@inline function expv(v: v128): v128 {
  v = f32x4.min(f32x4.max(v, splat(-87.0)), splat(88.0));
  const k = f32x4.nearest(f32x4.mul(v, splat(1.44269504)));
  let r = f32x4.sub(v, f32x4.mul(k, splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(k, splat(-2.12194440e-4)));
  let p = splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), splat(1));
  const e = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(k), i32x4.splat(127)), 23);
  return f32x4.mul(p, e);
}
/** expv for one float (the same operations). */
@inline function exps(v: f32): f32 {
  v = min(max(v, <f32>-87.0), <f32>88.0);
  const k = nearest<f32>(v * <f32>1.44269504);
  let r = v - k * <f32>0.693359375;
  r = r - k * <f32>-2.12194440e-4;
  let p: f32 = 1.9875691500e-4;
  p = p * r + <f32>1.3981999507e-3;
  p = p * r + <f32>8.3334519073e-3;
  p = p * r + <f32>4.1665795894e-2;
  p = p * r + <f32>1.6666665459e-1;
  p = p * r + <f32>5.0000001201e-1;
  p = p * r * r + r + 1;
  return p * reinterpret<f32>(((k == k ? <i32>k : 0) + 127) << 23);
}
@inline function sigv(z: v128): v128 {
  return f32x4.div(splat(1), f32x4.add(splat(1), expv(f32x4.neg(z))));
}
@inline function sigs(z: f32): f32 {
  return <f32>1 / (<f32>1 + exps(-z));
}

/** act(z) for 4 lanes (NaN passes through ReLU and ReLU6). */
@inline function actv(z: v128, act: i32): v128 {
  if (act == ACT_RELU) return v128.andnot(z, f32x4.le(z, splat(0)));
  if (act == ACT_RELU6) {
    const r = v128.andnot(z, f32x4.le(z, splat(0)));
    return v128.bitselect(splat(6), r, f32x4.ge(r, splat(6)));
  }
  if (act == ACT_SILU) return f32x4.mul(z, sigv(z));
  if (act == ACT_HARDSWISH) {
    const t = f32x4.add(z, splat(3));
    const r = v128.bitselect(splat(6), v128.andnot(t, f32x4.le(t, splat(0))), f32x4.ge(t, splat(6)));
    return f32x4.div(f32x4.mul(z, r), splat(6));
  }
  return z;
}
@inline function acts(z: f32, act: i32): f32 {
  if (act == ACT_RELU) return z <= 0 ? 0 : z;
  if (act == ACT_RELU6) return z <= 0 ? 0 : z >= 6 ? 6 : z;
  if (act == ACT_SILU) return z * sigs(z);
  if (act == ACT_HARDSWISH) {
    const t = z + 3;
    return (z * (t <= 0 ? 0 : t >= 6 ? 6 : t)) / 6;
  }
  return z;
}
/** g * act'(z) for 4 lanes. */
@inline function dactv(g: v128, z: v128, act: i32): v128 {
  if (act == ACT_RELU) return v128.andnot(g, f32x4.le(z, splat(0)));
  if (act == ACT_RELU6) return v128.and(g, v128.and(f32x4.gt(z, splat(0)), f32x4.lt(z, splat(6))));
  if (act == ACT_SILU) {
    const s = sigv(z);
    return f32x4.mul(g, f32x4.mul(s, f32x4.add(splat(1), f32x4.mul(z, f32x4.sub(splat(1), s)))));
  }
  if (act == ACT_HARDSWISH) {
    const mid = f32x4.mul(g, f32x4.add(f32x4.div(z, splat(3)), splat(0.5)));
    const r = v128.bitselect(g, mid, f32x4.gt(z, splat(3)));
    return v128.andnot(r, f32x4.lt(z, splat(-3)));
  }
  return g;
}
@inline function dacts(g: f32, z: f32, act: i32): f32 {
  if (act == ACT_RELU) return z <= 0 ? 0 : g;
  if (act == ACT_RELU6) return z > 0 && z < 6 ? g : 0;
  if (act == ACT_SILU) {
    const s = sigs(z);
    return g * (s * (1 + z * (1 - s)));
  }
  if (act == ACT_HARDSWISH) return z < -3 ? 0 : z > 3 ? g : g * (z / 3 + <f32>0.5);
  return g;
}

/** Adds the f32 row sums S32, Q32 (C floats at s32, s32 + 4C) to the f64 partials S, Q at st and zeroes them. */
function dwFlush(st: usize, s32: usize, C: i32): void {
  const cb = <usize>C << 2;
  for (let o: usize = 0; o < cb; o += 4) {
    const so = st + (o << 1);
    store<f64>(so, load<f64>(so) + <f64>load<f32>(s32 + o));
    store<f64>(so + (cb << 1), load<f64>(so + (cb << 1)) + <f64>load<f32>(s32 + cb + o));
  }
  memory.fill(s32, 0, cb << 1);
}

// The taps of one pixel, listed once at the start of the thread scratch (below SC_PACK) and then
// read by every channel block: pairs of byte offsets (the input or dy vector of channel 0, the
// tap's weights), in (kh, kw) order, the taps outside the image left out (so a padding tap is
// skipped, zero after the x prologue).

/**
 * The taps of output pixel (ih0, iw0) = (oh*SH - PH, ow*SW - PW) of image xn inside it, listed at
 * tl (the input pixel (ih, iw) at xn + (ih*W + iw)*xs, tap t's second offset wt + t*cb); returns
 * their count.
 */
@inline function dwTapsFwd(tl: usize, xn: usize, wt: usize, ih0: i32, iw0: i32, H: i32, W: i32, KH: i32, KW: i32, DH: i32, DW: i32, cb: usize, xs: usize): i32 {
  let n = 0;
  for (let kh = 0; kh < KH; kh++) {
    const ih = ih0 + kh * DH;
    if (<u32>ih >= <u32>H) continue;
    for (let kw = 0; kw < KW; kw++) {
      const iw = iw0 + kw * DW;
      if (<u32>iw >= <u32>W) continue;
      store<usize>(tl + (<usize>n << 3), xn + (<usize>ih * <usize>W + <usize>iw) * xs);
      store<usize>(tl + (<usize>n << 3), wt + <usize>(kh * KW + kw) * cb, 4);
      n++;
    }
  }
  return n;
}

/** The taps of input pixel (ih, iw) whose output pixel (of image dyn) is whole and in range, listed at tl; returns their count. */
@inline function dwTapsBwd(tl: usize, dyn: usize, wt: usize, ih: i32, iw: i32, OH: i32, OW: i32, KH: i32, KW: i32, SH: i32, SW: i32, PH: i32, PW: i32, DH: i32, DW: i32, cb: usize): i32 {
  let n = 0;
  for (let kh = 0; kh < KH; kh++) {
    const th = ih + PH - kh * DH;
    if (th < 0) break;
    const oh = th / SH;
    if (oh * SH != th || oh >= OH) continue;
    for (let kw = 0; kw < KW; kw++) {
      const tw = iw + PW - kw * DW;
      if (tw < 0) break;
      const ow = tw / SW;
      if (ow * SW != tw || ow >= OW) continue;
      store<usize>(tl + (<usize>n << 3), dyn + <usize>(oh * OW + ow) * cb);
      store<usize>(tl + (<usize>n << 3), wt + <usize>(kh * KW + kw) * cb, 4);
      n++;
    }
  }
  return n;
}

/**
 * Forward, fused: y = conv(act(a*x + b)) (coef != 0; zero padding after it) or conv(x), plus
 * bias; mom != 0: the moments partials of y (see above). Units: output rows (n, oh).
 */
export function conv_dw_fwd_f(d: usize, x: usize, wt: usize, bias: usize, y: usize, coef: usize, act: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const z = f32x4.splat(0);
  const cb = <usize>C << 2, rowB = <usize>W * cb;
  const st = scratch + <usize>ld(d, D_FPART);
  const shp = st + (cb << 2), s32 = shp + cb, q32 = s32 + cb;
  const tl = scratch;
  if (mom) {
    memory.fill(st, 0, cb << 2);
    memory.fill(s32, 0, cb << 1);
  }
  const cbo = coef + cb;
  for (let row = start; row < end; row++) {
    const n = row / OH, oh = row - n * OH;
    const xn = x + <usize>n * <usize>H * rowB;
    for (let ow = 0; ow < OW; ow++) {
      const yp = y + <usize>(row * OW + ow) * cb;
      const nt = dwTapsFwd(tl, xn, wt, oh * SH - PH, ow * SW - PW, H, W, KH, KW, DH, DW, cb, cb);
      const first = mom && row == start && ow == 0;
      let co: usize = 0;
      for (; co + 16 <= cb; co += 16) {
        let a0 = bias ? v128.load(bias + co) : z;
        const av = coef ? v128.load(coef + co) : z, bv = coef ? v128.load(cbo + co) : z;
        for (let i = 0; i < nt; i++) {
          const t = tl + (<usize>i << 3);
          let xv = v128.load(load<usize>(t) + co);
          if (coef) xv = actv(fma(xv, av, bv), act);
          a0 = fma(xv, v128.load(load<usize>(t, 4) + co), a0);
        }
        v128.store(yp + co, a0);
        if (mom) {
          if (first) v128.store(shp + co, a0);
          const e = f32x4.sub(a0, v128.load(shp + co));
          v128.store(s32 + co, f32x4.add(v128.load(s32 + co), e));
          v128.store(q32 + co, fma(e, e, v128.load(q32 + co)));
        }
      }
      for (; co < cb; co += 4) {
        let s: f32 = bias ? load<f32>(bias + co) : 0;
        const av: f32 = coef ? load<f32>(coef + co) : 0, bv: f32 = coef ? load<f32>(cbo + co) : 0;
        for (let i = 0; i < nt; i++) {
          const t = tl + (<usize>i << 3);
          let xv = load<f32>(load<usize>(t) + co);
          if (coef) xv = acts(av * xv + bv, act);
          s += xv * load<f32>(load<usize>(t, 4) + co);
        }
        store<f32>(yp + co, s);
        if (mom) {
          if (first) store<f32>(shp + co, s);
          const e = s - load<f32>(shp + co);
          store<f32>(s32 + co, load<f32>(s32 + co) + e);
          store<f32>(q32 + co, load<f32>(q32 + co) + e * e);
        }
      }
    }
    if (mom) dwFlush(st, s32, C);
  }
}

/**
 * Backward-data, fused, as conv_dw_bwd_data's gather: dy read from src, or (cdy != 0) computed
 * on load from dbn = src and xbn = src + dlt; x2 != 0: the dx epilogue, dz = dx * act'(a2*x2 +
 * b2) (c2 = a2[C] then b2[C], read only when act != 0; m2 = mean2[C]) stored as dx and reduced
 * (see above).
 * Units: input rows (n, ih).
 */
export function conv_dw_bwd_data_f(d: usize, src: usize, wt: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, act: i32,
  start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const z = f32x4.splat(0);
  const cb = <usize>C << 2;
  const st = scratch + <usize>ld(d, D_FPART);
  const s32 = st + <usize>C * 20, q32 = st + <usize>C * 24;
  const tl = scratch;
  if (x2) {
    memory.fill(st, 0, cb << 2);
    memory.fill(s32, 0, cb << 1);
  }
  for (let row = start; row < end; row++) {
    const n = row / H, ih = row - n * H;
    const dyn = src + <usize>n * <usize>OH * <usize>OW * cb;
    for (let iw = 0; iw < W; iw++) {
      const pix = <usize>(row * W + iw) * cb;
      const xp = dx + pix, x2p = x2 + pix;
      const nt = dwTapsBwd(tl, dyn, wt, ih, iw, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, cb);
      let co: usize = 0;
      for (; co + 16 <= cb; co += 16) {
        let a0 = z;
        const A = cdy ? v128.load(cdy + co) : z, B = cdy ? v128.load(cdy + cb + co) : z, C0 = cdy ? v128.load(cdy + 2 * cb + co) : z;
        for (let i = 0; i < nt; i++) {
          const t = tl + (<usize>i << 3);
          const gp = load<usize>(t) + co;
          const g = cdy ? dyr(A, B, C0, gp, dlt) : v128.load(gp);
          a0 = fma(g, v128.load(load<usize>(t, 4) + co), a0);
        }
        if (x2) {
          const xv = v128.load(x2p + co);
          if (act) a0 = dactv(a0, fma(xv, v128.load(c2 + co), v128.load(c2 + cb + co)), act);
          v128.store(s32 + co, f32x4.add(v128.load(s32 + co), a0));
          v128.store(q32 + co, fma(a0, f32x4.sub(xv, v128.load(m2 + co)), v128.load(q32 + co)));
        }
        v128.store(xp + co, a0);
      }
      for (; co < cb; co += 4) {
        let s: f32 = 0;
        for (let i = 0; i < nt; i++) {
          const t = tl + (<usize>i << 3);
          const gp = load<usize>(t) + co;
          const g: f32 = cdy ? load<f32>(cdy + co) * load<f32>(gp) + (load<f32>(cdy + cb + co) * load<f32>(gp + dlt) + load<f32>(cdy + 2 * cb + co)) : load<f32>(gp);
          s += g * load<f32>(load<usize>(t, 4) + co);
        }
        if (x2) {
          const xv = load<f32>(x2p + co);
          if (act) s = dacts(s, load<f32>(c2 + co) * xv + load<f32>(c2 + cb + co), act);
          store<f32>(s32 + co, load<f32>(s32 + co) + s);
          store<f32>(q32 + co, load<f32>(q32 + co) + s * (xv - load<f32>(m2 + co)));
        }
        store<f32>(xp + co, s);
      }
    }
    if (x2) dwFlush(st, s32, C);
  }
}

/**
 * Backward-weights, fused, as conv_dw_bwd_w: dy read from src or (cdy != 0) computed on load
 * (dbn = src, xbn = src + dlt), x read as it is or (coef != 0) as act(a*x + b); each group's sum
 * into acc[group][c][tap]. Units: groups of images (dwGroups).
 */
export function conv_dw_bwd_w_f(d: usize, src: usize, x: usize, acc: usize, dlt: usize, cdy: usize, coef: usize, act: i32, start: i32, end: i32, scratch: usize): void {
  const N = ld(d, D_N), C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const T = KH * KW;
  const CB = 64;
  const G = dwGroups(N);
  const tot = scratch + SC_PACK;
  const part = tot + <usize>T * CB * 4;
  const pixB = <usize>C * 4;
  for (let gi = start; gi < end; gi++) {
    const n0 = (gi * N) / G, n1 = ((gi + 1) * N) / G;
    const out = acc + <usize>gi * <usize>(C * T) * 4;
    for (let cb = 0; cb < C; cb += CB) {
      const cn = min(CB, C - cb);
      const nv = cn >> 2;
      const cbo = <usize>cb << 2;
      const ca = coef + cbo, cbb = coef + pixB + cbo;
      const dA = cdy + cbo, dB = cdy + pixB + cbo, dC = cdy + 2 * pixB + cbo;
      memory.fill(tot, 0, <usize>(T * CB) * 4);
      for (let n = n0; n < n1; n++) {
        memory.fill(part, 0, <usize>(T * CB) * 4);
        const xn = x + <usize>n * <usize>H * <usize>W * pixB + cbo;
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++) {
            const gp = src + <usize>((n * OH + oh) * OW + ow) * pixB + cbo;
            // the taps inside the image: the x pixel each reads, and its accumulators in part
            const ntap = dwTapsFwd(scratch, xn, part, oh * SH - PH, ow * SW - PW, H, W, KH, KW, DH, DW, <usize>CB * 4, pixB);
            for (let i = 0; i < ntap; i++) {
              const xp = load<usize>(scratch + (<usize>i << 3)), ap = load<usize>(scratch + (<usize>i << 3), 4);
              for (let v = 0; v < nv; v++) {
                const o = <usize>v << 4;
                const g = cdy ? dyr(v128.load(dA + o), v128.load(dB + o), v128.load(dC + o), gp + o, dlt) : v128.load(gp + o);
                let xv = v128.load(xp + o);
                if (coef) xv = actv(fma(xv, v128.load(ca + o), v128.load(cbb + o)), act);
                v128.store(ap + o, fma(g, xv, v128.load(ap + o)));
              }
              for (let c = nv * 4; c < cn; c++) {
                const o = <usize>c << 2;
                const g: f32 = cdy ? load<f32>(dA + o) * load<f32>(gp + o) + (load<f32>(dB + o) * load<f32>(gp + o + dlt) + load<f32>(dC + o)) : load<f32>(gp + o);
                let xv = load<f32>(xp + o);
                if (coef) xv = acts(load<f32>(ca + o) * xv + load<f32>(cbb + o), act);
                store<f32>(ap + o, load<f32>(ap + o) + g * xv);
              }
            }
          }
        }
        for (let i = 0; i < T * CB; i += 4) {
          const o = <usize>i << 2;
          v128.store(tot + o, f32x4.add(v128.load(tot + o), v128.load(part + o)));
        }
      }
      for (let c = 0; c < cn; c++) {
        for (let tap = 0; tap < T; tap++) {
          store<f32>(out + (<usize>((cb + c) * T + tap) << 2), load<f32>(tot + (<usize>(tap * CB + c) << 2)));
        }
      }
    }
  }
}
