/**
 * Host side of the convolution kernels (src/kernels/assembly/gemm.ts): packed GEMM with a 4x8
 * register-blocked micro-kernel over NHWC activations, run across the thread pool.
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
import { ThreadPool, splitRange } from '../runtime/pool.js';
import type { Arena } from '../runtime/memory.js';

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
 * values are clamped so that the blocks always fit ThreadPool.SCRATCH_BYTES.
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
};

const DESC_BYTES = 256;
const MAX_ROWS = 4096; // row table of gemm.ts
const SC_PACK = 65536; // packed blocks' offset in scratch (gemm.ts)
const PACK_BYTES = ThreadPool.SCRATCH_BYTES - SC_PACK;

const up = (v: number, m: number): number => Math.ceil(v / m) * m;
const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));

interface Derived {
  Cg: number; Kg: number; Kdim: number; Kg8: number; Cg8: number;
  Kc: number; Mc: number; Kcd: number; Mcd: number; Mch: number; RBP: number;
  /** backward-weights row layout: segments of SEG floats (a kernel row if merge, else a tap) padded to SEG4 */
  merge: boolean; SEG: number; SEG4: number; ROWS: number;
  /** backward-data column layout: segments of DSEG columns (a kernel row if dmerge, else a tap) padded to DSEG8 */
  dmerge: boolean; DSEG: number; DSEG8: number; DNP: number;
  /** backward-weights: threads split output-channel panels (true) or rows of acc (false) */
  wcols: boolean;
}

function derive(g: ConvGeom): Derived {
  const Cg = g.C / g.groups, Kg = g.K / g.groups;
  const Kdim = g.KH * g.KW * Cg, Kg8 = up(Kg, 8), Cg8 = up(Cg, 8);
  const merge = g.groups === 1 && g.dilation[1] === 1;
  const SEG = merge ? g.KW * Cg : Cg, SEG4 = up(SEG, 4), ROWS = (merge ? g.KH : g.KH * g.KW) * SEG4;
  const dmerge = merge && g.KW > 1 && Cg % 8 !== 0;
  const DSEG = dmerge ? g.KW * Cg : Cg, DSEG8 = up(DSEG, 8), DNP = ((dmerge ? g.KH : g.KH * g.KW) * DSEG8) / 8;
  const t = convTuning;
  const blk = (n: number, max: number): number => up(Math.ceil(n / Math.ceil(n / Math.max(4, max))), 4);
  const Kc = blk(Kdim, t.kc);
  const rows = (kc: number): number => clamp(Math.floor(Math.min(t.aBlockBytes, PACK_BYTES) / (16 * kc)) * 4, 4, MAX_ROWS);
  const Mc = rows(Kc);
  const Kcd = blk(Kg, t.kcData);
  const Mcd = rows(Kcd);
  // backward-weights: dY chunk (Mch x Kg8) and A^T block (RBP panels of 16*Mch + 64 bytes) must fit the scratch
  const Mch = clamp(Math.floor(Math.min(t.mChunk, (PACK_BYTES / 2) / (Kg8 * 4 + 16)) / 4) * 4, 4, MAX_ROWS);
  const atBytes = Math.min(t.atBlockBytes, PACK_BYTES - Mch * Kg8 * 4);
  const RBP = clamp(Math.floor(atBytes / (16 * Mch + 64)), 1, 1 << 20);
  // Each thread packs the whole dY chunk when rows are split, the whole A^T when columns are:
  // split columns when A^T (ROWS per pixel, a gather) is much smaller than dY (Kg8 per pixel).
  const wcols = 2 * ROWS <= Kg8;
  return { Cg, Kg, Kdim, Kg8, Cg8, Kc, Mc, Kcd, Mcd, Mch, RBP, merge, SEG, SEG4, ROWS, dmerge, DSEG, DSEG8, DNP, wcols };
}

export interface ConvWorkspace {
  /** Byte offset in the arena, 64-byte aligned. */
  readonly ptr: number;
  readonly bytes: number;
}

/** Arena bytes that convForward / convBackwardData / convBackwardWeight need for g. */
export function convWorkspaceBytes(g: ConvGeom): number {
  const v = derive(g);
  const G = g.groups, T = g.KH * g.KW;
  const floats = isDepthwise(g)
    ? T * g.C
    : Math.max(G * v.Kdim * v.Kg8, G * v.DNP * 8 * v.Kg, G * v.ROWS * v.Kg8);
  return DESC_BYTES + 4 * floats;
}

/** Reserves one workspace large enough for every geometry given. */
export function convWorkspace(arena: Arena, geoms: ConvGeom | readonly ConvGeom[]): ConvWorkspace {
  const list = Array.isArray(geoms) ? (geoms as readonly ConvGeom[]) : [geoms as ConvGeom];
  const bytes = Math.max(DESC_BYTES, ...list.map(convWorkspaceBytes));
  return { ptr: arena.reserve(bytes, 'conv workspace'), bytes };
}

/** Writes the descriptor read by every kernel of gemm.ts (D_* fields) at ws.ptr. */
function descriptor(pool: ThreadPool, g: ConvGeom, ws: ConvWorkspace): Derived {
  const need = convWorkspaceBytes(g);
  if (ws.bytes < need) throw new RangeError(`conv workspace has ${ws.bytes} bytes, this layer needs ${need} (convWorkspaceBytes)`);
  const v = derive(g);
  const d = new Int32Array(pool.arena.memory.buffer, ws.ptr, DESC_BYTES / 4);
  d.set([
    g.N, g.C, g.H, g.W, g.K, g.KH, g.KW, g.stride[0], g.stride[1], g.pad[0], g.pad[1], g.dilation[0], g.dilation[1],
    g.groups, g.OH, g.OW, v.Cg, v.Kg, v.Kdim, v.Kg8, v.Cg8, v.Kc, v.Mc, v.Kcd, v.Mcd, v.Mch, v.RBP,
    v.ROWS, v.merge ? 1 : 0, v.SEG, v.SEG4, v.dmerge ? 1 : 0, v.DSEG, v.DSEG8, v.DNP, v.wcols ? 1 : 0,
  ]);
  return v;
}

/** y = conv(x, w) + bias. x NHWC, w OIHW, bias [K] or 0, y NHWC. */
export function convForward(pool: ThreadPool, g: ConvGeom, x: number, w: number, bias: number, y: number, ws: ConvWorkspace): void {
  const v = descriptor(pool, g, ws);
  const d = ws.ptr, buf = ws.ptr + DESC_BYTES, T = pool.threads;
  if (isDepthwise(g)) {
    pool.run('conv_dw_pack_w', [d, w, buf], splitRange(g.C, T));
    pool.run('conv_dw_fwd', [d, x, buf, bias, y], splitRange(g.N * g.OH, T));
    return;
  }
  pool.run('conv_pack_w_fwd', [d, w, buf], splitRange(g.groups * (v.Kg8 / 8), T));
  pool.run('conv_fwd', [d, x, buf, bias, y], splitRange(g.N * g.OH * g.OW, T, 4));
}

/** dx = dL/dx from dy (NHWC) and w (OIHW); dx NHWC is overwritten. */
export function convBackwardData(pool: ThreadPool, g: ConvGeom, dy: number, w: number, dx: number, ws: ConvWorkspace): void {
  const v = descriptor(pool, g, ws);
  const d = ws.ptr, buf = ws.ptr + DESC_BYTES, T = pool.threads;
  if (isDepthwise(g)) {
    pool.run('conv_dw_pack_w', [d, w, buf], splitRange(g.C, T));
    pool.run('conv_dw_bwd_data', [d, dy, buf, dx], splitRange(g.N * g.H, T));
    return;
  }
  pool.run('conv_pack_w_bwd', [d, w, buf], splitRange(g.groups * v.DNP, T));
  if (isPointwise(g)) pool.run('conv_bwd_data_1x1', [d, dy, buf, dx], splitRange(g.N * g.H * g.W, T, 4));
  else pool.run('conv_bwd_data', [d, dy, buf, dx], splitRange(g.N, T));
}

/** dw = dL/dw (OIHW, overwritten) from dy and x (NHWC); db = sum of dy over N, OH, OW if db != 0. */
export function convBackwardWeight(pool: ThreadPool, g: ConvGeom, dy: number, x: number, dw: number, db: number, ws: ConvWorkspace): void {
  const v = descriptor(pool, g, ws);
  const d = ws.ptr, acc = ws.ptr + DESC_BYTES, T = pool.threads;
  if (isDepthwise(g)) {
    pool.run('conv_dw_bwd_w', [d, dy, x, dw], splitRange(g.C, T, 4));
  } else {
    pool.run('conv_bwd_w', [d, dy, x, acc], splitRange(g.groups * (v.wcols ? v.Kg8 / 8 : v.ROWS / 4), T));
    pool.run('conv_bwd_w_out', [d, acc, dw], splitRange(g.K, T));
  }
  if (db) pool.run('conv_bias_grad', [d, dy, db], splitRange(g.K, T, 4));
}
