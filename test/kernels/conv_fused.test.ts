/**
 * Fused convolution kernels (src/kernels/conv.ts with a `fusion` argument: BN prologues and
 * epilogues) against the float64 reference composition of src/ops/conv2d_fused.ts (NCHW; the
 * test converts layouts), with 1 and 2 threads.
 *
 * Data follow one conv -> BN -> activation -> conv chain: the convolution's input is x_in =
 * act(bn(x)) (no activation, ReLU, or the lean CNNs' ReLU6, SiLU, hardswish: every path but
 * Winograd takes them, convFusedActivation) with the BN (mean, rstd, gamma, beta) of x (beta
 * nonzero, so a padding applied before the normalisation would read beta instead of 0 and fail);
 * its output feeds a second BN (statistics meanY, rstdY, gammaY and backward reductions dbetaY,
 * dgammaY) whose output gradient is dbn. x is nudged so that no a*x + b lies within 1e-3 of a
 * kink of the activation (ReLU's 0, ReLU6's 0 and 6, hardswish's -3 and 3): a derivative
 * computed in float32 then never jumps against the float64 reference. With ReLU6 and hardswish
 * gamma is 4x wider, so that a*x + b crosses 6 and +-3.
 *
 * Tolerances: normwise relative error max|got - ref| / max|ref| <= 2e-5 * (sqrt(R) + 4), as in
 * conv.test.ts (R the length of the sums) plus a term for the prologues' own roundings; moments
 * and BN reductions per channel vector.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Node } from '../../src/graph/ir.js';
import { bnCoefficients } from '../../src/kernels/bn_fused.js';
import { nchwToNhwc } from '../../src/kernels/eltwise_scalar.js';
import {
  bnDyCoefficients,
  convBackwardData,
  convBackwardWeight,
  convDxAccumulates,
  convForward,
  convFusedActivation,
  convGeom,
  convStridedInput,
  convStridedOutput,
  convTuning,
  convWorkspace,
  type ConvBackwardDataFusion,
  type ConvBackwardWeightFusion,
  type ConvForwardFusion,
  type ConvGeom,
  type ConvGeomSpec,
} from '../../src/kernels/conv.js';
import { type Activation, actCode } from '../../src/ops/activation.js';
import { conv2dFused, conv2dFusedBackwardData, conv2dFusedBackwardWeight, type FusedConvAttrs } from '../../src/ops/conv2d_fused.js';
import type { Backend } from '../../src/runtime/backend.js';
import { Rng } from '../../src/util/random.js';
import { getPool } from '../helpers/pools.js';
import { relErr } from '../helpers/kernels.js';

// ---------------------------------------------------------------------------------------
// layouts, data and the float64 reference

const toNhwc = (a: ArrayLike<number>, N: number, C: number, H: number, W: number): Float64Array => {
  const out = new Float64Array(a.length);
  nchwToNhwc(a, out, N, H, W, C);
  return out;
};
const f32 = Math.fround;

interface Data {
  g: ConvGeom;
  act: Activation;
  /** gamma's scale (4 with ReLU6 and hardswish), which scales the prologues' own roundings */
  spread: number;
  bias: boolean;
  /** NCHW / OIHW float64 arrays holding float32 values */
  x: Float64Array;
  w: Float64Array;
  b: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
  gamma: Float64Array;
  beta: Float64Array;
  dbn: Float64Array;
  xbn: Float64Array;
  meanY: Float64Array;
  rstdY: Float64Array;
  gammaY: Float64Array;
  dbetaY: Float64Array;
  dgammaY: Float64Array;
}

/** The activation of a case: true and false stand for ReLU and none. */
type ActArg = Activation | boolean;
const actOf = (a: ActArg): Activation => (a === true ? 'relu' : a === false ? 'none' : a);
/** The lean CNNs' activations, for the cases that rotate through them. */
const LEAN: Activation[] = ['relu6', 'silu', 'hardswish'];
/** LEAN[i % 3] where g's fused kernels take it (not Winograd: convFusedActivation), else ReLU. */
const leanFor = (g: ConvGeom, i: number): Activation => (convFusedActivation(g, actCode(LEAN[i % 3]!)) ? LEAN[i % 3]! : 'relu');

function makeData(g: ConvGeom, actArg: ActArg, bias: boolean, seed: number): Data {
  const act = actOf(actArg);
  const rng = new Rng(seed);
  const vec = (n: number, f: () => number): Float64Array => Float64Array.from({ length: n }, () => f32(f()));
  const { N, C, H, W, K, OH, OW } = g;
  const HW = H * W;
  const x = vec(N * C * HW, () => 0.3 + rng.normal());
  // BN statistics of x (float32, as the engine stores them)
  const mean = new Float64Array(C),
    rstd = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0,
      q = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) s += x[(n * C + c) * HW + i]!;
    const mu = s / (N * HW);
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) q += (x[(n * C + c) * HW + i]! - mu) ** 2;
    mean[c] = f32(mu);
    rstd[c] = f32(1 / Math.sqrt(q / (N * HW) + 1e-5));
  }
  const spread = act === 'relu6' || act === 'hardswish' ? 4 : 1;
  const gamma = vec(C, () => (rng.next() < 0.25 ? -1 : 1) * spread * (0.5 + rng.next()));
  const beta = vec(C, () => 0.5 + 0.5 * rng.normal());
  // keep every a*x + b at least 1e-3 away from the activation's kinks (its derivative must not jump in float32)
  const kinks = act === 'relu6' ? [0, 6] : act === 'hardswish' ? [-3, 3] : [0];
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const a = gamma[c]! * rstd[c]!,
        bb = beta[c]! - a * mean[c]!;
      for (let i = 0; i < HW; i++) {
        const o = (n * C + c) * HW + i;
        for (const k of kinks) {
          const d = a * x[o]! + bb - k;
          if (Math.abs(d) < 1e-3) x[o] = f32((k + Math.sign(d || 1) * 1e-3 - bb) / a + Math.sign(d || 1) * Math.sign(a) * 1e-3);
        }
      }
    }
  }
  const Cg = C / g.groups;
  const w = vec(K * Cg * g.KH * g.KW, () => rng.normal() / Math.sqrt(Cg * g.KH * g.KW));
  const b = vec(K, () => rng.normal());
  const ny = N * K * OH * OW;
  const m = N * OH * OW;
  const dbn = vec(ny, () => rng.normal());
  const xbn = vec(ny, () => 0.2 + rng.normal());
  return {
    g,
    act,
    spread,
    bias,
    x,
    w,
    b,
    mean,
    rstd,
    gamma,
    beta,
    dbn,
    xbn,
    meanY: vec(K, () => 0.2 + 0.1 * rng.normal()),
    rstdY: vec(K, () => 0.8 + 0.4 * rng.next()),
    gammaY: vec(K, () => 0.5 + rng.next()),
    dbetaY: vec(K, () => Math.sqrt(m) * rng.normal()),
    dgammaY: vec(K, () => Math.sqrt(m) * rng.normal()),
  };
}

const node = { name: 'fused', id: 0, op: 'conv2d_fused', inputs: [], outputs: [], attrs: {} } as unknown as Node;
const ctx = { seed: 0, step: 0 };

function attrsOf(dt: Data, extra: Partial<FusedConvAttrs>): FusedConvAttrs {
  const { g } = dt;
  return {
    stride: [...g.stride] as [number, number],
    padding: [...g.pad] as [number, number],
    dilation: [...g.dilation] as [number, number],
    groups: g.groups,
    bias: dt.bias,
    xShape: [g.N, g.C, g.H, g.W],
    wShape: [g.K, g.C / g.groups, g.KH, g.KW],
    ...extra,
  };
}

/** Which parts of each fused variant are on. */
interface Parts {
  xPrologue: boolean;
  moments: boolean;
  dyPrologue: boolean;
  dxEpilogue: boolean;
}
const ALL: Parts = { xPrologue: true, moments: true, dyPrologue: true, dxEpilogue: true };

interface Result {
  y: Float64Array | Float32Array;
  my: Float64Array | Float32Array;
  vy: Float64Array | Float32Array;
  dx: Float64Array | Float32Array;
  dbeta: Float64Array | Float32Array;
  dgamma: Float64Array | Float32Array;
  dw: Float64Array | Float32Array;
  db: Float64Array | Float32Array;
}

/** The reference composition (src/ops/conv2d_fused.ts) in float64, outputs in NHWC. */
function reference(dt: Data, parts: Parts): Result {
  const { g } = dt;
  const { N, C, H, W, K, OH, OW } = g;
  const xs = [N, C, H, W],
    ysh = [N, K, OH, OW],
    wsh = [K, C / g.groups, g.KH, g.KW];
  const bnX = [dt.mean, dt.rstd, dt.gamma, dt.beta];
  const bnY = [dt.meanY, dt.rstdY, dt.gammaY, dt.dbetaY, dt.dgammaY];
  // forward
  const y = new Float64Array(N * K * OH * OW),
    my = new Float64Array(K),
    vy = new Float64Array(K);
  const fx = [dt.x, dt.w, ...(dt.bias ? [dt.b] : []), ...(parts.xPrologue ? bnX : [])];
  conv2dFused.run({
    x: fx,
    xs: fx.map((a, i) => (i === 0 ? xs : i === 1 ? wsh : [a.length])),
    y: [y, my, vy],
    ys: [ysh, [K], [K]],
    attrs: attrsOf(dt, { xPrologue: parts.xPrologue ? { relu: false, act: dt.act } : undefined, epilogue: parts.moments ? 'moments' : undefined }),
    node,
    ctx,
  });
  // backward-data
  const dx = new Float64Array(N * C * H * W),
    dbeta = new Float64Array(C),
    dgamma = new Float64Array(C);
  const dyIn = parts.dyPrologue ? [dt.dbn, dt.w, dt.dbn, dt.xbn, ...bnY] : [dt.dbn, dt.w];
  const bx = [...dyIn, ...(parts.dxEpilogue ? [dt.x, ...bnX] : [])];
  // xs[0] is dy's shape (also the shape of dbn, xbn), xs[1] the weight's or (backward-weight) x's
  const shapes = (arrs: Float64Array[], second: number[]): number[][] => arrs.map((a, i) => (i === 0 ? ysh : i === 1 ? second : [a.length]));
  conv2dFusedBackwardData.run({
    x: bx,
    xs: shapes(bx, wsh),
    y: [dx, dbeta, dgamma],
    ys: [xs, [C], [C]],
    attrs: attrsOf(dt, { dyPrologue: parts.dyPrologue, dxEpilogue: parts.dxEpilogue ? { relu: false, act: dt.act } : undefined }),
    node,
    ctx,
  });
  // backward-weight
  const dw = new Float64Array(dt.w.length),
    db = new Float64Array(K);
  const wx = [dt.dbn, dt.x, ...(parts.dyPrologue ? [dt.dbn, dt.xbn, ...bnY] : []), ...(parts.xPrologue ? bnX : [])];
  conv2dFusedBackwardWeight.run({
    x: wx,
    xs: shapes(wx, xs),
    y: dt.bias ? [dw, db] : [dw],
    ys: dt.bias ? [wsh, [K]] : [wsh],
    attrs: attrsOf(dt, { dyPrologue: parts.dyPrologue, xPrologue: parts.xPrologue ? { relu: false, act: dt.act } : undefined }),
    node,
    ctx,
  });
  return { y: toNhwc(y, N, K, OH, OW), my, vy, dx: toNhwc(dx, N, C, H, W), dbeta, dgamma, dw, db };
}

/**
 * The fused WebAssembly kernels. With xStride, x (read by the x prologue and the dx epilogue) is
 * a view of the leading C channels of rows of xStride floats, the rest NaN.
 */
function runWasm(pool: Backend, dt: Data, parts: Parts, xStride?: number): Result {
  const { g } = dt;
  const { N, C, H, W, K, OH, OW } = g;
  const a = pool.arena;
  const ptr = (n: number): number => a.reserve(Math.max(4, n * 4));
  const put = (v: ArrayLike<number>): number => {
    const p = ptr(v.length);
    a.view(p, v.length).set(v);
    return p;
  };
  const xn = toNhwc(dt.x, N, C, H, W);
  let px = put(xn);
  const pw = put(dt.w),
    pb = put(dt.b);
  if (xStride !== undefined) {
    const wide = new Float64Array(N * H * W * xStride).fill(NaN);
    for (let r = 0; r < N * H * W; r++) for (let c = 0; c < C; c++) wide[r * xStride + c] = xn[r * C + c]!;
    px = put(wide);
  }
  // xbn after or before dbn (the kernels address xbn as dbn + a wrapping 32-bit offset)
  const putDbn = (): number => put(toNhwc(dt.dbn, N, K, OH, OW)),
    putXbn = (): number => put(toNhwc(dt.xbn, N, K, OH, OW));
  const order = dt.x.length % 2 === 1;
  const p0 = order ? putDbn() : putXbn(),
    p1 = order ? putXbn() : putDbn();
  const [pdbn, pxbn] = order ? [p0, p1] : [p1, p0];
  const [pm, pr, pg, pbe] = [dt.mean, dt.rstd, dt.gamma, dt.beta].map(put) as [number, number, number, number];
  const [pmY, prY, pgY, pdbY, pdgY] = [dt.meanY, dt.rstdY, dt.gammaY, dt.dbetaY, dt.dgammaY].map(put) as [number, number, number, number, number];
  const coef = ptr(2 * C),
    cdy = ptr(3 * K);
  bnCoefficients(pool, C, pm, pr, pg, pbe, coef);
  bnDyCoefficients(pool, K, N * OH * OW, pmY, prY, pgY, pdbY, pdgY, cdy);
  const ny = N * K * OH * OW;
  const out = (n: number): number => {
    const p = ptr(n);
    a.view(p, n).fill(NaN); // poison: every element must be written
    return p;
  };
  const py = out(ny),
    pmy = out(K),
    pvy = out(K),
    pdx = out(dt.x.length),
    pdbeta = out(C),
    pdgamma = out(C),
    pdw = out(dt.w.length),
    pdb = out(K);
  const ws = convWorkspace(a, g);
  const act = actCode(dt.act);
  const xPro = parts.xPrologue ? { coef, relu: false, act, stride: xStride } : undefined;
  const dyPro = parts.dyPrologue ? { dbn: pdbn, xbn: pxbn, coef: cdy } : undefined;
  const ff: ConvForwardFusion = { xPrologue: xPro, moments: parts.moments ? { mean: pmy, variance: pvy } : undefined };
  const fd: ConvBackwardDataFusion = {
    dyPrologue: dyPro,
    dxEpilogue: parts.dxEpilogue ? { x2: px, coef, mean: pm, rstd: pr, relu: false, act, dbeta: pdbeta, dgamma: pdgamma, stride: xStride } : undefined,
  };
  const fw: ConvBackwardWeightFusion = { dyPrologue: dyPro, xPrologue: xPro };
  convForward(pool, g, px, pw, dt.bias ? pb : 0, py, ws, ff);
  convBackwardData(pool, g, parts.dyPrologue ? 0 : pdbn, pw, pdx, ws, fd);
  convBackwardWeight(pool, g, parts.dyPrologue ? 0 : pdbn, px, pdw, dt.bias ? pdb : 0, ws, fw);
  if (xStride !== undefined) a.view(px, N * H * W * xStride).fill(0); // (the arena is reused: no NaN left behind)
  const get = (p: number, n: number): Float32Array => a.view(p, n).slice();
  return {
    y: get(py, ny),
    my: get(pmy, K),
    vy: get(pvy, K),
    dx: get(pdx, dt.x.length),
    dbeta: get(pdbeta, C),
    dgamma: get(pdgamma, C),
    dw: get(pdw, dt.w.length),
    db: get(pdb, K),
  };
}

function check(dt: Data, parts: Parts, ref: Result, got: Result, label: string): void {
  const { g } = dt;
  const T = g.KH * g.KW,
    M = g.N * g.OH * g.OW,
    Min = g.N * g.H * g.W;
  // + 4: the prologues' own roundings (normalisation, dy = A*dbn + B*xbn + C0) do not shrink with R
  // (and grow with gamma: a*x + b rounds a*x - a*mean)
  const tol = (r: number, c = 2): number => c * 1e-5 * (Math.sqrt(r) + 4 * dt.spread);
  const cases: [string, ArrayLike<number>, ArrayLike<number>, number][] = [
    ['forward y', got.y, ref.y, tol(T * (g.C / g.groups))],
    ['backward-data dx', got.dx, ref.dx, tol(T * (g.K / g.groups))],
    ['backward-weight dw', got.dw, ref.dw, tol(M)],
  ];
  if (dt.bias) cases.push(['bias grad', got.db, ref.db, tol(M)]);
  if (parts.moments) cases.push(['moments mean', got.my, ref.my, tol(T * g.C)], ['moments var', got.vy, ref.vy, tol(T * g.C)]);
  if (parts.dxEpilogue) cases.push(['dx epilogue dbeta', got.dbeta, ref.dbeta, tol(Min)], ['dx epilogue dgamma', got.dgamma, ref.dgamma, tol(Min)]);
  for (const [what, a, b, t] of cases) {
    const e = relErr(a, b);
    assert.ok(e <= t, `${label}: ${what} relative error ${e.toExponential(2)} > ${t.toExponential(2)}`);
  }
}

async function checkCase(spec: ConvGeomSpec, act: ActArg, seed: number, parts = ALL, bias = false): Promise<void> {
  const g = convGeom(spec);
  const dt = makeData(g, act, bias, seed);
  const ref = reference(dt, parts);
  for (const threads of [1, 2]) check(dt, parts, ref, runWasm(await getPool(threads), dt, parts), `${JSON.stringify(spec)} act=${dt.act} ${threads}T`);
}

// ---------------------------------------------------------------------------------------
// shapes

const EDGES = [1, 3, 4, 5, 8, 12, 16, 17];

for (const C of EDGES) {
  test(`fused conv kernels: 3x3 pad 1, C=${C}, K in {${EDGES.join(',')}}`, async () => {
    for (const [i, K] of EDGES.entries()) {
      const spec: ConvGeomSpec = { N: 2, C, H: 5, W: 4, K, KH: 3, pad: 1 };
      await checkCase(spec, (i + C) % 3 === 2 ? leanFor(convGeom(spec), Math.floor((i + C) / 3)) : (i + C) % 2 === 0, 100 * C + K);
    }
  });
}

for (const C of EDGES) {
  test(`fused conv kernels: 1x1 (in-place backward-data epilogue), C=${C}, K in {${EDGES.join(',')}}`, async () => {
    for (const [i, K] of EDGES.entries())
      await checkCase({ N: 2, C, H: 3, W: 3, K, KH: 1 }, (i + C) % 3 === 2 ? LEAN[Math.floor((i + C) / 3) % 3]! : (i + C) % 2 === 1, 300 * C + K);
  });
}

const SHAPES: [string, ConvGeomSpec][] = [
  ['1x1 M=1', { N: 1, C: 5, H: 1, W: 1, K: 9, KH: 1 }],
  ['1x1 M=3', { N: 1, C: 8, H: 1, W: 3, K: 16, KH: 1 }],
  ['1x1 M=7', { N: 1, C: 12, H: 1, W: 7, K: 8, KH: 1 }],
  ['3x3 p1 M=5', { N: 1, C: 4, H: 1, W: 5, K: 8, KH: 3, pad: 1 }],
  ['3x3 no pad', { N: 2, C: 8, H: 6, W: 5, K: 12, KH: 3 }],
  ['3x3 stride 2 pad 1', { N: 2, C: 6, H: 9, W: 8, K: 10, KH: 3, stride: 2, pad: 1 }],
  ['3x3 stride 2 no pad', { N: 2, C: 8, H: 7, W: 7, K: 16, KH: 3, stride: 2 }],
  ['1x1 stride 2 (col2im path)', { N: 2, C: 12, H: 7, W: 6, K: 8, KH: 1, stride: 2 }],
  ['1x1 pad 1', { N: 1, C: 5, H: 3, W: 3, K: 9, KH: 1, pad: 1 }],
  ['5x5 pad 2', { N: 1, C: 4, H: 6, W: 7, K: 9, KH: 5, pad: 2 }],
  ['3x2 kernel, stride [2,1], pad [1,0]', { N: 2, C: 3, H: 7, W: 6, K: 5, KH: 3, KW: 2, stride: [2, 1], pad: [1, 0] }],
  ['dilation 2', { N: 1, C: 5, H: 7, W: 7, K: 7, KH: 3, dilation: 2, pad: 2 }],
  ['groups 2', { N: 2, C: 8, H: 5, W: 5, K: 12, KH: 3, groups: 2, pad: 1 }],
  ['groups 2, odd group sizes', { N: 2, C: 6, H: 5, W: 4, K: 10, KH: 3, groups: 2, pad: 1 }],
  ['groups 4, 1x1', { N: 2, C: 16, H: 3, W: 3, K: 20, KH: 1, groups: 4 }],
  ['7x7 stem stride 2 pad 3', { N: 2, C: 3, H: 20, W: 18, K: 16, KH: 7, stride: 2, pad: 3 }],
  ['3x3 C=64 K=24 (several reduction blocks)', { N: 1, C: 64, H: 5, W: 5, K: 24, KH: 3, pad: 1 }],
  ['1x1 C=48 K=12 (DenseNet growth)', { N: 2, C: 48, H: 6, W: 6, K: 12, KH: 1 }],
  ['1x1 C=8 K=40 (backward-weights split over output channels)', { N: 2, C: 8, H: 5, W: 3, K: 40, KH: 1 }],
  ['image smaller than the kernel span', { N: 2, C: 4, H: 2, W: 3, K: 8, KH: 5, pad: 2 }],
];

for (const [i, [name, spec]] of SHAPES.entries()) {
  test(`fused conv kernels: ${name}, ReLU, none and ${LEAN[i % 3]}`, async () => {
    await checkCase(spec, true, 1000 + i);
    await checkCase(spec, false, 2000 + i);
    await checkCase(spec, leanFor(convGeom(spec), i), 3000 + i);
  });
}

test('fused conv kernels: x and x2 as views of a wider buffer (DenseNet concatenations without copies): the same bits', async () => {
  const saved = { ...convTuning };
  const bits = (r: Result): Uint32Array[] => [r.y, r.my, r.vy, r.dx, r.dbeta, r.dgamma, r.dw].map((v) => new Uint32Array(Float32Array.from(v).buffer));
  try {
    for (const [i, spec] of (
      [
        { N: 2, C: 8, H: 3, W: 5, K: 16, KH: 1 },
        { N: 1, C: 12, H: 7, W: 7, K: 24, KH: 1 },
        { N: 2, C: 48, H: 6, W: 6, K: 128, KH: 1 },
        { N: 3, C: 36, H: 5, W: 4, K: 40, KH: 1 },
        // Winograd in all three passes (C >= 32): the normalised ring, the masked transform, tiny blocks
        { N: 2, C: 32, H: 5, W: 7, K: 12, KH: 3, pad: 1 },
        { N: 1, C: 44, H: 6, W: 6, K: 8, KH: 3, pad: 1 },
      ] as ConvGeomSpec[]
    ).entries()) {
      const g = convGeom(spec);
      assert.ok(convStridedInput(g), JSON.stringify(spec));
      const knobList =
        g.KH === 1
          ? [{}, { windowBytes: 0 }, { kc: 8, aBlockBytes: 16 * 8 * 3, kcData: 4, mChunk: 12, atBlockBytes: 16 * 12 * 2 }]
          : [{}, { winoWindow: 0 }, { winoUBytes: 1, winoVBytes: 1, winoWBytes: 1, winoWMinTiles: 0 }];
      for (const knobs of knobList) {
        Object.assign(convTuning, saved, knobs);
        for (const act of [true, false, leanFor(g, i)]) {
          const dt = makeData(g, act, false, 4000 + i);
          const label = `${JSON.stringify(spec)} ${JSON.stringify(knobs)} act=${dt.act}`;
          for (const threads of [1, 2]) {
            const pool = await getPool(threads);
            const plain = runWasm(pool, dt, ALL);
            for (const xs of [g.C + 4, 3 * g.C + 12]) {
              const view = runWasm(pool, dt, ALL, xs);
              assert.deepEqual(bits(view), bits(plain), `${label} ${threads}T: pixel stride ${xs}`);
            }
          }
        }
      }
    }
    // only the 1x1 GEMM paths and Winograd read views (C = 8: backward-weights is not Winograd)
    const g3 = convGeom({ N: 1, C: 8, H: 5, W: 5, K: 8, KH: 3, pad: 1 });
    assert.equal(convStridedInput(g3), false);
    const dt = makeData(g3, true, false, 4100);
    await assert.rejects(async () => runWasm(await getPool(1), dt, ALL, 12), /cannot read x at a pixel stride of 12/);
  } finally {
    Object.assign(convTuning, saved);
  }
});

/**
 * The fused backward-data with its dx epilogue accumulating into a gradient buffer G (DenseNet):
 * the stored dx (plain epilogue) and the accumulating run from the same data; G' must be G + a2*dx
 * in its leading C channels (a2 = gamma*rstd) and untouched beyond, the reductions the same bits.
 */
function runAcc(pool: Backend, dt: Data, dyPrologue: boolean, xStride: number | undefined, gStride: number, seed: number): void {
  const { g } = dt;
  const { N, C, H, W, K, OH, OW } = g;
  const a = pool.arena;
  const M = N * H * W;
  const put = (v: ArrayLike<number>): number => {
    const p = a.reserve(Math.max(4, v.length * 4));
    a.view(p, v.length).set(v);
    return p;
  };
  const xn = toNhwc(dt.x, N, C, H, W);
  const xs = xStride ?? C;
  const wide = new Float64Array(M * xs).fill(NaN);
  for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) wide[r * xs + c] = xn[r * C + c]!;
  const px = put(wide),
    pw = put(dt.w);
  const pdbn = put(toNhwc(dt.dbn, N, K, OH, OW)),
    pxbn = put(toNhwc(dt.xbn, N, K, OH, OW));
  const [pm, pr, pg, pbe] = [dt.mean, dt.rstd, dt.gamma, dt.beta].map(put) as [number, number, number, number];
  const [pmY, prY, pgY, pdbY, pdgY] = [dt.meanY, dt.rstdY, dt.gammaY, dt.dbetaY, dt.dgammaY].map(put) as [number, number, number, number, number];
  const coef = a.reserve(8 * C),
    cdy = a.reserve(12 * K);
  bnCoefficients(pool, C, pm, pr, pg, pbe, coef);
  bnDyCoefficients(pool, K, N * OH * OW, pmY, prY, pgY, pdbY, pdgY, cdy);
  const rng = new Rng(seed);
  const G0 = Float32Array.from({ length: M * gStride }, () => rng.normal());
  const pG = put(G0);
  const pdx = a.reserve(4 * M * C),
    tmp = a.reserve(4 * M * C),
    s = a.reserve(16 * C);
  const ws = convWorkspace(a, g);
  const dyPro = dyPrologue ? { dbn: pdbn, xbn: pxbn, coef: cdy } : undefined;
  const epi = (dbeta: number, dgamma: number): NonNullable<ConvBackwardDataFusion['dxEpilogue']> => ({
    x2: px,
    coef,
    mean: pm,
    rstd: pr,
    relu: false,
    act: actCode(dt.act),
    dbeta,
    dgamma,
    stride: xStride,
  });
  convBackwardData(pool, g, dyPrologue ? 0 : pdbn, pw, pdx, ws, { dyPrologue: dyPro, dxEpilogue: epi(s, s + 4 * C) });
  a.view(tmp, M * C).fill(NaN);
  convBackwardData(pool, g, dyPrologue ? 0 : pdbn, pw, tmp, ws, {
    dyPrologue: dyPro,
    dxEpilogue: { ...epi(s + 8 * C, s + 12 * C), accumulate: { G: pG, stride: gStride } },
  });
  const dx = a.view(pdx, M * C),
    G = a.view(pG, M * gStride),
    a2 = a.view(coef, C),
    red = a.view(s, 4 * C);
  const label = `${JSON.stringify({ C, K, H, W })} act=${dt.act} dyPrologue=${dyPrologue} xStride=${xStride} gStride=${gStride} ${pool.threads}T`;
  for (let r = 0; r < M; r++) {
    for (let c = 0; c < gStride; c++) {
      const i = r * gStride + c,
        got = G[i]!;
      if (c >= C) {
        assert.ok(Object.is(got, G0[i]!), `${label}: G[${r}, ${c}] beyond the leading channels changed`);
        continue;
      }
      const want = G0[i]! + a2[c]! * dx[r * C + c]!;
      const tol = 1e-6 * (Math.abs(G0[i]!) + Math.abs(a2[c]! * dx[r * C + c]!)) + 1e-30;
      assert.ok(Math.abs(got - want) <= tol, `${label}: G[${r}, ${c}] = ${got}, want ${want}`);
    }
  }
  for (let c = 0; c < 2 * C; c++) assert.ok(Object.is(red[c], red[2 * C + c]), `${label}: reduction ${c} differs`);
  // dx itself never goes to memory (the Winograd path keeps it in a ring in its scratch)
  assert.ok(a.view(tmp, M * C).every(Number.isNaN), `${label}: the accumulating pass wrote its dx argument`);
}

test('fused conv kernels: the dx epilogue accumulating into a gradient buffer (1x1 and Winograd)', async () => {
  const saved = { ...convTuning };
  try {
    for (const [i, spec] of (
      [
        { N: 2, C: 8, H: 3, W: 5, K: 16, KH: 1 },
        { N: 1, C: 12, H: 7, W: 7, K: 24, KH: 1 }, // edge tiles of 4 columns
        { N: 2, C: 20, H: 3, W: 3, K: 9, KH: 1 },
        { N: 2, C: 48, H: 6, W: 6, K: 128, KH: 1 },
        { N: 2, C: 32, H: 5, W: 7, K: 12, KH: 3, pad: 1 }, // Winograd
        { N: 1, C: 12, H: 6, W: 6, K: 8, KH: 3, pad: 1 },
        { N: 2, C: 44, H: 4, W: 5, K: 16, KH: 3, pad: 1 },
      ] as ConvGeomSpec[]
    ).entries()) {
      const g = convGeom(spec);
      assert.ok(convDxAccumulates(g), JSON.stringify(spec));
      // Winograd: the stored dx with its ring of tile rows (default), without (winoAccBytes 0: dx
      // staged in the output) and with the smallest ring: the reductions agree to the bit
      const knobList = g.KH === 1 ? [{}, { mChunk: 12 }] : [{}, { winoUBytes: 1, winoVBytes: 1 }, { winoAccBytes: 1 }, { winoAccBytes: 0 }];
      for (const knobs of knobList) {
        Object.assign(convTuning, saved, knobs);
        for (const act of [true, false, leanFor(g, i)]) {
          const dt = makeData(g, act, false, 5000 + i);
          for (const threads of [1, 2]) {
            const pool = await getPool(threads);
            for (const dyPrologue of [false, true]) {
              runAcc(pool, dt, dyPrologue, undefined, g.C, 7 + i);
              runAcc(pool, dt, dyPrologue, convStridedInput(g) ? g.C + 4 : undefined, 2 * g.C + 8, 8 + i);
            }
          }
        }
      }
    }
    // paths that cannot accumulate say so: several reduction blocks (1x1), im2col-style 3x3
    Object.assign(convTuning, saved, { kcData: 8 });
    const g1 = convGeom({ N: 1, C: 8, H: 3, W: 3, K: 16, KH: 1 });
    assert.equal(convDxAccumulates(g1), false);
    Object.assign(convTuning, saved);
    const g2 = convGeom({ N: 1, C: 6, H: 5, W: 5, K: 8, KH: 3, stride: 2, pad: 1 });
    assert.equal(convDxAccumulates(g2), false);
    // Winograd, but two tile rows of dx (2 x 256 pixels x 1024 channels, 2 MiB each) do not fit
    // the thread scratch: no ring, so no accumulating epilogue (the plain one stages dx in its output)
    const wide = convGeom({ N: 1, C: 1024, H: 256, W: 256, K: 16, KH: 3, pad: 1 });
    assert.equal(convDxAccumulates(wide), false);
    assert.equal(convDxAccumulates(convGeom({ N: 1, C: 1024, H: 32, W: 32, K: 16, KH: 3, pad: 1 })), true);
    const pool = await getPool(1);
    assert.throws(() => runAcc(pool, makeData(g2, true, false, 5100), false, undefined, 6, 1), /cannot accumulate its dx epilogue/);
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('fused conv kernels: the Winograd forward writes y into a slice of a wider buffer (DenseNet producers): the same bits, the rest untouched', async () => {
  const saved = { ...convTuning };
  try {
    for (const [i, spec] of (
      [
        { N: 2, C: 16, H: 5, W: 7, K: 12, KH: 3, pad: 1 },
        { N: 1, C: 32, H: 6, W: 6, K: 8, KH: 3, pad: 1 },
        { N: 3, C: 12, H: 4, W: 5, K: 20, KH: 3, pad: 1 },
      ] as ConvGeomSpec[]
    ).entries()) {
      const g = convGeom(spec);
      assert.ok(convStridedOutput(g), JSON.stringify(spec));
      for (const knobs of [{}, { winoUBytes: 1, winoVBytes: 1 }]) {
        Object.assign(convTuning, saved, knobs);
        for (const threads of [1, 2]) {
          const pool = await getPool(threads);
          const a = pool.arena;
          const dt = makeData(g, true, i === 2, 6000 + i);
          const { N, C, H, W, K, OH, OW } = g;
          const M = N * OH * OW;
          const put = (v: ArrayLike<number>): number => {
            const p = a.reserve(4 * Math.max(1, v.length));
            a.view(p, v.length).set(v);
            return p;
          };
          const px = put(toNhwc(dt.x, N, C, H, W)),
            pw = put(dt.w),
            pb = put(dt.b);
          const [pm, pr, pg, pbe] = [dt.mean, dt.rstd, dt.gamma, dt.beta].map(put) as [number, number, number, number];
          const coef = a.reserve(8 * C);
          bnCoefficients(pool, C, pm, pr, pg, pbe, coef);
          const ws = convWorkspace(a, g);
          const run = (ys: number, start: number) => {
            const py = a.reserve(4 * M * ys),
              mom = a.reserve(8 * K);
            a.view(py, M * ys).fill(NaN);
            convForward(pool, g, px, pw, i === 2 ? pb : 0, py + 4 * start, ws, {
              xPrologue: { coef, relu: true },
              moments: { mean: mom, variance: mom + 4 * K },
              outputStride: ys,
            });
            return { y: a.view(py, M * ys).slice(), m: a.view(mom, 2 * K).slice() };
          };
          const plain = run(K, 0);
          const LD = K + 13,
            start = 5;
          const wide = run(LD, start);
          const label = `${JSON.stringify(spec)} ${JSON.stringify(knobs)} ${threads}T`;
          assert.deepEqual(new Uint32Array(wide.m.buffer), new Uint32Array(plain.m.buffer), `${label}: moments`);
          for (let r = 0; r < M; r++) {
            for (let c = 0; c < LD; c++) {
              const v = wide.y[r * LD + c]!;
              if (c < start || c >= start + K) assert.ok(Number.isNaN(v), `${label}: [${r}, ${c}] outside the slice written`);
              else assert.ok(Object.is(v, plain.y[r * K + c - start]!), `${label}: y[${r}, ${c - start}]`);
            }
          }
        }
      }
    }
    const g1 = convGeom({ N: 1, C: 8, H: 4, W: 4, K: 8, KH: 1 });
    assert.equal(convStridedOutput(g1), false);
    const pool = await getPool(1);
    const ws = convWorkspace(pool.arena, g1);
    assert.throws(() => convForward(pool, g1, 0, 0, 0, 0, ws, { outputStride: 12 }), /cannot write y at a pixel stride of 12/);
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('fused conv kernels: with bias, and each prologue / epilogue alone', async () => {
  const spec: ConvGeomSpec = { N: 2, C: 5, H: 5, W: 4, K: 9, KH: 3, pad: 1 };
  const one = (k: keyof Parts): Parts => ({ xPrologue: false, moments: false, dyPrologue: false, dxEpilogue: false, [k]: true });
  await checkCase(spec, true, 7, ALL, true);
  await checkCase({ N: 2, C: 6, H: 4, W: 4, K: 9, KH: 1 }, true, 8, ALL, true);
  for (const k of ['xPrologue', 'moments', 'dyPrologue', 'dxEpilogue'] as const) {
    await checkCase(spec, true, 9, one(k), true);
    await checkCase({ N: 2, C: 6, H: 4, W: 4, K: 9, KH: 1 }, false, 10, one(k));
  }
});

test('fused conv kernels: transposed paths over several chunks of rows, and switched off', async () => {
  const specs: ConvGeomSpec[] = [
    { N: 2, C: 20, H: 20, W: 20, K: 12, KH: 3, pad: 1 },
    { N: 1, C: 9, H: 50, W: 50, K: 4, KH: 3, stride: 2, pad: 1 },
    { N: 2, C: 13, H: 12, W: 12, K: 17, KH: 3, pad: 2, dilation: 2 },
    { N: 1, C: 32, H: 9, W: 7, K: 12, KH: 3, pad: 1 },
    { N: 3, C: 40, H: 5, W: 5, K: 9, KH: 3, stride: 2, pad: 1 },
    { N: 2, C: 48, H: 30, W: 30, K: 20, KH: 3, pad: 1 },
    { N: 1, C: 16, H: 33, W: 33, K: 12, KH: 3, pad: 1 },
    { N: 1, C: 20, H: 66, W: 66, K: 5, KH: 3, stride: 2, pad: 1 },
  ];
  const only = (k: keyof Parts): Parts => ({ xPrologue: false, moments: false, dyPrologue: false, dxEpilogue: false, [k]: true });
  for (const [i, spec] of specs.entries()) {
    await checkCase(spec, i % 2 === 0, 500 + i);
    await checkCase(spec, true, 510 + i, only('dxEpilogue'));
    await checkCase(spec, false, 520 + i, { ...only('xPrologue'), dyPrologue: true });
    await checkCase(spec, true, 550 + i, only('xPrologue'));
  }
  const saved = { ...convTuning };
  Object.assign(convTuning, { dataT: 0, wT: 0, dotK: 0, wDot: 0 });
  try {
    for (const [i, spec] of specs.entries()) await checkCase(spec, true, 530 + i);
  } finally {
    Object.assign(convTuning, saved);
  }
  // no normalised window: the forward falls back from the dot-product kernel
  Object.assign(convTuning, { windowBytes: 0 });
  try {
    for (const [i, spec] of specs.entries()) await checkCase(spec, true, 540 + i);
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('fused conv kernels: Winograd (window and masked prologue, tiny blocks), and the GEMM paths for the same shapes', async () => {
  const specs: ConvGeomSpec[] = [
    { N: 1, C: 4, H: 1, W: 1, K: 4, KH: 3, pad: 1 },
    { N: 3, C: 12, H: 5, W: 7, K: 8, KH: 3, pad: 1 },
    { N: 2, C: 4, H: 7, W: 6, K: 12, KH: 3 },
    { N: 1, C: 16, H: 5, W: 4, K: 20, KH: 3, pad: 2 },
    { N: 2, C: 36, H: 9, W: 5, K: 28, KH: 3, pad: 1 },
    { N: 2, C: 20, H: 20, W: 20, K: 12, KH: 3, pad: 1 },
    { N: 2, C: 36, H: 6, W: 7, K: 8, KH: 3, pad: 1 },
    { N: 1, C: 64, H: 9, W: 8, K: 16, KH: 3, pad: 1 },
  ];
  const only = (k: keyof Parts): Parts => ({ xPrologue: false, moments: false, dyPrologue: false, dxEpilogue: false, [k]: true });
  const saved = { ...convTuning };
  const tiny = { winoUBytes: 1, winoVBytes: 1, winoWBytes: 1, winoWMinTiles: 0 };
  try {
    for (const [v, knobs] of [{}, { winoWindow: 0 }, tiny, { ...tiny, winoWindow: 0 }, { wino: 0 }].entries()) {
      Object.assign(convTuning, saved, knobs);
      for (const [i, spec] of specs.entries()) {
        await checkCase(spec, (i + v) % 2 === 0, 700 + 10 * v + i);
        await checkCase(spec, true, 760 + 10 * v + i, { ...only('dyPrologue'), dxEpilogue: true });
        await checkCase(spec, false, 820 + 10 * v + i, only('xPrologue'));
        await checkCase(spec, true, 880 + 10 * v + i, only('moments'), true);
      }
    }
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('fused conv kernels: tiny cache blocks (every blocking edge)', async () => {
  const saved = { ...convTuning };
  Object.assign(convTuning, { kc: 8, aBlockBytes: 16 * 8 * 3, kcData: 4, mChunk: 12, atBlockBytes: 16 * 12 * 2 });
  try {
    for (const [i, spec] of (
      [
        { N: 2, C: 6, H: 5, W: 5, K: 19, KH: 3, pad: 1 },
        { N: 2, C: 3, H: 7, W: 6, K: 9, KH: 5, stride: 2, pad: 2 },
        { N: 3, C: 10, H: 3, W: 3, K: 13, KH: 1 },
        { N: 1, C: 8, H: 6, W: 5, K: 12, KH: 3, groups: 2, pad: 1, dilation: 2 },
        { N: 2, C: 4, H: 4, W: 5, K: 35, KH: 1 },
        { N: 1, C: 5, H: 9, W: 9, K: 6, KH: 7, stride: 2, pad: 3 },
      ] as ConvGeomSpec[]
    ).entries()) {
      await checkCase(spec, i % 2 === 0, 50 + i, ALL, i % 3 === 0);
    }
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('fused conv kernels: x prologue while packing (no normalised window) and partial windows', async () => {
  // windowBytes 0: every block normalises while packing (copy4n / packAT's fused path, merged
  // kernel-row segments included); a small window: some blocks fit, others fall back
  const saved = { ...convTuning };
  try {
    for (const [i, bytes] of [0, 4096].entries()) {
      Object.assign(convTuning, { windowBytes: bytes });
      for (const [j, C] of EDGES.entries()) await checkCase({ N: 2, C, H: 6, W: 5, K: EDGES[7 - j]!, KH: 3, pad: 1 }, j % 2 === i, 60 + j);
      for (const [j, [, spec]] of SHAPES.entries()) await checkCase(spec, (i + j) % 2 === 0, 70 + j);
      Object.assign(convTuning, { kc: 8, aBlockBytes: 16 * 8 * 3, kcData: 4, mChunk: 12, atBlockBytes: 16 * 12 * 2 });
      await checkCase({ N: 2, C: 6, H: 5, W: 5, K: 19, KH: 3, pad: 1 }, true, 90 + i);
      await checkCase({ N: 1, C: 5, H: 9, W: 9, K: 6, KH: 7, stride: 2, pad: 3 }, false, 92 + i);
      Object.assign(convTuning, saved);
    }
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('fused conv kernels: the wrong padding order is detected', async () => {
  // sanity check of the test itself: normalising the padding taps too (pad with b instead of 0)
  // changes the reference by far more than the tolerance
  const g = convGeom({ N: 1, C: 4, H: 4, W: 4, K: 8, KH: 3, pad: 1 });
  const dt = makeData(g, false, false, 3);
  const parts = { ...ALL, moments: false, dyPrologue: false, dxEpilogue: false };
  const ref = reference(dt, parts);
  // a big-padded input whose border holds x such that bn(x) = b, i.e. x = 0: bn(0) = b
  const big = convGeom({ N: 1, C: 4, H: 6, W: 6, K: 8, KH: 3 });
  const { N, C, H, W } = g;
  const x6 = new Float64Array(N * C * 36);
  for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) x6[(c * 6 + h + 1) * 6 + w + 1] = dt.x[(c * H + h) * W + w]!;
  const wrong = reference({ ...dt, g: big, x: x6 }, parts);
  assert.ok(relErr(wrong.y, ref.y) > 1e-2, 'normalising the padding must change y');
  const got = runWasm(await getPool(1), dt, parts);
  assert.ok(relErr(got.y, ref.y) < 1e-5);
});

test('fused conv kernels: moments with |mean|/std = 1e4 (and 3, over many rows)', async () => {
  for (const [ratio, spec, evMax] of [
    [1e4, { N: 4, C: 8, H: 8, W: 8, K: 12, KH: 3, pad: 1 }, 1e-3],
    [3, { N: 8, C: 8, H: 16, W: 16, K: 12, KH: 3, pad: 1 }, 1e-5],
  ] as [number, ConvGeomSpec, number][]) {
    const g = convGeom(spec);
    const dt = makeData(g, true, true, 77);
    const parts: Parts = { xPrologue: true, moments: true, dyPrologue: false, dxEpilogue: false };
    // per-channel std of y without bias, then a bias of +-ratio std
    const ref0 = reference({ ...dt, bias: false }, parts);
    dt.b = Float64Array.from({ length: g.K }, (_, k) => f32((k % 2 ? -1 : 1) * ratio * Math.sqrt(ref0.vy[k]!) - ref0.my[k]!));
    const ref = reference(dt, parts);
    for (const threads of [1, 2]) {
      const got = runWasm(await getPool(threads), dt, parts);
      for (let k = 0; k < g.K; k++) {
        const ev = Math.abs(got.vy[k]! - ref.vy[k]!) / ref.vy[k]!;
        const em = Math.abs(got.my[k]! - ref.my[k]!) / Math.sqrt(ref.vy[k]!);
        assert.ok(Math.abs(Math.abs(ref.my[k]!) / Math.sqrt(ref.vy[k]!) / ratio - 1) < 1e-3, 'test set-up');
        assert.ok(ev < evMax, `|mean|/std ${ratio}, ${threads}T channel ${k}: var relative error ${ev.toExponential(2)}`);
        assert.ok(em < 1e-5 * Math.max(1, ratio / 100), `|mean|/std ${ratio}, ${threads}T channel ${k}: mean error ${em.toExponential(2)} std`);
      }
    }
  }
});

test('fused conv kernels: bit-identical reruns; y, dx, dw identical across thread counts', async () => {
  for (const [spec, act] of [
    [{ N: 4, C: 20, H: 9, W: 9, K: 36, KH: 3, pad: 1 }, 'relu'],
    [{ N: 3, C: 24, H: 6, W: 6, K: 20, KH: 1 }, 'relu'],
    [{ N: 4, C: 18, H: 9, W: 9, K: 36, KH: 3, pad: 1 }, 'relu6'], // (C % 4 != 0: GEMM, not Winograd)
    [{ N: 3, C: 24, H: 6, W: 6, K: 20, KH: 1 }, 'relu6'],
    [{ N: 3, C: 24, H: 6, W: 6, K: 20, KH: 1 }, 'silu'],
  ] as [ConvGeomSpec, Activation][]) {
    const g = convGeom(spec);
    const dt = makeData(g, act, true, 5);
    const p2 = await getPool(2);
    const a = runWasm(p2, dt, ALL),
      b = runWasm(p2, dt, ALL),
      c = runWasm(await getPool(1), dt, ALL),
      d = runWasm(await getPool(1), dt, ALL),
      e = runWasm(await getPool(3), dt, ALL);
    const bits = (v: ArrayLike<number>): Uint32Array => new Uint32Array(Float32Array.from(v).buffer);
    for (const k of ['y', 'my', 'vy', 'dx', 'dbeta', 'dgamma', 'dw', 'db'] as const) {
      assert.deepEqual(bits(a[k]), bits(b[k]), `${act} ${k}: two runs with 2 threads differ`);
      assert.deepEqual(bits(c[k]), bits(d[k]), `${act} ${k}: two runs with 1 thread differ`);
    }
    for (const k of ['y', 'dx', 'dw', 'db'] as const) {
      assert.deepEqual(bits(a[k]), bits(c[k]), `${act} ${k}: 1 and 2 threads differ`);
      // (3 threads: 1x1 only; a 3x3 layer with C % 4 != 0 normalises its window in runs whose
      // scalar tails, a*x + b without FMA, fall on other floats with other blocks)
      if (g.KH === 1) assert.deepEqual(bits(e[k]), bits(c[k]), `${act} ${k}: 1 and 3 threads differ`);
    }
  }
});
