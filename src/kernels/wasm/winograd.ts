// Winograd F(2x2, 3x3) convolution: forward, backward-data and backward-weights. Conventions
// and shape letters: common/conv.ts. Design: docs/design/conv-kernels.md.

import { D_N, D_C, D_H, D_W, D_K, D_PH, D_PW, D_OH, D_OW, D_FPART, D_XS, D_X2S, D_GACC, D_GS, D_YS, D_GRING, D_GRT, D_WTB, D_WKB, D_WWIN, D_WTC } from '../abi/conv_descriptor';
import { fma, reluv, hsum4 } from './common/simd';
import { Plain, Fused, fused, dyv, dyr, ld, SC_TILE, SC_RING, SC_ROWS, SC_ZBUF, SC_PACK, tapPtr } from './common/conv';
import { mk, flushSums, sj32, dxRun } from './common/gemm';

// =====================================================================================
// Winograd F(2x2, 3x3): 3x3 convolutions with stride 1, dilation 1, G == 1, C % 4 == 0, K % 4 == 0
// (the forward pass, and backward-data as the forward pass over dY with the flipped, transposed
// weights). Each 2x2 tile of output pixels is computed from a 4x4 tile of input pixels:
//   y = A^T [ (G g G^T) . (B^T d B) ] A,   16 products per channel pair instead of 36.
// Units: tile rows (n, tr), tr < TH = ceil(OH/2), TW = ceil(OW/2) tiles per row; the output
// rows of consecutive units are consecutive rows of y, so a thread's rows are one range of m.
// Per block of TB tiles (flattened over the thread's units): the input transform writes
// U[tile][xi][C] (xi = 4*i + j, B^T d B vectorised along channels; a BN prologue reads a ring of
// normalised input rows, wRing, or normalises each tap on load); then per pass of KB output
// channels, per pair of tiles, per xi, per 4 output channels: a dot product over C
// (conv_fwd_dot's mix: 2 loads of U, 4 of V, 8 FMAs; V[xi][k][C] packed by conv_wino_pack_w_fwd),
// reduced with hsum4 into a [xi][KB/4][2 tiles][4] scratch tile; then the output transform
// A^T M A of both tiles stores y, and takes the moments epilogue's sums. The dx epilogue runs
// over the rows of every completed tile row (dxRun). Descriptor: D_WTB (TB, even), D_WKB (KB,
// multiple of 4), D_WWIN (ring), D_WTC (backward-weights chunk).
// =====================================================================================

/**
 * The normalised window of a BN prologue: a ring of 4 input rows (slot ih mod 4), each WW pixels
 * (input column iw at index iw + PW; outside the image 0) of C channels (this thread's [cs, ce)),
 * BN-normalised (kind 1: a*x + b, ReLU; kind 2: the dy prologue A*dbn + B*xbn + C0 with xbn at
 * dbn + dlt). Tile row tr of image n reads rows 2*tr - PH .. + 3; consecutive tile rows share two,
 * so each input row is normalised once per thread (ring state at rs: image, last row done).
 * Tap row r of the tile row is at wRow(win, 2*tr - PH + r, WW, cb).
 */
function wRing(win: usize, rs: usize, x: usize, xsb: usize, n: i32, tr: i32, H: i32, W: i32, PH: i32, PW: i32, WW: i32, cb: usize,
  kind: i32, coef: usize, relu: i32, dlt: usize, cs: usize, ce: usize): void {
  const lo = 2 * tr - PH, hi = lo + 3;
  let done = load<i32>(rs, 4);
  if (load<i32>(rs) != n) done = lo - 1;
  for (let ih = max(lo, done + 1); ih <= hi; ih++) {
    const dst = wRow(win, ih, WW, cb);
    const rowB = <usize>WW * cb;
    if (ih < 0 || ih >= H) { memory.fill(dst, 0, rowB); continue; }
    memory.fill(dst, 0, <usize>PW * cb);
    memory.fill(dst + <usize>(PW + W) * cb, 0, <usize>(WW - PW - W) * cb);
    let src = x + (<usize>(n * H + ih) * <usize>W) * xsb; // x's pixels are xsb bytes apart (a view: more than cb)
    let o = dst + <usize>PW * cb;
    if (kind == 1 && relu) {
      // BN + ReLU (the common case), without the per-element flag tests (Winograd
      // backward-weights of 148->12 @32 with the x prologue 2-3% faster, the forward 1%)
      for (let iw = 0; iw < W; iw++) {
        for (let c: usize = cs; c < ce; c += 16) v128.store(o + c, reluv(fma(v128.load(coef + c), v128.load(src + c), v128.load(coef + cb + c))));
        src += xsb; o += cb;
      }
      continue;
    }
    for (let iw = 0; iw < W; iw++) {
      for (let c: usize = cs; c < ce; c += 16) {
        let v: v128;
        if (kind == 1) {
          v = fma(v128.load(coef + c), v128.load(src + c), v128.load(coef + cb + c));
          if (relu) v = reluv(v);
        } else {
          v = dyv(coef + c, cb, src + c, dlt);
        }
        v128.store(o + c, v);
      }
      src += xsb; o += cb;
    }
  }
  store<i32>(rs, n);
  store<i32>(rs, hi, 4);
}

/** The ring slot of input row ih (ih >= -2). */
@inline function wRow(win: usize, ih: i32, WW: i32, cb: usize): usize {
  return win + <usize>((ih + 4) & 3) * <usize>WW * cb;
}

/** Tap (i, j) of 4 consecutive 3x3 kernels 36 bytes apart (flip: tap (2 - i, 2 - j); ks: bytes between kernels). */
@inline function wg4(src: usize, ks: usize, i: i32, j: i32, flip: bool): v128 {
  const o = <usize>(flip ? (2 - i) * 3 + (2 - j) : i * 3 + j) << 2;
  let v = f32x4.splat(load<f32>(src + o));
  v = f32x4.replace_lane(v, 1, load<f32>(src + ks + o));
  v = f32x4.replace_lane(v, 2, load<f32>(src + 2 * ks + o));
  return f32x4.replace_lane(v, 3, load<f32>(src + 3 * ks + o));
}

/**
 * V[xi][k][c] = (G g G^T)[xi] of the 3x3 kernel g of (k, c), 4 input channels at a time (f32x4;
 * C % 4 == 0); flip: g[i][j] = w[c][k][2-i][2-j] (the transposed convolution, w of shape
 * [C][K][3][3]). Each of the 16 V rows of k is written in order. Units: output channels k.
 */
function winoPackW(d: usize, w: usize, vp: usize, start: i32, end: i32, flip: bool): void {
  const K = ld(d, D_K), C = ld(d, D_C);
  const h = f32x4.splat(0.5);
  const xs = (<usize>K * <usize>C) << 2;
  // bytes between the kernels of channels c and c + 1
  const ks: usize = flip ? (<usize>K * 36) : 36;
  for (let k = start; k < end; k++) {
    for (let c = 0; c < C; c += 4) {
      const src = w + (<usize>(flip ? c * K + k : k * C + c) * 36);
      let o = vp + ((<usize>k * <usize>C + <usize>c) << 2);
      for (let a = 0; a < 4; a++) {
        // row a of G g: G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
        let r0: v128, r1: v128, r2: v128;
        if (a == 0) { r0 = wg4(src, ks, 0, 0, flip); r1 = wg4(src, ks, 0, 1, flip); r2 = wg4(src, ks, 0, 2, flip); }
        else if (a == 3) { r0 = wg4(src, ks, 2, 0, flip); r1 = wg4(src, ks, 2, 1, flip); r2 = wg4(src, ks, 2, 2, flip); }
        else {
          const sg = a == 1 ? f32x4.splat(1) : f32x4.splat(-1);
          r0 = f32x4.mul(h, f32x4.add(fma(sg, wg4(src, ks, 1, 0, flip), wg4(src, ks, 0, 0, flip)), wg4(src, ks, 2, 0, flip)));
          r1 = f32x4.mul(h, f32x4.add(fma(sg, wg4(src, ks, 1, 1, flip), wg4(src, ks, 0, 1, flip)), wg4(src, ks, 2, 1, flip)));
          r2 = f32x4.mul(h, f32x4.add(fma(sg, wg4(src, ks, 1, 2, flip), wg4(src, ks, 0, 2, flip)), wg4(src, ks, 2, 2, flip)));
        }
        v128.store(o, r0);
        v128.store(o + xs, f32x4.mul(h, f32x4.add(f32x4.add(r0, r1), r2)));
        v128.store(o + 2 * xs, f32x4.mul(h, f32x4.add(f32x4.sub(r0, r1), r2)));
        v128.store(o + 3 * xs, r2);
        o += 4 * xs;
      }
    }
  }
}

export function conv_wino_pack_w_fwd(d: usize, w: usize, vp: usize, start: i32, end: i32, scratch: usize): void {
  winoPackW(d, w, vp, start, end, false);
}

/** For backward-data: d is the transposed convolution's descriptor, w the original [C][K][3][3] weights. */
export function conv_wino_pack_w_fwd_flip(d: usize, w: usize, vp: usize, start: i32, end: i32, scratch: usize): void {
  winoPackW(d, w, vp, start, end, true);
}

/**
 * One input value of a tile: plain load, or the BN prologue on load (kind 1: a*x + b, ReLU; kind 2:
 * the dy prologue A*dbn + B*xbn + C0); taps outside the image are 0 (after the prologue).
 */
@inline function wTap<F>(pt: usize, i: i32, c: usize, kind: i32, ca: v128, cbv: v128, cc: v128, relu: i32, dlt: usize, mask: i32): v128 {
  const p = <usize>load<u32>(pt + (<usize>i << 2)) + c;
  if (!fused<F>() || kind == 0) return v128.load(p);
  if (!((mask >> i) & 1)) return f32x4.splat(0);
  if (kind == 1) {
    const v = fma(ca, v128.load(p), cbv);
    return relu ? reluv(v) : v;
  }
  return dyr(ca, cbv, cc, p, dlt);
}

/**
 * B^T d B of one tile (16 tap pointers at pt, mask: bit i set where tap i is inside the image),
 * channels [cs, ce) (bytes), into u: with ps == 0 as u[xi][C] (xs == cb); else in panels of 8
 * channels ps bytes apart (channel c at u + (c / 8) * ps + (c % 8) * 4), xi xs bytes apart.
 */
function wInTile<F>(pt: usize, mask: i32, u: usize, cb: usize, kind: i32, coef: usize, relu: i32, dlt: usize,
  cs: usize, ce: usize, ps: usize, xs: usize): void {
  const z = f32x4.splat(0);
  for (let c: usize = cs; c < ce; c += 16) {
    let ca = z, cbv = z, cc = z;
    if (fused<F>() && kind != 0) {
      ca = v128.load(coef + c); cbv = v128.load(coef + cb + c);
      if (kind == 2) cc = v128.load(coef + 2 * cb + c);
    }
    const o = ps ? u + (c >> 5) * ps + (c & 16) : u + c;
    // rows 0 and 2 (each transformed along j: d0 - d2, d1 + d2, d2 - d1, d1 - d3) -> u0 = h0 - h2
    let a0 = wTap<F>(pt, 8, c, kind, ca, cbv, cc, relu, dlt, mask), a1 = wTap<F>(pt, 9, c, kind, ca, cbv, cc, relu, dlt, mask);
    let a2 = wTap<F>(pt, 10, c, kind, ca, cbv, cc, relu, dlt, mask), a3 = wTap<F>(pt, 11, c, kind, ca, cbv, cc, relu, dlt, mask);
    const h20 = f32x4.sub(a0, a2), h21 = f32x4.add(a1, a2), h22 = f32x4.sub(a2, a1), h23 = f32x4.sub(a1, a3);
    a0 = wTap<F>(pt, 0, c, kind, ca, cbv, cc, relu, dlt, mask); a1 = wTap<F>(pt, 1, c, kind, ca, cbv, cc, relu, dlt, mask);
    a2 = wTap<F>(pt, 2, c, kind, ca, cbv, cc, relu, dlt, mask); a3 = wTap<F>(pt, 3, c, kind, ca, cbv, cc, relu, dlt, mask);
    v128.store(o, f32x4.sub(f32x4.sub(a0, a2), h20));
    v128.store(o + xs, f32x4.sub(f32x4.add(a1, a2), h21));
    v128.store(o + 2 * xs, f32x4.sub(f32x4.sub(a2, a1), h22));
    v128.store(o + 3 * xs, f32x4.sub(f32x4.sub(a1, a3), h23));
    // row 1 -> u1 = h1 + h2, u2 = h2 - h1
    a0 = wTap<F>(pt, 4, c, kind, ca, cbv, cc, relu, dlt, mask); a1 = wTap<F>(pt, 5, c, kind, ca, cbv, cc, relu, dlt, mask);
    a2 = wTap<F>(pt, 6, c, kind, ca, cbv, cc, relu, dlt, mask); a3 = wTap<F>(pt, 7, c, kind, ca, cbv, cc, relu, dlt, mask);
    const h10 = f32x4.sub(a0, a2), h11 = f32x4.add(a1, a2), h12 = f32x4.sub(a2, a1), h13 = f32x4.sub(a1, a3);
    v128.store(o + 4 * xs, f32x4.add(h10, h20));
    v128.store(o + 5 * xs, f32x4.add(h11, h21));
    v128.store(o + 6 * xs, f32x4.add(h12, h22));
    v128.store(o + 7 * xs, f32x4.add(h13, h23));
    v128.store(o + 8 * xs, f32x4.sub(h20, h10));
    v128.store(o + 9 * xs, f32x4.sub(h21, h11));
    v128.store(o + 10 * xs, f32x4.sub(h22, h12));
    v128.store(o + 11 * xs, f32x4.sub(h23, h13));
    // row 3 -> u3 = h1 - h3
    a0 = wTap<F>(pt, 12, c, kind, ca, cbv, cc, relu, dlt, mask); a1 = wTap<F>(pt, 13, c, kind, ca, cbv, cc, relu, dlt, mask);
    a2 = wTap<F>(pt, 14, c, kind, ca, cbv, cc, relu, dlt, mask); a3 = wTap<F>(pt, 15, c, kind, ca, cbv, cc, relu, dlt, mask);
    v128.store(o + 12 * xs, f32x4.sub(h10, f32x4.sub(a0, a2)));
    v128.store(o + 13 * xs, f32x4.sub(h11, f32x4.add(a1, a2)));
    v128.store(o + 14 * xs, f32x4.sub(h12, f32x4.sub(a2, a1)));
    v128.store(o + 15 * xs, f32x4.sub(h13, f32x4.sub(a1, a3)));
  }
}

/**
 * A^T M A of one tile for 4 output channels (M[xi] at m + xi*mxs) + bias, stored into the valid
 * pixels of its 2x2 output tile. sm != 0: the moments epilogue, the valid outputs' y - shift and
 * (y - shift)^2 added to the f32 sums at sm + kb, sm + 2*kb (sm: the 4 shifts, set to this
 * tile's first output when init).
 */
@inline function wOutTile(m: usize, y0: usize, rs: usize, two_r: bool, two_c: bool, bv: v128, kb: usize, sm: usize, init: bool, mxs: usize, yb: usize): void {
  // columns j: s0 = m0j + m1j + m2j, s1 = m1j - m2j - m3j (M[xi] at m + xi*mxs)
  let s00: v128, s01: v128, s02: v128, s03: v128, s10: v128, s11: v128, s12: v128, s13: v128;
  const r1 = m + 4 * mxs, r2 = m + 8 * mxs, r3 = m + 12 * mxs;
  {
    const m0 = v128.load(m), m1 = v128.load(r1), m2 = v128.load(r2), m3 = v128.load(r3);
    s00 = f32x4.add(f32x4.add(m0, m1), m2); s10 = f32x4.sub(f32x4.sub(m1, m2), m3);
  }
  {
    const m0 = v128.load(m + mxs), m1 = v128.load(r1 + mxs), m2 = v128.load(r2 + mxs), m3 = v128.load(r3 + mxs);
    s01 = f32x4.add(f32x4.add(m0, m1), m2); s11 = f32x4.sub(f32x4.sub(m1, m2), m3);
  }
  {
    const m0 = v128.load(m + 2 * mxs), m1 = v128.load(r1 + 2 * mxs), m2 = v128.load(r2 + 2 * mxs), m3 = v128.load(r3 + 2 * mxs);
    s02 = f32x4.add(f32x4.add(m0, m1), m2); s12 = f32x4.sub(f32x4.sub(m1, m2), m3);
  }
  {
    const m0 = v128.load(m + 3 * mxs), m1 = v128.load(r1 + 3 * mxs), m2 = v128.load(r2 + 3 * mxs), m3 = v128.load(r3 + 3 * mxs);
    s03 = f32x4.add(f32x4.add(m0, m1), m2); s13 = f32x4.sub(f32x4.sub(m1, m2), m3);
  }
  const y00 = f32x4.add(f32x4.add(f32x4.add(s00, s01), s02), bv), y01 = f32x4.add(f32x4.sub(f32x4.sub(s01, s02), s03), bv);
  const y10 = f32x4.add(f32x4.add(f32x4.add(s10, s11), s12), bv), y11 = f32x4.add(f32x4.sub(f32x4.sub(s11, s12), s13), bv);
  v128.store(y0, y00);
  if (two_c) v128.store(y0 + yb, y01);
  if (two_r) {
    v128.store(y0 + rs, y10);
    if (two_c) v128.store(y0 + rs + yb, y11);
  }
  if (sm) {
    if (init) v128.store(sm, y00);
    const sh = v128.load(sm);
    let e = f32x4.sub(y00, sh);
    let sv = e, qv = f32x4.mul(e, e);
    if (two_c) { e = f32x4.sub(y01, sh); sv = f32x4.add(sv, e); qv = fma(e, e, qv); }
    if (two_r) {
      e = f32x4.sub(y10, sh); sv = f32x4.add(sv, e); qv = fma(e, e, qv);
      if (two_c) { e = f32x4.sub(y11, sh); sv = f32x4.add(sv, e); qv = fma(e, e, qv); }
    }
    v128.store(sm + kb, f32x4.add(v128.load(sm + kb), sv));
    v128.store(sm + 2 * kb, f32x4.add(v128.load(sm + 2 * kb), qv));
  }
}

/** The 16 tap pointers (zb where outside the image) and the inside mask of tile t (flattened (n, tr, tc)); returns the mask. */
function wTapTable(pt: usize, x: usize, zb: usize, t: i32, TW: i32, TH: i32, H: i32, W: i32, PH: i32, PW: i32, xsb: usize): i32 {
  const u = t / TW, tc = t - u * TW, n = u / TH, tr = u - n * TH;
  const ih0 = 2 * tr - PH, iw0 = 2 * tc - PW;
  const xn = x + <usize>n * <usize>H * <usize>W * xsb;
  let mask = 0;
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      const p = tapPtr(xn, ih0 + i, iw0 + j, H, W, <i32>(xsb >> 2), 0);
      store<u32>(pt + (<usize>(i * 4 + j) << 2), <u32>(p ? p : zb));
      if (p) mask |= 1 << (i * 4 + j);
    }
  }
  return mask;
}

export function conv_wino_fwd(d: usize, x: usize, vp: usize, bias: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  convWino<Plain>(d, x, vp, bias, y, 0, 0, 0, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/** Fused forward, arguments as conv_fwd_f (x prologue applied in the input transform; moments over each completed tile row). */
export function conv_wino_fwd_f(d: usize, x: usize, vp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32, start: i32, end: i32, scratch: usize): void {
  convWino<Fused>(d, x, vp, bias, y, coef, relu, mom, 0, 0, 0, 0, 0, 0, start, end, scratch);
}

/** Backward-data with the dx epilogue, arguments as conv_fwd_dx_f. */
export function conv_wino_fwd_dx_f(d: usize, dy: usize, vp: usize, dx: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  convWino<Fused>(d, dy, vp, 0, dx, 0, 0, 0, x2, c2, m2, relu, 0, 0, start, end, scratch);
}

/** Backward-data with the dy prologue (dY = A*dbn + B*xbn + C0 computed in the input transform) and optionally the dx epilogue, arguments as conv_fwd_dy_f. */
export function conv_wino_fwd_dy_f(d: usize, dy: usize, vp: usize, dx: usize, dlt: usize, cdy: usize, x2: usize, c2: usize, m2: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  convWino<Fused>(d, dy, vp, 0, dx, cdy, 0, 0, x2, c2, m2, relu, dlt, 1, start, end, scratch);
}

function convWino<F>(d: usize, x: usize, vp: usize, bias: usize, y: usize, coef: usize, relu: i32, mom: i32,
  x2: usize, c2: usize, m2: usize, relu2: i32, dlt: usize, dym: i32, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), K = ld(d, D_K), PH = ld(d, D_PH), PW = ld(d, D_PW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW), TB = ld(d, D_WTB), KB = ld(d, D_WKB);
  const TW = (OW + 1) >> 1, TH = (OH + 1) >> 1;
  const cb = <usize>C << 2, kb = <usize>K << 2;
  const ysb = <usize>ld(d, D_YS) << 2, rs = <usize>OW * ysb; // y's pixel and row strides
  const xsb = <usize>ld(d, D_XS) << 2, X2S = ld(d, D_X2S); // pixel strides of x and x2 (views: more than C)
  // dx epilogue accumulating a2*dx into a gradient buffer (D_GACC); any dx epilogue stages dx
  // in a ring of tile rows in this thread's scratch (D_GRING, D_GRT slots of 2 output rows)
  const gacc: usize = fused<F>() && x2 ? <usize><u32>ld(d, D_GACC) : 0, GS = ld(d, D_GS);
  const RT = fused<F>() && x2 ? ld(d, D_GRT) : 0, slot = rs << 1;
  const ring: usize = RT ? scratch + <usize>ld(d, D_GRING) : 0;
  // U[tile][xi][C], xi 64 bytes more than C floats apart: at a multiple of 4 KiB the 16 stores
  // of a transform would all fall into one L1 set
  const xsU = cb + 64, ustride = xsU << 4;
  const xs = (<usize>K * <usize>C) << 2; // one xi of V
  const zb = scratch + SC_ZBUF, tile = scratch + SC_TILE;
  const pt = scratch + SC_ROWS, mt = pt + 64; // tap table, then the 16 x 2 x 4 product tile
  const ub = scratch + SC_PACK;
  memory.fill(zb, 0, cb);
  let st: usize = 0, kind = 0;
  if (fused<F>()) {
    if (coef) kind = dym ? 2 : 1;
    if (mom) {
      st = scratch + <usize>ld(d, D_FPART);
      memory.fill(st, 0, <usize>K * 28);
    }
    if (x2) {
      st = scratch + <usize>ld(d, D_FPART);
      memory.fill(st, 0, <usize>K << 4);
    }
  }
  const t0 = start * TW, t1 = end * TW;
  const useWin = fused<F>() && kind != 0 && ld(d, D_WWIN) != 0;
  const rst = scratch + SC_RING;
  store<i32>(rst, -1);
  const WW = 2 * TW + 2, win = ub + <usize>TB * ustride;
  let rowDone = start, wrow = -1;
  for (let tb = t0; tb < t1; tb += TB) {
    const nt = min(TB, t1 - tb);
    for (let i = 0; i < nt; i++) {
      if (useWin) {
        // the tile row's input rows normalised once into the window, then the plain transform
        const t = tb + i, u = t / TW, tc = t - u * TW;
        const n = u / TH, tr = u - n * TH;
        if (u != wrow) {
          wRing(win, rst, x, xsb, n, tr, H, W, PH, PW, WW, cb, kind, coef, relu, dlt, 0, cb);
          wrow = u;
        }
        for (let r = 0; r < 4; r++) {
          const rp = wRow(win, 2 * tr - PH + r, WW, cb) + <usize>(2 * tc) * cb;
          for (let j = 0; j < 4; j++) store<u32>(pt + (<usize>(r * 4 + j) << 2), <u32>(rp + <usize>j * cb));
        }
        wInTile<Plain>(pt, 0xffff, ub + <usize>i * ustride, cb, 0, 0, 0, 0, 0, cb, 0, xsU);
      } else {
        const mask = wTapTable(pt, x, zb, tb + i, TW, TH, H, W, PH, PW, xsb);
        wInTile<F>(pt, mask, ub + <usize>i * ustride, cb, kind, coef, relu, dlt, 0, cb, 0, xsU);
      }
    }
    for (let k0 = 0; k0 < K; k0 += KB) {
      const k1 = min(K, k0 + KB);
      for (let i = 0; i < nt; i += 2) {
        const two = i + 1 < nt;
        const u0 = ub + <usize>i * ustride, u1 = two ? u0 + ustride : u0;
        // output positions of both tiles
        const ta = tb + i, ua = ta / TW, tca = ta - ua * TW, na = ua / TH, tra = ua - na * TH;
        const ya = ring ? ring + <usize>(ua % RT) * slot + <usize>(2 * tca) * ysb
          : y + ((<usize>(na * OH + 2 * tra) * <usize>OW + <usize>(2 * tca)) * ysb);
        const ra = 2 * tra + 1 < OH, ca2 = 2 * tca + 1 < OW;
        const tbb = ta + 1, ubb = tbb / TW, tcb = tbb - ubb * TW, nb2 = ubb / TH, trb = ubb - nb2 * TH;
        const yb = ring ? ring + <usize>(ubb % RT) * slot + <usize>(2 * tcb) * ysb
          : y + ((<usize>(nb2 * OH + 2 * trb) * <usize>OW + <usize>(2 * tcb)) * ysb);
        const rb = 2 * trb + 1 < OH, cb2 = 2 * tcb + 1 < OW;
        // per xi (the pair's U[xi] stays in L1), every 4 output channels of the pass: products
        // into mt[xi][kq][2 tiles][4], then the output transforms
        const mxs = <usize>((k1 - k0) >> 2) << 5; // bytes per xi of mt
        for (let xi = 0; xi < 16; xi++) {
          let wq = vp + <usize>xi * xs + ((<usize>k0 * <usize>C) << 2);
          let mo = mt + <usize>xi * mxs;
          for (let kq = k0; kq < k1; kq += 4) {
            let a00 = f32x4.splat(0);
            let a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            let q0 = u0 + <usize>xi * xsU, q1 = u1 + <usize>xi * xsU, wp = wq;
            const qe = q0 + cb;
            while (q0 < qe) {
              const x0 = v128.load(q0), x1 = v128.load(q1);
              let wv = v128.load(wp);
              a00 = fma(x0, wv, a00); a10 = fma(x1, wv, a10);
              wv = v128.load(wp + cb);
              a01 = fma(x0, wv, a01); a11 = fma(x1, wv, a11);
              wv = v128.load(wp + 2 * cb);
              a02 = fma(x0, wv, a02); a12 = fma(x1, wv, a12);
              wv = v128.load(wp + 3 * cb);
              a03 = fma(x0, wv, a03); a13 = fma(x1, wv, a13);
              q0 += 16; q1 += 16; wp += 16;
            }
            v128.store(mo, hsum4(a00, a01, a02, a03));
            v128.store(mo, hsum4(a10, a11, a12, a13), 16);
            wq += cb << 2;
            mo += 32;
          }
        }
        for (let kq = k0; kq < k1; kq += 4) {
          const bv = bias ? v128.load(bias + (<usize>kq << 2)) : f32x4.splat(0);
          const ko = <usize>kq << 2;
          const sm: usize = fused<F>() && mom ? st + (<usize>K << 4) + ko : 0;
          const m = mt + (<usize>(kq - k0) << 3);
          wOutTile(m, ya + ko, rs, ra, ca2, bv, kb, sm, tb == t0 && i == 0, mxs, ysb);
          if (two) wOutTile(m + 16, yb + ko, rs, rb, cb2, bv, kb, sm, false, mxs, ysb);
        }
        if (fused<F>() && mom && ((i & 15) == 14 || i + 2 >= nt)) {
          // f32 sums of these channels (at most 64 values each) into the f64 partials
          for (let col = k0; col < k1; col += 8) flushSums(sj32(st, K, col), <usize>K << 2, st + (<usize>col << 3), <usize>K << 3, min(8, k1 - col));
        }
      }
    }
    if (fused<F>() && x2) {
      // the dx epilogue over the output rows of each tile row completed by this block, in runs
      // of at most 64 pixels (the same runs with and without the ring)
      const done = tb + nt >= t1 ? end : (tb + nt) / TW;
      for (let u = rowDone; u < done; u++) {
        const n = u / TH, tr = u - n * TH;
        const p0 = (n * OH + 2 * tr) * OW, cnt = min(2, OH - 2 * tr) * OW;
        const src = ring ? ring + <usize>(u % RT) * slot : y + <usize>p0 * ysb;
        for (let j = 0; j < cnt; j += 64) {
          const p = p0 + j;
          dxRun(src + <usize>j * ysb, x2 + ((<usize>p * <usize>X2S) << 2), min(64, cnt - j), K, <usize>X2S << 2, c2, m2, relu2, st,
            gacc ? gacc + ((<usize>p * <usize>GS) << 2) : 0, <usize>GS << 2, ring && !gacc ? y + <usize>p * ysb : 0);
        }
      }
      if (done > rowDone) rowDone = done;
    }
  }
}

// =====================================================================================
// Winograd backward-weights (same geometries as conv_wino_fwd): dV = (A dY A^T) . (B^T x B) summed
// over tiles, dW = G^T dV G. Per chunk of TC tiles (flattened over all images), the dY tiles are
// transformed for all K (DY[xi][k/4][t][4], each thread) and the x tiles for this thread's
// channel panels (X[xi][p][t][8], the BN x prologue on load); then per xi the micro-kernel mk
// accumulates Z[xi][k][c] += DY^T X over the chunk (rows: 4 output channels, columns: 8 input
// channels, reduction: the chunk's tiles), summed from zero in registers and added to Z in the
// workspace ([16][K][C8]). conv_wino_bwd_w_out writes dW = G^T Z G. Units: panels of 8 input
// channels (threads never share a Z element; the order of the sums is fixed).
// =====================================================================================

export function conv_wino_bwd_w(d: usize, dy: usize, x: usize, z: usize, start: i32, end: i32, scratch: usize): void {
  winoW<Plain>(d, dy, x, z, 0, 0, 0, 0, start, end, scratch);
}

/** Fused: dy prologue (cdy: A, B, C0; xbn = dy + dlt) and/or x prologue (cx: a, b; relu), as conv_bwd_w_f. */
export function conv_wino_bwd_w_f(d: usize, dy: usize, x: usize, z: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  winoW<Fused>(d, dy, x, z, dlt, cdy, cx, relu, start, end, scratch);
}

/** One dY vector of 4 channels at output pixel p (the dy prologue on load when cdy != 0). */
@inline function wDy<F>(p: usize, ok: bool, cdy: usize, co: usize, kb: usize, dlt: usize): v128 {
  if (!ok) return f32x4.splat(0);
  if (fused<F>() && cdy) return dyv(cdy + co, kb, p, dlt);
  return v128.load(p);
}

function winoW<F>(d: usize, dy: usize, x: usize, z: usize, dlt: usize, cdy: usize, cx: usize, relu: i32, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), K = ld(d, D_K), PH = ld(d, D_PH), PW = ld(d, D_PW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW), N = ld(d, D_N), TC = ld(d, D_WTC);
  const TW = (OW + 1) >> 1, TH = (OH + 1) >> 1, NT = N * TH * TW;
  const C8 = (C + 7) & ~7, KP = K >> 2, NPt = end - start;
  const cb = <usize>C << 2, kb = <usize>K << 2;
  const xsb = <usize>ld(d, D_XS) << 2; // x's pixel stride (a view: more than C)
  const cs = <usize>start << 5, ce = min(<usize>end << 5, cb); // this thread's channels, bytes
  const zb = scratch + SC_ZBUF, pt = scratch + SC_ROWS;
  const dyp = scratch + SC_PACK;
  // bytes per xi of DY and of X, 64 more than their panels (as U of convWino: no L1 set conflicts)
  const dxs = <usize>KP * <usize>TC * 16 + 64;
  const xp = dyp + 16 * dxs;
  const pps = <usize>TC << 5, xxs = <usize>NPt * pps + 64;
  const win = xp + 16 * xxs;
  memory.fill(zb, 0, cb);
  const useWin = fused<F>() && cx != 0 && ld(d, D_WWIN) != 0;
  const rst = scratch + SC_RING;
  store<i32>(rst, -1);
  const WW = 2 * TW + 2;
  let wrow = -1;
  for (let t0 = 0; t0 < NT; t0 += TC) {
    const nt = min(TC, NT - t0);
    for (let i = 0; i < nt; i++) {
      const t = t0 + i, u = t / TW, tc = t - u * TW, n = u / TH, tr = u - n * TH;
      // dY tile (2x2, 0 outside the output) -> A dY A^T, all K
      const oh = 2 * tr, ow = 2 * tc;
      const r1 = oh + 1 < OH, c1 = ow + 1 < OW;
      const p00 = dy + (<usize>((n * OH + oh) * OW + ow)) * kb;
      const p10 = p00 + <usize>OW * kb;
      for (let k: usize = 0; k < kb; k += 16) {
        const e00 = wDy<F>(p00 + k, true, cdy, k, kb, dlt), e01 = wDy<F>(p00 + kb + k, c1, cdy, k, kb, dlt);
        const e10 = wDy<F>(p10 + k, r1, cdy, k, kb, dlt), e11 = wDy<F>(p10 + kb + k, r1 && c1, cdy, k, kb, dlt);
        // rows: (e0, e0 + e1, e0 - e1, -e1); then columns alike
        const a0 = e00, a1 = f32x4.add(e00, e01), a2 = f32x4.sub(e00, e01), a3 = f32x4.neg(e01);
        const b0 = e10, b1 = f32x4.add(e10, e11), b2 = f32x4.sub(e10, e11), b3 = f32x4.neg(e11);
        const o = dyp + (((k >> 4) * <usize>TC + <usize>i) << 4);
        v128.store(o, a0); v128.store(o + dxs, a1); v128.store(o + 2 * dxs, a2); v128.store(o + 3 * dxs, a3);
        v128.store(o + 4 * dxs, f32x4.add(a0, b0)); v128.store(o + 5 * dxs, f32x4.add(a1, b1));
        v128.store(o + 6 * dxs, f32x4.add(a2, b2)); v128.store(o + 7 * dxs, f32x4.add(a3, b3));
        v128.store(o + 8 * dxs, f32x4.sub(a0, b0)); v128.store(o + 9 * dxs, f32x4.sub(a1, b1));
        v128.store(o + 10 * dxs, f32x4.sub(a2, b2)); v128.store(o + 11 * dxs, f32x4.sub(a3, b3));
        v128.store(o + 12 * dxs, f32x4.neg(b0)); v128.store(o + 13 * dxs, f32x4.neg(b1));
        v128.store(o + 14 * dxs, f32x4.neg(b2)); v128.store(o + 15 * dxs, f32x4.neg(b3));
      }
      // x tile -> B^T x B, this thread's channels, in panels of 8
      const xo = xp + (<usize>i << 5) - (<usize>start * pps);
      if (useWin) {
        if (u != wrow) {
          wRing(win, rst, x, xsb, n, tr, H, W, PH, PW, WW, cb, 1, cx, relu, 0, cs, ce);
          wrow = u;
        }
        for (let r = 0; r < 4; r++) {
          const rp = wRow(win, 2 * tr - PH + r, WW, cb) + <usize>(2 * tc) * cb;
          for (let j = 0; j < 4; j++) store<u32>(pt + (<usize>(r * 4 + j) << 2), <u32>(rp + <usize>j * cb));
        }
        wInTile<Plain>(pt, 0xffff, xo, cb, 0, 0, 0, 0, cs, ce, pps, xxs);
      } else {
        const mask = wTapTable(pt, x, zb, t, TW, TH, H, W, PH, PW, xsb);
        wInTile<F>(pt, mask, xo, cb, cx ? 1 : 0, cx, relu, 0, cs, ce, pps, xxs);
      }
    }
    const add = t0 > 0 ? 1 : 0;
    for (let xi = 0; xi < 16; xi++) {
      for (let kp = 0; kp < KP; kp++) {
        const a = dyp + <usize>xi * dxs + <usize>kp * <usize>TC * 16;
        const zr = z + (<usize>(xi * K + kp * 4) * <usize>C8 << 2);
        for (let p = 0; p < NPt; p++) {
          const b = xp + <usize>xi * xxs + <usize>p * pps;
          const zp = zr + (<usize>(start + p) << 5);
          const ld8 = <usize>C8 << 2;
          mk(a, b, nt, zp, zp + ld8, zp + 2 * ld8, zp + 3 * ld8, 0, add);
        }
      }
    }
  }
}

/** dW[k][c] = G^T Z[.][k][c] G (3x3, OIHW) from the accumulator of conv_wino_bwd_w. Units: output channels k. */
export function conv_wino_bwd_w_out(d: usize, z: usize, dw: usize, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), K = ld(d, D_K), C8 = (C + 7) & ~7;
  const xs = <usize>K * <usize>C8 << 2;
  for (let k = start; k < end; k++) {
    for (let c = 0; c < C; c++) {
      const zp = z + (<usize>(k * C8 + c) << 2);
      const o = dw + (<usize>(k * C + c) * 9 << 2);
      // T = G^T Z (3 x 4), G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]
      for (let b = 0; b < 4; b++) {
        const z0 = <f64>load<f32>(zp + <usize>b * xs), z1 = <f64>load<f32>(zp + <usize>(4 + b) * xs);
        const z2 = <f64>load<f32>(zp + <usize>(8 + b) * xs), z3 = <f64>load<f32>(zp + <usize>(12 + b) * xs);
        // columns of T, kept in the 3 x 4 scratch at scratch + SC_TILE (f64)
        store<f64>(scratch + SC_TILE + (<usize>b << 3), z0 + 0.5 * (z1 + z2));
        store<f64>(scratch + SC_TILE + 32 + (<usize>b << 3), 0.5 * (z1 - z2));
        store<f64>(scratch + SC_TILE + 64 + (<usize>b << 3), 0.5 * (z1 + z2) + z3);
      }
      for (let i = 0; i < 3; i++) {
        const r = scratch + SC_TILE + (<usize>i << 5);
        const t0 = load<f64>(r), t1 = load<f64>(r, 8), t2 = load<f64>(r, 16), t3 = load<f64>(r, 24);
        store<f32>(o + (<usize>(i * 3) << 2), <f32>(t0 + 0.5 * (t1 + t2)));
        store<f32>(o + (<usize>(i * 3 + 1) << 2), <f32>(0.5 * (t1 - t2)));
        store<f32>(o + (<usize>(i * 3 + 2) << 2), <f32>(0.5 * (t1 + t2) + t3));
      }
    }
  }
}
