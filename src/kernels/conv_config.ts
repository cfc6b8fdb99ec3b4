/**
 * How the host side runs a convolution on the kernels: the tuning (cache blocking, which path
 * each pass takes and from which size), the blocking derived from it for one geometry, the
 * workspace in the arena and the fusion region in each thread's scratch, and the descriptor the
 * kernels read (src/kernels/abi/conv_descriptor.ts). Also what a convolution can do, which the
 * fusion passes ask (strided views, accumulating dx epilogue). The calls themselves: conv.ts.
 */
import { type Backend, type BackendKind, SCRATCH_BYTES } from '../runtime/backend.js';
import type { Arena } from '../runtime/memory.js';
import { ACT_RELU, DESC_BYTES, D_FPART, D_GACC, D_GACCH, D_N, D_WTB, D_WTIGHT, D_X2S, D_XS } from './abi/conv_descriptor.js';
import { type ConvGeom, convGeom, dwGroups, isDepthwise, isPointwise } from './conv_geometry.js';

/**
 * Cache blocking (bytes are per thread, in its scratch). Mutable for benchmarks and tests;
 * values are clamped so that the blocks always fit SCRATCH_BYTES.
 */
export const convTuning = {
  /** forward: largest reduction block Kc (the B micro-panel Kc x 8 floats stays in L1) */
  kc: 256,
  /** forward and backward-data: bytes of the packed A block (Mc x Kc floats, in L2) */
  aBlockBytes: 256 << 10,
  /** backward-data: largest reduction block over K/G */
  kcData: 512,
  /** backward-weights: largest M chunk (the reduction block) */
  mChunk: 512,
  /** backward-weights: bytes of the packed A^T block */
  atBlockBytes: 512 << 10,
  /**
   * fused x prologue: bytes of the normalised window (a block's input rows normalised once, in
   * thread scratch; 0 = always normalise while packing). At most 2 MiB.
   */
  windowBytes: 768 << 10,
  /**
   * backward-data of a stride-1 convolution with at most this many output channels per group
   * runs as a forward convolution over dY with the flipped, transposed weights (reduction
   * KH*KW*Kg, plain stores) instead of the col2im GEMM (reduction Kg, read-modify-write
   * scatter); 0 = never.
   */
  dataT: 32,
  /**
   * largest K for the transposed GEMMs of ungrouped convolutions (0 = never): the forward pass
   * when K % 8 is 1..4 (output channels in micro-panels of 4 instead of panels of 8), and
   * backward-weights accumulating dW^T (rows: output channels, columns: the reduction index)
   * for spatial kernels with C >= 16 or K % 8 in 1..4 (see forwardT, weightsT).
   */
  wT: 1024,
  /**
   * largest K for the forward pass as dot products over input channels (gemm.ts conv_fwd_dot:
   * no packing; see forwardDot); 0 = never.
   */
  dotK: 64,
  /** backward-weights as dot products over output pixels (gemm_w.ts conv_bwd_w_dot; see weightsDot): 1, or 0 = never. */
  wDot: 1,
  /**
   * Winograd F(2x2, 3x3) for the forward pass and backward-data of 3x3 stride-1 convolutions
   * (winograd.ts conv_wino_fwd; see winograd): 1, or 0 = never (the GEMM paths).
   */
  wino: 1,
  /**
   * Winograd with a BN prologue: 1 = normalise each tile row's input rows once into a zero-padded
   * window (when it fits the scratch), 0 = normalise every tap in the input transform (masked)
   */
  winoWindow: 1,
  /** Winograd: bytes of the transformed input block (16 x C floats per tile, in L2) */
  winoUBytes: 1 << 20,
  /** Winograd backward-weights: bytes of the transformed dY and x tiles of one chunk (64*K + 64*C8/threads per tile) */
  winoWBytes: 384 << 10,
  /** Winograd backward-weights only where a chunk holds at least this many tiles */
  winoWMinTiles: 16,
  /** Winograd: bytes of the transformed weights used per pass over a block (16 x C floats per output channel) */
  winoVBytes: 512 << 10,
  /**
   * Winograd backward-data with a dx epilogue: bytes of the transformed block plus the ring of dx
   * tile rows (winograd.ts D_GRING), both per thread; the block's tiles are cut (never below two tile
   * rows) so that they fit. 0: no ring where dx is stored (dx staged in its output, read back).
   */
  winoAccBytes: 1 << 20,
  /**
   * 1: merged kernel rows of at most 32 floats that are not a whole number of vectors (the 7x7
   * stem's 21) are packed without padding in backward-weights and backward-data (see derive);
   * 0 = padded.
   */
  tight: 1,
  /**
   * backward-weights (gemm_w.ts conv_bwd_w): at most this many slices of the reduction over output
   * pixels, each summed into its own accumulator (1 = one accumulator, threads split its rows or
   * columns, each packing the whole dY or A^T chunk). A fixed count, so the order of the sums,
   * and the bits of dW, do not depend on the number of threads.
   */
  wSlices: 4,
  /** backward-weights: accumulators larger than this are not sliced (see derive) */
  wSliceAccBytes: 256 << 10,
};

/**
 * Tuning of the native engine only (the rest of convTuning serves both). Winograd backward-weights
 * also takes the layers whose chunk of winoWMinTiles tiles needs up to winoWBytes: resnet50's
 * 3x3 512->512 @7 (48 KiB per tile) ran at 43% of the micro-kernel rate on the GEMM path, 56-86%
 * (under load) with Winograd. Layers that fit convTuning.winoWBytes keep that chunk size, hence
 * the wasm engine's bits; the layers admitted here run the GEMM path on the wasm engine, so their
 * dW differs between the engines in the last bits (each engine stays deterministic).
 */
export const nativeConvTuning = {
  winoWBytes: 2 << 20,
};

const MAX_ROWS = 4096; // row table of the GEMM kernels (wasm/common/conv.ts)

const SC_PACK = 65536; // packed blocks' offset in scratch (wasm/common/conv.ts)

/** Largest fusion region (top of the thread scratch) a fused call may reserve. */
const MAX_FUSE_BYTES = 1 << 20;

export const up = (v: number, m: number): number => Math.ceil(v / m) * m;

const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));

export interface Derived {
  Cg: number;
  Kg: number;
  Kdim: number;
  Kg8: number;
  Cg8: number;
  Kc: number;
  Mc: number;
  Kcd: number;
  Mcd: number;
  Mch: number;
  RBP: number;
  /** backward-weights row layout: segments of SEG floats (a kernel row if merge, else a tap) padded to SEG4 */
  merge: boolean;
  SEG: number;
  SEG4: number;
  ROWS: number;
  wtight: boolean;
  /** backward-data column layout: segments of DSEG columns (a kernel row if dmerge, else a tap) padded to DSEG8 */
  dmerge: boolean;
  DSEG: number;
  DSEG8: number;
  DNP: number;
  dtight: boolean;
  /** backward-weights: threads split output-channel panels (true) or rows of acc (false) */
  wcols: boolean;
  /** backward-weights: slices of the reduction, each with its own accumulator */
  WSL: number;
  /** Winograd: tiles per block (even), output channels per pass over a block (multiple of 4) */
  TB: number;
  KB: number;
}

/** `reserve`: bytes at the top of the thread scratch kept for a fused call's region (0 unfused). */
export function derive(g: ConvGeom, reserve = 0): Derived {
  const PACK_BYTES = SCRATCH_BYTES - SC_PACK - reserve;
  const Cg = g.C / g.groups,
    Kg = g.K / g.groups;
  const Kdim = g.KH * g.KW * Cg,
    Kg8 = up(Kg, 8),
    Cg8 = up(Cg, 8);
  const merge = g.groups === 1 && g.dilation[1] === 1;
  // Short kernel rows (SEG <= 32 floats, e.g. the stem's 7 x 3 = 21) are packed tight, without
  // padding each to a multiple of 4 rows (backward-weights) or 8 columns (backward-data; all KH
  // kernel rows in one segment, through a column buffer). Measured on the 7x7 stem, batch 16,
  // interleaved with `--tight 0`: backward-weights 67-71% -> 77% of the micro-kernel rate on 2
  // threads (72% -> 81% on 1), backward-data 64% -> 80-82% (the padding alone wasted 12.5%).
  const kRow = merge ? g.KW * Cg : Cg;
  const wtight = convTuning.tight !== 0 && merge && g.KH > 1 && kRow % 4 !== 0 && kRow <= 32 && g.KH * kRow <= 2048;
  const SEG = kRow,
    SEG4 = wtight ? SEG : up(SEG, 4),
    ROWS = wtight ? up(g.KH * SEG, 4) : (merge ? g.KH : g.KH * g.KW) * SEG4;
  const dmerge = merge && g.KW > 1 && Cg % 8 !== 0;
  const dtight = convTuning.tight !== 0 && dmerge && g.KH > 1 && kRow % 8 !== 0 && kRow <= 32;
  const DSEG = dtight ? g.KH * kRow : dmerge ? kRow : Cg,
    DSEG8 = up(DSEG, 8);
  const DNP = dtight ? DSEG8 / 8 : ((dmerge ? g.KH : g.KH * g.KW) * DSEG8) / 8;
  const t = convTuning;
  const blk = (n: number, max: number): number => up(Math.ceil(n / Math.ceil(n / Math.max(4, max))), 4);
  const Kc = blk(Kdim, t.kc);
  const rows = (kc: number): number => clamp(Math.floor(Math.min(t.aBlockBytes, PACK_BYTES) / (16 * kc)) * 4, 4, MAX_ROWS);
  const Mc = rows(Kc);
  const Kcd = blk(Kg, t.kcData);
  const Mcd = rows(Kcd);
  // backward-weights: dY chunk (Mch x Kg8) and A^T block (RBP panels of 16*Mch + 64 bytes) must fit the scratch
  // (and conv_bwd_w_t's x panels, 16 of (32*Mch + 64) bytes, must fit the other half)
  const Mch = clamp(Math.floor(Math.min(t.mChunk, PACK_BYTES / 2 / (Kg8 * 4 + 16), (PACK_BYTES / 2 - 1024) / 512) / 4) * 4, 4, MAX_ROWS);
  const atBytes = Math.min(t.atBlockBytes, PACK_BYTES - Mch * Kg8 * 4);
  const RBP = clamp(Math.floor(atBytes / (16 * Mch + 64)), 1, 1 << 20);
  // Each thread packs the whole dY chunk when rows are split, the whole A^T when columns are:
  // split columns when A^T (ROWS per pixel, a gather) is much smaller than dY (Kg8 per pixel).
  const wcols = 2 * ROWS <= Kg8;
  // slices of the reduction (whole chunks of Mch pixels; see convTuning.wSlices). Counted in
  // chunks of mChunk >= Mch pixels, so that it does not depend on a fused call's reserve (the
  // workspace is sized without one) and every slice holds a chunk.
  // Measured (2 threads, batch 16): 1x1 160->128 @56 74% -> 86% of the micro-kernel rate,
  // 256->64 @56 71% -> 80%, 64->256 @56 77% -> 83%, 352->128 @28 81% -> 86%; with accumulators
  // over 256 KiB (1024->256 @14: 1 MiB, each thread's slices in turn) 1-3% slower: not sliced.
  const accBytes = g.groups * ROWS * Kg8 * 4;
  const WSL = accBytes > t.wSliceAccBytes ? 1 : clamp(Math.floor((g.N * g.OH * g.OW) / Math.max(4, t.mChunk)), 1, Math.max(1, t.wSlices));
  const TB = Math.max(2, Math.floor(Math.min(t.winoUBytes, PACK_BYTES - 4096) / (64 * g.C + 1024) / 2) * 2);
  // (at most 256: winograd.ts keeps 16 x KB/4 x 2 x 4 products in scratch, below its zero buffer)
  const KB = Math.min(up(g.K, 4), 256, Math.max(4, Math.floor(t.winoVBytes / (64 * g.C) / 4) * 4));
  return { Cg, Kg, Kdim, Kg8, Cg8, Kc, Mc, Kcd, Mcd, Mch, RBP, merge, SEG, SEG4, ROWS, wtight, dmerge, DSEG, DSEG8, DNP, dtight, wcols, WSL, TB, KB };
}

export interface ConvWorkspace {
  /** Byte offset in the arena, 64-byte aligned. */
  readonly ptr: number;
  readonly bytes: number;
}

/** Arena bytes that convForward / convBackwardData / convBackwardWeight need for g. */
export function convWorkspaceBytes(g: ConvGeom): number {
  const v = derive(g);
  const G = g.groups,
    T = g.KH * g.KW;
  const t = transposedGeom(g);
  const tv = t ? derive(t) : undefined;
  const floats = isDepthwise(g)
    ? Math.max(T * g.C * dwGroups(g.N), (dwSlots(g).offset + DW_CHUNKS * dwSlots(g).bytes - DESC_BYTES) / 4)
    : Math.max(
        G * v.Kdim * v.Kg8,
        G * v.DNP * 8 * v.Kg,
        G * v.ROWS * v.Kg8 * v.WSL,
        tv ? G * tv.Kdim * tv.Kg8 : 0,
        weightsT(g) ? up(g.K, 4) * T * v.Cg8 : 0,
        forwardT(g) || forwardDot(g) || weightsDot(g) ? up(g.K, 4) * v.Kdim : 0,
        winograd(g) || winogradData(g) ? 16 * g.K * up(g.C, 8) : 0,
      );
  return DESC_BYTES + 4 * floats;
}

/**
 * The chunks of the depthwise kernels that leave per-thread partials (the forward's moments, the
 * backward-data's dx epilogue): at most DW_CHUNKS of whole rows, whatever the thread count, each
 * chunk's partials in its own slot of the workspace (Backend.runChunkPartials), merged in chunk
 * order: the threads claim chunks dynamically, and the reductions are the same bits at every
 * thread count and on both engines.
 */
export const DW_CHUNKS = 16;

/** Rows of one such chunk, of `rows`. */
export const dwChunk = (rows: number): number => Math.ceil(rows / DW_CHUNKS);

/**
 * The slots of those chunks' partials in the workspace: from `offset` bytes (after the descriptor
 * and the packed weights), `bytes` a chunk: the fusion region's f64 S[C], Q[C] and f32 shifts[C]
 * (fuseLayout with P = C), 20 C bytes rounded up to 64.
 */
export function dwSlots(g: ConvGeom): { offset: number; bytes: number } {
  return { offset: DESC_BYTES + up(4 * g.KH * g.KW * g.C, 64), bytes: up(20 * g.C, 64) };
}

/** Reserves one workspace large enough for every geometry given. */
export function convWorkspace(arena: Arena, geoms: ConvGeom | readonly ConvGeom[]): ConvWorkspace {
  const list = Array.isArray(geoms) ? (geoms as readonly ConvGeom[]) : [geoms as ConvGeom];
  const bytes = Math.max(DESC_BYTES, ...list.map(convWorkspaceBytes));
  return { ptr: arena.reserve(bytes, 'conv workspace'), bytes };
}

/**
 * The forward convolution over dY that computes the backward-data of g (stride 1, not 1x1,
 * not depthwise, Kg <= convTuning.dataT), or undefined: input channels K, outputs C, the taps
 * flipped, padding D*(KH-1) - P (so that its output is H x W).
 */
export function transposedGeom(g: ConvGeom, narrowOnly = true): ConvGeom | undefined {
  if (g.stride[0] !== 1 || g.stride[1] !== 1 || isDepthwise(g) || isPointwise(g)) return undefined;
  if (narrowOnly && g.K / g.groups > convTuning.dataT) return undefined;
  const ph = g.dilation[0] * (g.KH - 1) - g.pad[0],
    pw = g.dilation[1] * (g.KW - 1) - g.pad[1];
  if (ph < 0 || pw < 0) return undefined;
  const t = convGeom({ N: g.N, C: g.K, H: g.OH, W: g.OW, K: g.C, KH: g.KH, KW: g.KW, pad: [ph, pw], dilation: g.dilation, groups: g.groups });
  return t.OH === g.H && t.OW === g.W ? t : undefined;
}

/**
 * Whether a convolution runs as Winograd F(2x2, 3x3) (winograd.ts conv_wino_fwd): ungrouped 3x3, stride
 * 1, dilation 1, padding at most 2, 4 <= C <= 1024 and K with C % 4 == K % 4 == 0.
 */
export function winograd(g: ConvGeom): boolean {
  return (
    convTuning.wino !== 0 &&
    g.groups === 1 &&
    g.KH === 3 &&
    g.KW === 3 &&
    g.stride[0] === 1 &&
    g.stride[1] === 1 &&
    g.dilation[0] === 1 &&
    g.dilation[1] === 1 &&
    g.pad[0] <= 2 &&
    g.pad[1] <= 2 &&
    g.C % 4 === 0 &&
    g.K % 4 === 0 &&
    g.C >= 4 &&
    g.C <= 1024 &&
    g.OH > 0 &&
    g.OW > 0
  );
}

/**
 * Whether backward-weights runs as Winograd (winograd.ts conv_wino_bwd_w): as winograd, with C >= 32 and
 * chunks of at least 16 tiles (the micro-kernel's reduction). Measured (2 threads): 16->16 @32
 * 79% of the micro-kernel rate against 86% for the dot-product kernel; 512->512 @7, chunks of 8
 * tiles, 63% against 93%; from 32->32 @16 to 256->256 @14 1.3x to 2x faster than the GEMM paths.
 */
export function winogradW(g: ConvGeom, kind?: BackendKind): boolean {
  return winograd(g) && g.C >= 32 && convTuning.winoWMinTiles * winoTileBytes(g) <= winoWBudget(g, kind);
}

/** Bytes of a Winograd backward-weights chunk on this engine (see nativeConvTuning). */
function winoWBudget(g: ConvGeom, kind?: BackendKind): number {
  const need = convTuning.winoWMinTiles * winoTileBytes(g);
  return kind === 'native' && need > convTuning.winoWBytes ? Math.max(convTuning.winoWBytes, nativeConvTuning.winoWBytes) : convTuning.winoWBytes;
}

/** Scratch bytes per tile of a Winograd backward-weights chunk, sized for two threads (see descriptor). */
const winoTileBytes = (g: ConvGeom): number => 64 * g.K + 512 * Math.ceil(up(g.C, 8) / 16);

/** The forward convolution that computes g's backward-data by Winograd, or undefined. */
export function winogradData(g: ConvGeom): ConvGeom | undefined {
  const t = transposedGeom(g, false);
  return t && winograd(t) ? t : undefined;
}

/** K % 8 in 1..4: 8-column panels of output channels would waste a third or more of the FMAs. */
const narrowK = (g: ConvGeom): boolean => g.K % 8 !== 0 && g.K % 8 <= 4;

/**
 * Whether the forward pass takes the dot-product kernel (gemm.ts conv_fwd_dot): spatial kernels
 * with 32 to 1024 input channels (C % 4 == 0) and K <= dotK. Measured: 88->12 and 148->12 66-71%
 * -> 92-100% of the micro-kernel rate, 128->32 84% -> 94-98%, 64->64 89-91% -> 94-98%; slower
 * with 16 input channels (65% -> 60%: 4 vector steps per tap) and on 1x1 layers.
 */
export function forwardDot(g: ConvGeom): boolean {
  return g.groups === 1 && g.K <= convTuning.dotK && g.KH * g.KW > 1 && g.C >= 32 && g.C % 4 === 0 && g.C <= 1024;
}

/** Whether the forward pass takes the transposed GEMM (gemm.ts conv_fwd_t). */
export function forwardT(g: ConvGeom): boolean {
  return g.groups === 1 && g.K <= convTuning.wT && narrowK(g);
}

/**
 * Whether backward-weights takes the transposed accumulator (gemm_w.ts conv_bwd_w_t): spatial
 * kernels with at least 16 input channels (measured: as fast or faster from K = 12 to 512; 1x1
 * layers and the 3-channel stem are slower this way), and any narrow K.
 */
export function weightsT(g: ConvGeom): boolean {
  return g.groups === 1 && g.K <= convTuning.wT && ((g.KH * g.KW > 1 && g.C >= 16) || narrowK(g));
}

/**
 * Whether backward-weights takes the dot-product kernel (gemm_w.ts conv_bwd_w_dot): ungrouped
 * spatial convolutions with C % 4 == 0, 16 <= C <= 1024, K <= 16 and output rows of 32 pixels
 * or more. Measured (batch 64, 2 threads): 16->16 @32 61% -> 87%, 88->12 @32 71% -> 80%,
 * 148->12 @32 66% -> 78%; slower on short rows (64->64 @8 92% -> 61%, 148->12 @8 71% -> 62%) and
 * with more output channels (128->32 @56 86% -> 81%, 64->64 @56 89% -> 85%).
 */
export function weightsDot(g: ConvGeom): boolean {
  return convTuning.wDot !== 0 && g.groups === 1 && g.KH * g.KW > 1 && g.C % 4 === 0 && g.C >= 16 && g.C <= 1024 && g.K <= 16 && g.OW >= 32;
}

/**
 * Whether every fused pass of g reads its input x (forward and backward-weights, with an x
 * prologue) and the dx epilogue's x2 at a pixel stride wider than C, so that x can be a view of
 * the leading channels of a wider buffer (a DenseNet block buffer, passes/concat_views.ts): the
 * 1x1 GEMM paths (conv_fwd_f, conv_bwd_w, conv_bwd_data_1x1) with C % 4 == 0, and 3x3 layers
 * that take Winograd in all three passes (conv_wino_fwd, its backward-data, conv_wino_bwd_w).
 */
export function convStridedInput(g: ConvGeom): boolean {
  // (winogradW of both engines: the fused graph is planned once for every engine)
  if (winograd(g)) return winogradData(g) !== undefined && winogradW(g);
  return isPointwise(g) && g.groups === 1 && g.C % 4 === 0 && !forwardDot(g) && !forwardT(g) && !weightsT(g) && !weightsDot(g);
}

/** Whether g's fused forward can write y at a pixel stride wider than K: the Winograd path. */
export function convStridedOutput(g: ConvGeom): boolean {
  return winograd(g);
}

/**
 * Whether g is a depthwise convolution with fused kernels (conv_dw_*_f): every geometry whose
 * per-channel partials (28 bytes a channel) fit the thread scratch's fusion region.
 */
export function convFusedDepthwise(g: ConvGeom): boolean {
  return isDepthwise(g) && 28 * g.C <= MAX_FUSE_BYTES;
}

/**
 * Whether g's fused kernels apply the activation `act` (an ACT code) in their x prologues and
 * differentiate it in their dx epilogues. None and ReLU: every path; ReLU6, SiLU, hardswish: the
 * GEMM and depthwise paths, not a convolution with a Winograd pass (forward or backward-data;
 * backward-weights is Winograd only where the forward is).
 */
export function convFusedActivation(g: ConvGeom, act: number): boolean {
  if (act <= ACT_RELU) return true;
  return isDepthwise(g) ? convFusedDepthwise(g) : !winograd(g) && winogradData(g) === undefined;
}

/**
 * Whether g's fused backward-data can add its dx epilogue's result into a gradient buffer
 * (DxEpilogue.accumulate): the Winograd path where its ring of dx tile rows fits the thread
 * scratch (dxRingLayout), and the 1x1 GEMM path with one reduction block.
 */
export function convDxAccumulates(g: ConvGeom): boolean {
  if (isDepthwise(g)) return false;
  const wg = winogradData(g);
  if (wg) {
    // its ring of dx tile rows must fit the thread scratch (with a dy prologue's window, at worst)
    let fl: FuseLayout;
    try {
      fl = fuseLayout(wg, g.C, false);
    } catch {
      return false; // too many channels for any fused call
    }
    return dxRingLayout(wg, derive(wg, fl.bytes).TB, fl.bytes, true) !== undefined;
  }
  if (!isPointwise(g)) return false;
  const v = derive(g);
  return v.Kcd >= v.Kg;
}

/**
 * The ring of setDxRing for the Winograd pass wg (TB0: its tiles per block, flBytes: the fusion
 * region, win: with the normalised window of a dy prologue), or undefined where even two tiles
 * and their tile rows do not fit the thread scratch (very wide rows of many channels).
 */
export function dxRingLayout(wg: ConvGeom, TB0: number, flBytes: number, win: boolean): { TB: number; RT: number; offset: number } | undefined {
  const TW = Math.ceil(wg.OW / 2),
    WW = 2 * TW + 2;
  const tileB = 64 * wg.C + 1024,
    slotB = 2 * wg.OW * wg.K * 4,
    winB = win ? 4 * WW * wg.C * 4 : 0;
  const room = SCRATCH_BYTES - SC_PACK - flBytes - winB - 1024;
  const ringFor = (tb: number): number => (Math.ceil(tb / TW) + 1) * slotB;
  const fits = (tb: number, cap: number): boolean => tb * tileB + ringFor(tb) <= cap;
  let TB = TB0;
  const cap = Math.min(room, Math.max(convTuning.winoAccBytes, 2 * TW * tileB + ringFor(2 * TW)));
  while (TB > 2 && !fits(TB, cap)) TB = TB > 2 * TW ? Math.max(2 * TW, (TB >> 1) & ~1) : TB - 2;
  if (!fits(TB, room)) return undefined;
  return { TB, RT: Math.ceil(TB / TW) + 1, offset: SC_PACK + TB * tileB + winB };
}

/** Whether g's backward passes pack short kernel rows tight (see derive; for tests and benches). */
export function convTightLayout(g: ConvGeom): { weights: boolean; data: boolean } {
  const v = derive(g);
  return { weights: v.wtight, data: v.dtight };
}

/**
 * The fusion region of a fused call, at the top of every thread's scratch (the D_F* fields):
 * f64 partials S[P], Q[P] (P = K for the moments, C for the dx epilogue) and f32 shift[P],
 * S32[P], Q32[P] (moments: per-thread shifts and block sums), the expanded
 * x-prologue coefficients aE[NE], bE[NE] (NE = max(KW*C + 8, 4*C)), and for an x prologue on a
 * convolution that reads each input more than once (KH*KW > SH*SW) the normalised window: the
 * input rows of a block, normalised once and packed from (wasm/common/gemm.ts normWindow; a block whose
 * window does not fit normalises while packing instead).
 */
export interface FuseLayout {
  bytes: number;
  part: number;
  coef: number;
  NE: number;
  P: number;
  z: number;
  zcap: number;
}

export function fuseLayout(g: ConvGeom, P: number, coef: boolean, coefRows = 2): FuseLayout {
  const NE = coef ? up(Math.max(g.KW * g.C + 8, 4 * g.C), 4) : 0;
  const wb = up(clamp(convTuning.windowBytes, 0, 2 << 20), 64);
  const window = coef && wb > 0 && g.KH * g.KW > g.stride[0] * g.stride[1];
  const fixed = up(28 * P + 4 * coefRows * NE, 64);
  const bytes = fixed + (window ? wb : 0);
  if (fixed > MAX_FUSE_BYTES)
    throw new RangeError(`fused conv: ${P} channels / KW*C = ${g.KW * g.C} need ${fixed} bytes of thread scratch, at most ${MAX_FUSE_BYTES}`);
  const base = SCRATCH_BYTES - bytes;
  return { bytes, part: base, coef: base + 28 * P, NE, P, z: window ? base + fixed : 0, zcap: window ? wb : 0 };
}

/**
 * Whether the normalised window of every block of blockRows output rows (default: the forward
 * block) fits fl (an upper bound of what normWindow needs: the output rows a block
 * spans plus the kernel's halo per image).
 */
export function windowFits(g: ConvGeom, fl: FuseLayout, blockRows = derive(g, fl.bytes).Mc): boolean {
  if (!fl.z) return false;
  const Mc = blockRows;
  const P = g.OH * g.OW,
    imgs = Math.floor((Mc - 1) / P) + 2;
  const rows = Math.ceil(Mc / g.OW) * g.stride[0] + imgs * (2 + (g.KH - 1) * g.dilation[0]);
  return 64 + imgs * 4 + rows * g.W * g.C * 4 <= fl.zcap;
}

/** Writes the descriptor read by every conv kernel (D_* fields) at ws.ptr. */
export function descriptor(backend: Backend, g: ConvGeom, ws: ConvWorkspace, fl?: FuseLayout, layer = g): Derived {
  const need = convWorkspaceBytes(layer);
  if (ws.bytes < need) throw new RangeError(`conv workspace has ${ws.bytes} bytes, this layer needs ${need} (convWorkspaceBytes)`);
  // the depthwise kernels list a pixel's taps below SC_PACK in the thread scratch, 16 bytes each
  if (isDepthwise(g) && 16 * g.KH * g.KW > SC_PACK) throw new RangeError(`a depthwise ${g.KH}x${g.KW} kernel has more than ${SC_PACK / 16} taps`);
  const v = derive(g, fl ? fl.bytes : 0);
  const d = backend.arena.i32(ws.ptr, DESC_BYTES / 4);
  d.set(
    [
      g.N,
      g.C,
      g.H,
      g.W,
      g.K,
      g.KH,
      g.KW,
      g.stride[0],
      g.stride[1],
      g.pad[0],
      g.pad[1],
      g.dilation[0],
      g.dilation[1],
      g.groups,
      g.OH,
      g.OW,
      v.Cg,
      v.Kg,
      v.Kdim,
      v.Kg8,
      v.Cg8,
      v.Kc,
      v.Mc,
      v.Kcd,
      v.Mcd,
      v.Mch,
      v.RBP,
      v.ROWS,
      v.merge ? 1 : 0,
      v.SEG,
      v.SEG4,
      v.dmerge ? 1 : 0,
      v.DSEG,
      v.DSEG8,
      v.DNP,
      v.wcols ? 1 : 0,
    ],
    D_N,
  ); // D_N .. D_WCOLS, in the table's order
  // without fusion the fusion region is empty at the scratch's end: the depthwise kernels bound their
  // rows in the scratch by it, and a value left by an earlier call's layout would send them to their
  // fallback loops (a fresh workspace's 0 did)
  d.set(fl ? [fl.part, fl.coef, fl.NE, fl.P, fl.z, fl.zcap] : [SCRATCH_BYTES, SCRATCH_BYTES, 0, 0, 0, 0], D_FPART);
  const WW = 2 * Math.ceil(g.OW / 2) + 2;
  const winFits = v.TB * (64 * g.C + 1024) + 4 * WW * g.C * 4 <= SCRATCH_BYTES - SC_PACK - (fl ? fl.bytes : 0);
  // Winograd backward-weights: tiles per chunk (dY tiles for all K, x tiles for a thread's panels).
  // The chunks set the order of dW's sums, so their size must not depend on the thread count:
  // sized for half the panels (two threads), checked against this call's largest share.
  const NPt = Math.ceil(up(g.C, 8) / 8 / backend.threads);
  const room = SCRATCH_BYTES - SC_PACK - (fl ? fl.bytes : 0) - 4 * WW * g.C * 4 - 2048;
  let TC = Math.max(4, Math.floor(convTuning.winoWBytes / winoTileBytes(g)));
  if (!winogradW(g) && winogradW(g, backend.kind)) {
    // a layer only the native budget admits: its chunk also fits one thread's share of the panels
    // (all of them), so that the room check below never cuts it and dW does not depend on the
    // thread count
    const one = 64 * g.K + 512 * Math.ceil(up(g.C, 8) / 8);
    TC = Math.max(4, Math.min(Math.floor(winoWBudget(g, backend.kind) / winoTileBytes(g)), Math.floor(room / one)));
  }
  if (TC * (64 * g.K + 512 * NPt) > room) TC = Math.max(1, Math.floor(room / (64 * g.K + 512 * NPt)));
  d.set([v.TB, v.KB, winFits && convTuning.winoWindow !== 0 ? 1 : 0, TC], D_WTB);
  d.set([v.wtight ? 1 : 0, v.dtight ? 1 : 0, v.WSL, g.C, layer.C], D_WTIGHT); // pixel strides: see stridedInput
  d.set([0, 0, g.K, 0, 0], D_GACC); // no accumulating dx epilogue (setAccumulate); y dense (D_YS); no dx ring
  d[D_GACCH] = 0;
  return v;
}

/** Throws unless g can read x and x2 at these pixel strides (undefined or C: dense). */
export function checkStrides(g: ConvGeom, xs: number | undefined, x2s: number | undefined): void {
  for (const [what, s] of [
    ['x', xs],
    ['x2', x2s],
  ] as const) {
    if (s === undefined || s === g.C) continue;
    if (!Number.isInteger(s) || s < g.C) throw new RangeError(`${what} pixel stride ${s} is below C = ${g.C}`);
    if (!convStridedInput(g))
      throw new RangeError(`a ${g.KH}x${g.KW} convolution ${g.C}->${g.K} cannot read ${what} at a pixel stride of ${s} (convStridedInput)`);
  }
}

/** Writes the pixel strides of x and x2 into the descriptor (after descriptor()), checked. */
export function setStrides(backend: Backend, g: ConvGeom, ws: ConvWorkspace, xs: number | undefined, x2s: number | undefined): void {
  checkStrides(g, xs, x2s);
  const d = backend.arena.i32(ws.ptr, DESC_BYTES / 4);
  if (xs !== undefined) d[D_XS] = xs;
  if (x2s !== undefined) d[D_X2S] = x2s;
}
