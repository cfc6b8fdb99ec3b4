/**
 * Host side of the convolution kernels (src/kernels/assembly/gemm.ts): packed GEMM with a 4x8
 * register-blocked micro-kernel over NHWC activations, run across the thread backend.
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
 * Determinism: every output element is computed by one thread in a fixed order that does not
 * depend on the thread count, so results are bit-identical across runs and thread counts.
 * Design notes: docs/design/conv-kernels.md.
 */
import { type Backend, SCRATCH_BYTES, splitRange } from '../runtime/backend.js';
import { DESC_BYTES, D_FPART, D_GACC, D_GACCH, D_GRING, D_GRT, D_GS, D_N, D_WTB, D_WTIGHT, D_WWIN, D_X2S, D_XS, D_YS } from './abi/conv_descriptor.js';
import type { Arena } from '../runtime/memory.js';
import { bnDxAffine } from '../ops/batch_norm2d.js';
import type { Conv2dAttrs } from '../ops/conv2d.js';

export interface ConvGeom {
  readonly N: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly K: number;
  readonly KH: number;
  readonly KW: number;
  /** [vertical, horizontal] */
  readonly stride: readonly [number, number];
  readonly pad: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
  readonly OH: number;
  readonly OW: number;
}

export interface ConvGeomSpec {
  N: number;
  C: number;
  H: number;
  W: number;
  K: number;
  KH: number;
  KW?: number;
  stride?: number | readonly [number, number];
  pad?: number | readonly [number, number];
  dilation?: number | readonly [number, number];
  groups?: number;
}

const pair = (v: number | readonly [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]];

/** Builds a geometry (PyTorch's output size formula), validating it. */
export function convGeom(s: ConvGeomSpec): ConvGeom {
  const KW = s.KW ?? s.KH;
  const stride = pair(s.stride, 1), pad = pair(s.pad, 0), dilation = pair(s.dilation, 1);
  const groups = s.groups ?? 1;
  const ints = [s.N, s.C, s.H, s.W, s.K, s.KH, KW, ...stride, ...dilation, groups];
  if (!ints.every((v) => Number.isInteger(v) && v >= 1) || !pad.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new RangeError(`conv geometry: sizes, strides, dilations and groups must be positive integers, padding non-negative: ${JSON.stringify(s)}`);
  }
  if (s.C % groups !== 0 || s.K % groups !== 0) throw new RangeError(`conv geometry: groups=${groups} must divide C=${s.C} and K=${s.K}`);
  const OH = Math.floor((s.H + 2 * pad[0] - dilation[0] * (s.KH - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((s.W + 2 * pad[1] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
  if (OH < 1 || OW < 1) throw new RangeError(`conv geometry: input ${s.H}x${s.W} too small for the kernel: ${JSON.stringify(s)}`);
  return { N: s.N, C: s.C, H: s.H, W: s.W, K: s.K, KH: s.KH, KW, stride, pad, dilation, groups, OH, OW };
}

/** The geometry of a graph convolution: x [N, C, H, W], w [K, C/groups, KH, KW] and its attributes. */
export function convGeomOf(xShape: readonly number[], wShape: readonly number[], a: Conv2dAttrs): ConvGeom {
  const [N, C, H, W] = xShape as number[];
  const [K, , KH, KW] = wShape as number[];
  const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : Array.isArray(v) ? v : [v, v]);
  return convGeom({ N: N!, C: C!, H: H!, W: W!, K: K!, KH: KH!, KW: KW!, stride: pair(a.stride, 1), pad: pair(a.padding, 0), dilation: pair(a.dilation, 1), groups: a.groups ?? 1 });
}

/** Multiply-adds x 2 of the forward pass (also of each backward pass). */
export function convFlops(g: ConvGeom): number {
  return 2 * g.N * g.OH * g.OW * g.K * (g.C / g.groups) * g.KH * g.KW;
}

/** Depthwise convolutions (groups == C == K > 1) take the direct SIMD path, not GEMM. */
export function isDepthwise(g: ConvGeom): boolean {
  return g.groups > 1 && g.groups === g.C && g.groups === g.K;
}

/** 1x1, stride 1, no padding: backward-data writes dX straight from the GEMM, no col2im. */
function isPointwise(g: ConvGeom): boolean {
  return g.KH === 1 && g.KW === 1 && g.stride[0] === 1 && g.stride[1] === 1 && g.pad[0] === 0 && g.pad[1] === 0;
}

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
  /** backward-weights as dot products over output pixels (gemm.ts conv_bwd_w_dot; see weightsDot): 1, or 0 = never. */
  wDot: 1,
  /**
   * Winograd F(2x2, 3x3) for the forward pass and backward-data of 3x3 stride-1 convolutions
   * (gemm.ts conv_wino; see winograd): 1, or 0 = never (the GEMM paths).
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
   * tile rows (gemm.ts D_GRING), both per thread; the block's tiles are cut (never below two tile
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
   * backward-weights (gemm.ts conv_bwd_w): at most this many slices of the reduction over output
   * pixels, each summed into its own accumulator (1 = one accumulator, threads split its rows or
   * columns, each packing the whole dY or A^T chunk). A fixed count, so the order of the sums,
   * and the bits of dW, do not depend on the number of threads.
   */
  wSlices: 4,
  /** backward-weights: accumulators larger than this are not sliced (see derive) */
  wSliceAccBytes: 256 << 10,
};

const MAX_ROWS = 4096; // row table of gemm.ts
const SC_PACK = 65536; // packed blocks' offset in scratch (gemm.ts)
/** Largest fusion region (top of the thread scratch) a fused call may reserve. */
const MAX_FUSE_BYTES = 1 << 20;

const up = (v: number, m: number): number => Math.ceil(v / m) * m;
const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));

interface Derived {
  Cg: number; Kg: number; Kdim: number; Kg8: number; Cg8: number;
  Kc: number; Mc: number; Kcd: number; Mcd: number; Mch: number; RBP: number;
  /** backward-weights row layout: segments of SEG floats (a kernel row if merge, else a tap) padded to SEG4 */
  merge: boolean; SEG: number; SEG4: number; ROWS: number; wtight: boolean;
  /** backward-data column layout: segments of DSEG columns (a kernel row if dmerge, else a tap) padded to DSEG8 */
  dmerge: boolean; DSEG: number; DSEG8: number; DNP: number; dtight: boolean;
  /** backward-weights: threads split output-channel panels (true) or rows of acc (false) */
  wcols: boolean;
  /** backward-weights: slices of the reduction, each with its own accumulator */
  WSL: number;
  /** Winograd: tiles per block (even), output channels per pass over a block (multiple of 4) */
  TB: number; KB: number;
}

/** `reserve`: bytes at the top of the thread scratch kept for a fused call's region (0 unfused). */
function derive(g: ConvGeom, reserve = 0): Derived {
  const PACK_BYTES = SCRATCH_BYTES - SC_PACK - reserve;
  const Cg = g.C / g.groups, Kg = g.K / g.groups;
  const Kdim = g.KH * g.KW * Cg, Kg8 = up(Kg, 8), Cg8 = up(Cg, 8);
  const merge = g.groups === 1 && g.dilation[1] === 1;
  // Short kernel rows (SEG <= 32 floats, e.g. the stem's 7 x 3 = 21) are packed tight, without
  // padding each to a multiple of 4 rows (backward-weights) or 8 columns (backward-data; all KH
  // kernel rows in one segment, through a column buffer). Measured on the 7x7 stem, batch 16,
  // interleaved with `--tight 0`: backward-weights 67-71% -> 77% of the micro-kernel rate on 2
  // threads (72% -> 81% on 1), backward-data 64% -> 80-82% (the padding alone wasted 12.5%).
  const kRow = merge ? g.KW * Cg : Cg;
  const wtight = convTuning.tight !== 0 && merge && g.KH > 1 && kRow % 4 !== 0 && kRow <= 32 && g.KH * kRow <= 2048;
  const SEG = kRow, SEG4 = wtight ? SEG : up(SEG, 4), ROWS = wtight ? up(g.KH * SEG, 4) : (merge ? g.KH : g.KH * g.KW) * SEG4;
  const dmerge = merge && g.KW > 1 && Cg % 8 !== 0;
  const dtight = convTuning.tight !== 0 && dmerge && g.KH > 1 && kRow % 8 !== 0 && kRow <= 32;
  const DSEG = dtight ? g.KH * kRow : dmerge ? kRow : Cg, DSEG8 = up(DSEG, 8);
  const DNP = dtight ? DSEG8 / 8 : ((dmerge ? g.KH : g.KH * g.KW) * DSEG8) / 8;
  const t = convTuning;
  const blk = (n: number, max: number): number => up(Math.ceil(n / Math.ceil(n / Math.max(4, max))), 4);
  const Kc = blk(Kdim, t.kc);
  const rows = (kc: number): number => clamp(Math.floor(Math.min(t.aBlockBytes, PACK_BYTES) / (16 * kc)) * 4, 4, MAX_ROWS);
  const Mc = rows(Kc);
  const Kcd = blk(Kg, t.kcData);
  const Mcd = rows(Kcd);
  // backward-weights: dY chunk (Mch x Kg8) and A^T block (RBP panels of 16*Mch + 64 bytes) must fit the scratch
  // (and conv_bwd_wt's x panels, 16 of (32*Mch + 64) bytes, must fit the other half)
  const Mch = clamp(Math.floor(Math.min(t.mChunk, (PACK_BYTES / 2) / (Kg8 * 4 + 16), (PACK_BYTES / 2 - 1024) / 512) / 4) * 4, 4, MAX_ROWS);
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
  // (at most 256: gemm.ts keeps 16 x KB/4 x 2 x 4 products in scratch, below its zero buffer)
  const KB = Math.min(up(g.K, 4), 256, Math.max(4, Math.floor(t.winoVBytes / (64 * g.C) / 4) * 4));
  return { Cg, Kg, Kdim, Kg8, Cg8, Kc, Mc, Kcd, Mcd, Mch, RBP, merge, SEG, SEG4, ROWS, wtight, dmerge, DSEG, DSEG8, DNP, dtight, wcols, WSL, TB, KB };
}

export interface ConvWorkspace {
  /** Byte offset in the arena, 64-byte aligned. */
  readonly ptr: number;
  readonly bytes: number;
}

/**
 * The forward convolution over dY that computes the backward-data of g (stride 1, not 1x1,
 * not depthwise, Kg <= convTuning.dataT), or undefined: input channels K, outputs C, the taps
 * flipped, padding D*(KH-1) - P (so that its output is H x W).
 */
function transposedGeom(g: ConvGeom, narrowOnly = true): ConvGeom | undefined {
  if (g.stride[0] !== 1 || g.stride[1] !== 1 || isDepthwise(g) || isPointwise(g)) return undefined;
  if (narrowOnly && g.K / g.groups > convTuning.dataT) return undefined;
  const ph = g.dilation[0] * (g.KH - 1) - g.pad[0], pw = g.dilation[1] * (g.KW - 1) - g.pad[1];
  if (ph < 0 || pw < 0) return undefined;
  const t = convGeom({ N: g.N, C: g.K, H: g.OH, W: g.OW, K: g.C, KH: g.KH, KW: g.KW, pad: [ph, pw], dilation: g.dilation, groups: g.groups });
  return t.OH === g.H && t.OW === g.W ? t : undefined;
}

/**
 * Whether a convolution runs as Winograd F(2x2, 3x3) (gemm.ts conv_wino): ungrouped 3x3, stride
 * 1, dilation 1, padding at most 2, 4 <= C <= 1024 and K with C % 4 == K % 4 == 0.
 */
function winograd(g: ConvGeom): boolean {
  return convTuning.wino !== 0 && g.groups === 1 && g.KH === 3 && g.KW === 3 && g.stride[0] === 1 && g.stride[1] === 1 &&
    g.dilation[0] === 1 && g.dilation[1] === 1 && g.pad[0] <= 2 && g.pad[1] <= 2 && g.C % 4 === 0 && g.K % 4 === 0 &&
    g.C >= 4 && g.C <= 1024 && g.OH > 0 && g.OW > 0;
}

/**
 * Whether backward-weights runs as Winograd (gemm.ts conv_wino_w): as winograd, with C >= 32 and
 * chunks of at least 16 tiles (the micro-kernel's reduction). Measured (2 threads): 16->16 @32
 * 79% of the micro-kernel rate against 86% for the dot-product kernel; 512->512 @7, chunks of 8
 * tiles, 63% against 93%; from 32->32 @16 to 256->256 @14 1.3x to 2x faster than the GEMM paths.
 */
function winogradW(g: ConvGeom): boolean {
  return winograd(g) && g.C >= 32 && convTuning.winoWMinTiles * winoTileBytes(g) <= convTuning.winoWBytes;
}

/** Scratch bytes per tile of a Winograd backward-weights chunk, sized for two threads (see descriptor). */
const winoTileBytes = (g: ConvGeom): number => 64 * g.K + 512 * Math.ceil(up(g.C, 8) / 16);

/** The forward convolution that computes g's backward-data by Winograd, or undefined. */
function winogradData(g: ConvGeom): ConvGeom | undefined {
  const t = transposedGeom(g, false);
  return t && winograd(t) ? t : undefined;
}

/** Winograd work units: tile rows (n, tr) of 2 output rows. */
const winoUnits = (g: ConvGeom): number => g.N * Math.ceil(g.OH / 2);

/** Output pixels of each thread's Winograd units (the moments merge weighs threads by them). */
function winoPixels(g: ConvGeom, ranges: readonly (readonly [number, number])[]): number[] {
  const TH = Math.ceil(g.OH / 2);
  return ranges.map(([a, b]) => {
    let n = 0;
    for (let u = a; u < b; u++) n += Math.min(2, g.OH - 2 * (u % TH)) * g.OW;
    return n;
  });
}

/** K % 8 in 1..4: 8-column panels of output channels would waste a third or more of the FMAs. */
const narrowK = (g: ConvGeom): boolean => g.K % 8 !== 0 && g.K % 8 <= 4;

/**
 * Whether the forward pass takes the dot-product kernel (gemm.ts conv_fwd_dot): spatial kernels
 * with 32 to 1024 input channels (C % 4 == 0) and K <= dotK. Measured: 88->12 and 148->12 66-71%
 * -> 92-100% of the micro-kernel rate, 128->32 84% -> 94-98%, 64->64 89-91% -> 94-98%; slower
 * with 16 input channels (65% -> 60%: 4 vector steps per tap) and on 1x1 layers.
 */
function forwardDot(g: ConvGeom): boolean {
  return g.groups === 1 && g.K <= convTuning.dotK && g.KH * g.KW > 1 && g.C >= 32 && g.C % 4 === 0 && g.C <= 1024;
}

/** Whether the forward pass takes the transposed GEMM (gemm.ts conv_fwd_t). */
function forwardT(g: ConvGeom): boolean {
  return g.groups === 1 && g.K <= convTuning.wT && narrowK(g);
}

/**
 * Whether backward-weights takes the transposed accumulator (gemm.ts conv_bwd_wt): spatial
 * kernels with at least 16 input channels (measured: as fast or faster from K = 12 to 512; 1x1
 * layers and the 3-channel stem are slower this way), and any narrow K.
 */
function weightsT(g: ConvGeom): boolean {
  return g.groups === 1 && g.K <= convTuning.wT && ((g.KH * g.KW > 1 && g.C >= 16) || narrowK(g));
}

/**
 * Whether backward-weights takes the dot-product kernel (gemm.ts conv_bwd_w_dot): ungrouped
 * spatial convolutions with C % 4 == 0, 16 <= C <= 1024, K <= 16 and output rows of 32 pixels
 * or more. Measured (batch 64, 2 threads): 16->16 @32 61% -> 87%, 88->12 @32 71% -> 80%,
 * 148->12 @32 66% -> 78%; slower on short rows (64->64 @8 92% -> 61%, 148->12 @8 71% -> 62%) and
 * with more output channels (128->32 @56 86% -> 81%, 64->64 @56 89% -> 85%).
 */
function weightsDot(g: ConvGeom): boolean {
  return convTuning.wDot !== 0 && g.groups === 1 && g.KH * g.KW > 1 && g.C % 4 === 0 && g.C >= 16 && g.C <= 1024 && g.K <= 16 && g.OW >= 32;
}

/**
 * Whether every fused pass of g reads its input x (forward and backward-weights, with an x
 * prologue) and the dx epilogue's x2 at a pixel stride wider than C, so that x can be a view of
 * the leading channels of a wider buffer (a DenseNet block buffer, passes/concat_views.ts): the
 * 1x1 GEMM paths (conv_fwd_f, conv_bwd_w, conv_bwd_data_1x1) with C % 4 == 0, and 3x3 layers
 * that take Winograd in all three passes (conv_wino, its backward-data, conv_wino_w).
 */
export function convStridedInput(g: ConvGeom): boolean {
  if (winograd(g)) return winogradData(g) !== undefined && winogradW(g);
  return isPointwise(g) && g.groups === 1 && g.C % 4 === 0 && !forwardDot(g) && !forwardT(g) && !weightsT(g) && !weightsDot(g);
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

/** Writes the accumulating epilogue's buffer into the descriptor (after descriptor()), checked. */
function setAccumulate(backend: Backend, g: ConvGeom, ws: ConvWorkspace, de: DxEpilogue | undefined): void {
  const acc = de?.accumulate;
  if (!acc) return;
  if (!convDxAccumulates(g)) throw new RangeError(`a ${g.KH}x${g.KW} convolution ${g.C}->${g.K} cannot accumulate its dx epilogue into a buffer (convDxAccumulates)`);
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
    if (accumulate) throw new RangeError(`Winograd backward-data ${wg.K}x${wg.OH}x${wg.OW}: a ring of dx tile rows does not fit the thread scratch (convDxAccumulates)`);
    return;
  }
  d[D_WTB] = ring.TB;
  d[D_GRING] = ring.offset;
  d[D_GRT] = ring.RT;
}

/**
 * The ring of setDxRing for the Winograd pass wg (TB0: its tiles per block, flBytes: the fusion
 * region, win: with the normalised window of a dy prologue), or undefined where even two tiles
 * and their tile rows do not fit the thread scratch (very wide rows of many channels).
 */
export function dxRingLayout(wg: ConvGeom, TB0: number, flBytes: number, win: boolean): { TB: number; RT: number; offset: number } | undefined {
  const TW = Math.ceil(wg.OW / 2), WW = 2 * TW + 2;
  const tileB = 64 * wg.C + 1024, slotB = 2 * wg.OW * wg.K * 4, winB = win ? 4 * WW * wg.C * 4 : 0;
  const room = SCRATCH_BYTES - SC_PACK - flBytes - winB - 1024;
  const ringFor = (tb: number): number => (Math.ceil(tb / TW) + 1) * slotB;
  const fits = (tb: number, cap: number): boolean => tb * tileB + ringFor(tb) <= cap;
  let TB = TB0;
  const cap = Math.min(room, Math.max(convTuning.winoAccBytes, 2 * TW * tileB + ringFor(2 * TW)));
  while (TB > 2 && !fits(TB, cap)) TB = TB > 2 * TW ? Math.max(2 * TW, (TB >> 1) & ~1) : TB - 2;
  if (!fits(TB, room)) return undefined;
  return { TB, RT: Math.ceil(TB / TW) + 1, offset: SC_PACK + TB * tileB + winB };
}

/** Whether g's fused forward can write y at a pixel stride wider than K: the Winograd path. */
export function convStridedOutput(g: ConvGeom): boolean {
  return winograd(g);
}

/** Throws unless g can read x and x2 at these pixel strides (undefined or C: dense). */
function checkStrides(g: ConvGeom, xs: number | undefined, x2s: number | undefined): void {
  for (const [what, s] of [['x', xs], ['x2', x2s]] as const) {
    if (s === undefined || s === g.C) continue;
    if (!Number.isInteger(s) || s < g.C) throw new RangeError(`${what} pixel stride ${s} is below C = ${g.C}`);
    if (!convStridedInput(g)) throw new RangeError(`a ${g.KH}x${g.KW} convolution ${g.C}->${g.K} cannot read ${what} at a pixel stride of ${s} (convStridedInput)`);
  }
}

/** Writes the pixel strides of x and x2 into the descriptor (after descriptor()), checked. */
function setStrides(backend: Backend, g: ConvGeom, ws: ConvWorkspace, xs: number | undefined, x2s: number | undefined): void {
  checkStrides(g, xs, x2s);
  const d = backend.arena.i32(ws.ptr, DESC_BYTES / 4);
  if (xs !== undefined) d[D_XS] = xs;
  if (x2s !== undefined) d[D_X2S] = x2s;
}

/** Whether g's backward passes pack short kernel rows tight (see derive; for tests and benches). */
export function convTightLayout(g: ConvGeom): { weights: boolean; data: boolean } {
  const v = derive(g);
  return { weights: v.wtight, data: v.dtight };
}

/** Arena bytes that convForward / convBackwardData / convBackwardWeight need for g. */
export function convWorkspaceBytes(g: ConvGeom): number {
  const v = derive(g);
  const G = g.groups, T = g.KH * g.KW;
  const t = transposedGeom(g);
  const tv = t ? derive(t) : undefined;
  const floats = isDepthwise(g)
    ? T * g.C
    : Math.max(G * v.Kdim * v.Kg8, G * v.DNP * 8 * v.Kg, G * v.ROWS * v.Kg8 * v.WSL, tv ? G * tv.Kdim * tv.Kg8 : 0,
      weightsT(g) ? up(g.K, 4) * T * v.Cg8 : 0, forwardT(g) || forwardDot(g) || weightsDot(g) ? up(g.K, 4) * v.Kdim : 0,
      winograd(g) || winogradData(g) ? 16 * g.K * up(g.C, 8) : 0);
  return DESC_BYTES + 4 * floats;
}

/** Reserves one workspace large enough for every geometry given. */
export function convWorkspace(arena: Arena, geoms: ConvGeom | readonly ConvGeom[]): ConvWorkspace {
  const list = Array.isArray(geoms) ? (geoms as readonly ConvGeom[]) : [geoms as ConvGeom];
  const bytes = Math.max(DESC_BYTES, ...list.map(convWorkspaceBytes));
  return { ptr: arena.reserve(bytes, 'conv workspace'), bytes };
}

/**
 * The fusion region of a fused call, at the top of every thread's scratch (gemm.ts D_F* fields):
 * f64 partials S[P], Q[P] (P = K for the moments, C for the dx epilogue) and f32 shift[P],
 * S32[P], Q32[P] (moments: per-thread shifts and block sums), the expanded
 * x-prologue coefficients aE[NE], bE[NE] (NE = max(KW*C + 8, 4*C)), and for an x prologue on a
 * convolution that reads each input more than once (KH*KW > SH*SW) the normalised window: the
 * input rows of a block, normalised once and packed from (gemm.ts normWindow; a block whose
 * window does not fit normalises while packing instead).
 */
interface FuseLayout { bytes: number; part: number; coef: number; NE: number; P: number; z: number; zcap: number }

function fuseLayout(g: ConvGeom, P: number, coef: boolean, coefRows = 2): FuseLayout {
  const NE = coef ? up(Math.max(g.KW * g.C + 8, 4 * g.C), 4) : 0;
  const wb = up(clamp(convTuning.windowBytes, 0, 2 << 20), 64);
  const window = coef && wb > 0 && g.KH * g.KW > g.stride[0] * g.stride[1];
  const fixed = up(28 * P + 4 * coefRows * NE, 64);
  const bytes = fixed + (window ? wb : 0);
  if (fixed > MAX_FUSE_BYTES) throw new RangeError(`fused conv: ${P} channels / KW*C = ${g.KW * g.C} need ${fixed} bytes of thread scratch, at most ${MAX_FUSE_BYTES}`);
  const base = SCRATCH_BYTES - bytes;
  return { bytes, part: base, coef: base + 28 * P, NE, P, z: window ? base + fixed : 0, zcap: window ? wb : 0 };
}

/**
 * Whether the normalised window of every block of blockRows output rows (default: the forward
 * block) fits fl (an upper bound of what gemm.ts normWindow needs: the output rows a block
 * spans plus the kernel's halo per image).
 */
function windowFits(g: ConvGeom, fl: FuseLayout, blockRows = derive(g, fl.bytes).Mc): boolean {
  if (!fl.z) return false;
  const Mc = blockRows;
  const P = g.OH * g.OW, imgs = Math.floor((Mc - 1) / P) + 2;
  const rows = Math.ceil(Mc / g.OW) * g.stride[0] + imgs * (2 + (g.KH - 1) * g.dilation[0]);
  return 64 + imgs * 4 + rows * g.W * g.C * 4 <= fl.zcap;
}

/** Writes the descriptor read by every kernel of gemm.ts (D_* fields) at ws.ptr. */
function descriptor(backend: Backend, g: ConvGeom, ws: ConvWorkspace, fl?: FuseLayout, layer = g): Derived {
  const need = convWorkspaceBytes(layer);
  if (ws.bytes < need) throw new RangeError(`conv workspace has ${ws.bytes} bytes, this layer needs ${need} (convWorkspaceBytes)`);
  const v = derive(g, fl ? fl.bytes : 0);
  const d = backend.arena.i32(ws.ptr, DESC_BYTES / 4);
  d.set([
    g.N, g.C, g.H, g.W, g.K, g.KH, g.KW, g.stride[0], g.stride[1], g.pad[0], g.pad[1], g.dilation[0], g.dilation[1],
    g.groups, g.OH, g.OW, v.Cg, v.Kg, v.Kdim, v.Kg8, v.Cg8, v.Kc, v.Mc, v.Kcd, v.Mcd, v.Mch, v.RBP,
    v.ROWS, v.merge ? 1 : 0, v.SEG, v.SEG4, v.dmerge ? 1 : 0, v.DSEG, v.DSEG8, v.DNP, v.wcols ? 1 : 0,
  ], D_N); // D_N .. D_WCOLS, in the table's order
  if (fl) d.set([fl.part, fl.coef, fl.NE, fl.P, fl.z, fl.zcap], D_FPART);
  const WW = 2 * Math.ceil(g.OW / 2) + 2;
  const winFits = v.TB * (64 * g.C + 1024) + 4 * WW * g.C * 4 <= SCRATCH_BYTES - SC_PACK - (fl ? fl.bytes : 0);
  // Winograd backward-weights: tiles per chunk (dY tiles for all K, x tiles for a thread's panels).
  // The chunks set the order of dW's sums, so their size must not depend on the thread count:
  // sized for half the panels (two threads), checked against this call's largest share.
  const NPt = Math.ceil(up(g.C, 8) / 8 / backend.threads);
  const room = SCRATCH_BYTES - SC_PACK - (fl ? fl.bytes : 0) - 4 * WW * g.C * 4 - 2048;
  let TC = Math.max(4, Math.floor(convTuning.winoWBytes / winoTileBytes(g)));
  if (TC * (64 * g.K + 512 * NPt) > room) TC = Math.max(1, Math.floor(room / (64 * g.K + 512 * NPt)));
  d.set([v.TB, v.KB, winFits && convTuning.winoWindow !== 0 ? 1 : 0, TC], D_WTB);
  d.set([v.wtight ? 1 : 0, v.dtight ? 1 : 0, v.WSL, g.C, layer.C], D_WTIGHT); // pixel strides: see stridedInput
  d.set([0, 0, g.K, 0, 0], D_GACC); // no accumulating dx epilogue (setAccumulate); y dense (D_YS); no dx ring
  d[D_GACCH] = 0;
  return v;
}

// ---------------------------------------------------------------------------------------------
// BN fusion (docs/design/conv-kernels.md, "Fused variants"). Coefficients are f32 arrays in the
// arena; per channel c, bn(x) = a[c]*x + b[c] with a = gamma*rstd, b = beta - a*mean.

/** Forward prologue: x is normalised (and ReLU'd) while packed; zero padding is applied after. */
export interface XPrologue {
  /** a[C] then b[C] (f32), e.g. from bnCoefficients (src/kernels/bn_fused.ts). */
  coef: number;
  relu: boolean;
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
 * Backward-data epilogue for the BN(+ReLU) that produced this convolution's input: dx is masked
 * by the ReLU (dx = 0 where a2[c]*x2 + b2[c] <= 0, when relu) and reduced: dbeta = sum dx,
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
export function bnDyCoefficients(backend: Backend, K: number, m: number, mean: number, rstd: number, gamma: number, dbeta: number, dgamma: number, coef: number): void {
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

function noDepthwise(g: ConvGeom, what: string): void {
  if (isDepthwise(g)) throw new RangeError(`${what}: BN fusion is not implemented for depthwise convolutions (compose the unfused kernels)`);
}

/** Sums the per-thread f64 partials S[P], Q[P] of a fused call in thread order (threads with an empty range did not run). */
function mergePartials(backend: Backend, fl: FuseLayout, ranges: readonly (readonly [number, number])[]): [Float64Array, Float64Array] {
  const P = fl.P;
  const S = new Float64Array(P), Q = new Float64Array(P);
  for (let t = 0; t < ranges.length; t++) {
    if (ranges[t]![1] <= ranges[t]![0]) continue;
    const d = backend.arena.f64(backend.scratch(t) + fl.part, 2 * P);
    for (let c = 0; c < P; c++) {
      S[c] += d[c]!;
      Q[c] += d[P + c]!;
    }
  }
  return [S, Q];
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
  const d = ws.ptr, buf = ws.ptr + DESC_BYTES, T = backend.threads;
  if (winograd(g)) {
    backend.run('conv_wino_pack_w', [d, w, buf], splitRange(g.K, T));
    backend.run('conv_wino', [d, x, buf, bias, y], splitRange(winoUnits(g), T));
    return;
  }
  if (isDepthwise(g)) {
    backend.run('conv_dw_pack_w', [d, w, buf], splitRange(g.C, T));
    backend.run('conv_dw_fwd', [d, x, buf, bias, y], splitRange(g.N * g.OH, T));
    return;
  }
  if (forwardDot(g)) {
    backend.run('conv_pack_w_dot', [d, w, buf], splitRange(up(g.K, 4), T));
    backend.run('conv_fwd_dot', [d, x, buf, bias, y], splitRange(g.N * g.OH * g.OW, T, 2));
    return;
  }
  if (forwardT(g)) {
    backend.run('conv_pack_w_fwd4', [d, w, buf], splitRange(Math.ceil(g.K / 4), T));
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
 * count). Depthwise convolutions have no fused variants (RangeError).
 */
export function convBackwardData(backend: Backend, g: ConvGeom, dy: number, w: number, dx: number, ws: ConvWorkspace, fusion?: ConvBackwardDataFusion): void {
  if (fusion && (fusion.dyPrologue || fusion.dxEpilogue)) return convBackwardDataFused(backend, g, w, dx, ws, fusion, dy);
  const d = ws.ptr, buf = ws.ptr + DESC_BYTES, T = backend.threads;
  const wg = winogradData(g);
  if (wg) {
    descriptor(backend, wg, ws, undefined, g);
    backend.run('conv_wino_pack_w_t', [d, w, buf], splitRange(wg.K, T));
    backend.run('conv_wino', [d, dy, buf, 0, dx], splitRange(winoUnits(wg), T));
    return;
  }
  const tg = transposedGeom(g);
  if (tg) {
    // dx = conv(dY, flip(w)^T): a forward pass, every dx element written once
    const tv = descriptor(backend, tg, ws, undefined, g);
    backend.run('conv_pack_w_fwd_t', [d, w, buf], splitRange(tg.groups * (tv.Kg8 / 8), T));
    backend.run('conv_fwd', [d, dy, buf, 0, dx], splitRange(tg.N * tg.OH * tg.OW, T, 4));
    return;
  }
  const v = descriptor(backend, g, ws);
  if (isDepthwise(g)) {
    backend.run('conv_dw_pack_w', [d, w, buf], splitRange(g.C, T));
    backend.run('conv_dw_bwd_data', [d, dy, buf, dx], splitRange(g.N * g.H, T));
    return;
  }
  backend.run('conv_pack_w_bwd', [d, w, buf], splitRange(g.groups * v.DNP, T));
  if (isPointwise(g)) backend.run('conv_bwd_data_1x1', [d, dy, buf, dx], splitRange(g.N * g.H * g.W, T, 4));
  else backend.run('conv_bwd_data', [d, dy, buf, dx], splitRange(g.N, T));
}

/**
 * dw = dL/dw (OIHW, overwritten) from dy and x (NHWC); db = sum of dy over N, OH, OW if db != 0.
 * With `fusion`: dy is computed on load (dyPrologue; `dy` is then not read) and/or x is
 * BN-normalised (+ ReLU) on load (xPrologue).
 */
export function convBackwardWeight(backend: Backend, g: ConvGeom, dy: number, x: number, dw: number, db: number, ws: ConvWorkspace, fusion?: ConvBackwardWeightFusion): void {
  if (fusion && (fusion.dyPrologue || fusion.xPrologue)) return convBackwardWeightFused(backend, g, x, dw, db, ws, fusion, dy);
  const v = descriptor(backend, g, ws);
  const d = ws.ptr, acc = ws.ptr + DESC_BYTES, T = backend.threads;
  if (isDepthwise(g)) {
    backend.run('conv_dw_bwd_w', [d, dy, x, dw], splitRange(g.C, T, 4));
  } else if (winogradW(g)) {
    backend.run('conv_wino_w', [d, dy, x, acc], splitRange(up(g.C, 8) / 8, T));
    backend.run('conv_wino_w_out', [d, acc, dw], splitRange(g.K, T));
  } else if (weightsDot(g)) {
    backend.run('conv_bwd_w_dot', [d, dy, x, acc], splitRange(g.KH * g.KW * Math.ceil(g.K / 4) * Math.ceil(g.C / 8), T));
    backend.run('conv_bwd_w_dot_out', [d, acc, dw], splitRange(g.K, T));
  } else if (weightsT(g)) {
    backend.run('conv_bwd_wt', [d, dy, x, acc], splitRange(g.KH * g.KW * (v.Cg8 / 8), T));
    backend.run('conv_bwd_wt_out', [d, acc, dw], splitRange(g.K, T));
  } else {
    backend.run('conv_bwd_w', [d, dy, x, acc], splitRange(v.WSL * g.groups * (v.wcols ? v.Kg8 / 8 : v.ROWS / 4), T));
    backend.run('conv_bwd_w_out', [d, acc, dw], splitRange(g.K, T));
  }
  if (db) backend.run('conv_bias_grad', [d, dy, db], splitRange(g.K, T, 4));
}

// ---------------------------------------------------------------------------------------------
// Fused variants (gemm.ts conv_*_f): the same loop nests, with the BN work in the packing
// (prologue) or in the write-back of the final tiles (epilogue).

function convForwardFused(backend: Backend, g: ConvGeom, x: number, w: number, bias: number, y: number, ws: ConvWorkspace, f: ConvForwardFusion): void {
  noDepthwise(g, 'convForward');
  const xp = f.xPrologue, mo = f.moments;
  const wn = winograd(g);
  const fl = fuseLayout(g, mo ? g.K : 0, !!xp && !wn);
  const v = descriptor(backend, g, ws, fl);
  setStrides(backend, g, ws, xp?.stride, undefined);
  const ys = f.outputStride;
  if (ys !== undefined && ys !== g.K) {
    if (!Number.isInteger(ys) || ys < g.K) throw new RangeError(`y pixel stride ${ys} is below K = ${g.K}`);
    if (!convStridedOutput(g)) throw new RangeError(`a ${g.KH}x${g.KW} convolution ${g.C}->${g.K} cannot write y at a pixel stride of ${ys} (convStridedOutput)`);
    backend.arena.i32(ws.ptr, DESC_BYTES / 4)[D_YS] = ys;
  }
  const d = ws.ptr, buf = ws.ptr + DESC_BYTES, T = backend.threads;
  const args = [d, x, buf, bias, y, xp ? xp.coef : 0, xp?.relu ? 1 : 0, mo ? 1 : 0];
  let ranges: [number, number][], pixels: number[];
  if (wn) {
    // x prologue in the input transform, moments over each completed tile row
    backend.run('conv_wino_pack_w', [d, w, buf], splitRange(g.K, T));
    ranges = splitRange(winoUnits(g), T);
    backend.run('conv_wino_f', args, ranges);
    pixels = winoPixels(g, ranges);
  } else {
    const dot = forwardDot(g) && (!xp || windowFits(g, fl));
    const wt = !dot && forwardT(g);
    if (dot) backend.run('conv_pack_w_dot', [d, w, buf], splitRange(up(g.K, 4), T));
    else if (wt) backend.run('conv_pack_w_fwd4', [d, w, buf], splitRange(Math.ceil(g.K / 4), T));
    else backend.run('conv_pack_w_fwd', [d, w, buf], splitRange(g.groups * (v.Kg8 / 8), T));
    ranges = splitRange(g.N * g.OH * g.OW, T, dot ? 2 : wt ? 8 : 4);
    backend.run(dot ? 'conv_fwd_dot_f' : wt ? 'conv_fwd_t_f' : 'conv_fwd_f', args, ranges);
    pixels = ranges.map((r) => r[1] - r[0]);
  }
  if (!mo) return;
  // Thread t holds, per channel, its shift K_t and S_t = sum(y - K_t), Q_t = sum((y - K_t)^2)
  // over its n_t rows; merged exactly (f64, in thread order): sum y = sum_t n_t K_t + S_t and
  // sum (y - mean)^2 = sum_t Q_t + 2 (K_t - mean) S_t + n_t (K_t - mean)^2.
  const K = g.K, M = g.N * g.OH * g.OW;
  const ar = backend.arena;
  const used = pixels.map((n, t) => ({ t, n, parts: ar.f64(backend.scratch(t) + fl.part, 2 * K), shifts: ar.f32(backend.scratch(t) + fl.part + 16 * K, K) })).filter((u) => u.n > 0);
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
  noDepthwise(g, 'convBackwardData');
  const dp = f.dyPrologue, de = f.dxEpilogue;
  const d = ws.ptr, buf = ws.ptr + DESC_BYTES, T = backend.threads;
  checkStrides(g, undefined, de?.stride);
  const wg = winogradData(g);
  if (wg) {
    // a Winograd forward pass over dY: the dy prologue in its input transform, the dx epilogue
    // over each completed tile row
    const fl = fuseLayout(wg, de ? g.C : 0, false);
    descriptor(backend, wg, ws, fl, g);
    setStrides(backend, g, ws, undefined, de?.stride);
    setAccumulate(backend, g, ws, de);
    if (de) setDxRing(backend, wg, ws, fl, de.accumulate !== undefined);
    dyCoefficients(backend, g, dp);
    backend.run('conv_wino_pack_w_t', [d, w, buf], splitRange(wg.K, T));
    const ranges = splitRange(winoUnits(wg), T);
    const ep = de ? [de.x2, de.coef, de.mean, de.relu ? 1 : 0] : [0, 0, 0, 0];
    if (dp) backend.run('conv_wino_dy_f', [d, dp.dbn, buf, dx, dp.xbn - dp.dbn, dp.coef, ...ep], ranges);
    else backend.run('conv_wino_dx_f', [d, dy, buf, dx, ...ep], ranges);
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
    backend.run('conv_pack_w_fwd_t', [d, w, buf], splitRange(tg.groups * (tv.Kg8 / 8), T));
    const ranges = splitRange(tg.N * tg.OH * tg.OW, T, 4);
    backend.run('conv_fwd_dy_f', [d, dp.dbn, buf, dx, dp.xbn - dp.dbn, dp.coef,
      de ? de.x2 : 0, de ? de.coef : 0, de ? de.mean : 0, de?.relu ? 1 : 0], ranges);
    if (de) dxReductions(backend, g, dyWindow, ranges, de);
    return;
  }
  if (tg && de && !dp) {
    // as the unfused path: a forward pass over dY, the dx epilogue on each block of final rows
    const fl = fuseLayout(tg, g.C, false);
    const tv = descriptor(backend, tg, ws, fl, g);
    backend.run('conv_pack_w_fwd_t', [d, w, buf], splitRange(tg.groups * (tv.Kg8 / 8), T));
    const ranges = splitRange(tg.N * tg.OH * tg.OW, T, 4);
    backend.run('conv_fwd_dx_f', [d, dy, buf, dx, de.x2, de.coef, de.mean, de.relu ? 1 : 0], ranges);
    dxReductions(backend, g, fl, ranges, de);
    return;
  }
  const fl = fuseLayout(g, de ? g.C : 0, false);
  const v = descriptor(backend, g, ws, fl);
  setStrides(backend, g, ws, undefined, de?.stride);
  setAccumulate(backend, g, ws, de);
  dyCoefficients(backend, g, dp);
  backend.run('conv_pack_w_bwd', [d, w, buf], splitRange(g.groups * v.DNP, T));
  const src = dp ? dp.dbn : dy;
  // xbn = dbn + dlt, as a wrapping 32-bit offset
  const args = [d, src, buf, dx, dp ? dp.xbn - dp.dbn : 0, dp ? dp.coef : 0,
    de ? de.x2 : 0, de ? de.coef : 0, de ? de.mean : 0, de?.relu ? 1 : 0];
  const pw = isPointwise(g);
  const ranges = pw ? splitRange(g.N * g.H * g.W, T, 4) : splitRange(g.N, T);
  backend.run(pw ? 'conv_bwd_data_1x1_f' : 'conv_bwd_data_f', args, ranges);
  if (de) dxReductions(backend, g, fl, ranges, de);
}

/** dbeta, dgamma of a dx epilogue from the threads' partials. */
function dxReductions(backend: Backend, g: ConvGeom, fl: FuseLayout, ranges: readonly (readonly [number, number])[], de: DxEpilogue): void {
  const [S, Q] = mergePartials(backend, fl, ranges);
  const [db, dg, rs] = [backend.arena.f32(de.dbeta, g.C), backend.arena.f32(de.dgamma, g.C), backend.arena.f32(de.rstd, g.C)];
  for (let c = 0; c < g.C; c++) {
    db[c] = S[c]!;
    dg[c] = Q[c]! * rs[c]!;
  }
}

function convBackwardWeightFused(backend: Backend, g: ConvGeom, x: number, dw: number, db: number, ws: ConvWorkspace, f: ConvBackwardWeightFusion, dy: number): void {
  noDepthwise(g, 'convBackwardWeight');
  const dp = f.dyPrologue, xp = f.xPrologue;
  const fl = fuseLayout(g, 0, !!xp && !winogradW(g));
  const v = descriptor(backend, g, ws, fl);
  setStrides(backend, g, ws, xp?.stride, undefined);
  dyCoefficients(backend, g, dp);
  const d = ws.ptr, acc = ws.ptr + DESC_BYTES, T = backend.threads;
  const src = dp ? dp.dbn : dy;
  const dlt = dp ? dp.xbn - dp.dbn : 0;
  const args = [d, src, x, acc, dlt, dp ? dp.coef : 0, xp ? xp.coef : 0, xp?.relu ? 1 : 0];
  if (winogradW(g)) {
    backend.run('conv_wino_w_f', args, splitRange(up(g.C, 8) / 8, T));
    backend.run('conv_wino_w_out', [d, acc, dw], splitRange(g.K, T));
  } else if (weightsDot(g) && (!xp || windowFits(g, fl, v.Mch))) {
    backend.run('conv_bwd_w_dot_f', args, splitRange(g.KH * g.KW * Math.ceil(g.K / 4) * Math.ceil(g.C / 8), T));
    backend.run('conv_bwd_w_dot_out', [d, acc, dw], splitRange(g.K, T));
  } else if (weightsT(g)) {
    backend.run('conv_bwd_wt_f', args, splitRange(g.KH * g.KW * (v.Cg8 / 8), T));
    backend.run('conv_bwd_wt_out', [d, acc, dw], splitRange(g.K, T));
  } else {
    backend.run('conv_bwd_w_f', args, splitRange(v.WSL * g.groups * (v.wcols ? v.Kg8 / 8 : v.ROWS / 4), T));
    backend.run('conv_bwd_w_out', [d, acc, dw], splitRange(g.K, T));
  }
  if (db) {
    if (dp) backend.run('conv_bias_grad_f', [d, src, db, dlt, dp.coef], splitRange(g.K, T, 4));
    else backend.run('conv_bias_grad', [d, dy, db], splitRange(g.K, T, 4));
  }
}
