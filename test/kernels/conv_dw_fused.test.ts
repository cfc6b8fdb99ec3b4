/**
 * Fused depthwise convolution kernels (conv_dw_fwd_f, conv_dw_bwd_data_f, conv_dw_bwd_w_f in
 * src/kernels/wasm/depthwise.ts and native/families/depthwise.cc, through the host functions of
 * src/kernels/conv.ts with a `fusion` argument) against the float64 reference (the scalar twins
 * of src/kernels/conv_scalar.ts on Float64Array, themselves checked against the composition of
 * src/ops/conv2d_fused.ts) and the scalar twin in float32, every activation code, at 1, 2 and 3
 * threads, on the WebAssembly and the native engine; the native kernels bit for bit against the
 * WebAssembly ones.
 *
 * Channel counts sit at, below and above the 4-lane vectors and the 16- and 64-channel blocks;
 * BN outputs z = a*x + b are kept 1e-3 away from every kink of the activations (0 and 6 for ReLU
 * and ReLU6, -3 and 3 for hardswish), so that a mask never flips between float32 and float64.
 * Tolerance: normwise relative error <= 2e-5 * (sqrt(R) + 4), R the length of the sums.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Node } from '../../src/graph/ir.js';
import { ACT, convBackwardData, convBackwardWeight, convForward, convGeom, convWorkspace, type ConvGeom, type ConvGeomSpec } from '../../src/kernels/conv.js';
import { nchwToNhwc, nhwcToNchw } from '../../src/kernels/eltwise_scalar.js';
import {
  type DwAffine,
  type DwDyPrologue,
  depthwiseBackwardDataFused,
  depthwiseBackwardWeightFused,
  depthwiseForwardFused,
} from '../../src/kernels/conv_scalar.js';
import { bnDxAffine } from '../../src/ops/batch_norm2d.js';
import { conv2dFused, conv2dFusedBackwardData, conv2dFusedBackwardWeight } from '../../src/ops/conv2d_fused.js';
import type { Backend } from '../../src/runtime/backend.js';
import { Arena } from '../../src/runtime/memory.js';
import { NativeBackend, nativeStatus } from '../../src/runtime/native.js';
import { ThreadPool } from '../../src/runtime/pool.js';
import { Rng } from '../../src/util/random.js';
import { firstBitDiff, poisoned, putArena, relErr } from '../helpers/kernels.js';

const status = await nativeStatus();
const backends = new Map<string, Backend>();
after(() => {
  for (const b of backends.values()) b.close();
});
async function backend(kind: 'wasm' | 'native', threads: number): Promise<Backend> {
  const key = `${kind}${threads}`;
  let b = backends.get(key);
  if (!b) {
    b = kind === 'native' ? await NativeBackend.create(new Arena(), threads, status) : await ThreadPool.create(new Arena(), threads);
    backends.set(key, b);
  }
  return b;
}
const ENGINES: ('wasm' | 'native')[] = status.ok ? ['wasm', 'native'] : ['wasm'];

const f32 = Math.fround;
const KINKS: Record<number, number[]> = { 0: [], 1: [0], 2: [0, 6], 3: [], 4: [-3, 3] };

/** Which fused parts a run takes. */
interface Parts {
  xPrologue: boolean;
  moments: boolean;
  dyPrologue: boolean;
  dxEpilogue: boolean;
  bias: boolean;
}
const ALL: Parts = { xPrologue: true, moments: true, dyPrologue: true, dxEpilogue: true, bias: false };

/** NHWC float32 values (in Float64Array): x, w (OIHW), the BN of x as a, b (and mean, rstd), dy's BN as A, B, C0. */
interface Data {
  g: ConvGeom;
  act: number;
  x: Float64Array;
  w: Float64Array;
  bias: Float64Array;
  a: Float64Array;
  b: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
  dbn: Float64Array;
  xbn: Float64Array;
  A: Float64Array;
  B: Float64Array;
  C0: Float64Array;
}

function makeData(g: ConvGeom, act: number, seed: number): Data {
  const rng = new Rng(seed);
  const vec = (n: number, f: () => number): Float64Array => Float64Array.from({ length: n }, () => f32(f()));
  const { N, C, H, W, OH, OW, KH, KW } = g;
  const a = vec(C, () => (rng.next() < 0.25 ? -1 : 1) * (0.5 + rng.next()));
  const b = vec(C, () => 0.3 + rng.normal());
  // z = a*x + b around the kinks (ReLU6 and hardswish reach both ends)
  const x = vec(N * H * W * C, () => 0);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    let z = act === 2 || act === 4 ? 4 * rng.normal() : 1.5 * rng.normal();
    for (const k of KINKS[act]!) if (Math.abs(z - k) < 2e-3) z = k + (z < k ? -2e-3 : 2e-3);
    x[i] = f32((z - b[c]!) / a[c]!);
  }
  const m = N * OH * OW;
  const ny = m * C;
  const A = new Float64Array(C),
    B = new Float64Array(C),
    C0 = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const [p, q, r] = bnDxAffine(
      m,
      0.2 + 0.1 * rng.normal(),
      0.8 + 0.4 * rng.next(),
      0.5 + rng.next(),
      Math.sqrt(m) * rng.normal(),
      Math.sqrt(m) * rng.normal(),
    );
    [A[c], B[c], C0[c]] = [f32(p), f32(q), f32(r)];
  }
  return {
    g,
    act,
    x,
    w: vec(C * KH * KW, () => rng.normal() / Math.sqrt(KH * KW)),
    bias: vec(C, () => rng.normal()),
    a,
    b,
    mean: vec(C, () => 0.1 * rng.normal()),
    rstd: vec(C, () => 0.8 + 0.4 * rng.next()),
    dbn: vec(ny, () => rng.normal()),
    xbn: vec(ny, () => 0.2 + rng.normal()),
    A,
    B,
    C0,
  };
}

interface Result {
  y: ArrayLike<number>;
  my: ArrayLike<number>;
  vy: ArrayLike<number>;
  dx: ArrayLike<number>;
  dbeta: ArrayLike<number>;
  dgamma: ArrayLike<number>;
  dw: ArrayLike<number>;
}

/** The scalar twins on `mk`'s arrays (Float64Array: the float64 reference). */
function twin(dt: Data, parts: Parts, mk: (n: number) => Float64Array | Float32Array): Result {
  const { g } = dt;
  const { N, C, H, W, OH, OW } = g;
  const cp = (v: Float64Array): Float64Array | Float32Array => {
    const o = mk(v.length);
    o.set(v);
    return o;
  };
  const x = cp(dt.x),
    w = cp(dt.w);
  const aff: DwAffine = { a: cp(dt.a), b: cp(dt.b), act: dt.act };
  const dyp: DwDyPrologue = { dbn: cp(dt.dbn), xbn: cp(dt.xbn), A: cp(dt.A), B: cp(dt.B), C0: cp(dt.C0) };
  const r = { y: mk(N * OH * OW * C), my: mk(C), vy: mk(C), dx: mk(N * H * W * C), dbeta: mk(C), dgamma: mk(C), dw: mk(dt.w.length) };
  depthwiseForwardFused(
    g,
    x,
    w,
    parts.bias ? cp(dt.bias) : undefined,
    r.y,
    parts.xPrologue ? aff : undefined,
    parts.moments ? { mean: r.my, variance: r.vy } : undefined,
  );
  const dy = parts.dyPrologue ? dyp : dyp.dbn;
  const de = parts.dxEpilogue ? { ...aff, x2: x, mean: cp(dt.mean), rstd: cp(dt.rstd), dbeta: r.dbeta, dgamma: r.dgamma } : undefined;
  depthwiseBackwardDataFused(g, dy, w, r.dx, de);
  depthwiseBackwardWeightFused(g, dy, x, r.dw, parts.xPrologue ? aff : undefined);
  return r;
}

/** The host functions of src/kernels/conv.ts with fusion on backend be (outputs poisoned with NaN first). */
function runKernels(be: Backend, dt: Data, parts: Parts): Result {
  const { g } = dt;
  const { N, C, H, W, OH, OW } = g;
  const ar = be.arena;
  const put = (v: ArrayLike<number>): number => putArena(ar, v);
  const out = (n: number): number => poisoned(ar, n);
  const [px, pw, pb] = [put(dt.x), put(dt.w), put(dt.bias)];
  const coef = put([...dt.a, ...dt.b]);
  const cdy = put([...dt.A, ...dt.B, ...dt.C0]);
  const [pdbn, pxbn, pm, pr] = [put(dt.dbn), put(dt.xbn), put(dt.mean), put(dt.rstd)];
  const ny = N * OH * OW * C;
  const [py, pmy, pvy, pdx, pdbeta, pdgamma, pdw] = [out(ny), out(C), out(C), out(N * H * W * C), out(C), out(C), out(dt.w.length)];
  const ws = convWorkspace(ar, g);
  const xPro = parts.xPrologue ? { coef, relu: dt.act === ACT.relu, act: dt.act } : undefined;
  const dyPro = parts.dyPrologue ? { dbn: pdbn, xbn: pxbn, coef: cdy } : undefined;
  convForward(be, g, px, pw, parts.bias ? pb : 0, py, ws, { xPrologue: xPro, moments: parts.moments ? { mean: pmy, variance: pvy } : undefined });
  const de = parts.dxEpilogue ? { x2: px, coef, mean: pm, rstd: pr, relu: dt.act === ACT.relu, act: dt.act, dbeta: pdbeta, dgamma: pdgamma } : undefined;
  convBackwardData(be, g, parts.dyPrologue ? 0 : pdbn, pw, pdx, ws, { dyPrologue: dyPro, dxEpilogue: de });
  convBackwardWeight(be, g, parts.dyPrologue ? 0 : pdbn, px, pdw, 0, ws, { dyPrologue: dyPro, xPrologue: xPro });
  const get = (p: number, n: number): Float32Array => ar.view(p, n).slice();
  return {
    y: get(py, ny),
    my: get(pmy, C),
    vy: get(pvy, C),
    dx: get(pdx, N * H * W * C),
    dbeta: get(pdbeta, C),
    dgamma: get(pdgamma, C),
    dw: get(pdw, dt.w.length),
  };
}

function check(dt: Data, parts: Parts, ref: Result, got: Result, label: string): void {
  const { g } = dt;
  const T = g.KH * g.KW,
    M = g.N * g.OH * g.OW,
    Min = g.N * g.H * g.W;
  const tol = (r: number): number => 2e-5 * (Math.sqrt(r) + 4);
  const cases: [string, ArrayLike<number>, ArrayLike<number>, number][] = [
    ['forward y', got.y, ref.y, tol(T)],
    ['backward-data dx', got.dx, ref.dx, tol(T)],
    ['backward-weight dw', got.dw, ref.dw, tol(M)],
  ];
  if (parts.moments) cases.push(['moments mean', got.my, ref.my, tol(M)], ['moments var', got.vy, ref.vy, tol(M)]);
  if (parts.dxEpilogue) cases.push(['dx epilogue dbeta', got.dbeta, ref.dbeta, tol(Min)], ['dx epilogue dgamma', got.dgamma, ref.dgamma, tol(Min)]);
  for (const [what, a, b, t] of cases) {
    const e = relErr(a, b);
    assert.ok(e <= t, `${label}: ${what} relative error ${e.toExponential(2)} > ${t.toExponential(2)}`);
  }
}

const PARTS: Parts[] = [
  ALL,
  { xPrologue: true, moments: false, dyPrologue: false, dxEpilogue: true, bias: true },
  { xPrologue: false, moments: true, dyPrologue: true, dxEpilogue: false, bias: true },
];

type DwSpec = Omit<ConvGeomSpec, 'K'>;
// the host splits rows (forward, backward-data) and groups of images (backward-weights) over the
// threads, dynamically on the native engine, the reductions (moments, dx epilogue) in fixed chunks
// of rows: every result, the reductions included, must be the same bits at any thread count
const THREADS = [1, 2, 3];

async function checkCase(spec: DwSpec, act: number, seed: number, partsList = PARTS, threadList = THREADS): Promise<void> {
  const g = convGeom({ ...spec, K: spec.C, groups: spec.C });
  const dt = makeData(g, act, seed);
  for (const parts of partsList) {
    const ref = twin(dt, parts, (n) => new Float64Array(n));
    const label = `${JSON.stringify(spec)} act=${act} ${JSON.stringify(parts)}`;
    check(
      dt,
      parts,
      ref,
      twin(dt, parts, (n) => new Float32Array(n)),
      `${label} scalar twin`,
    );
    const first = new Map<string, Result>();
    for (const threads of threadList) {
      const runs = new Map<string, Result>();
      for (const kind of ENGINES) {
        const got = runKernels(await backend(kind, threads), dt, parts);
        check(dt, parts, ref, got, `${label} ${kind} ${threads}T`);
        runs.set(kind, got);
        const f = first.get(kind);
        if (!f) first.set(kind, got);
        else
          for (const k of Object.keys(f) as (keyof Result)[])
            assert.equal(firstBitDiff(got[k], f[k]), '', `${label} ${kind}: ${k} at ${threads} threads differs from ${threadList[0]}`);
      }
      const [w, n] = [runs.get('wasm')!, runs.get('native')];
      if (!n) continue;
      for (const k of Object.keys(w) as (keyof Result)[]) {
        if (k === 'my' || k === 'vy' || k === 'dbeta' || k === 'dgamma') {
          if ((k === 'my' || k === 'vy') && !parts.moments) continue;
          if ((k === 'dbeta' || k === 'dgamma') && !parts.dxEpilogue) continue;
        }
        assert.equal(firstBitDiff(n[k], w[k]), '', `${label} ${threads}T: native ${k} differs from wasm`);
      }
    }
  }
}

// (one channel is not depthwise: groups = 1, the GEMM paths)
const CHANNELS = [2, 3, 4, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 72];

for (const act of [ACT.none, ACT.relu, ACT.relu6, ACT.silu, ACT.hardswish]) {
  test(`fused depthwise kernels, act ${act}: 3x3 pad 1 stride 1, channels ${CHANNELS.join(',')}`, async () => {
    for (const C of CHANNELS) await checkCase({ N: 2, C, H: 5, W: 4, KH: 3, pad: 1 }, act, 10 * C + act);
  });
}

const SHAPES: [string, DwSpec][] = [
  ['3x3 no pad', { N: 2, C: 17, H: 6, W: 5, KH: 3 }],
  ['3x3 stride 2 pad 1, even size', { N: 2, C: 16, H: 8, W: 8, KH: 3, stride: 2, pad: 1 }],
  ['3x3 stride 2 pad 1, odd size', { N: 1, C: 33, H: 9, W: 7, KH: 3, stride: 2, pad: 1 }],
  ['3x3 stride 2 no pad', { N: 2, C: 5, H: 7, W: 7, KH: 3, stride: 2 }],
  ['5x5 pad 2', { N: 2, C: 24, H: 7, W: 6, KH: 5, pad: 2 }],
  ['5x5 stride 2 pad 2', { N: 1, C: 31, H: 9, W: 10, KH: 5, stride: 2, pad: 2 }],
  ['5x5 pad 2 on 2x2 (taps mostly padding)', { N: 3, C: 8, H: 2, W: 2, KH: 5, pad: 2 }],
  ['1x1 pixel images', { N: 4, C: 12, H: 1, W: 1, KH: 3, pad: 1 }],
  ['3x3 dilation 2', { N: 1, C: 9, H: 7, W: 7, KH: 3, dilation: 2, pad: 2 }],
  ['3x2 kernel, stride [2,1], pad [1,0]', { N: 2, C: 7, H: 7, W: 6, KH: 3, KW: 2, stride: [2, 1], pad: [1, 0] }],
  // rows wide enough for the native kernels' 8-pixel runs, and their edges
  ['3x3 pad 1, wide rows', { N: 2, C: 24, H: 4, W: 19, KH: 3, pad: 1 }],
  ['3x3 stride 2 pad 1, wide rows, 64 channels', { N: 1, C: 64, H: 5, W: 33, KH: 3, stride: 2, pad: 1 }],
  ['5x5 pad 2, wide rows, 65 channels', { N: 1, C: 65, H: 6, W: 21, KH: 5, pad: 2 }],
  ['3x3 dilation 2, wide rows, 80 channels', { N: 1, C: 80, H: 6, W: 20, KH: 3, dilation: 2, pad: 2 }],
  ['3x3 no pad, 16-pixel rows, 128 channels', { N: 2, C: 128, H: 3, W: 16, KH: 3 }],
];
// rows whose ring of R input (dy) rows does not fit the thread scratch: the native kernels'
// 128-bit loops (as the WebAssembly kernels, with the taps listed once per pixel)
test('fused depthwise kernels: rows too wide for the scratch ring (the fallback loops), ReLU6', async () => {
  await checkCase({ N: 1, C: 1200, H: 3, W: 300, KH: 3, pad: 1 }, ACT.relu6, 77, PARTS, [1, 2]);
});

for (const [name, spec] of SHAPES) {
  test(`fused depthwise kernels: ${name}, every activation`, async () => {
    for (const act of [0, 1, 2, 3, 4]) await checkCase(spec, act, 1000 + act * 7 + spec.C);
  });
}

// ---------------------------------------------------------------------------------------
// the float64 twins against the composition of the unfused ops (src/ops/conv2d_fused.ts), with
// the activations the graph folds (none, ReLU): BN as mean 0, rstd 1, gamma a, beta b

test('fused depthwise scalar twins in float64 equal the conv2d_fused* reference composition', () => {
  const node = { name: 'dw', id: 0, op: 'conv2d_fused', inputs: [], outputs: [], attrs: {} } as unknown as Node;
  const ctx = { seed: 0, step: 0 };
  for (const [i, spec] of ([SHAPES[1]![1], SHAPES[4]![1], { N: 2, C: 6, H: 5, W: 4, KH: 3, pad: 1 }] as DwSpec[]).entries()) {
    for (const relu of [false, true]) {
      const g = convGeom({ ...spec, K: spec.C, groups: spec.C });
      const dt = makeData(g, relu ? 1 : 0, 77 + i);
      const { N, C, H, W, OH, OW, KH, KW } = g;
      const ref = twin(dt, ALL, (n) => new Float64Array(n));
      // BN of y whose dx affine is (A, B, C0): with m, mean 0, rstd 1, gamma A: B = -A*dgamma/m, C0 = -A*dbeta/m
      const m = N * OH * OW;
      const [meanY, rstdY, gammaY] = [new Float64Array(C), new Float64Array(C).fill(1), dt.A];
      const dgammaY = dt.B.map((b, c) => (-b * m) / dt.A[c]!),
        dbetaY = dt.C0.map((c0, c) => (-c0 * m) / dt.A[c]!);
      const bnX = [new Float64Array(C), new Float64Array(C).fill(1), dt.a, dt.b];
      const nchw = (v: Float64Array, h: number, w: number): Float64Array => {
        const o = new Float64Array(v.length);
        nhwcToNchw(v, o, N, h, w, C);
        return o;
      };
      const nhwc = (v: Float64Array, h: number, w: number): Float64Array => {
        const o = new Float64Array(v.length);
        nchwToNhwc(v, o, N, h, w, C);
        return o;
      };
      const attrs = {
        stride: [...g.stride] as [number, number],
        padding: [...g.pad] as [number, number],
        dilation: [...g.dilation] as [number, number],
        groups: C,
        bias: false,
        xShape: [N, C, H, W],
        wShape: [C, 1, KH, KW],
      };
      const xs = [N, C, H, W],
        ys = [N, C, OH, OW],
        wsh = [C, 1, KH, KW];
      const x = nchw(dt.x, H, W),
        dbn = nchw(dt.dbn, OH, OW),
        xbn = nchw(dt.xbn, OH, OW);
      const y = new Float64Array(N * C * OH * OW),
        my = new Float64Array(C),
        vy = new Float64Array(C);
      const fx = [x, dt.w, ...bnX];
      conv2dFused.run({
        x: fx,
        xs: [xs, wsh, [C], [C], [C], [C]],
        y: [y, my, vy],
        ys: [ys, [C], [C]],
        attrs: { ...attrs, xPrologue: { relu }, epilogue: 'moments' },
        node,
        ctx,
      });
      const dx = new Float64Array(N * C * H * W),
        dbeta = new Float64Array(C),
        dgamma = new Float64Array(C);
      // the dx epilogue's BN: mean2 = dt.mean, rstd2 = dt.rstd, gamma2, beta2 such that a2 = a, b2 = b
      const gamma2 = dt.a.map((a, c) => a / dt.rstd[c]!),
        beta2 = dt.b.map((b, c) => b + dt.a[c]! * dt.mean[c]!);
      const bx = [dbn, dt.w, dbn, xbn, meanY, rstdY, gammaY, dbetaY, dgammaY, x, dt.mean, dt.rstd, gamma2, beta2];
      conv2dFusedBackwardData.run({
        x: bx,
        xs: bx.map((v, j) => (j === 0 ? ys : j === 1 ? wsh : j === 2 || j === 3 ? ys : j === 9 ? xs : [v.length])),
        y: [dx, dbeta, dgamma],
        ys: [xs, [C], [C]],
        attrs: { ...attrs, dyPrologue: true, dxEpilogue: { relu } },
        node,
        ctx,
      });
      const dw = new Float64Array(dt.w.length);
      const wx = [dbn, x, dbn, xbn, meanY, rstdY, gammaY, dbetaY, dgammaY, ...bnX];
      conv2dFusedBackwardWeight.run({
        x: wx,
        xs: wx.map((v, j) => (j === 0 || j === 2 || j === 3 ? ys : j === 1 ? xs : [v.length])),
        y: [dw],
        ys: [wsh],
        attrs: { ...attrs, dyPrologue: true, xPrologue: { relu } },
        node,
        ctx,
      });
      const label = `${JSON.stringify(spec)} relu=${relu}`;
      const near = (what: string, a: ArrayLike<number>, b: ArrayLike<number>): void => {
        const e = relErr(a, b);
        assert.ok(e <= 1e-9, `${label}: ${what} ${e.toExponential(2)}`);
      };
      near('y', ref.y, nhwc(y, OH, OW));
      near('mean', ref.my, my);
      near('var', ref.vy, vy);
      near('dx', ref.dx, nhwc(dx, H, W));
      near('dbeta', ref.dbeta, dbeta);
      near('dgamma', ref.dgamma, dgamma);
      near('dw', ref.dw, dw);
    }
  }
});

// ---------------------------------------------------------------------------------------
// the plain kernels (conv_dw_fwd, conv_dw_bwd_data, conv_dw_bwd_w), whose native twins run at the
// full vector width (blocks of 4 vectors, single vectors, 4 lanes, one at a time; backward-weights
// in blocks of 64 channels): at, below and above each of those edges, bit for bit against
// WebAssembly and against the float64 reference

const PLAIN: Parts = { xPrologue: false, moments: false, dyPrologue: false, dxEpilogue: false, bias: true };
const WIDE = [15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 72, 96, 127, 128, 130, 144];

test(`plain depthwise kernels: channels ${WIDE.join(',')}, 3x3 stride 1 and 2, 5x5`, async () => {
  for (const [i, C] of WIDE.entries()) {
    const spec: DwSpec = [
      { N: 2, C, H: 6, W: 5, KH: 3, pad: 1 },
      { N: 1, C, H: 9, W: 8, KH: 3, stride: 2, pad: 1 },
      { N: 2, C, H: 5, W: 7, KH: 5, pad: 2 },
      { N: 1, C, H: 7, W: 6, KH: 5, stride: 2, pad: 2 },
    ][i % 4]!;
    await checkCase(spec, ACT.none, 5000 + C, [PLAIN]);
  }
});

test('plain depthwise kernels: dilation, no padding, one-pixel rows', async () => {
  for (const spec of [
    { N: 1, C: 64, H: 7, W: 7, KH: 3, dilation: 2, pad: 2 },
    { N: 2, C: 80, H: 6, W: 6, KH: 3 },
    { N: 3, C: 128, H: 4, W: 1, KH: 3, pad: 1 },
    { N: 2, C: 66, H: 2, W: 2, KH: 5, pad: 2 },
    { N: 2, C: 48, H: 4, W: 25, KH: 3, pad: 1 },
    { N: 1, C: 96, H: 5, W: 30, KH: 5, stride: 2, pad: 2 },
    { N: 1, C: 33, H: 3, W: 17, KH: 3, pad: 1 },
  ] as DwSpec[])
    await checkCase(spec, ACT.none, 6000 + spec.C, [PLAIN]);
});

// ---------------------------------------------------------------------------------------
// the native kernels' tiles: runs of 8 output pixels (or 8 input pixels of one class iw mod SW in
// backward-data) that start before the row and end after it, vf blocks of 16 (AVX2: 8) channels
// with the rest by 4 lanes and one at a time, backward-weights on 4 (AVX2: 2) blocks at once and
// a masked last block: rows at, below and above 8 and 16 pixels (and 8 pixels of each class at
// stride 2), channels around 8, 16, 32 and 64, every activation, 3x3 and 5x5, stride 1 and 2

const TILE_W = [7, 8, 9, 15, 16, 17, 24, 25];
const TILE_C = [8, 15, 16, 17, 20, 31, 32, 33, 48, 63, 64, 65];
const TILE_G: Omit<DwSpec, 'N' | 'C' | 'H' | 'W'>[] = [
  { KH: 3, pad: 1 },
  { KH: 3, stride: 2, pad: 1 },
  { KH: 5, pad: 2 },
  { KH: 5, stride: 2, pad: 2 },
  { KH: 3 },
  { KH: 3, dilation: 2, pad: 2 },
];
test('fused and plain depthwise kernels at the native tile edges: widths 7-25, channels 8-65, 3x3 and 5x5, stride 1 and 2', async () => {
  for (const [i, W] of TILE_W.entries()) {
    for (const [j, geo] of TILE_G.entries()) {
      const k = i * TILE_G.length + j;
      const C = TILE_C[k % TILE_C.length]!;
      const spec: DwSpec = { N: 1 + (k % 2), C, H: 3 + (k % 4), W, ...geo };
      await checkCase(spec, k % 5, 7000 + k, [PLAIN, PARTS[k % PARTS.length]!]);
    }
  }
});

// outputs of NT_MIN floats or more per thread (8 MiB) take streaming stores in the native kernels
// (whole vectors of channels, aligned rows): one thread, forward and backward-data with and
// without their epilogues
test('depthwise kernels with streaming stores (an output of 2^21 floats and more, one thread)', async () => {
  const spec: DwSpec = { N: 1, C: 64, H: 182, W: 182, KH: 3, pad: 1 };
  await checkCase(spec, ACT.relu6, 7777, [PLAIN, ALL], [1]);
});
