/**
 * The lean CNNs' elementwise kernels (src/kernels/eltwise.ts actForward / actBackward,
 * channelScale, channelScaleBackwardScale, sampleScale) on the suite's backend (native or
 * WebAssembly, 1 and 2 threads) against the float64 reference ops (src/ops/relu6.ts, silu.ts,
 * hardswish.ts, sigmoid.ts, channel_scale.ts, stochastic_depth.ts) and bit for bit against their
 * scalar twins (src/kernels/eltwise_scalar.ts), at, below and above the vector widths (4, 8, 16)
 * and the 16-element thread split; outputs poisoned beforehand, inputs read at odd offsets,
 * in place, and with NaN, infinities and signed zeros.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as E from '../../src/kernels/eltwise.js';
import * as S from '../../src/kernels/eltwise_scalar.js';
import * as F from '../../src/kernels/bn_fused.js';
import { ACTIVATIONS, type Activation, actCode, actForward, actGrad } from '../../src/ops/activation.js';
import { normalize } from '../../src/ops/batch_norm2d.js';
import { channelScale, channelScaleBackwardScale } from '../../src/ops/channel_scale.js';
import { hardswish, hardswishBackward } from '../../src/ops/hardswish.js';
import type { Arr, OpDef } from '../../src/ops/op.js';
import { relu6, relu6Backward } from '../../src/ops/relu6.js';
import { sigmoid, sigmoidBackward } from '../../src/ops/sigmoid.js';
import { silu, siluBackward } from '../../src/ops/silu.js';
import { stochasticDepth, stochasticDepthBackward, stochasticDepthMask } from '../../src/ops/stochastic_depth.js';
import { Arena } from '../../src/runtime/memory.js';
import { Rng } from '../../src/util/random.js';
import { poolsFor } from '../helpers/pools.js';

const arena = new Arena();
const pools = poolsFor(arena);

const NS = [1, 3, 4, 5, 15, 16, 17, 31, 33, 63, 64, 65, 1001];
const POISON = 12345.678;

/** A float32 array in the arena holding v, starting `skew` floats past a 64-byte boundary. */
function put(v: ArrayLike<number>, skew = 0): Float32Array {
  const a = arena.alloc(v.length + skew + 1).subarray(skew, skew + v.length);
  a.set(v);
  return a;
}

function poisoned(n: number, skew = 0): Float32Array {
  return put(new Float32Array(n).fill(POISON), skew);
}

function read(a: Float32Array): Float32Array {
  return new Float32Array(arena.buffer, a.byteOffset, a.length).slice();
}

function randn(rng: Rng, n: number, scale = 1, shift = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = shift + scale * rng.normal();
  return a;
}

function ref(op: OpDef<never>, x: Arr[], xs: number[][], ys: number[][], attrs: object = {}, ctx = { seed: 1, step: 0 }, name = 'test'): Float64Array[] {
  const y = ys.map((s) => new Float64Array(s.reduce((a, b) => a * b, 1)));
  op.run({ x, y, xs, ys, attrs: attrs as never, node: { name } as never, ctx });
  return y;
}

/** |got - want| <= atol + rtol*|want| everywhere; NaN must meet NaN. */
function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string, rtol: number, atol: number): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i]!, want[i]!];
    if (Number.isNaN(w) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(w) && Number.isNaN(g), `${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    if (g === w) continue;
    assert.ok(Math.abs(g - w) <= atol + rtol * Math.abs(w), `${what}[${i}]: got ${g}, want ${w}`);
  }
}

/** The same bits (any NaN matches any NaN). */
function same(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++) {
    if (g[i] === w[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i]))) continue;
    assert.fail(`${what}[${i}]: got ${got[i]} (0x${g[i]!.toString(16)}), want ${want[i]} (0x${w[i]!.toString(16)})`);
  }
}

/** The activation ops with kernels: reference forward and backward, and what the backward reads. */
const OPS: { op: E.ActOp; fwd: OpDef; bwd: OpDef; reads: 'x' | 'y'; act?: Activation }[] = [
  { op: 'relu6', fwd: relu6, bwd: relu6Backward, reads: 'y', act: 'relu6' },
  { op: 'silu', fwd: silu, bwd: siluBackward, reads: 'x', act: 'silu' },
  { op: 'hardswish', fwd: hardswish, bwd: hardswishBackward, reads: 'x', act: 'hardswish' },
  { op: 'sigmoid', fwd: sigmoid, bwd: sigmoidBackward, reads: 'y' },
];

function twinForward(op: E.ActOp, act: Activation | undefined, x: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  if (act) S.actForward(act, x, y, x.length);
  else S.sigmoidForward(x, y, x.length);
  return y;
}

function twinBackward(op: E.ActOp, act: Activation | undefined, dy: Float32Array, z: Float32Array): Float32Array {
  const dx = new Float32Array(dy.length);
  if (act) S.actBackward(act, dy, z, dx, dy.length);
  else S.sigmoidBackward(dy, z, dx, dy.length);
  return dx;
}

describe('activation kernels', () => {
  for (const { op, fwd, bwd, reads, act } of OPS) {
    test(`${op} forward and backward against the float64 reference and the scalar twin`, () => {
      for (const n of NS) {
        const rng = new Rng(n * 7 + op.length);
        // wide enough to reach relu6's 6 and hardswish's +-3, and sigmoid's flat tails
        const x = randn(rng, n, 4);
        const dy = randn(rng, n);
        const [y64] = ref(fwd, [Float64Array.from(x)], [[n]], [[n]]);
        const y32 = twinForward(op, act, x);
        const z = reads === 'x' ? x : y32;
        const [dx64] = ref(bwd, [Float64Array.from(dy), Float64Array.from(z)], [[n], [n]], [[n]]);
        const dx32 = twinBackward(op, act, dy, z);
        // the twin against float64: a few float32 roundings (exp: Cephes, < 2 ulp)
        close(y32, y64!, `${op} twin n=${n}`, 4e-7 * 8, 1e-30);
        close(dx32, dx64!, `${op} backward twin n=${n}`, 4e-6, 4e-7);
        for (const pool of pools) {
          for (const skew of [0, 1]) {
            const tag = `${op} ${pool.threads}T n=${n} skew=${skew}`;
            const px = put(x, skew),
              py = poisoned(n, skew),
              pdy = put(dy, skew),
              pz = put(z, skew),
              pdx = poisoned(n, skew);
            E.actForward(pool, op, px.byteOffset, py.byteOffset, n);
            E.actBackward(pool, op, pdy.byteOffset, pz.byteOffset, pdx.byteOffset, n);
            same(read(py), y32, `${tag} y`);
            same(read(pdx), dx32, `${tag} dx`);
            // in place
            E.actForward(pool, op, px.byteOffset, px.byteOffset, n);
            E.actBackward(pool, op, pdy.byteOffset, pz.byteOffset, pdy.byteOffset, n);
            same(read(px), y32, `${tag} y in place`);
            same(read(pdy), dx32, `${tag} dx in place`);
          }
        }
      }
    });
  }

  test('NaN, infinities, signed zeros, the kinks and the exp range: kernels = scalar twins', () => {
    const specials = [
      NaN,
      -NaN,
      0,
      -0,
      Infinity,
      -Infinity,
      6,
      -6,
      3,
      -3,
      5.999999,
      6.000001,
      1e-30,
      -1e-30,
      88,
      -88,
      103,
      -103,
      104,
      -104,
      150,
      -150,
      1e38,
      -1e38,
    ];
    const x = Float32Array.from(specials);
    const n = x.length;
    const dy = Float32Array.from(specials, (_, i) => (i % 3) - 1.5);
    for (const { op, reads, act } of OPS) {
      const y32 = twinForward(op, act, x);
      const dx32 = twinBackward(op, act, dy, reads === 'x' ? x : y32);
      for (const pool of pools) {
        const py = poisoned(n),
          pdx = poisoned(n);
        E.actForward(pool, op, put(x).byteOffset, py.byteOffset, n);
        E.actBackward(pool, op, put(dy).byteOffset, put(reads === 'x' ? x : y32).byteOffset, pdx.byteOffset, n);
        same(read(py), y32, `${op} ${pool.threads}T specials y`);
        same(read(pdx), dx32, `${op} ${pool.threads}T specials dx`);
      }
    }
    // the float64 definitions at the special points: NaN propagates, ReLU6 clamps, the kinks give 0
    assert.ok(Number.isNaN(actForward('relu6', NaN)) && Object.is(actForward('relu6', -0), 0) && actForward('relu6', 7) === 6);
    assert.equal(actGrad('relu6', 6, 1), 0);
    assert.equal(actGrad('relu6', 0, 1), 0);
    assert.equal(actGrad('hardswish', -3, 2), -1); // PyTorch: x < -3 is the zero branch, -3 itself is not
    assert.equal(actGrad('hardswish', 3, 2), 2 * 1.5);
    const y = twinForward('sigmoid', undefined, Float32Array.of(-Infinity, Infinity, 0, -104));
    assert.deepEqual([...y.subarray(0, 3)], [0, 1, 0.5]);
    assert.ok(y[3]! >= 0 && y[3]! < 1e-44, `sigmoid(-104) = ${y[3]}`);
  });

  test('every activation: the float32 twin within a few ulp of the float64 definition', () => {
    const rng = new Rng(5);
    const x = randn(rng, 4096, 5);
    const dy = randn(rng, 4096);
    for (const a of ACTIVATIONS) {
      const y = new Float32Array(x.length),
        dx = new Float32Array(x.length);
      S.actForward(a, x, y, x.length);
      S.actBackward(a, dy, x, dx, x.length);
      close(
        y,
        Array.from(x, (v) => actForward(a, v)),
        `${a} forward`,
        4e-7 * 8,
        1e-30,
      );
      close(
        dx,
        Array.from(x, (v, i) => actGrad(a, v, dy[i]!)),
        `${a} backward`,
        4e-6,
        4e-7,
      );
    }
  });
});

describe('channel_scale', () => {
  const CS = [1, 3, 4, 5, 15, 16, 17, 33, 64, 65];
  for (const C of CS) {
    test(`forward, backward-data and the scale gradient C=${C}`, () => {
      for (const [N, HW] of [
        [1, 1],
        [2, 3],
        [3, 4],
        [2, 17],
      ] as const) {
        const rng = new Rng(C * 100 + N * 10 + HW);
        const x = randn(rng, N * HW * C);
        const s = randn(rng, N * C);
        const dy = randn(rng, N * HW * C);
        // float64 reference on NCHW
        const toNchw = (a: Float32Array): Float64Array => {
          const o = new Float64Array(a.length);
          S.nhwcToNchw(a, o, N, HW, 1, C);
          return o;
        };
        const [y64] = ref(
          channelScale,
          [toNchw(x), Float64Array.from(s)],
          [
            [N, C, HW, 1],
            [N, C, 1, 1],
          ],
          [[N, C, HW, 1]],
        );
        const [ds64] = ref(
          channelScaleBackwardScale,
          [toNchw(dy), toNchw(x)],
          [
            [N, C, HW, 1],
            [N, C, HW, 1],
          ],
          [[N, C, 1, 1]],
        );
        const y32 = new Float32Array(x.length),
          ds32 = new Float32Array(N * C);
        S.channelScale(x, s, y32, N, HW, C);
        S.channelScaleBackwardScale(dy, x, ds32, N, HW, C);
        close(toNchw(y32), y64!, `twin y C=${C} N=${N} HW=${HW}`, 1e-7, 0);
        close(ds32, ds64!, `twin ds C=${C} N=${N} HW=${HW}`, 1e-6, 1e-6);
        for (const pool of pools) {
          for (const skew of [0, 3]) {
            const tag = `${pool.threads}T C=${C} N=${N} HW=${HW} skew=${skew}`;
            const px = put(x, skew),
              ps = put(s, skew),
              py = poisoned(x.length, skew),
              pdy = put(dy, skew),
              pds = poisoned(N * C, skew);
            E.channelScale(pool, px.byteOffset, ps.byteOffset, py.byteOffset, N, HW, C);
            E.channelScaleBackwardScale(pool, pdy.byteOffset, px.byteOffset, pds.byteOffset, N, HW, C);
            same(read(py), y32, `${tag} y`);
            same(read(pds), ds32, `${tag} ds`);
            E.channelScale(pool, px.byteOffset, ps.byteOffset, px.byteOffset, N, HW, C);
            same(read(px), y32, `${tag} y in place`);
          }
        }
      }
    });
  }

  test('bad sizes are refused before any kernel runs', () => {
    const pool = pools[0]!;
    assert.throws(() => E.channelScale(pool, 0, 0, 0, 1, 0, 4), RangeError);
    assert.throws(() => E.channelScaleBackwardScale(pool, 0, 0, 0, 1, 1, 1 << 20), RangeError);
    assert.throws(() => E.sampleScale(pool, 0, 0, 0, 2, 0), RangeError);
  });
});

describe('stochastic depth', () => {
  for (const per of [1, 3, 4, 5, 16, 17, 63, 64, 65]) {
    test(`per-sample scale, mask as the op draws it, per=${per}`, () => {
      for (const N of [1, 2, 5, 16]) {
        for (const p of [0, 0.2, 0.5, 1]) {
          const rng = new Rng(per * 1000 + N * 10 + p * 10);
          const x = randn(rng, N * per);
          const dy = randn(rng, N * per);
          const attrs = { p, training: true };
          const ctx = { seed: 7, step: 3 };
          const [y64, m64] = ref(
            stochasticDepth as OpDef<never>,
            [Float64Array.from(x)],
            [[N, per, 1, 1]],
            [
              [N, per, 1, 1],
              [N, 1, 1, 1],
            ],
            attrs,
            ctx,
            'blk.sd',
          );
          const m = Float32Array.from(stochasticDepthMask(attrs, ctx, 'blk.sd', N));
          assert.deepEqual([...m], Array.from(m64!, Math.fround), `mask N=${N} p=${p}`);
          const [dx64] = ref(
            stochasticDepthBackward,
            [Float64Array.from(dy), Float64Array.from(m)],
            [
              [N, per, 1, 1],
              [N, 1, 1, 1],
            ],
            [[N, per, 1, 1]],
          );
          const y32 = new Float32Array(N * per),
            dx32 = new Float32Array(N * per);
          S.sampleScale(x, m, y32, N, per);
          S.sampleScale(dy, m, dx32, N, per);
          close(y32, y64!, `twin y per=${per} N=${N} p=${p}`, 1.2e-7, 0);
          close(dx32, dx64!, `twin dx per=${per} N=${N} p=${p}`, 1.2e-7, 0);
          for (const pool of pools) {
            const tag = `${pool.threads}T per=${per} N=${N} p=${p}`;
            const pm = put(m),
              py = poisoned(N * per, 1),
              pdx = poisoned(N * per, 2);
            E.sampleScale(pool, put(x, 1).byteOffset, pm.byteOffset, py.byteOffset, N, per);
            E.sampleScale(pool, put(dy, 2).byteOffset, pm.byteOffset, pdx.byteOffset, N, per);
            same(read(py), y32, `${tag} y`);
            same(read(pdx), dx32, `${tag} dx`);
          }
        }
      }
    });
  }
});

/** A BN's input x [M, C], a gradient dy, its parameters and statistics, and the coefficients a = gamma*rstd, b = beta - a*mean as the host computes them (bn_fused.ts bnCoefficients). */
function bnCase(rng: Rng, M: number, C: number) {
  const x = randn(rng, M * C, 3, 0.5);
  const dy = randn(rng, M * C);
  const gamma = randn(rng, C, 0.5, 1.5),
    beta = randn(rng, C, 1),
    mean = randn(rng, C, 0.2),
    rstd = Float32Array.from(randn(rng, C, 0.1), (v) => 0.7 + Math.abs(v));
  const coef = new Float32Array(2 * C);
  for (let c = 0; c < C; c++) {
    coef[c] = gamma[c]! * rstd[c]!;
    coef[C + c] = beta[c]! - coef[c]! * mean[c]!;
  }
  return { x, dy, gamma, beta, mean, rstd, coef };
}

describe('the activation in the fused normalize: bn_normalize, bnf_relu_mask, bnf_add_relu without ReLU', () => {
  const CS = [1, 3, 4, 5, 16, 17, 33];
  const MS = [1, 3, 4, 5, 15, 16, 17, 65];
  for (const C of CS) {
    test(`every activation code C=${C}`, () => {
      for (const M of MS) {
        const rng = new Rng(C * 1000 + M);
        const { x, dy, gamma, beta, mean, rstd, coef } = bnCase(rng, M, C);
        const o = randn(rng, M * C);
        const x64 = toNchw64(x, M, C);
        for (const act of ACTIVATIONS) {
          const code = actCode(act);
          const tag = `${act} C=${C} M=${M}`;
          // float64: normalize then act (NCHW with N = 1, HW = M)
          const y64 = new Float64Array(M * C);
          normalize(x64, [1, C, M, 1], Float64Array.from(mean), Float64Array.from(rstd), Float64Array.from(gamma), Float64Array.from(beta), act, y64);
          const z64 = new Float64Array(M * C);
          normalize(x64, [1, C, M, 1], Float64Array.from(mean), Float64Array.from(rstd), Float64Array.from(gamma), Float64Array.from(beta), false, z64);
          const dy64 = toNchw64(dy, M, C);
          const dx64 = Float64Array.from(z64, (z, i) => actGrad(act, z, dy64[i]!));
          const yTwin = new Float32Array(M * C),
            dxTwin = new Float32Array(M * C);
          S.bnNormalize(x, yTwin, M, C, gamma, beta, mean, rstd, act);
          S.bnReluMask(dy, x, coef, dxTwin, M, C, act);
          // the twin against float64 (|x| up to ~10: a few ulp of the normalize, then the activation's)
          close(toNchw64(yTwin, M, C), y64, `${tag} twin y`, 1e-5, 1e-5);
          close(toNchw64(dxTwin, M, C), dx64, `${tag} twin dx`, 1e-4, 1e-5);
          for (const pool of pools) {
            const px = put(x, 1),
              py = poisoned(M * C, 2),
              pdx = poisoned(M * C, 3);
            const [pg, pb, pm, pr, pc] = [put(gamma), put(beta), put(mean), put(rstd), put(coef)];
            E.bnNormalize(pool, px.byteOffset, py.byteOffset, M, C, pg.byteOffset, pb.byteOffset, pm.byteOffset, pr.byteOffset, code);
            F.bnReluMask(pool, put(dy).byteOffset, px.byteOffset, pc.byteOffset, pdx.byteOffset, M, C, code);
            // the kernels fuse a*x + b where the twin rounds twice: within an ulp of the twin
            close(read(py), yTwin, `${pool.threads}T ${tag} y`, 1e-6, 1e-6);
            close(read(pdx), dxTwin, `${pool.threads}T ${tag} dx`, 1e-5, 1e-6);
            close(toNchw64(read(py), M, C), y64, `${pool.threads}T ${tag} y vs float64`, 1e-5, 1e-5);
          }
        }
        // the residual end without ReLU: y = bn(x) + o
        const yAdd = Float64Array.from(x, (v, i) => coef[i % C]! * v + coef[C + (i % C)]! + o[i]!);
        for (const pool of pools) {
          const py = poisoned(M * C, 1);
          F.bnAddRelu(pool, put(x).byteOffset, put(coef).byteOffset, put(o).byteOffset, 0, 0, py.byteOffset, M, C, false);
          close(read(py), yAdd, `${pool.threads}T bn_add C=${C} M=${M}`, 1e-6, 1e-6);
        }
      }
    });
  }

  test('bad activation codes are refused before any kernel runs', () => {
    assert.throws(() => E.bnNormalize(pools[0]!, 0, 0, 1, 1, 0, 0, 0, 0, 7), RangeError);
    assert.throws(() => F.bnReluMask(pools[0]!, 0, 0, 0, 0, 1, 1, -1), RangeError);
  });
});

/** NHWC [M, C] (one image of M pixels) -> NCHW float64. */
function toNchw64(a: Float32Array, M: number, C: number): Float64Array {
  const o = new Float64Array(M * C);
  S.nhwcToNchw(a, o, 1, M, 1, C);
  return o;
}

describe('bn_backward_reduce with an activation (bn_backward_reduce_act): the activation backward and the BN backward reduce in one pass', () => {
  // C at, below and above the 4-float period and the 16-lane vectors; M across the 4-stream
  // quads (16 row groups per f32 block), the whole-group tail and the thread split
  const CS = [1, 3, 4, 8, 16, 17, 24, 33];
  const MS = [1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 257];
  for (const C of CS) {
    test(`C=${C}: the two passes' bits (C % 4 == 0) or within an ulp, and float64`, () => {
      for (const M of MS) {
        const { x, dy, gamma, beta, mean, rstd, coef } = bnCase(new Rng(C * 7919 + M), M, C);
        const x64 = toNchw64(x, M, C);
        const z64 = new Float64Array(M * C);
        normalize(x64, [1, C, M, 1], Float64Array.from(mean), Float64Array.from(rstd), Float64Array.from(gamma), Float64Array.from(beta), false, z64);
        const dy64 = toNchw64(dy, M, C);
        const exact = C % 4 === 0;
        const cases: { act: Activation; fromY: boolean }[] = [
          ...ACTIVATIONS.map((act) => ({ act, fromY: false })),
          { act: 'relu', fromY: true },
          { act: 'relu6', fromY: true },
        ];
        for (const { act, fromY } of cases) {
          const code = actCode(act);
          const tag = `${act}${fromY ? ' from y' : ''} C=${C} M=${M}`;
          // float64: dz = dy * act'(z), dbeta = sum dz, dgamma = rstd * sum dz*(x - mean) (NCHW, N = 1)
          const dz64 = Float64Array.from(z64, (z, i) => actGrad(act, z, dy64[i]!));
          const db64 = new Float64Array(C),
            dg64 = new Float64Array(C);
          for (let c = 0; c < C; c++) {
            for (let m = 0; m < M; m++) {
              db64[c] += dz64[c * M + m]!;
              dg64[c] += dz64[c * M + m]! * (x64[c * M + m]! - mean[c]!);
            }
            dg64[c] *= rstd[c]!;
          }
          for (const pool of pools) {
            const T = `${pool.threads}T ${tag}`;
            const [px, pdy, pm, pr, pc] = [put(x, 1), put(dy, 2), put(mean), put(rstd), put(coef)];
            // y for the mask read from the output: bn_normalize with the activation
            const py = poisoned(M * C);
            if (fromY) E.bnNormalize(pool, px.byteOffset, py.byteOffset, M, C, put(gamma).byteOffset, put(beta).byteOffset, pm.byteOffset, pr.byteOffset, code);
            // the two passes
            const dzTwo = poisoned(M * C, 3),
              dbTwo = poisoned(C),
              dgTwo = poisoned(C);
            if (!fromY) F.bnReluMask(pool, pdy.byteOffset, px.byteOffset, pc.byteOffset, dzTwo.byteOffset, M, C, code);
            else if (act === 'relu') E.reluBackward(pool, pdy.byteOffset, py.byteOffset, dzTwo.byteOffset, M * C);
            else E.actBackward(pool, 'relu6', pdy.byteOffset, py.byteOffset, dzTwo.byteOffset, M * C);
            E.bnBackwardReduce(pool, dzTwo.byteOffset, px.byteOffset, M, C, pm.byteOffset, pr.byteOffset, dbTwo.byteOffset, dgTwo.byteOffset);
            // the one pass, out of place and in place (dz = dy)
            for (const inPlace of [false, true]) {
              const dz = inPlace ? put(dy, 2) : poisoned(M * C, 1),
                db = poisoned(C),
                dg = poisoned(C);
              const src = fromY ? { y: py.byteOffset } : { coef: pc.byteOffset };
              E.bnBackwardReduce(
                pool,
                inPlace ? dz.byteOffset : pdy.byteOffset,
                px.byteOffset,
                M,
                C,
                pm.byteOffset,
                pr.byteOffset,
                db.byteOffset,
                dg.byteOffset,
                { code, src, dz: dz.byteOffset },
              );
              const what = `${T}${inPlace ? ' in place' : ''}`;
              if (exact || fromY) {
                same(read(dz), read(dzTwo), `${what} dz`);
                same(read(db), read(dbTwo), `${what} dbeta`);
                same(read(dg), read(dgTwo), `${what} dgamma`);
              } else {
                // z by a fused multiply-add on every channel, where bnf_relu_mask rounds twice on the last C % 4
                close(read(dz), read(dzTwo), `${what} dz`, 1e-5, 1e-6);
              }
              close(toNchw64(read(dz), M, C), dz64, `${what} dz vs float64`, 1e-4, 1e-5);
              const tol = 1e-5 * Math.sqrt(M) + 1e-5;
              close(read(db), db64, `${what} dbeta vs float64`, tol, tol * 4);
              close(read(dg), dg64, `${what} dgamma vs float64`, tol, tol * 4);
            }
          }
        }
      }
    });
  }

  test('bad arguments are refused before any kernel runs', () => {
    const p = pools[0]!;
    const run = (code: number, src: { y: number } | { coef: number }): void => E.bnBackwardReduce(p, 0, 0, 1, 1, 0, 0, 0, 0, { code, src, dz: 64 });
    assert.throws(() => run(actCode('silu'), { y: 64 }), /only ReLU's and ReLU6's masks/);
    assert.throws(() => run(actCode('relu'), { coef: 0 }), /offset 0/);
    assert.throws(() => run(9, { coef: 64 }), RangeError);
    assert.throws(() => run(actCode('relu'), { coef: 6 }), /4-byte aligned/);
  });
});
