/**
 * The geometry of a convolution: its shapes, strides, padding, dilation and groups, the output
 * size they give (PyTorch's formula), and the facts about it that the path choice and the
 * dispatch share (depthwise, pointwise, Winograd's work units).
 *
 *   x  [N][H][W][C]      activations, NHWC
 *   w  [K][C/G][KH][KW]  weights, PyTorch OIHW (the model's storage layout)
 *   y  [N][OH][OW][K]    output, NHWC
 */
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
  const stride = pair(s.stride, 1),
    pad = pair(s.pad, 0),
    dilation = pair(s.dilation, 1);
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
  return convGeom({ N: N!, C: C!, H: H!, W: W!, K: K!, KH: KH!, KW: KW!, stride: a.stride, pad: a.padding, dilation: a.dilation, groups: a.groups });
}

/** Multiply-adds x 2 of the forward pass (also of each backward pass). */
export function convFlops(g: ConvGeom): number {
  return 2 * g.N * g.OH * g.OW * g.K * (g.C / g.groups) * g.KH * g.KW;
}

/** Depthwise convolutions (groups == C == K > 1) take the direct SIMD path, not GEMM. */
export function isDepthwise(g: ConvGeom): boolean {
  return g.groups > 1 && g.groups === g.C && g.groups === g.K;
}

/**
 * The groups of consecutive images a depthwise backward-weights sums separately (group g: images
 * [g*N/G, (g+1)*N/G)) before conv_dw_bwd_w_out adds them in order: the threads split groups, so
 * each reads whole pixels (the kernels' copy: dwGroups in wasm/depthwise.ts and depthwise.cc).
 */
export function dwGroups(N: number): number {
  return Math.min(N, 8);
}

/** 1x1, stride 1, no padding: backward-data writes dX straight from the GEMM, no col2im. */
export function isPointwise(g: ConvGeom): boolean {
  return g.KH === 1 && g.KW === 1 && g.stride[0] === 1 && g.stride[1] === 1 && g.pad[0] === 0 && g.pad[1] === 0;
}

/** Winograd work units: tile rows (n, tr) of 2 output rows. */
export const winoUnits = (g: ConvGeom): number => g.N * Math.ceil(g.OH / 2);

/** Output pixels of each thread's Winograd units (the moments merge weighs threads by them). */
export function winoPixels(g: ConvGeom, ranges: readonly (readonly [number, number])[]): number[] {
  const TH = Math.ceil(g.OH / 2);
  return ranges.map(([a, b]) => {
    let n = 0;
    for (let u = a; u < b; u++) n += Math.min(2, g.OH - 2 * (u % TH)) * g.OW;
    return n;
  });
}
