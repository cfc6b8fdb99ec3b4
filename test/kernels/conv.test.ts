/**
 * Convolution kernels (src/kernels/conv.ts, WebAssembly) and their scalar twin
 * (src/kernels/conv_scalar.ts) against the float64 reference of src/ops/conv2d.ts (NCHW; the
 * test converts layouts).
 *
 * Tolerance (float32 kernels): normwise relative error
 *   max_i |got_i - ref_i| / max_i |ref_i|  <=  1e-5 * sqrt(R)
 * where R is the length of the sums: KH*KW*C/G for the forward pass, KH*KW*K/G for
 * backward-data, N*OH*OW for backward-weights and the bias gradient. The float64 scalar twin
 * must match to 1e-12 relative.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Node } from '../../src/graph/ir.js';
import {
  convBackwardData,
  convBackwardWeight,
  convForward,
  convGeom,
  convTightLayout,
  convTuning,
  convWorkspace,
  type ConvGeom,
  type ConvGeomSpec,
} from '../../src/kernels/conv.js';
import * as scalar from '../../src/kernels/conv_scalar.js';
import * as S from '../../src/kernels/eltwise_scalar.js';
import { conv2d, conv2dBackwardData, conv2dBackwardWeight } from '../../src/ops/conv2d.js';
import type { Arr } from '../../src/ops/op.js';
import type { Backend } from '../../src/runtime/backend.js';
import { Rng } from '../../src/util/random.js';
import { getPool } from '../helpers/pools.js';
import { relErr } from '../helpers/kernels.js';

// ---------------------------------------------------------------------------------------
// layouts and the float64 reference

const nchwToNhwc = (a: Arr, N: number, C: number, H: number, W: number, out: Arr): Arr => (S.nchwToNhwc(a, out, N, H, W, C), out);
const nhwcToNchw = (a: Arr, N: number, C: number, H: number, W: number, out: Arr): Arr => (S.nhwcToNchw(a, out, N, H, W, C), out);

interface Data {
  g: ConvGeom;
  /** float32-representable values, NHWC / OIHW, as float64 */
  x: Float64Array;
  w: Float64Array;
  b: Float64Array;
  dy: Float64Array;
}

interface Ref {
  y: Float64Array;
  dx: Float64Array;
  dw: Float64Array;
  db: Float64Array;
}

function makeData(g: ConvGeom, seed: number): Data {
  const rng = new Rng(seed);
  const f = (n: number): Float64Array => Float64Array.from({ length: n }, () => Math.fround(rng.normal()));
  const Cg = g.C / g.groups;
  return { g, x: f(g.N * g.H * g.W * g.C), w: f(g.K * Cg * g.KH * g.KW), b: f(g.K), dy: f(g.N * g.OH * g.OW * g.K) };
}

function reference(dt: Data): Ref {
  const { g } = dt;
  const attrs = {
    stride: [...g.stride] as [number, number],
    padding: [...g.pad] as [number, number],
    dilation: [...g.dilation] as [number, number],
    groups: g.groups,
  };
  const xs = [g.N, g.C, g.H, g.W],
    wsh = [g.K, g.C / g.groups, g.KH, g.KW];
  const node = { name: 'conv', id: 0, op: 'conv2d', inputs: [], outputs: [], attrs: {} } as Node;
  const ctx = { seed: 0, step: 0 };
  const x = nhwcToNchw(dt.x, g.N, g.C, g.H, g.W, new Float64Array(dt.x.length));
  const dy = nhwcToNchw(dt.dy, g.N, g.K, g.OH, g.OW, new Float64Array(dt.dy.length));
  const y = new Float64Array(dt.dy.length);
  conv2d.run({ x: [x, dt.w, dt.b], y: [y], xs: [xs, wsh, [g.K]], ys: [], attrs, node, ctx });
  const battrs = { ...attrs, xShape: xs, wShape: wsh, bias: true };
  const dx = new Float64Array(dt.x.length);
  conv2dBackwardData.run({ x: [dy, dt.w], y: [dx], xs: [], ys: [], attrs: battrs, node, ctx });
  const dw = new Float64Array(dt.w.length),
    db = new Float64Array(g.K);
  conv2dBackwardWeight.run({ x: [dy, x], y: [dw, db], xs: [], ys: [], attrs: battrs, node, ctx });
  return {
    y: nchwToNhwc(y, g.N, g.K, g.OH, g.OW, new Float64Array(y.length)) as Float64Array,
    dx: nchwToNhwc(dx, g.N, g.C, g.H, g.W, new Float64Array(dx.length)) as Float64Array,
    dw,
    db,
  };
}

// ---------------------------------------------------------------------------------------
// running the WebAssembly kernels

interface Out {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array;
}

function runWasm(pool: Backend, dt: Data, bias = true): Out {
  const { g } = dt;
  const a = pool.arena;
  const ptr = (n: number): number => a.reserve(Math.max(4, n * 4));
  const px = ptr(dt.x.length),
    pw = ptr(dt.w.length),
    pb = ptr(g.K),
    pdy = ptr(dt.dy.length);
  const py = ptr(dt.dy.length),
    pdx = ptr(dt.x.length),
    pdw = ptr(dt.w.length),
    pdb = ptr(g.K);
  const ws = convWorkspace(a, g);
  a.view(px, dt.x.length).set(dt.x);
  a.view(pw, dt.w.length).set(dt.w);
  a.view(pb, g.K).set(dt.b);
  a.view(pdy, dt.dy.length).set(dt.dy);
  // poison the outputs: every element must be written
  a.view(py, dt.dy.length).fill(NaN);
  a.view(pdx, dt.x.length).fill(NaN);
  a.view(pdw, dt.w.length).fill(NaN);
  a.view(pdb, g.K).fill(NaN);
  convForward(pool, g, px, pw, bias ? pb : 0, py, ws);
  convBackwardData(pool, g, pdy, pw, pdx, ws);
  convBackwardWeight(pool, g, pdy, px, pdw, bias ? pdb : 0, ws);
  return {
    y: a.view(py, dt.dy.length).slice(),
    dx: a.view(pdx, dt.x.length).slice(),
    dw: a.view(pdw, dt.w.length).slice(),
    db: a.view(pdb, g.K).slice(),
  };
}

function check(dt: Data, ref: Ref, out: Out, label: string, bias = true): void {
  const { g } = dt;
  const Cg = g.C / g.groups,
    Kg = g.K / g.groups,
    T = g.KH * g.KW;
  const tol = (r: number): number => 1e-5 * Math.sqrt(r);
  const yRef = bias ? ref.y : ref.y.map((v, i) => v - dt.b[i % g.K]!);
  const cases: [string, Float32Array, Float64Array, number][] = [
    ['forward', out.y, yRef, T * Cg],
    ['backward-data', out.dx, ref.dx, T * Kg],
    ['backward-weight', out.dw, ref.dw, g.N * g.OH * g.OW],
  ];
  if (bias) cases.push(['bias grad', out.db, ref.db, g.N * g.OH * g.OW]);
  for (const [what, got, want, r] of cases) {
    const e = relErr(got, want);
    assert.ok(e <= tol(r), `${label}: ${what} relative error ${e.toExponential(2)} > ${tol(r).toExponential(2)}`);
  }
}

// ---------------------------------------------------------------------------------------
// shapes

const cases: [string, ConvGeomSpec][] = [];
// every tile edge: output channels K x input channels C (3x3, pad 1, M = 2*5*4 = 40 rows)
for (const C of [1, 3, 4, 5, 16]) {
  for (const K of [1, 7, 8, 9, 12, 16, 17]) cases.push([`3x3 p1 C=${C} K=${K}`, { N: 2, C, H: 5, W: 4, K, KH: 3, pad: 1 }]);
}
// rows M = N*OH*OW at, below and above the 4-row edge
for (const [N, H, W] of [
  [1, 1, 1],
  [1, 1, 2],
  [1, 1, 3],
  [1, 2, 2],
  [1, 1, 5],
  [1, 1, 7],
  [2, 2, 2],
  [3, 1, 3],
  [1, 3, 4],
] as const) {
  cases.push([`1x1 M=${N * H * W} C=5 K=9`, { N, C: 5, H, W, K: 9, KH: 1 }]);
  cases.push([`3x3 p1 M=${N * H * W} C=4 K=8`, { N, C: 4, H, W, K: 8, KH: 3, pad: 1 }]);
}
cases.push(
  ['3x3 stride 2 pad 1', { N: 2, C: 6, H: 9, W: 8, K: 10, KH: 3, stride: 2, pad: 1 }],
  ['3x3 stride 2 no pad', { N: 2, C: 8, H: 7, W: 7, K: 16, KH: 3, stride: 2 }],
  ['5x5 pad 2', { N: 1, C: 4, H: 6, W: 7, K: 9, KH: 5, pad: 2 }],
  ['3x2 kernel, stride [2,1], pad [1,0]', { N: 2, C: 3, H: 7, W: 6, K: 5, KH: 3, KW: 2, stride: [2, 1], pad: [1, 0] }],
  ['dilation 2', { N: 1, C: 5, H: 7, W: 7, K: 7, KH: 3, dilation: 2, pad: 2 }],
  ['dilation [2,1] stride 2', { N: 2, C: 8, H: 9, W: 8, K: 12, KH: 3, dilation: [2, 1], stride: 2, pad: 1 }],
  ['groups 2', { N: 2, C: 8, H: 5, W: 5, K: 12, KH: 3, groups: 2, pad: 1 }],
  ['groups 2, odd group sizes', { N: 2, C: 6, H: 5, W: 4, K: 10, KH: 3, groups: 2, pad: 1 }],
  ['groups 4, 1x1', { N: 2, C: 16, H: 3, W: 3, K: 20, KH: 1, groups: 4 }],
  ['grouped, channel multiplier 2 (Cg=1)', { N: 1, C: 4, H: 5, W: 5, K: 8, KH: 3, groups: 4, pad: 1 }],
  ['depthwise 3x3 p1 C=16', { N: 2, C: 16, H: 6, W: 5, K: 16, KH: 3, groups: 16, pad: 1 }],
  ['depthwise 3x3 s2 p1 C=7', { N: 2, C: 7, H: 7, W: 6, K: 7, KH: 3, groups: 7, stride: 2, pad: 1 }],
  ['depthwise 5x5 dilation 2 C=21', { N: 1, C: 21, H: 9, W: 9, K: 21, KH: 5, groups: 21, dilation: 2, pad: 4 }],
  ['1x1 C=16 K=17', { N: 2, C: 16, H: 4, W: 3, K: 17, KH: 1 }],
  ['1x1 stride 2', { N: 2, C: 12, H: 7, W: 6, K: 8, KH: 1, stride: 2 }],
  ['1x1 C=8 K=40 (backward-weights split over output channels)', { N: 2, C: 8, H: 5, W: 3, K: 40, KH: 1 }],
  ['3x3 C=3 K=20 stride 2 (segment tails, edge rows)', { N: 2, C: 3, H: 6, W: 7, K: 20, KH: 3, stride: 2, pad: 1 }],
  ['1x1 pad 1', { N: 1, C: 5, H: 3, W: 3, K: 9, KH: 1, pad: 1 }],
  ['7x7 stem stride 2 pad 3', { N: 2, C: 3, H: 20, W: 18, K: 16, KH: 7, stride: 2, pad: 3 }],
  ['3x3 C=64 K=24 (several reduction blocks)', { N: 1, C: 64, H: 5, W: 5, K: 24, KH: 3, pad: 1 }],
  ['3x3 C=12 K=48 (DenseNet-like)', { N: 2, C: 12, H: 6, W: 6, K: 48, KH: 3, pad: 1 }],
  ['1x1 C=48 K=12 (DenseNet growth)', { N: 2, C: 48, H: 6, W: 6, K: 12, KH: 1 }],
  ['image smaller than the kernel span', { N: 2, C: 4, H: 2, W: 3, K: 8, KH: 5, pad: 2 }],
);

for (const [name, spec] of cases) {
  test(`conv kernels: ${name}`, async () => {
    const g = convGeom(spec);
    const dt = makeData(g, cases.findIndex((c) => c[0] === name) + 1);
    const ref = reference(dt);
    for (const threads of [1, 2]) check(dt, ref, runWasm(await getPool(threads), dt), `${threads} thread(s)`);
  });
}

test('conv kernels: without bias', async () => {
  const g = convGeom({ N: 2, C: 5, H: 4, W: 4, K: 9, KH: 3, pad: 1 });
  const dt = makeData(g, 99);
  check(dt, reference(dt), runWasm(await getPool(2), dt, false), 'no bias', false);
});

test('conv kernels: tiny cache blocks (every blocking edge)', async () => {
  const saved = { ...convTuning };
  Object.assign(convTuning, { kc: 8, aBlockBytes: 16 * 8 * 3, kcData: 4, mChunk: 12, atBlockBytes: 16 * 12 * 2 });
  try {
    for (const spec of [
      { N: 2, C: 6, H: 5, W: 5, K: 19, KH: 3, pad: 1 },
      { N: 2, C: 3, H: 7, W: 6, K: 9, KH: 5, stride: 2, pad: 2 },
      { N: 3, C: 10, H: 3, W: 3, K: 13, KH: 1 },
      { N: 1, C: 8, H: 6, W: 5, K: 12, KH: 3, groups: 2, pad: 1, dilation: 2 },
      { N: 2, C: 4, H: 4, W: 5, K: 35, KH: 1 },
      { N: 1, C: 5, H: 9, W: 9, K: 6, KH: 7, stride: 2, pad: 3 },
    ] as ConvGeomSpec[]) {
      const g = convGeom(spec);
      const dt = makeData(g, 7);
      const ref = reference(dt);
      for (const threads of [1, 2]) check(dt, ref, runWasm(await getPool(threads), dt), `${JSON.stringify(spec)}, ${threads} thread(s)`);
    }
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('conv kernels: transposed paths (dx as a forward pass, dW^T, forward dot products) over several chunks of rows', async () => {
  for (const spec of [
    { N: 2, C: 20, H: 20, W: 20, K: 12, KH: 3, pad: 1 },
    { N: 1, C: 9, H: 50, W: 50, K: 4, KH: 3, stride: 2, pad: 1 },
    { N: 2, C: 16, H: 18, W: 18, K: 20, KH: 3, pad: 2, dilation: 2 },
    { N: 1, C: 3, H: 30, W: 30, K: 3, KH: 5, pad: 1 },
    // the forward's dot-product kernel (C >= 32): odd pixel counts, K % 4 != 0, stride, dilation
    { N: 1, C: 32, H: 9, W: 7, K: 12, KH: 3, pad: 1 },
    { N: 1, C: 36, H: 7, W: 5, K: 9, KH: 3, pad: 2, dilation: 2 },
    { N: 3, C: 40, H: 5, W: 5, K: 64, KH: 3, stride: 2, pad: 1 },
    { N: 2, C: 48, H: 30, W: 30, K: 20, KH: 3, pad: 1 },
    // backward-weights' dot-product kernel (rows of 32 pixels or more, K <= 16)
    { N: 1, C: 16, H: 33, W: 33, K: 12, KH: 3, pad: 1 },
    { N: 1, C: 20, H: 66, W: 66, K: 5, KH: 3, stride: 2, pad: 1 },
    { N: 1, C: 24, H: 34, W: 34, K: 16, KH: 3, pad: 2, dilation: 2 },
  ] as ConvGeomSpec[]) {
    const g = convGeom(spec);
    const dt = makeData(g, 11);
    const ref = reference(dt);
    for (const threads of [1, 2]) check(dt, ref, runWasm(await getPool(threads), dt), `${JSON.stringify(spec)}, ${threads} thread(s)`);
  }
});

test('conv kernels: short kernel rows packed tight (the stem) agree with the reference and the padded layout', async () => {
  const specs: ConvGeomSpec[] = [
    { N: 2, C: 3, H: 23, W: 21, K: 64, KH: 7, stride: 2, pad: 3 }, // the stem: rows of 21
    { N: 1, C: 3, H: 9, W: 10, K: 40, KH: 3, stride: 2, pad: 1 }, // 9
    { N: 2, C: 5, H: 7, W: 6, K: 36, KH: 3, pad: 1 }, // 15, stride 1 with K > dataT
    { N: 1, C: 1, H: 8, W: 9, K: 12, KH: 5, stride: 2, pad: 2, dilation: [2, 1] }, // 5, dilated rows
    { N: 2, C: 6, H: 6, W: 5, K: 9, KH: 3, KW: 5, stride: 2, pad: [1, 2] }, // 30
  ];
  const saved = { ...convTuning };
  try {
    for (const spec of specs) {
      const g = convGeom(spec);
      assert.deepEqual(convTightLayout(g), { weights: true, data: true }, JSON.stringify(spec));
      const dt = makeData(g, 17);
      const ref = reference(dt);
      for (const tight of [1, 0]) {
        convTuning.tight = tight;
        // a small M chunk and A block: several chunks, blocks and partial micro-panels
        for (const tiny of [false, true]) {
          Object.assign(convTuning, tiny ? { mChunk: 12, aBlockBytes: 16 * 8 * 5 } : { mChunk: saved.mChunk, aBlockBytes: saved.aBlockBytes });
          for (const threads of [1, 2])
            check(dt, ref, runWasm(await getPool(threads), dt), `${JSON.stringify(spec)}, tight ${tight}, tiny ${tiny}, ${threads} thread(s)`);
        }
      }
      convTuning.tight = 0;
      assert.deepEqual(convTightLayout(g), { weights: false, data: false });
      convTuning.tight = saved.tight;
    }
    // kernel rows that are whole vectors (4 floats for the rows of backward-weights, 8 for the
    // columns of backward-data), or long, keep the padded layout
    assert.deepEqual(convTightLayout(convGeom({ N: 1, C: 4, H: 5, W: 5, K: 8, KH: 3, pad: 1 })), { weights: false, data: true });
    assert.deepEqual(convTightLayout(convGeom({ N: 1, C: 8, H: 5, W: 5, K: 8, KH: 3, pad: 1 })), { weights: false, data: false });
    assert.deepEqual(convTightLayout(convGeom({ N: 1, C: 11, H: 5, W: 5, K: 8, KH: 3, pad: 1 })), { weights: false, data: false });
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('conv kernels: backward-weights in slices of the reduction (each its own accumulator), bit-identical across 1, 2 and 3 threads', async () => {
  const saved = { ...convTuning };
  try {
    for (const spec of [
      { N: 2, C: 24, H: 9, W: 7, K: 16, KH: 1 }, // rows split (2 * ROWS > Kg8)
      { N: 3, C: 8, H: 5, W: 6, K: 40, KH: 1 }, // columns split
      { N: 2, C: 3, H: 11, W: 10, K: 16, KH: 7, stride: 2, pad: 3 }, // the stem, tight rows
      { N: 2, C: 12, H: 6, W: 6, K: 12, KH: 3, groups: 2, pad: 1 }, // groups
    ] as ConvGeomSpec[]) {
      const g = convGeom(spec);
      const dt = makeData(g, 23);
      const ref = reference(dt);
      // chunks of 8 pixels: 4 slices of one or more chunks (M = 38 to 90)
      Object.assign(convTuning, saved, { mChunk: 8 });
      const outs: Out[] = [];
      for (const threads of [1, 2, 3]) {
        const out = runWasm(await getPool(threads), dt);
        check(dt, ref, out, `${JSON.stringify(spec)}, ${threads} thread(s)`);
        outs.push(out);
      }
      for (const o of outs.slice(1))
        assert.deepEqual(new Uint32Array(o.dw.buffer), new Uint32Array(outs[0]!.dw.buffer), `${JSON.stringify(spec)}: dW differs between thread counts`);
      // one accumulator: the same values, summed in another order
      Object.assign(convTuning, { wSlices: 1 });
      const one = runWasm(await getPool(2), dt);
      check(dt, ref, one, `${JSON.stringify(spec)}, one slice`);
      assert.notDeepEqual(
        new Uint32Array(one.dw.buffer),
        new Uint32Array(outs[0]!.dw.buffer),
        `${JSON.stringify(spec)}: backward-weights did not take the slices`,
      );
    }
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('conv kernels: the GEMM paths (col2im, dW) still hold for small K (transposed and Winograd paths off)', async () => {
  const saved = { ...convTuning };
  Object.assign(convTuning, { dataT: 0, wT: 0, dotK: 0, wDot: 0, wino: 0 });
  try {
    for (const [name, spec] of cases.filter((_, i) => i % 2 === 0)) {
      const g = convGeom(spec);
      const dt = makeData(g, 13);
      check(dt, reference(dt), runWasm(await getPool(2), dt), name);
    }
  } finally {
    Object.assign(convTuning, saved);
  }
});

// Winograd F(2x2, 3x3) (winograd.ts conv_wino_fwd): the forward pass and backward-data of 3x3 stride-1
// convolutions with C % 4 == K % 4 == 0. Output tiles of 2x2 pixels: odd sizes leave partial
// tiles; blocks of TB tiles and passes of KB output channels (forced to 2 and 4 here).
const WINO: ConvGeomSpec[] = [
  { N: 1, C: 4, H: 1, W: 1, K: 4, KH: 3, pad: 1 },
  { N: 2, C: 8, H: 2, W: 3, K: 12, KH: 3, pad: 1 },
  { N: 3, C: 12, H: 5, W: 7, K: 8, KH: 3, pad: 1 },
  { N: 1, C: 20, H: 6, W: 6, K: 16, KH: 3, pad: 1 },
  { N: 2, C: 4, H: 7, W: 6, K: 4, KH: 3 },
  { N: 1, C: 16, H: 5, W: 4, K: 20, KH: 3, pad: 2 },
  { N: 1, C: 8, H: 4, W: 9, K: 12, KH: 3, pad: [0, 1] },
  { N: 2, C: 36, H: 9, W: 5, K: 28, KH: 3, pad: 1 },
  // backward-weights takes Winograd from C = 32: panels of 8 channels split over threads, C % 8 == 4
  { N: 2, C: 32, H: 3, W: 5, K: 4, KH: 3, pad: 1 },
  { N: 3, C: 44, H: 7, W: 6, K: 12, KH: 3, pad: [1, 0] },
  { N: 1, C: 68, H: 5, W: 5, K: 8, KH: 3, pad: 2 },
];

test('conv kernels: Winograd at its tile and block edges, against the reference and the GEMM paths', async () => {
  const saved = { ...convTuning };
  try {
    for (const tiny of [false, true]) {
      for (const spec of WINO) {
        Object.assign(convTuning, saved, tiny ? { winoUBytes: 1, winoVBytes: 1, winoWBytes: 1, winoWMinTiles: 0 } : {});
        const g = convGeom(spec);
        const dt = makeData(g, 17);
        const ref = reference(dt);
        const label = `${JSON.stringify(spec)}${tiny ? ', tiny blocks' : ''}`;
        for (const threads of [1, 2]) check(dt, ref, runWasm(await getPool(threads), dt), `${label}, ${threads} thread(s)`);
        // a different algorithm ran: the GEMM paths round differently
        const wino = runWasm(await getPool(2), dt);
        convTuning.wino = 0;
        const gemm = runWasm(await getPool(2), dt);
        check(dt, ref, gemm, `${label}, GEMM`);
        assert.notDeepEqual(new Uint32Array(wino.y.buffer), new Uint32Array(gemm.y.buffer), `${label}: forward did not take Winograd`);
        assert.notDeepEqual(new Uint32Array(wino.dx.buffer), new Uint32Array(gemm.dx.buffer), `${label}: backward-data did not take Winograd`);
        if (g.C >= 32)
          assert.notDeepEqual(new Uint32Array(wino.dw.buffer), new Uint32Array(gemm.dw.buffer), `${label}: backward-weights did not take Winograd`);
      }
    }
  } finally {
    Object.assign(convTuning, saved);
  }
});

test('conv_scalar Winograd twin: float64 matches the reference, float32 the WebAssembly kernel', async () => {
  for (const spec of WINO) {
    const g = convGeom(spec);
    const dt = makeData(g, 19);
    const ref = reference(dt);
    const y = new Float64Array(ref.y.length);
    scalar.winogradForward(g, dt.x, dt.w, dt.b, y);
    assert.ok(relErr(y, ref.y) <= 1e-12, `${JSON.stringify(spec)}: float64 twin relative error ${relErr(y, ref.y)}`);
    const y32 = new Float32Array(ref.y.length);
    scalar.winogradForward(g, Float32Array.from(dt.x), Float32Array.from(dt.w), Float32Array.from(dt.b), y32);
    const out = runWasm(await getPool(2), dt);
    assert.ok(relErr(out.y, y32) <= 1e-5 * Math.sqrt(9 * g.C), `${JSON.stringify(spec)}: float32 twin vs wasm ${relErr(out.y, y32)}`);
    const dw = new Float64Array(ref.dw.length);
    scalar.winogradBackwardWeight(g, dt.dy, dt.x, dw);
    assert.ok(relErr(dw, ref.dw) <= 1e-12, `${JSON.stringify(spec)}: float64 backward-weights twin relative error ${relErr(dw, ref.dw)}`);
    if (g.C >= 32)
      assert.ok(relErr(out.dw, dw) <= 1e-5 * Math.sqrt(g.N * g.OH * g.OW), `${JSON.stringify(spec)}: backward-weights twin vs wasm ${relErr(out.dw, dw)}`);
  }
  assert.throws(
    () =>
      scalar.winogradForward(
        convGeom({ N: 1, C: 4, H: 4, W: 4, K: 4, KH: 3, stride: 2 }),
        new Float64Array(64),
        new Float64Array(144),
        undefined,
        new Float64Array(16),
      ),
    /stride 1/,
  );
});

for (const [what, spec] of [
  ['GEMM and Winograd forward / backward-data', { N: 4, C: 20, H: 9, W: 9, K: 36, KH: 3, pad: 1, stride: 1 }],
  ['Winograd backward-weights over several chunks', { N: 6, C: 44, H: 13, W: 12, K: 24, KH: 3, pad: 1, stride: 1 }],
] as [string, ConvGeomSpec][])
  test(`conv kernels: bit-identical across runs and across thread counts (${what})`, async () => {
    const g = convGeom(spec);
    const dt = makeData(g, 5);
    const p2 = await getPool(2);
    const a = runWasm(p2, dt),
      b = runWasm(p2, dt),
      c = runWasm(await getPool(1), dt);
    for (const k of ['y', 'dx', 'dw', 'db'] as const) {
      const u = new Uint32Array(a[k].buffer),
        v = new Uint32Array(b[k].buffer),
        w = new Uint32Array(c[k].buffer);
      assert.deepEqual(u, v, `${k}: two runs with 2 threads differ`);
      assert.deepEqual(u, w, `${k}: 1 and 2 threads differ`);
    }
  });

test('conv_scalar (float64) matches the reference', () => {
  for (const [name, spec] of cases.filter((_, i) => i % 3 === 0)) {
    const g = convGeom(spec);
    const dt = makeData(g, 3);
    const ref = reference(dt);
    const y = new Float64Array(ref.y.length),
      dx = new Float64Array(ref.dx.length);
    const dw = new Float64Array(ref.dw.length),
      db = new Float64Array(g.K);
    scalar.convForward(g, dt.x, dt.w, dt.b, y);
    scalar.convBackwardData(g, dt.dy, dt.w, dx);
    scalar.convBackwardWeight(g, dt.dy, dt.x, dw, db);
    for (const [what, got, want] of [
      ['y', y, ref.y],
      ['dx', dx, ref.dx],
      ['dw', dw, ref.dw],
      ['db', db, ref.db],
    ] as const) {
      const e = relErr(got, want);
      assert.ok(e <= 1e-12, `${name}: ${what} relative error ${e}`);
    }
  }
});

test('conv_scalar (float32) agrees with the WebAssembly kernels', async () => {
  const g = convGeom({ N: 2, C: 7, H: 6, W: 6, K: 10, KH: 3, pad: 1, stride: 2 });
  const dt = makeData(g, 11);
  const out = runWasm(await getPool(2), dt);
  const y = new Float32Array(out.y.length),
    dx = new Float32Array(out.dx.length),
    dw = new Float32Array(out.dw.length),
    db = new Float32Array(g.K);
  scalar.convForward(g, Float32Array.from(dt.x), Float32Array.from(dt.w), Float32Array.from(dt.b), y);
  scalar.convBackwardData(g, Float32Array.from(dt.dy), Float32Array.from(dt.w), dx);
  scalar.convBackwardWeight(g, Float32Array.from(dt.dy), Float32Array.from(dt.x), dw, db);
  for (const [what, got, want] of [
    ['y', out.y, y],
    ['dx', out.dx, dx],
    ['dw', out.dw, dw],
    ['db', out.db, db],
  ] as const) {
    assert.ok(relErr(got, want) <= 1e-4, `${what}: ${relErr(got, want)}`);
  }
});

test('conv kernels: a workspace that is too small is refused', async () => {
  const pool = await getPool(1);
  const small = convGeom({ N: 1, C: 4, H: 4, W: 4, K: 8, KH: 1 });
  const big = convGeom({ N: 1, C: 64, H: 4, W: 4, K: 64, KH: 3, pad: 1 });
  const ws = convWorkspace(pool.arena, small);
  assert.throws(() => convForward(pool, big, 0, 0, 0, 0, ws), /workspace/);
  assert.throws(() => convGeom({ N: 1, C: 6, H: 4, W: 4, K: 8, KH: 3, groups: 4 }), /groups/);
});
