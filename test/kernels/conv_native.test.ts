/**
 * The native convolution kernels (src/kernels/native/families/gemm.cc) against the WebAssembly
 * ones (src/kernels/wasm/gemm.ts, gemm_w.ts, depthwise.ts): the host functions of
 * src/kernels/conv.ts, unfused and with each fusion (x prologue, moments, dy prologue, dx
 * epilogue stored and accumulating; the x prologues and the dx epilogue with no activation, ReLU,
 * and ReLU6, SiLU or hardswish wherever the path takes them), run on a NativeBackend and on a wasm ThreadPool with the same inputs must give the same bits, at
 * 1, 2 and 3 threads. The native kernels keep every output element's order of operations (the
 * wide micro-kernel computes several 4x8 tiles at once, each with the 4x8 kernel's k order and
 * FMAs), and the host splits the work the same way on both, so the per-thread partials of the
 * moments and of the dx epilogue's reductions match too.
 *
 * Shapes sit at, below and above the tile edges: channel counts around 4, 8, 16, 24, 32 (the 8-
 * column B panels, the 4-row A micro-panels, the wide kernel's 2-4 panels per call) and output
 * pixel counts around the row blocking (4-row micro-panels, 12 rows of the wide kernel), with
 * tiny cache blocks for the blocking edges and every path switch of convTuning.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  ACT,
  convBackwardData,
  convBackwardWeight,
  convDxAccumulates,
  convForward,
  convFusedActivation,
  convGeom,
  convTuning,
  convWorkspace,
  isDepthwise,
  type ConvBackwardDataFusion,
  type ConvBackwardWeightFusion,
  type ConvForwardFusion,
  type ConvGeom,
  type ConvGeomSpec,
} from '../../src/kernels/conv.js';
import type { Backend } from '../../src/runtime/backend.js';
import { Arena } from '../../src/runtime/memory.js';
import { NativeBackend, nativeStatus } from '../../src/runtime/native.js';
import { ThreadPool } from '../../src/runtime/pool.js';
import { Rng } from '../../src/util/random.js';

const status = await nativeStatus();
const skip = status.ok ? false : `native engine unavailable: ${status.reason}`;

const pairs = new Map<number, { native: Backend; wasm: Backend }>();
after(() => {
  for (const p of pairs.values()) {
    p.native.close();
    p.wasm.close();
  }
});
async function pair(threads: number): Promise<{ native: Backend; wasm: Backend }> {
  let p = pairs.get(threads);
  if (!p) {
    p = { native: await NativeBackend.create(new Arena(), threads, status), wasm: await ThreadPool.create(new Arena(), threads) };
    pairs.set(threads, p);
  }
  return p;
}

/** What a run computes: which fusions each pass takes (undefined: the unfused kernel). */
interface Variant {
  bias?: boolean;
  fwd?: { xPrologue?: boolean; moments?: boolean };
  data?: { dyPrologue?: boolean; dxEpilogue?: boolean; accumulate?: boolean };
  weight?: { dyPrologue?: boolean; xPrologue?: boolean };
  /** the activation code (ACT) of the x prologues and the dx epilogue; default ReLU */
  act?: number;
}

interface Inputs {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  dy: Float32Array;
  xbn: Float32Array;
  coef: Float32Array;
  cdy: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
  gbuf: Float32Array;
}

function inputs(g: ConvGeom, seed: number): Inputs {
  const rng = new Rng(seed);
  const vec = (n: number, f: () => number): Float32Array => Float32Array.from({ length: n }, f);
  const { N, C, H, W, K, OH, OW } = g;
  // a: every third channel 4x wider, so that a*x + b crosses ReLU6's 6 and hardswish's 3 too
  const coef = vec(2 * C, () => rng.normal());
  for (let c = 0; c < C; c++) {
    if (c % 3 === 2) coef[c] = 4 * coef[c]!;
    coef[C + c] = 0.3 * rng.normal(); // b: about a third of the ReLU mask is off
  }
  return {
    x: vec(N * H * W * C, () => rng.normal()),
    w: vec((K * C * g.KH * g.KW) / g.groups, () => rng.normal()),
    b: vec(K, () => rng.normal()),
    dy: vec(N * OH * OW * K, () => rng.normal()),
    xbn: vec(N * OH * OW * K, () => 0.2 + rng.normal()),
    coef,
    cdy: vec(3 * K, () => rng.normal()),
    mean: vec(C, () => 0.1 * rng.normal()),
    rstd: vec(C, () => 0.5 + rng.next()),
    gbuf: vec(N * H * W * 2 * C, () => rng.normal()),
  };
}

/** Runs the three passes of `v` on `be`; returns every output (poisoned with NaN beforehand). */
function run(be: Backend, g: ConvGeom, inp: Inputs, v: Variant): Record<string, Float32Array> {
  const a = be.arena;
  const put = (arr: Float32Array): number => {
    const p = a.reserve(Math.max(4, arr.length * 4));
    a.view(p, arr.length).set(arr);
    return p;
  };
  const out = (n: number): number => {
    const p = a.reserve(Math.max(4, n * 4));
    a.view(p, n).fill(NaN);
    return p;
  };
  const { N, C, H, W, K, OH, OW } = g;
  const ny = N * OH * OW * K,
    nx = N * H * W * C;
  const px = put(inp.x),
    pw = put(inp.w),
    pb = put(inp.b),
    pdy = put(inp.dy),
    pxbn = put(inp.xbn);
  const coef = put(inp.coef),
    cdy = put(inp.cdy),
    pm = put(inp.mean),
    pr = put(inp.rstd);
  const pg = put(inp.gbuf);
  const py = out(ny),
    pmy = out(K),
    pvy = out(K),
    pdx = out(nx),
    pdbeta = out(C),
    pdgamma = out(C),
    pdw = out(inp.w.length),
    pdb = out(K);
  const ws = convWorkspace(a, g);
  const relu = false,
    act = v.act ?? ACT.relu;
  const bias = v.bias ?? false;
  const ff: ConvForwardFusion | undefined = v.fwd && {
    xPrologue: v.fwd.xPrologue ? { coef, relu, act } : undefined,
    moments: v.fwd.moments ? { mean: pmy, variance: pvy } : undefined,
  };
  convForward(be, g, px, pw, bias ? pb : 0, py, ws, ff);
  const dyPro = { dbn: pdy, xbn: pxbn, coef: cdy };
  const fd: ConvBackwardDataFusion | undefined = v.data && {
    dyPrologue: v.data.dyPrologue ? dyPro : undefined,
    dxEpilogue: v.data.dxEpilogue
      ? { x2: px, coef, mean: pm, rstd: pr, relu, act, dbeta: pdbeta, dgamma: pdgamma, accumulate: v.data.accumulate ? { G: pg, stride: 2 * C } : undefined }
      : undefined,
  };
  convBackwardData(be, g, v.data?.dyPrologue ? 0 : pdy, pw, pdx, ws, fd);
  const fw: ConvBackwardWeightFusion | undefined = v.weight && {
    dyPrologue: v.weight.dyPrologue ? dyPro : undefined,
    xPrologue: v.weight.xPrologue ? { coef, relu, act } : undefined,
  };
  convBackwardWeight(be, g, v.weight?.dyPrologue ? 0 : pdy, px, pdw, bias ? pdb : 0, ws, fw);
  const get = (p: number, n: number): Float32Array => a.view(p, n).slice();
  const r: Record<string, Float32Array> = { y: get(py, ny), dw: get(pdw, inp.w.length) };
  if (bias) r.db = get(pdb, K);
  if (v.fwd?.moments) Object.assign(r, { mean: get(pmy, K), variance: get(pvy, K) });
  if (v.data?.accumulate) r.gbuf = get(pg, inp.gbuf.length);
  else r.dx = get(pdx, nx);
  if (v.data?.dxEpilogue) Object.assign(r, { dbeta: get(pdbeta, C), dgamma: get(pdgamma, C) });
  return r;
}

function firstDiff(a: Float32Array, b: Float32Array): string {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length),
    ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return `element ${i}: native ${a[i]} vs wasm ${b[i]}`;
  return '';
}

const PLAIN: Variant = { bias: true };
const FUSED: Variant[] = [
  { fwd: { xPrologue: true, moments: true }, data: { dyPrologue: true, dxEpilogue: true }, weight: { dyPrologue: true, xPrologue: true } },
  { bias: true, act: ACT.none, fwd: { xPrologue: true }, data: { dxEpilogue: true }, weight: { xPrologue: true } },
  { bias: true, fwd: { moments: true }, data: { dyPrologue: true }, weight: { dyPrologue: true } },
];

async function same(spec: ConvGeomSpec, seed: number, variants: Variant[], threadCounts = [1, 2, 3]): Promise<void> {
  const g = convGeom(spec);
  const inp = inputs(g, seed);
  const list = isDepthwise(g) ? [PLAIN] : [...variants];
  // the lean CNNs' activations in every prologue and epilogue where the paths take them (ReLU6
  // always, SiLU or hardswish by seed), when the variants include every fusion
  const acts = [ACT.relu6, seed % 2 === 0 ? ACT.silu : ACT.hardswish].filter((a) => convFusedActivation(g, a));
  if (!isDepthwise(g) && variants.includes(FUSED[0]!)) for (const act of acts) list.push({ ...FUSED[0]!, act });
  const accAct = [ACT.none, ACT.relu, ACT.relu6, ACT.hardswish][seed % 4]!;
  if (!isDepthwise(g) && convDxAccumulates(g))
    list.push({ data: { dxEpilogue: true, accumulate: true }, act: convFusedActivation(g, accAct) ? accAct : ACT.relu });
  for (const threads of threadCounts) {
    const { native, wasm } = await pair(threads);
    for (const v of list) {
      const got = run(native, g, inp, v),
        want = run(wasm, g, inp, v);
      for (const k of Object.keys(want)) {
        const diff = firstDiff(got[k]!, want[k]!);
        assert.equal(diff, '', `${JSON.stringify(spec)} ${JSON.stringify(v)} ${threads}T ${k}: ${diff}`);
      }
    }
  }
}

async function withTuning(knobs: Partial<typeof convTuning>, body: () => Promise<void>): Promise<void> {
  const saved = { ...convTuning };
  Object.assign(convTuning, knobs);
  try {
    await body();
  } finally {
    Object.assign(convTuning, saved);
  }
}

// channel counts at, below and above the tile edges
const EDGE = [3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33];

test('native conv: 1x1, C and K around every tile edge, M around the row blocking', { skip }, async () => {
  for (const [i, C] of EDGE.entries()) {
    const K = EDGE[(i * 7 + 3) % EDGE.length]!;
    // M = N*H*W: 3, 4, 5, 11, 12, 13, 23, 24, 25, 47, 48, 49 ...
    const Ms = [3, 4, 5, 11, 12, 13, 23, 24, 25, 47, 48, 49, 96, 97];
    const M = Ms[i % Ms.length]!;
    await same({ N: 1, C, H: 1, W: M, K, KH: 1 }, 10 + i, [PLAIN, ...FUSED]);
    await same({ N: 1, C: K, H: 1, W: M + 1, K: C, KH: 1 }, 40 + i, [PLAIN]);
  }
});

test('native conv: 1x1, resnet-like channel counts (several panels, reduction blocks)', { skip }, async () => {
  for (const [i, [C, K, HW]] of (
    [
      [64, 256, 5],
      [256, 64, 6],
      [128, 40, 7],
      [48, 96, 4],
      [96, 48, 3],
    ] as const
  ).entries()) {
    await same({ N: 2, C, H: HW, W: HW, K, KH: 1 }, 70 + i, [PLAIN, FUSED[0]!], [1, 3]);
    await same({ N: 1, C, H: HW, W: HW + 1, K, KH: 1, stride: 2 }, 80 + i, [PLAIN], [2]);
  }
});

test('native conv: 1x1 in place over several reduction blocks and pixel blocks (backward-weights split in 128-pixel blocks)', { skip }, async () => {
  // C = 320: two forward reduction blocks of 160 (x read in place at an offset; the first tile's
  // moments through mkm); M = 338 or 2 x 400 pixels: backward-weights chunks of 512 or 200
  // pixels cut into blocks of 128 with partial sums, the next chunk prefetched
  await same({ N: 2, C: 24, H: 13, W: 13, K: 40, KH: 1 }, 300, [PLAIN, ...FUSED]);
  await same({ N: 1, C: 320, H: 7, W: 7, K: 24, KH: 1 }, 301, [PLAIN, ...FUSED]);
  await withTuning({ mChunk: 200 }, async () => {
    await same({ N: 2, C: 16, H: 20, W: 20, K: 48, KH: 1 }, 302, [PLAIN, ...FUSED]);
    await same({ N: 2, C: 64, H: 20, W: 20, K: 16, KH: 1 }, 303, [PLAIN]);
  });
  // rows 1024 floats apart: the packed paths
  await same({ N: 1, C: 1024, H: 3, W: 5, K: 16, KH: 1 }, 304, [PLAIN, FUSED[0]!], [1, 2]);
  // x of 8.5 MB: backward-weights' x prologue normalises rows in order and reads them in place
  await same({ N: 1, C: 64, H: 182, W: 182, K: 24, KH: 1 }, 305, [FUSED[0]!, FUSED[1]!], [1, 2, 3]);
});

test('native conv: spatial kernels (3x3, strided, padded, dilated, grouped, 7x7 stem, depthwise)', { skip }, async () => {
  const shapes: ConvGeomSpec[] = [
    { N: 2, C: 5, H: 5, W: 4, K: 9, KH: 3, pad: 1 },
    { N: 2, C: 8, H: 6, W: 5, K: 16, KH: 3 },
    { N: 1, C: 16, H: 7, W: 7, K: 24, KH: 3, pad: 1 },
    { N: 1, C: 33, H: 5, W: 6, K: 17, KH: 3, pad: 1 },
    { N: 2, C: 6, H: 9, W: 8, K: 10, KH: 3, stride: 2, pad: 1 },
    { N: 1, C: 5, H: 7, W: 7, K: 7, KH: 3, dilation: 2, pad: 2 },
    { N: 2, C: 8, H: 5, W: 5, K: 12, KH: 3, groups: 2, pad: 1 },
    { N: 2, C: 16, H: 3, W: 3, K: 20, KH: 1, groups: 4 },
    { N: 2, C: 3, H: 20, W: 18, K: 16, KH: 7, stride: 2, pad: 3 },
    { N: 1, C: 3, H: 30, W: 30, K: 64, KH: 7, stride: 2, pad: 3 },
    { N: 1, C: 4, H: 6, W: 7, K: 9, KH: 5, pad: 2 },
    { N: 2, C: 3, H: 7, W: 6, K: 5, KH: 3, KW: 2, stride: [2, 1], pad: [1, 0] },
    { N: 2, C: 20, H: 9, W: 9, K: 12, KH: 3, pad: 1 },
    { N: 2, C: 48, H: 8, W: 8, K: 20, KH: 3, pad: 1 },
    { N: 1, C: 32, H: 9, W: 40, K: 12, KH: 3, pad: 1 },
    { N: 2, C: 17, H: 6, W: 6, K: 17, KH: 3, groups: 17, pad: 1 },
    { N: 1, C: 36, H: 7, W: 7, K: 36, KH: 3, groups: 36, stride: 2, pad: 1 },
  ];
  for (const knobs of [{ wino: 0 }, { wino: 0, dataT: 0, dotK: 0, wDot: 0, wT: 0 }, { wino: 0, windowBytes: 0, tight: 0, wSlices: 1 }]) {
    await withTuning(knobs, async () => {
      for (const [i, spec] of shapes.entries()) await same(spec, 100 + i, [PLAIN, ...FUSED], [1, 2, 3]);
    });
  }
});

test('native conv: tiny cache blocks (every blocking edge)', { skip }, async () => {
  await withTuning({ wino: 0, kc: 8, aBlockBytes: 16 * 8 * 3, kcData: 4, mChunk: 12, atBlockBytes: 16 * 12 * 2 }, async () => {
    for (const [i, spec] of (
      [
        { N: 2, C: 6, H: 5, W: 5, K: 19, KH: 3, pad: 1 },
        { N: 2, C: 3, H: 7, W: 6, K: 9, KH: 5, stride: 2, pad: 2 },
        { N: 3, C: 10, H: 3, W: 3, K: 13, KH: 1 },
        { N: 1, C: 8, H: 6, W: 5, K: 12, KH: 3, groups: 2, pad: 1, dilation: 2 },
        { N: 2, C: 4, H: 4, W: 5, K: 35, KH: 1 },
        { N: 1, C: 5, H: 9, W: 9, K: 6, KH: 7, stride: 2, pad: 3 },
        { N: 1, C: 40, H: 5, W: 9, K: 48, KH: 1 },
      ] as ConvGeomSpec[]
    ).entries()) {
      await same(spec, 200 + i, [PLAIN, ...FUSED]);
    }
  });
  await withTuning({ wino: 0, kc: 64, aBlockBytes: 16 * 64 * 13, kcData: 24, mChunk: 52 }, async () => {
    await same({ N: 2, C: 72, H: 7, W: 9, K: 40, KH: 1 }, 230, [PLAIN, ...FUSED]);
    await same({ N: 1, C: 24, H: 9, W: 9, K: 72, KH: 3, pad: 1 }, 231, [PLAIN, ...FUSED]);
  });
});
