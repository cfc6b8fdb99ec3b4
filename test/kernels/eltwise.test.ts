/**
 * The memory-bound NHWC kernels (src/kernels/eltwise.ts, WebAssembly on 1 and 2 threads) and
 * their scalar twins (src/kernels/eltwise_scalar.ts) against the float64 NCHW reference ops
 * (src/ops/*), after layout conversion; sizes at, below and above the SIMD width and the
 * thread split; determinism; large-mean batch-norm statistics; NaN propagation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as E from '../../src/kernels/eltwise.js';
import * as S from '../../src/kernels/eltwise_scalar.js';
import * as F from '../../src/kernels/bn_fused.js';
import { add as addOp } from '../../src/ops/add.js';
import { batchNorm2d, bnBackwardData, bnBackwardDataAcc, bnBackwardReduce, bnDxCoef, sliceChannelsAffine } from '../../src/ops/batch_norm2d.js';
import { concat, sliceChannels } from '../../src/ops/concat.js';
import { mul as mulOp } from '../../src/ops/dropout.js';
import type { Arr, OpDef } from '../../src/ops/op.js';
import { avgPool2d, avgPool2dBackward, globalAvgPool, globalAvgPoolBackward, maxPool2d, maxPool2dBackward } from '../../src/ops/pool2d.js';
import { relu, reluBackward } from '../../src/ops/relu.js';
import { shortcutPad, shortcutPadBackward } from '../../src/ops/shortcut_pad.js';
import { Arena, HostMemory } from '../../src/runtime/memory.js';
import type { Backend } from '../../src/runtime/backend.js';
import { createBackend } from '../helpers/pools.js';
import { SGD } from '../../src/train/sgd.js';
import { Rng } from '../../src/util/random.js';

const arena = new Arena();
const pools: Backend[] = [];

before(async () => {
  pools.push(await createBackend(arena, 1), await createBackend(arena, 2));
});
after(() => {
  for (const p of pools) p.close();
});

// ---------------------------------------------------------------------------------------------
// helpers

/** A float32 array in the arena holding `v`; `.byteOffset` is the kernel pointer. */
function put(v: ArrayLike<number>): Float32Array {
  const a = arena.alloc(Math.max(1, v.length));
  a.set(v);
  return a;
}

function zeros(n: number): Float32Array {
  return arena.alloc(Math.max(1, n));
}

/** Re-reads an arena array (the memory may have grown since it was made). */
function read(a: Float32Array, n = a.length): Float32Array {
  return new Float32Array(arena.buffer, a.byteOffset, n).slice();
}

function randn(rng: Rng, n: number, scale = 1, shift = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = shift + scale * rng.normal();
  return a;
}

/** NHWC [N, P, C] -> NCHW float64. */
function toNchw(a: ArrayLike<number>, N: number, P: number, C: number): Float64Array {
  const o = new Float64Array(N * C * P);
  S.nhwcToNchw(a, o, N, P, 1, C);
  return o;
}

/** NCHW [N, C, P] -> NHWC float64. */
function toNhwc(a: ArrayLike<number>, N: number, P: number, C: number): Float64Array {
  const o = new Float64Array(N * C * P);
  S.nchwToNhwc(a, o, N, P, 1, C);
  return o;
}

/** Runs a reference op on float64 inputs; returns its outputs. */
function ref(op: OpDef, x: Arr[], xs: number[][], ys: number[][], attrs: object = {}): Float64Array[] {
  const y = ys.map((s) => new Float64Array(s.reduce((a, b) => a * b, 1)));
  op.run({ x, y, xs, ys, attrs, node: { name: 'test' } as never, ctx: { seed: 1, step: 0 } });
  return y;
}

/** |got - want| <= atol + rtol*|want| everywhere (NaN must match NaN); atol may be per element. */
function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string, rtol = 1e-5, atol: number | ArrayLike<number> = 1e-6): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(w) && Number.isNaN(g), `${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    const at = typeof atol === 'number' ? atol : atol[i]!;
    assert.ok(Math.abs(g - w) <= at + rtol * Math.abs(w), `${what}[${i}]: got ${g}, want ${w}`);
  }
}

function bitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  assert.deepEqual(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length), what);
}

const CS = [1, 3, 4, 5, 12, 16, 17];
/** M = N*H*W row counts as [N, H, W]. */
const MS: [number, number, number][] = [[1, 1, 1], [2, 1, 1], [1, 7, 1], [4, 4, 4]];
const CS_EXTRA = [36, 64];

// ---------------------------------------------------------------------------------------------
// batch norm

describe('batch norm', () => {
  for (const C of [...CS, ...CS_EXTRA]) {
    for (const [N, H, W] of MS) {
      const M = N * H * W;
      const P = H * W;
      test(`forward C=${C} M=${M}`, () => {
        const rng = new Rng(C * 100 + M);
        const x = randn(rng, M * C, 2, 0.5);
        const gamma = randn(rng, C, 0.5, 1);
        const beta = randn(rng, C, 0.5);
        const rm0 = randn(rng, C, 0.1);
        const rv0 = Float32Array.from(randn(rng, C, 0.1), (v) => 1 + Math.abs(v));
        const training = M >= 2;
        for (const momentum of [0.1, null]) {
          // reference, NCHW float64
          const rm = Float64Array.from(rm0);
          const rv = Float64Array.from(rv0);
          const nbt = Float64Array.of(3);
          const [yr, meanr, rstdr] = ref(batchNorm2d, [toNchw(x, N, P, C), Float64Array.from(gamma), Float64Array.from(beta), rm, rv, nbt], [[N, C, H, W], [C], [C], [C], [C], [1]], [[N, C, H, W], [C], [C]], { training, momentum });
          const want = toNhwc(yr!, N, P, C);
          const wantRelu = want.map((v) => (v > 0 ? v : 0));
          // y = a*x + b in float32: the error scales with |a*x| + |b| (large when M is tiny)
          const yTol = x.map((v, i) => {
            const c = i % C;
            const a = gamma[c]! * rstdr![c]!;
            return 1e-6 * (Math.abs(a * v) + Math.abs(beta[c]! - a * meanr![c]!)) + 1e-6;
          });
          const check = (name: string, y: Float32Array, mean: Float32Array, rstd: Float32Array, rmk: Float32Array, rvk: Float32Array, nbk: Float32Array, yRelu: Float32Array) => {
            close(y, want, `${name} y`, 1e-5, yTol);
            close(yRelu, wantRelu, `${name} y relu`, 1e-5, yTol);
            close(mean, meanr!, `${name} mean`, 1e-6, 1e-6);
            close(rstd, rstdr!, `${name} rstd`, 1e-5, 0);
            close(rmk, rm, `${name} running_mean`, 1e-6, 1e-7);
            close(rvk, rv, `${name} running_var`, 1e-5, 0);
            assert.equal(nbk[0], nbt[0], `${name} num_batches_tracked`);
          };
          for (const pool of pools) {
            const px = put(x), py = zeros(M * C), pr = zeros(M * C);
            const pg = put(gamma), pb = put(beta), pm = zeros(C), ps = zeros(C), prm = put(rm0), prv = put(rv0), pn = put([3]);
            E.bnForward(pool, px.byteOffset, py.byteOffset, M, C, pg.byteOffset, pb.byteOffset, pm.byteOffset, ps.byteOffset, prm.byteOffset, prv.byteOffset, pn.byteOffset, { training, momentum });
            const rmAfter = read(prm), rvAfter = read(prv), nAfter = read(pn);
            // the fused ReLU, from the same statistics
            E.bnNormalize(pool, px.byteOffset, pr.byteOffset, M, C, pg.byteOffset, pb.byteOffset, pm.byteOffset, ps.byteOffset, true);
            check(`wasm ${pool.threads}T momentum ${momentum}`, read(py), read(pm), read(ps), rmAfter, rvAfter, nAfter, read(pr));
          }
          const s = { y: new Float32Array(M * C), yr: new Float32Array(M * C), mean: new Float32Array(C), rstd: new Float32Array(C), rm: Float32Array.from(rm0), rv: Float32Array.from(rv0), n: Float32Array.of(3) };
          if (training) S.bnStats(x, M, C, s.mean, s.rstd, s.rm, s.rv, s.n, { momentum });
          else S.bnEvalStats(C, s.mean, s.rstd, s.rm, s.rv);
          S.bnNormalize(x, s.y, M, C, gamma, beta, s.mean, s.rstd, false);
          S.bnNormalize(x, s.yr, M, C, gamma, beta, s.mean, s.rstd, true);
          check(`scalar momentum ${momentum}`, s.y, s.mean, s.rstd, s.rm, s.rv, s.n, s.yr);
        }
      });

      test(`backward C=${C} M=${M}`, () => {
        const rng = new Rng(C * 1000 + M);
        const x = randn(rng, M * C, 1.5, -0.3);
        const dy = randn(rng, M * C);
        const gamma = randn(rng, C, 0.5, 1);
        const mean = randn(rng, C, 0.2, -0.3);
        const rstd = Float32Array.from(randn(rng, C, 0.1), (v) => 0.7 + Math.abs(v));
        const shapes = [[N, C, H, W], [N, C, H, W], [C], [C]];
        const [dbr, dgr] = ref(bnBackwardReduce, [toNchw(dy, N, P, C), toNchw(x, N, P, C), Float64Array.from(mean), Float64Array.from(rstd)], shapes, [[C], [C]]);
        // backward data from float32-rounded dbeta/dgamma, as the engine stores them
        const db32 = Float32Array.from(dbr!);
        const dg32 = Float32Array.from(dgr!);
        const [dxr] = ref(bnBackwardData, [toNchw(dy, N, P, C), toNchw(x, N, P, C), Float64Array.from(mean), Float64Array.from(rstd), Float64Array.from(gamma), Float64Array.from(db32), Float64Array.from(dg32)], [[N, C, H, W], [N, C, H, W], [C], [C], [C], [C], [C]], [[N, C, H, W]]);
        const want = toNhwc(dxr!, N, P, C);
        const scale = Math.max(1, ...want.map(Math.abs));
        const sumAbs = (k: number) => {
          let s = 0;
          for (let r = 0; r < M; r++) s += Math.abs(dy[r * C + k]!) * (1 + Math.abs(x[r * C + k]!));
          return s;
        };
        const checkReduce = (name: string, db: Float32Array, dg: Float32Array) => {
          for (let c = 0; c < C; c++) {
            const tol = 1e-6 * sumAbs(c) + 1e-7;
            assert.ok(Math.abs(db[c]! - dbr![c]!) <= tol, `${name} dbeta[${c}]: ${db[c]} vs ${dbr![c]}`);
            assert.ok(Math.abs(dg[c]! - dgr![c]!) <= tol * rstd[c]!, `${name} dgamma[${c}]: ${dg[c]} vs ${dgr![c]}`);
          }
        };
        for (const pool of pools) {
          const pdy = put(dy), px = put(x), pm = put(mean), ps = put(rstd), pgm = put(gamma), pdb = zeros(C), pdg = zeros(C), pdx = zeros(M * C);
          E.bnBackwardReduce(pool, pdy.byteOffset, px.byteOffset, M, C, pm.byteOffset, ps.byteOffset, pdb.byteOffset, pdg.byteOffset);
          checkReduce(`wasm ${pool.threads}T`, read(pdb), read(pdg));
          const qdb = put(db32), qdg = put(dg32);
          E.bnBackwardData(pool, pdy.byteOffset, px.byteOffset, pdx.byteOffset, M, C, pm.byteOffset, ps.byteOffset, pgm.byteOffset, qdb.byteOffset, qdg.byteOffset);
          close(read(pdx), want, `wasm ${pool.threads}T dx`, 0, 2e-6 * scale);
        }
        const db = new Float32Array(C), dg = new Float32Array(C), dx = new Float32Array(M * C);
        S.bnBackwardReduce(dy, x, M, C, mean, rstd, db, dg);
        checkReduce('scalar', db, dg);
        S.bnBackwardData(dy, x, dx, M, C, mean, rstd, gamma, db32, dg32);
        close(dx, want, 'scalar dx', 0, 2e-6 * scale);
      });
    }
  }

  test('reductions over many rows (4-stream blocks and remainders)', () => {
    for (const [M, C] of [[1000, 17], [777, 3], [1030, 64], [515, 6]] as const) {
      const rng = new Rng(M * 7 + C);
      const x = randn(rng, M * C, 2, 3);
      const dy = randn(rng, M * C);
      const mean = randn(rng, C, 0.3, 3);
      const rstd = Float32Array.from(randn(rng, C, 0.1), (v) => 0.5 + Math.abs(v));
      const sh = [[M, C, 1, 1], [M, C, 1, 1], [C], [C]];
      const [dbr, dgr] = ref(bnBackwardReduce, [toNchw(dy, M, 1, C), toNchw(x, M, 1, C), Float64Array.from(mean), Float64Array.from(rstd)], sh, [[C], [C]]);
      const [, mr, rr] = ref(batchNorm2d, [toNchw(x, M, 1, C), new Float64Array(C).fill(1), new Float64Array(C), new Float64Array(C), new Float64Array(C), new Float64Array(1)], [[M, C, 1, 1], [C], [C], [C], [C], [1]], [[M, C, 1, 1], [C], [C]], { training: true });
      for (const pool of pools) {
        const name = `wasm ${pool.threads}T M=${M} C=${C}`;
        const db = zeros(C), dg = zeros(C), pm = zeros(C), ps = zeros(C);
        E.bnBackwardReduce(pool, put(dy).byteOffset, put(x).byteOffset, M, C, put(mean).byteOffset, put(rstd).byteOffset, db.byteOffset, dg.byteOffset);
        close(read(db), dbr!, `${name} dbeta`, 1e-5, 1e-4);
        close(read(dg), dgr!, `${name} dgamma`, 1e-5, 1e-4);
        E.bnStats(pool, put(x).byteOffset, M, C, pm.byteOffset, ps.byteOffset, zeros(C).byteOffset, zeros(C).byteOffset, zeros(1).byteOffset);
        close(read(pm), mr!, `${name} mean`, 1e-6, 1e-6);
        close(read(ps), rr!, `${name} rstd`, 1e-5, 0);
      }
    }
  });

  test('BN dx added in place into the leading channels of a wider gradient buffer', () => {
    for (const C of [...CS, ...CS_EXTRA]) {
      for (const [N, H, W] of [...MS, [3, 5, 7] as [number, number, number]]) {
        for (const extra of [0, 1, 5, 12]) {
          const M = N * H * W, P = H * W, LD = C + extra;
          const rng = new Rng(C * 31 + M * 7 + extra);
          const x = randn(rng, M * C, 1.5, -0.3), dy = randn(rng, M * C), G0 = randn(rng, M * LD);
          const gamma = randn(rng, C, 0.5, 1), mean = randn(rng, C, 0.2, -0.3);
          const rstd = Float32Array.from(randn(rng, C, 0.1), (v) => 0.7 + Math.abs(v));
          const db = randn(rng, C, 3), dg = randn(rng, C, 3);
          const vec = (a: Float32Array) => Float64Array.from(a);
          const [gr] = ref(bnBackwardDataAcc, [toNchw(G0, N, P, LD), toNchw(dy, N, P, C), toNchw(x, N, P, C), vec(mean), vec(rstd), vec(gamma), vec(db), vec(dg)],
            [[N, LD, H, W], [N, C, H, W], [N, C, H, W], [C], [C], [C], [C], [C]], [[N, LD, H, W]]);
          const want = toNhwc(gr!, N, P, LD);
          const scale = Math.max(1, ...want.map(Math.abs));
          const what = `C=${C} LD=${LD} M=${M}`;
          // x also as a view of the leading C channels of rows of LX floats (a concatenation
          // without copies): the gaps hold NaN, which must never be read
          const LX = C + extra + 3;
          const xw = new Float32Array(M * LX).fill(NaN);
          for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) xw[r * LX + c] = x[r * C + c]!;
          for (const pool of pools) {
            const pG = put(G0), pdy = put(dy), px = put(x), pm = put(mean), ps = put(rstd), pgm = put(gamma), pdb = put(db), pdg = put(dg);
            E.bnBackwardDataAcc(pool, pdy.byteOffset, px.byteOffset, pG.byteOffset, M, C, LD, pm.byteOffset, ps.byteOffset, pgm.byteOffset, pdb.byteOffset, pdg.byteOffset);
            const got = read(pG);
            close(got, want, `wasm ${pool.threads}T ${what}`, 0, 4e-6 * scale);
            const pG2 = put(G0), pxw = put(xw);
            E.bnBackwardDataAcc(pool, pdy.byteOffset, pxw.byteOffset, pG2.byteOffset, M, C, LD, pm.byteOffset, ps.byteOffset, pgm.byteOffset, pdb.byteOffset, pdg.byteOffset, LX);
            bitsEqual(read(pG2), got, `${what}: x at a pixel stride of ${LX}`);
            for (let r = 0; r < M; r++) for (let c = C; c < LD; c++) assert.equal(got[r * LD + c], G0[r * LD + c], `${what}: channel ${c} of row ${r} untouched`);
            if (C % 4 === 0) {
              // the same bits as bn_backward_data followed by an add (what the unfused graph does)
              const pdx = zeros(M * C);
              E.bnBackwardData(pool, pdy.byteOffset, px.byteOffset, pdx.byteOffset, M, C, pm.byteOffset, ps.byteOffset, pgm.byteOffset, pdb.byteOffset, pdg.byteOffset);
              const dx = read(pdx), sum = Float32Array.from(G0);
              for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) sum[r * LD + c] = sum[r * LD + c]! + dx[r * C + c]!;
              bitsEqual(got, sum, `${what}: dx then add`);
            }
          }
          const s = Float32Array.from(G0);
          S.bnBackwardDataAcc(dy, x, s, M, C, LD, mean, rstd, gamma, db, dg);
          close(s, want, `scalar ${what}`, 0, 4e-6 * scale);
          const s2 = Float32Array.from(G0);
          S.bnBackwardDataAcc(dy, xw, s2, M, C, LD, mean, rstd, gamma, db, dg, LX);
          bitsEqual(s2, s, `scalar ${what}: x at a pixel stride of ${LX}`);
        }
      }
    }
    assert.throws(() => E.bnBackwardDataAcc(pools[0]!, 0, 0, 0, 4, 8, 7, 0, 0, 0, 0, 0), /LD = 7/);
    assert.throws(() => E.bnBackwardDataAcc(pools[0]!, 0, 0, 0, 4, 8, 8, 0, 0, 0, 0, 0, 6), /LX = 6/);
  });

  test('BN dx split: the summed affine halves (bn_dx_coef) and the slice that applies them (sliceAffine), against the float64 ops', () => {
    for (const C of [...CS, ...CS_EXTRA]) {
      for (const [N, H, W] of [...MS, [3, 5, 7] as [number, number, number]]) {
        const M = N * H * W, P = H * W;
        const rng = new Rng(C * 17 + M * 5);
        // a buffer of CG channels read by two BNs (the first over all CG, the second over the
        // leading C2), then a slice [start, start + size) of it; a large mean (1e3 std) on some
        // channels: the shifted form must stay accurate
        const CG = C + 6, C2 = Math.max(1, C - 2), start = Math.min(2, C - 1), size = Math.max(1, Math.min(C, CG - start - 3));
        const x = Float32Array.from(randn(rng, M * CG, 1.5, -0.3), (v, i) => (i % CG) % 3 === 0 ? v + 1000 : v);
        const G0 = randn(rng, M * CG);
        const bn = (n: number) => ({
          mean: Float32Array.from({ length: n }, (_, c) => (c % 3 === 0 ? 999.7 : -0.3) + 0.01 * rng.normal()),
          rstd: Float32Array.from(randn(rng, n, 0.1), (v) => 0.7 + Math.abs(v)),
          gamma: randn(rng, n, 0.5, 1), db: randn(rng, n, 3), dg: randn(rng, n, 3),
        });
        const b1 = bn(CG), b2 = { ...bn(C2) };
        b2.mean = b1.mean.slice(0, C2); // every BN of a channel sees the same batch
        const vec = (a: Float32Array) => Float64Array.from(a);
        const v5 = (b: ReturnType<typeof bn>) => [vec(b.mean), vec(b.rstd), vec(b.gamma), vec(b.db), vec(b.dg)];
        const [s1] = ref(bnDxCoef, v5(b1), [[CG], [CG], [CG], [CG], [CG]], [[3, CG]], { channels: CG, count: M, init: true });
        const [s2] = ref(bnDxCoef, [s1!, ...v5(b2)], [[3, CG], [C2], [C2], [C2], [C2], [C2]], [[3, CG]], { channels: CG, count: M, init: false });
        const [yr] = ref(sliceChannelsAffine, [toNchw(G0, N, P, CG), toNchw(x, N, P, CG), s2!], [[N, CG, H, W], [N, CG, H, W], [3, CG]], [[N, size, H, W]], { start, size });
        // the same sum straight from bn_backward_data's affine form, per BN, in float64
        const direct = new Float64Array(M * size);
        for (let r = 0; r < M; r++) {
          for (let k = 0; k < size; k++) {
            const c = start + k;
            let v = G0[r * CG + c]!;
            for (const [b, n] of [[b1, CG], [b2, C2]] as const) {
              if (c >= n) continue;
              const A = b.gamma[c]! * b.rstd[c]!, B = (-A * b.rstd[c]! * b.dg[c]!) / M, C0 = (-A * b.db[c]!) / M - B * b.mean[c]!;
              v += B * x[r * CG + c]! + C0;
            }
            direct[r * size + k] = v;
          }
        }
        const want = toNhwc(yr!, N, P, size);
        const what = `C=${C} CG=${CG} M=${M} slice ${start}+${size}`;
        close(want, direct, `float64 op ${what}`, 1e-9, 1e-9);
        const scale = Math.max(1, ...want.map(Math.abs));
        for (const pool of pools) {
          const S1 = zeros(3 * CG), S2 = zeros(3 * CG);
          const pv = (b: ReturnType<typeof bn>) => [b.mean, b.rstd, b.gamma, b.db, b.dg].map((a) => put(a).byteOffset) as [number, number, number, number, number];
          F.bnDxCoef(pool, CG, CG, M, 0, ...pv(b1), S1.byteOffset);
          F.bnDxCoef(pool, C2, CG, M, S1.byteOffset, ...pv(b2), S2.byteOffset);
          close(read(S2), s2!, `wasm ${pool.threads}T coefficients ${what}`, 1e-6, 1e-6);
          // x as a view (rows of LX floats, NaN in the gaps), G at its own stride
          const LX = CG + 5;
          const xw = new Float32Array(M * LX).fill(NaN);
          for (let r = 0; r < M; r++) for (let c = 0; c < CG; c++) xw[r * LX + c] = x[r * CG + c]!;
          const pG = put(G0), px = put(xw), py = zeros(M * size);
          E.sliceAffine(pool, pG.byteOffset + 4 * start, CG, px.byteOffset + 4 * start, LX, py.byteOffset, size,
            S2.byteOffset + 4 * start, S2.byteOffset + 4 * (CG + start), S2.byteOffset + 4 * (2 * CG + start), M);
          const got = read(py);
          close(got, want, `wasm ${pool.threads}T slice ${what}`, 0, 4e-6 * scale);
          const sc = new Float32Array(M * size);
          const sv = read(S2);
          S.sliceAffine(G0.subarray(start), CG, xw.subarray(start), LX, sc, size, sv.subarray(start), sv.subarray(CG + start), sv.subarray(2 * CG + start), M);
          close(sc, want, `scalar slice ${what}`, 0, 4e-6 * scale);
        }
      }
    }
    assert.throws(() => E.sliceAffine(pools[0]!, 0, 4, 0, 8, 0, 6, 0, 0, 0, 1), /6 channels of rows of 4/);
    assert.throws(() => F.bnDxCoef(pools[0]!, 9, 8, 1, 0, 0, 0, 0, 0, 0, 0), /9 channels do not fit/);
  });

  test('statistics need at least 2 rows', () => {
    const a = zeros(8);
    assert.throws(() => E.bnStats(pools[0]!, a.byteOffset, 1, 4, a.byteOffset, a.byteOffset, a.byteOffset, a.byteOffset, a.byteOffset), RangeError);
  });

  test('large mean statistics: |mean|/std = 1e4', () => {
    for (const [M, C] of [[4096, 16], [3000, 3], [20000, 5]] as const) {
      const rng = new Rng(M + C);
      const x = new Float32Array(M * C);
      for (let i = 0; i < x.length; i++) x[i] = 1e4 * (1 + (i % C)) + (1 + (i % C)) * rng.normal();
      // float64 two-pass truth
      const mu = new Float64Array(C), v = new Float64Array(C);
      for (let i = 0; i < x.length; i++) mu[i % C] += x[i]! / M;
      for (let i = 0; i < x.length; i++) v[i % C] += (x[i]! - mu[i % C]!) ** 2 / M;
      const check = (name: string, mean: Float32Array, rstd: Float32Array) => {
        for (let c = 0; c < C; c++) {
          const vk = 1 / rstd[c]! ** 2;
          assert.ok(Math.abs(vk - v[c]!) / v[c]! < 1e-3, `${name} M=${M} C=${C} var[${c}]: ${vk} vs ${v[c]}`);
          assert.ok(Math.abs(mean[c]! - mu[c]!) / mu[c]! < 1e-6, `${name} mean[${c}]`);
        }
      };
      for (const pool of pools) {
        const px = put(x), pm = zeros(C), ps = zeros(C), prm = zeros(C), prv = zeros(C), pn = zeros(1);
        E.bnStats(pool, px.byteOffset, M, C, pm.byteOffset, ps.byteOffset, prm.byteOffset, prv.byteOffset, pn.byteOffset, { eps: 0 });
        check(`wasm ${pool.threads}T`, read(pm), read(ps));
      }
      const mean = new Float32Array(C), rstd = new Float32Array(C);
      S.bnStats(x, M, C, mean, rstd, new Float32Array(C), new Float32Array(C), new Float32Array(1), { eps: 0 });
      check('scalar', mean, rstd);
    }
  });

  test('large mean statistics when the shift samples are outliers (second pass)', () => {
    const M = 4096, C = 4;
    const rng = new Rng(5);
    const x = new Float32Array(M * C);
    for (let i = 0; i < x.length; i++) x[i] = 1e4 + rng.normal();
    for (const r of S.bnShiftRows(M)) for (let c = 0; c < C; c++) x[r * C + c] = 1e4 + 300 * (c + 1);
    const mu = new Float64Array(C), v = new Float64Array(C);
    for (let i = 0; i < x.length; i++) mu[i % C] += x[i]! / M;
    for (let i = 0; i < x.length; i++) v[i % C] += (x[i]! - mu[i % C]!) ** 2 / M;
    const check = (name: string, rstd: Float32Array) => {
      for (let c = 0; c < C; c++) assert.ok(Math.abs(1 / rstd[c]! ** 2 - v[c]!) / v[c]! < 2e-6, `${name} var[${c}]: ${1 / rstd[c]! ** 2} vs ${v[c]}`);
    };
    for (const pool of pools) {
      const ps = zeros(C);
      E.bnStats(pool, put(x).byteOffset, M, C, zeros(C).byteOffset, ps.byteOffset, zeros(C).byteOffset, zeros(C).byteOffset, zeros(1).byteOffset, { eps: 0 });
      check(`wasm ${pool.threads}T`, read(ps));
    }
    const rstd = new Float32Array(C);
    S.bnStats(x, M, C, new Float32Array(C), rstd, new Float32Array(C), new Float32Array(C), new Float32Array(1), { eps: 0 });
    check('scalar', rstd);
  });

  test('reductions are deterministic: bit-identical reruns', () => {
    const rng = new Rng(7);
    for (const [M, C] of [[1000, 17], [3136, 64], [777, 3]] as const) {
      const x = put(randn(rng, M * C, 3, 1));
      const dy = put(randn(rng, M * C));
      for (const pool of pools) {
        const outs: Float32Array[][] = [];
        for (let rep = 0; rep < 3; rep++) {
          const pm = zeros(C), ps = zeros(C), prm = zeros(C), prv = zeros(C), pn = zeros(1), db = zeros(C), dg = zeros(C);
          E.bnStats(pool, x.byteOffset, M, C, pm.byteOffset, ps.byteOffset, prm.byteOffset, prv.byteOffset, pn.byteOffset);
          E.bnBackwardReduce(pool, dy.byteOffset, x.byteOffset, M, C, pm.byteOffset, ps.byteOffset, db.byteOffset, dg.byteOffset);
          outs.push([read(pm), read(ps), read(prv), read(db), read(dg)]);
        }
        for (let rep = 1; rep < 3; rep++) outs[rep]!.forEach((a, i) => bitsEqual(a, outs[0]![i]!, `${pool.threads}T M=${M} C=${C} output ${i} rerun ${rep}`));
      }
    }
  });

  test('normalize in place and eval mode', () => {
    const rng = new Rng(11);
    const M = 33, C = 12;
    const x = randn(rng, M * C);
    const gamma = randn(rng, C, 0.3, 1), beta = randn(rng, C);
    const rm = randn(rng, C, 0.1), rv = Float32Array.from(randn(rng, C), (v) => 0.5 + Math.abs(v));
    const [yr] = ref(batchNorm2d, [toNchw(x, M, 1, C), Float64Array.from(gamma), Float64Array.from(beta), Float64Array.from(rm), Float64Array.from(rv), Float64Array.of(0)], [[M, C, 1, 1], [C], [C], [C], [C], [1]], [[M, C, 1, 1], [C], [C]], { training: false });
    for (const pool of pools) {
      const px = put(x), pm = zeros(C), ps = zeros(C), prm = put(rm), prv = put(rv), pn = zeros(1);
      E.bnForward(pool, px.byteOffset, px.byteOffset, M, C, put(gamma).byteOffset, put(beta).byteOffset, pm.byteOffset, ps.byteOffset, prm.byteOffset, prv.byteOffset, pn.byteOffset, { training: false });
      close(read(px), toNhwc(yr!, M, 1, C), `eval in place ${pool.threads}T`, 1e-5, 1e-5);
      bitsEqual(read(prm), rm, 'eval leaves running_mean');
      assert.equal(read(pn)[0], 0, 'eval leaves num_batches_tracked');
    }
  });

  test('normalize + ReLU propagates NaN', () => {
    const C = 5, M = 9;
    const x = new Float32Array(M * C).fill(1);
    x[7] = NaN;
    x[31] = NaN;
    const y = new Float32Array(M * C);
    S.bnNormalize(x, y, M, C, new Float32Array(C).fill(1), new Float32Array(C).fill(-2), new Float32Array(C), new Float32Array(C).fill(1), true);
    for (const pool of pools) {
      const py = zeros(M * C);
      E.bnNormalize(pool, put(x).byteOffset, py.byteOffset, M, C, put(new Float32Array(C).fill(1)).byteOffset, put(new Float32Array(C).fill(-2)).byteOffset, zeros(C).byteOffset, put(new Float32Array(C).fill(1)).byteOffset, true);
      const got = read(py);
      for (let i = 0; i < M * C; i++) {
        if (i === 7 || i === 31) assert.ok(Number.isNaN(got[i]!) && Number.isNaN(y[i]!), `NaN at ${i}`);
        else assert.ok(Object.is(got[i], 0) && Object.is(y[i], 0), `0 at ${i}: ${got[i]}`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// element-wise

describe('element-wise', () => {
  const NS = [1, 3, 4, 5, 15, 16, 17, 31, 33, 64, 1001];
  test('relu forward / backward, add, mul against the reference', () => {
    for (const n of NS) {
      const rng = new Rng(n);
      const a = randn(rng, n), b = randn(rng, n);
      if (n > 4) {
        a[1] = NaN;
        a[2] = -0;
        a[3] = 0;
      }
      const a64 = Float64Array.from(a), b64 = Float64Array.from(b);
      const [yr] = ref(relu, [a64], [[n]], [[n]]);
      const [dxr] = ref(reluBackward, [b64, yr!], [[n], [n]], [[n]]);
      const [sr] = ref(addOp, [a64, b64], [[n], [n]], [[n]]);
      const [mr] = ref(mulOp, [a64, b64], [[n], [n]], [[n]]);
      const yr32 = Float32Array.from(yr!);
      for (const pool of pools) {
        const pa = put(a), pb = put(b), py = zeros(n), pdx = zeros(n), ps = zeros(n), pm = zeros(n), pyr = put(yr32);
        E.reluForward(pool, pa.byteOffset, py.byteOffset, n);
        E.reluBackward(pool, pb.byteOffset, pyr.byteOffset, pdx.byteOffset, n);
        E.add(pool, pa.byteOffset, pb.byteOffset, ps.byteOffset, n);
        E.mul(pool, pa.byteOffset, pb.byteOffset, pm.byteOffset, n);
        const name = `wasm ${pool.threads}T n=${n}`;
        bitsEqual(read(py), yr32, `${name} relu`);
        close(read(pdx), dxr!, `${name} relu backward`, 0, 0);
        close(read(ps), sr!, `${name} add`, 1e-7, 1e-7);
        close(read(pm), mr!, `${name} mul`, 1e-7, 0);
        // in place
        E.reluForward(pool, pa.byteOffset, pa.byteOffset, n);
        bitsEqual(read(pa), yr32, `${name} relu in place`);
      }
      const y = new Float32Array(n), dx = new Float32Array(n), s = new Float32Array(n), m = new Float32Array(n);
      S.reluForward(a, y, n);
      S.reluBackward(b, yr32, dx, n);
      S.add(a, b, s, n);
      S.mul(a, b, m, n);
      bitsEqual(y, yr32, `scalar n=${n} relu`);
      close(dx, dxr!, `scalar n=${n} relu backward`, 0, 0);
      close(s, sr!, `scalar n=${n} add`, 1e-7, 1e-7);
      close(m, mr!, `scalar n=${n} mul`, 1e-7, 0);
    }
  });

  test('relu: NaN propagates forward, NaN y passes dy backward, -0 -> +0', () => {
    const x = Float32Array.of(NaN, -0, 0, -1, 2, -Infinity, Infinity, NaN, 1, -2, NaN, 3, -0, 5, NaN, -7, 0.5);
    const n = x.length;
    const dy = new Float32Array(n).fill(3);
    for (const pool of pools) {
      const py = zeros(n), pdx = zeros(n);
      E.reluForward(pool, put(x).byteOffset, py.byteOffset, n);
      const y = read(py);
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        if (Number.isNaN(v)) assert.ok(Number.isNaN(y[i]!), `NaN at ${i}`);
        else assert.ok(Object.is(y[i], v > 0 ? v : 0), `relu(${v}) = ${y[i]}`);
      }
      E.reluBackward(pool, put(dy).byteOffset, put(y).byteOffset, pdx.byteOffset, n);
      const dx = read(pdx);
      for (let i = 0; i < n; i++) assert.equal(dx[i], y[i]! > 0 || Number.isNaN(y[i]!) ? 3 : 0, `dx at ${i}`);
    }
  });

  test('fill', () => {
    for (const pool of pools) {
      const a = put(new Float32Array(37).fill(1));
      E.fill(pool, a.byteOffset, 35, 2.5);
      const r = read(a);
      assert.deepEqual([...r.subarray(0, 35)], new Array(35).fill(2.5));
      assert.equal(r[35], 1);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// SGD

describe('sgd', () => {
  const configs = [
    { lr: 0.1 },
    { lr: 0.05, weightDecay: 5e-4 },
    { lr: 0.1, momentum: 0.9 },
    { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true },
    { lr: 0.01, momentum: 0.8, dampening: 0.3, weightDecay: 1e-3 },
  ];
  for (const o of configs) {
    test(`bit-identical to src/train/sgd.ts over float32: ${JSON.stringify(o)}`, () => {
      for (const n of [1, 3, 4, 5, 17, 64, 1003]) {
        const rng = new Rng(n);
        const p0 = randn(rng, n);
        const grads = [randn(rng, n), randn(rng, n), randn(rng, n)];
        // reference: the trainer's SGD on float32 arrays
        const rp = Float32Array.from(p0);
        const opt = new SGD(new Map([['w', rp]]), o, new HostMemory('f32'));
        // scalar twin
        const sp = Float32Array.from(p0);
        const sb = new Float32Array(n);
        const wasm = pools.map(() => ({ p: put(p0), b: zeros(n) }));
        grads.forEach((g, step) => {
          opt.step(new Map([['w', g]]));
          S.sgdUpdate(sp, g, sb, n, o, step === 0);
          const pg = put(g);
          pools.forEach((pool, i) => E.sgdUpdate(pool, wasm[i]!.p.byteOffset, pg.byteOffset, wasm[i]!.b.byteOffset, n, o, step === 0));
          bitsEqual(sp, rp, `scalar n=${n} step ${step} p`);
          pools.forEach((pool, i) => bitsEqual(read(wasm[i]!.p), rp, `wasm ${pool.threads}T n=${n} step ${step} p`));
          const rb = opt.buffers.get('w') as Float32Array | undefined;
          if (rb) {
            bitsEqual(sb, rb, `scalar n=${n} step ${step} buf`);
            pools.forEach((pool, i) => bitsEqual(read(wasm[i]!.b), rb, `wasm ${pool.threads}T n=${n} step ${step} buf`));
          }
        });
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// concat / slice / layout

describe('channel slices and layout', () => {
  const groups = [[3, 1, 17, 4], [16, 16], [5], [1, 1, 1], [12, 36, 2]];
  for (const Cs of groups) {
    for (const [N, H, W] of MS) {
      const M = N * H * W;
      const P = H * W;
      const C = Cs.reduce((a, b) => a + b, 0);
      test(`concat ${Cs.join('+')} M=${M}, and its backward slices`, () => {
        const rng = new Rng(C + M);
        const xs = Cs.map((c) => randn(rng, M * c));
        const [yr] = ref(concat, xs.map((x, i) => toNchw(x, N, P, Cs[i]!)), Cs.map((c) => [N, c, H, W]), [[N, C, H, W]]);
        const want = Float32Array.from(toNhwc(yr!, N, P, C));
        const dy = randn(rng, M * C);
        let c0 = 0;
        const slices = Cs.map((size) => {
          const [sr] = ref(sliceChannels, [toNchw(dy, N, P, C)], [[N, C, H, W]], [[N, size, H, W]], { start: c0, size });
          c0 += size;
          return Float32Array.from(toNhwc(sr!, N, P, size));
        });
        for (const pool of pools) {
          const py = put(new Float32Array(M * C).fill(7));
          E.concatForward(pool, xs.map((x, i) => ({ ptr: put(x).byteOffset, C: Cs[i]! })), py.byteOffset, M);
          bitsEqual(read(py), want, `wasm ${pool.threads}T concat`);
          const pdy = put(dy);
          let start = 0;
          Cs.forEach((size, i) => {
            const pd = put(new Float32Array(M * size).fill(7));
            E.sliceChannels(pool, pdy.byteOffset, C, start, size, pd.byteOffset, M);
            bitsEqual(read(pd), slices[i]!, `wasm ${pool.threads}T slice ${i}`);
            start += size;
          });
          const outs = Cs.map((c) => put(new Float32Array(M * c).fill(7)));
          E.concatBackward(pool, pdy.byteOffset, outs.map((o, i) => ({ ptr: o.byteOffset, C: Cs[i]! })), M);
          outs.forEach((o, i) => bitsEqual(read(o), slices[i]!, `wasm ${pool.threads}T concat backward ${i}`));
        }
        const y = new Float32Array(M * C);
        S.concatForward(xs.map((x, i) => ({ data: x, C: Cs[i]! })), y, M);
        bitsEqual(y, want, 'scalar concat');
        let start = 0;
        Cs.forEach((size, i) => {
          const d = new Float32Array(M * size);
          S.sliceChannels(dy, C, start, size, d, M);
          bitsEqual(d, slices[i]!, `scalar slice ${i}`);
          start += size;
        });
        const outs = Cs.map((c) => new Float32Array(M * c));
        S.concatBackward(dy, outs.map((o, i) => ({ data: o, C: Cs[i]! })), M);
        outs.forEach((o, i) => bitsEqual(o, slices[i]!, `scalar concat backward ${i}`));
      });
    }
  }

  test('copyChannels rejects slices out of range', () => {
    assert.throws(() => E.copyChannels(pools[0]!, 0, 4, 2, 0, 8, 0, 3, 1), RangeError);
  });

  for (const [N, H, W, C] of [[1, 1, 1, 1], [2, 3, 3, 3], [1, 4, 4, 4], [3, 2, 5, 5], [2, 7, 3, 17], [1, 8, 8, 16], [5, 1, 1, 12], [2, 6, 7, 5], [1, 9, 9, 6], [3, 5, 8, 20]]) {
    test(`layout NHWC <-> NCHW ${N}x${H}x${W}x${C}`, () => {
      const P = H! * W!;
      const rng = new Rng(N! * 1000 + P * 10 + C!);
      const x = randn(rng, N! * P * C!);
      const want = Float32Array.from(toNchw(x, N!, P, C!));
      for (const pool of pools) {
        const px = put(x), pc = zeros(x.length), pb = zeros(x.length);
        E.nhwcToNchw(pool, px.byteOffset, pc.byteOffset, N!, H!, W!, C!);
        bitsEqual(read(pc), want, `wasm ${pool.threads}T to NCHW`);
        E.nchwToNhwc(pool, pc.byteOffset, pb.byteOffset, N!, H!, W!, C!);
        bitsEqual(read(pb), x, `wasm ${pool.threads}T back to NHWC`);
      }
      const c = new Float32Array(x.length), b = new Float32Array(x.length);
      S.nhwcToNchw(x, c, N!, H!, W!, C!);
      bitsEqual(c, want, 'scalar to NCHW');
      S.nchwToNhwc(c, b, N!, H!, W!, C!);
      bitsEqual(b, x, 'scalar back');
    });
  }
});

// ---------------------------------------------------------------------------------------------
// pooling

describe('pooling', () => {
  const windows: { kernel: number | [number, number]; stride?: number | [number, number]; padding?: number | [number, number] }[] = [
    { kernel: 3, stride: 2, padding: 1 },
    { kernel: 2 },
    { kernel: [3, 2], stride: [2, 1], padding: [1, 0] },
    { kernel: 3, stride: 1, padding: 1 },
  ];
  const dims: [number, number, number][] = [[1, 7, 6], [2, 5, 5], [3, 4, 4]];
  for (const win of windows) {
    for (const [N, H, W] of dims) {
      for (const C of [1, 3, 4, 5, 16, 17, 64]) {
        test(`max/avg pool ${JSON.stringify(win)} N=${N} ${H}x${W} C=${C}`, () => {
          const rng = new Rng(N * 1000 + H * 100 + C);
          const s = { N, H, W, C, ...win };
          const g = E.poolGeometry(s);
          const P = H * W;
          const OP = g.OH * g.OW;
          // small integers: many ties, to exercise the first-max rule; a few NaNs
          const x = Float32Array.from({ length: N * P * C }, () => rng.int(4) - 2);
          if (C === 17) x[5] = x[40] = NaN;
          const dy = randn(rng, N * OP * C);
          const attrs = { ...win, xShape: [N, C, H, W] };
          const [ymr] = ref(maxPool2d, [toNchw(x, N, P, C)], [[N, C, H, W]], [[N, C, g.OH, g.OW]], attrs);
          const [dxmr] = ref(maxPool2dBackward, [toNchw(dy, N, OP, C), toNchw(x, N, P, C)], [[N, C, g.OH, g.OW], [N, C, H, W]], [[N, C, H, W]], attrs);
          const wantMax = toNhwc(ymr!, N, OP, C);
          const wantMaxDx = toNhwc(dxmr!, N, P, C);
          const avg = [true, false].map((cip) => {
            const a = { ...attrs, count_include_pad: cip };
            const [yr] = ref(avgPool2d, [toNchw(x, N, P, C)], [[N, C, H, W]], [[N, C, g.OH, g.OW]], a);
            const [dxr] = ref(avgPool2dBackward, [toNchw(dy, N, OP, C)], [[N, C, g.OH, g.OW]], [[N, C, H, W]], a);
            return { cip, y: toNhwc(yr!, N, OP, C), dx: toNhwc(dxr!, N, P, C) };
          });
          for (const pool of pools) {
            const name = `wasm ${pool.threads}T`;
            const px = put(x), pdy = put(dy), py = zeros(N * OP * C), pdx = put(new Float32Array(N * P * C).fill(9));
            E.maxPoolForward(pool, px.byteOffset, py.byteOffset, s);
            close(read(py), wantMax, `${name} max forward`, 0, 0);
            E.maxPoolBackward(pool, pdy.byteOffset, px.byteOffset, pdx.byteOffset, s);
            close(read(pdx), wantMaxDx, `${name} max backward`, 1e-6, 1e-6);
            for (const a of avg) {
              E.avgPoolForward(pool, px.byteOffset, py.byteOffset, s, a.cip);
              close(read(py), a.y, `${name} avg forward cip=${a.cip}`, 1e-6, 1e-6);
              E.avgPoolBackward(pool, pdy.byteOffset, pdx.byteOffset, s, a.cip);
              close(read(pdx), a.dx, `${name} avg backward cip=${a.cip}`, 1e-6, 1e-6);
            }
          }
          const y = new Float32Array(N * OP * C), dx = new Float32Array(N * P * C);
          S.maxPoolForward(x, y, s);
          close(y, wantMax, 'scalar max forward', 0, 0);
          S.maxPoolBackward(dy, x, dx, s);
          close(dx, wantMaxDx, 'scalar max backward', 1e-6, 1e-6);
          for (const a of avg) {
            S.avgPoolForward(x, y, s, a.cip);
            close(y, a.y, `scalar avg forward cip=${a.cip}`, 1e-6, 1e-6);
            S.avgPoolBackward(dy, dx, s, a.cip);
            close(dx, a.dx, `scalar avg backward cip=${a.cip}`, 1e-6, 1e-6);
          }
        });
      }
    }
  }

  test('max pool backward routes ties to the first maximum and NaN to the first NaN', () => {
    // one image, 1 channel and 5 channels, 4x4, kernel 2 stride 2: windows with ties and NaNs
    for (const C of [1, 5]) {
      const x = new Float32Array(16 * C);
      for (let p = 0; p < 16; p++) for (let c = 0; c < C; c++) x[p * C + c] = 1;
      // window (0,0): all 1 -> its first tap, pixel 0; window (0,1): NaN at pixels 3 and 6 ->
      // pixel 3; window (1,0): a 2 at pixel 13; window (1,1): all 1 -> pixel 10
      for (let c = 0; c < C; c++) {
        x[3 * C + c] = NaN;
        x[6 * C + c] = NaN;
        x[13 * C + c] = 2;
      }
      const s = { N: 1, H: 4, W: 4, C, kernel: 2 };
      const dy = new Float32Array(4 * C).fill(1);
      for (const pool of pools) {
        const pdx = zeros(16 * C);
        E.maxPoolBackward(pool, put(dy).byteOffset, put(x).byteOffset, pdx.byteOffset, s);
        const dx = read(pdx);
        const hit = [0, 3, 10, 13];
        for (let p = 0; p < 16; p++) for (let c = 0; c < C; c++) assert.equal(dx[p * C + c], hit.includes(p) ? 1 : 0, `C=${C} pixel ${p}`);
      }
    }
  });

  for (const [N, P, C] of [[1, 1, 1], [2, 4, 3], [3, 49, 17], [1, 9, 64], [2, 16, 100]]) {
    test(`global average pool N=${N} P=${P} C=${C}`, () => {
      const rng = new Rng(N! + P! + C!);
      const x = randn(rng, N! * P! * C!);
      const dy = randn(rng, N! * C!);
      const [yr] = ref(globalAvgPool, [toNchw(x, N!, P!, C!)], [[N!, C!, P!, 1]], [[N!, C!, 1, 1]]);
      const [dxr] = ref(globalAvgPoolBackward, [Float64Array.from(dy)], [[N!, C!, 1, 1]], [[N!, C!, P!, 1]], { xShape: [N!, C!, P!, 1] });
      const wantDx = toNhwc(dxr!, N!, P!, C!);
      for (const pool of pools) {
        const py = zeros(N! * C!), pdx = zeros(N! * P! * C!);
        E.globalAvgPoolForward(pool, put(x).byteOffset, py.byteOffset, N!, P!, C!);
        close(read(py), yr!, `wasm ${pool.threads}T forward`, 1e-6, 1e-6);
        E.globalAvgPoolBackward(pool, put(dy).byteOffset, pdx.byteOffset, N!, P!, C!);
        close(read(pdx), wantDx, `wasm ${pool.threads}T backward`, 1e-7, 0);
      }
      const y = new Float32Array(N! * C!), dx = new Float32Array(N! * P! * C!);
      S.globalAvgPoolForward(x, y, N!, P!, C!);
      close(y, yr!, 'scalar forward', 1e-6, 1e-6);
      S.globalAvgPoolBackward(dy, dx, N!, P!, C!);
      close(dx, wantDx, 'scalar backward', 1e-7, 0);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// shortcut_pad (CIFAR ResNet option-A shortcut)

describe('shortcut_pad', () => {
  const cases: { N: number; C: number; H: number; W: number; stride: number; before: number; after: number }[] = [
    { N: 2, C: 16, H: 8, W: 8, stride: 2, before: 8, after: 8 },
    { N: 1, C: 5, H: 7, W: 5, stride: 2, before: 3, after: 2 },
    { N: 3, C: 4, H: 5, W: 6, stride: 3, before: 0, after: 4 },
    { N: 2, C: 3, H: 4, W: 3, stride: 1, before: 1, after: 0 },
    { N: 1, C: 8, H: 1, W: 1, stride: 2, before: 4, after: 4 },
  ];
  for (const c of cases) {
    test(`forward and backward against the reference: ${JSON.stringify(c)}`, () => {
      const rng = new Rng(c.C * 31 + c.H);
      const K = c.before + c.C + c.after, OH = Math.ceil(c.H / c.stride), OW = Math.ceil(c.W / c.stride);
      const P = c.H * c.W, OP = OH * OW;
      const x = randn(rng, c.N * P * c.C), dy = randn(rng, c.N * OP * K);
      const attrs = { stride: c.stride, before: c.before, after: c.after, xShape: [c.N, c.C, c.H, c.W] };
      const [yr] = ref(shortcutPad, [toNchw(x, c.N, P, c.C)], [[c.N, c.C, c.H, c.W]], [[c.N, K, OH, OW]], attrs);
      const [dxr] = ref(shortcutPadBackward, [toNchw(dy, c.N, OP, K)], [[c.N, K, OH, OW]], [[c.N, c.C, c.H, c.W]], attrs);
      const wantY = toNhwc(yr!, c.N, OP, K), wantDx = toNhwc(dxr!, c.N, P, c.C);
      for (const pool of pools) {
        // poisoned outputs: every element must be written
        const px = put(x), pdy = put(dy), py = put(new Float32Array(c.N * OP * K).fill(NaN)), pdx = put(new Float32Array(c.N * P * c.C).fill(NaN));
        E.shortcutPadForward(pool, px.byteOffset, py.byteOffset, c);
        close(read(py), wantY, `wasm ${pool.threads}T forward`, 0, 0);
        E.shortcutPadBackward(pool, pdy.byteOffset, pdx.byteOffset, c);
        close(read(pdx), wantDx, `wasm ${pool.threads}T backward`, 0, 0);
      }
      const y = new Float32Array(c.N * OP * K).fill(NaN), dx = new Float32Array(c.N * P * c.C).fill(NaN);
      S.shortcutPadForward(x, y, c);
      close(y, wantY, 'scalar forward', 0, 0);
      S.shortcutPadBackward(dy, dx, c);
      close(dx, wantDx, 'scalar backward', 0, 0);
    });
  }
});
