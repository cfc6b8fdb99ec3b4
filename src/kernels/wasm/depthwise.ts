// Depthwise convolution (groups == C == K). Conventions and shape letters: common/conv.ts.

import { D_N, D_C, D_H, D_W, D_KH, D_KW, D_SH, D_SW, D_PH, D_PW, D_DH, D_DW, D_OH, D_OW } from '../abi/conv_descriptor';
import { fma } from './common/simd';
import { ld, SC_PACK } from './common/conv';

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

/** Forward. Units: output rows (n, oh). */
export function conv_dw_fwd(d: usize, x: usize, wt: usize, bias: usize, y: usize, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const z = f32x4.splat(0);
  const rowB = <usize>W * <usize>C * 4, pixB = <usize>C * 4;
  for (let row = start; row < end; row++) {
    const n = row / OH, oh = row - n * OH;
    const xn = x + <usize>n * <usize>H * rowB;
    for (let ow = 0; ow < OW; ow++) {
      const yp = y + (<usize>(row * OW + ow) * <usize>C << 2);
      const ih0 = oh * SH - PH, iw0 = ow * SW - PW;
      let c = 0;
      for (; c + 16 <= C; c += 16) {
        const co = <usize>c << 2;
        let a0 = z, a1 = z, a2 = z, a3 = z;
        if (bias) { a0 = v128.load(bias + co); a1 = v128.load(bias + co, 16); a2 = v128.load(bias + co, 32); a3 = v128.load(bias + co, 48); }
        for (let kh = 0; kh < KH; kh++) {
          const ih = ih0 + kh * DH;
          if (<u32>ih >= <u32>H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = iw0 + kw * DW;
            if (<u32>iw >= <u32>W) continue;
            const xp = xn + <usize>ih * rowB + <usize>iw * pixB + co;
            const wp = wt + (<usize>((kh * KW + kw) * C) << 2) + co;
            a0 = fma(v128.load(xp), v128.load(wp), a0);
            a1 = fma(v128.load(xp, 16), v128.load(wp, 16), a1);
            a2 = fma(v128.load(xp, 32), v128.load(wp, 32), a2);
            a3 = fma(v128.load(xp, 48), v128.load(wp, 48), a3);
          }
        }
        v128.store(yp + co, a0); v128.store(yp + co, a1, 16); v128.store(yp + co, a2, 32); v128.store(yp + co, a3, 48);
      }
      for (; c + 4 <= C; c += 4) {
        const co = <usize>c << 2;
        let a0 = bias ? v128.load(bias + co) : z;
        for (let kh = 0; kh < KH; kh++) {
          const ih = ih0 + kh * DH;
          if (<u32>ih >= <u32>H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = iw0 + kw * DW;
            if (<u32>iw >= <u32>W) continue;
            a0 = fma(v128.load(xn + <usize>ih * rowB + <usize>iw * pixB + co), v128.load(wt + (<usize>((kh * KW + kw) * C) << 2) + co), a0);
          }
        }
        v128.store(yp + co, a0);
      }
      for (; c < C; c++) {
        const co = <usize>c << 2;
        let s: f32 = bias ? load<f32>(bias + co) : 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = ih0 + kh * DH;
          if (<u32>ih >= <u32>H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = iw0 + kw * DW;
            if (<u32>iw >= <u32>W) continue;
            s += load<f32>(xn + <usize>ih * rowB + <usize>iw * pixB + co) * load<f32>(wt + (<usize>((kh * KW + kw) * C) << 2) + co);
          }
        }
        store<f32>(yp + co, s);
      }
    }
  }
}

/**
 * Backward-data as a gather (no scatter, no zeroing): dx[n][ih][iw][c] = sum over the taps
 * (kh, kw) whose output pixel oh = (ih + PH - kh*DH)/SH, ow likewise, is whole and in range,
 * of dy[n][oh][ow][c] * wt[tap][c]. Units: input rows (n, ih).
 */
export function conv_dw_bwd_data(d: usize, dy: usize, wt: usize, dx: usize, start: i32, end: i32, scratch: usize): void {
  const C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const z = f32x4.splat(0);
  const pixB = <usize>C * 4;
  for (let row = start; row < end; row++) {
    const n = row / H, ih = row - n * H;
    const dyn = dy + <usize>n * <usize>OH * <usize>OW * pixB;
    for (let iw = 0; iw < W; iw++) {
      const xp = dx + <usize>(row * W + iw) * pixB;
      let c = 0;
      for (; c + 16 <= C; c += 16) {
        const co = <usize>c << 2;
        let a0 = z, a1 = z, a2 = z, a3 = z;
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
            const gp = dyn + <usize>(oh * OW + ow) * pixB + co;
            const wp = wt + (<usize>((kh * KW + kw) * C) << 2) + co;
            a0 = fma(v128.load(gp), v128.load(wp), a0);
            a1 = fma(v128.load(gp, 16), v128.load(wp, 16), a1);
            a2 = fma(v128.load(gp, 32), v128.load(wp, 32), a2);
            a3 = fma(v128.load(gp, 48), v128.load(wp, 48), a3);
          }
        }
        v128.store(xp + co, a0); v128.store(xp + co, a1, 16); v128.store(xp + co, a2, 32); v128.store(xp + co, a3, 48);
      }
      for (; c + 4 <= C; c += 4) {
        const co = <usize>c << 2;
        let a0 = z;
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
            a0 = fma(v128.load(dyn + <usize>(oh * OW + ow) * pixB + co), v128.load(wt + (<usize>((kh * KW + kw) * C) << 2) + co), a0);
          }
        }
        v128.store(xp + co, a0);
      }
      for (; c < C; c++) {
        const co = <usize>c << 2;
        let s: f32 = 0;
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
            s += load<f32>(dyn + <usize>(oh * OW + ow) * pixB + co) * load<f32>(wt + (<usize>((kh * KW + kw) * C) << 2) + co);
          }
        }
        store<f32>(xp + co, s);
      }
    }
  }
}

/**
 * Backward-weights: dw[c][0][kh][kw] = sum over (n, oh, ow) of dy[..][c] * x[n][ih][iw][c].
 * Units: channels (start a multiple of 4); blocks of 64 channels with per-tap accumulators in
 * scratch; per image a partial sum from zero, then added (fixed order, thread-independent).
 */
export function conv_dw_bwd_w(d: usize, dy: usize, x: usize, dw: usize, start: i32, end: i32, scratch: usize): void {
  const N = ld(d, D_N), C = ld(d, D_C), H = ld(d, D_H), W = ld(d, D_W), KH = ld(d, D_KH), KW = ld(d, D_KW);
  const SH = ld(d, D_SH), SW = ld(d, D_SW), PH = ld(d, D_PH), PW = ld(d, D_PW), DH = ld(d, D_DH), DW = ld(d, D_DW);
  const OH = ld(d, D_OH), OW = ld(d, D_OW);
  const T = KH * KW;
  const CB = 64;
  const tot = scratch + SC_PACK;
  const part = tot + <usize>T * CB * 4;
  const pixB = <usize>C * 4;
  for (let cb = start; cb < end; cb += CB) {
    const cn = min(CB, end - cb);
    const nv = cn >> 2;
    const cbo = <usize>cb << 2;
    memory.fill(tot, 0, <usize>(T * CB) * 4);
    for (let n = 0; n < N; n++) {
      memory.fill(part, 0, <usize>(T * CB) * 4);
      const xn = x + <usize>n * <usize>H * <usize>W * pixB + cbo;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const gp = dy + <usize>((n * OH + oh) * OW + ow) * pixB + cbo;
          const ih0 = oh * SH - PH, iw0 = ow * SW - PW;
          for (let kh = 0; kh < KH; kh++) {
            const ih = ih0 + kh * DH;
            if (<u32>ih >= <u32>H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = iw0 + kw * DW;
              if (<u32>iw >= <u32>W) continue;
              const xp = xn + <usize>(ih * W + iw) * pixB;
              const ap = part + <usize>((kh * KW + kw) * CB) * 4;
              for (let v = 0; v < nv; v++) {
                const o = <usize>v << 4;
                v128.store(ap + o, fma(v128.load(gp + o), v128.load(xp + o), v128.load(ap + o)));
              }
              for (let c = nv * 4; c < cn; c++) {
                const o = <usize>c << 2;
                store<f32>(ap + o, load<f32>(ap + o) + load<f32>(gp + o) * load<f32>(xp + o));
              }
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
        store<f32>(dw + (<usize>((cb + c) * T + tap) << 2), load<f32>(tot + (<usize>(tap * CB + c) << 2)));
      }
    }
  }
}
