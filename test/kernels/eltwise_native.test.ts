/**
 * The native eltwise and bnfused kernels (src/kernels/native/families/eltwise.cc, bnfused.cc)
 * against their WebAssembly twins: each kernel runs through its host function
 * (src/kernels/eltwise.ts, bn_fused.ts) on a NativeBackend and on a wasm ThreadPool, on the same
 * inputs, at 1, 2 and 3 threads, and the outputs must be the same bits (NaN payloads included).
 * The native kernels keep every element's float operations and order (fused FMA where the wasm
 * kernels use relaxed_madd); with a plain-SIMD wasm build (no FMA) the kernels that fuse are
 * compared within a few ulp instead. Channel counts and row counts sit at, below and above the
 * vector widths (4 for wasm, 8 for AVX2, 16 for AVX-512) and the reductions' block edges.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as E from '../../src/kernels/eltwise.js';
import * as F from '../../src/kernels/bn_fused.js';
import type { Backend } from '../../src/runtime/backend.js';
import { Arena } from '../../src/runtime/memory.js';
import { NativeBackend, nativeStatus } from '../../src/runtime/native.js';
import { ThreadPool } from '../../src/runtime/pool.js';
import { Rng } from '../../src/util/random.js';

const THREADS = [1, 2, 3];
const CS = [1, 3, 4, 5, 8, 15, 16, 17, 24, 33, 64];
/** Row counts around the vector widths and the reductions' blocks (4 streams x 4 groups). */
const MS = [1, 2, 3, 7, 8, 9, 16, 17, 33, 64, 65, 150];

const st = await nativeStatus();
const skip = st.ok ? false : `native engine unavailable: ${st.reason}`;
if (skip) console.log(`# eltwise_native: skipped (${skip})`);

const arena = new Arena();
const pairs = new Map<number, { native: Backend; wasm: Backend }>();
let exact = true;

before(async () => {
  if (skip) return;
  for (const T of THREADS) {
    pairs.set(T, { native: await NativeBackend.create(arena, T, st), wasm: await ThreadPool.create(arena, T) });
  }
  exact = pairs.get(1)!.wasm.isa === 'wasm-relaxed-simd';
  if (!exact) console.log('# eltwise_native: wasm kernels without relaxed SIMD (no FMA): fused kernels compared within 4 ulp');
});
after(() => {
  for (const p of pairs.values()) {
    p.native.close();
    p.wasm.close();
  }
});

// ---------------------------------------------------------------------------------------------
// helpers

function put(v: ArrayLike<number>): Float32Array {
  const a = arena.alloc(Math.max(1, v.length));
  a.set(v);
  return a;
}

/**
 * Outputs of a compare() body come from one region reused by every body (the arena never frees):
 * each body starts at its beginning, and every buffer is zeroed when handed out, so that the wasm
 * and the native run see the same initial outputs.
 */
const OUT_BYTES = 1 << 30;
let outBase = -1;
let outTop = 0;

function out(n: number): Float32Array {
  if (outBase < 0) outBase = arena.reserve(OUT_BYTES, 'test outputs');
  const bytes = Math.ceil((Math.max(1, n) * 4) / 64) * 64;
  if (outTop + bytes > OUT_BYTES) throw new RangeError('test outputs exceed their region');
  const a = arena.view(outBase + outTop, Math.max(1, n));
  outTop += bytes;
  a.fill(0);
  return a;
}

function outPut(v: ArrayLike<number>): Float32Array {
  const a = out(v.length);
  a.set(v);
  return a;
}

function read(a: Float32Array, n = a.length): Float32Array {
  return new Float32Array(arena.buffer, a.byteOffset, n).slice();
}

function randn(rng: Rng, n: number, scale = 1, shift = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = shift + scale * rng.normal();
  return a;
}

/** Random values with NaN, +0, -0, +-Infinity sprinkled in. */
function special(rng: Rng, n: number): Float32Array {
  const a = randn(rng, n);
  const sp = [NaN, 0, -0, Infinity, -Infinity, -NaN];
  for (let i = 0; i < n; i++) if (rng.next() < 0.15) a[i] = sp[Math.floor(rng.next() * sp.length)]!;
  return a;
}

/** Same bits, or (fused kernels on a wasm build without FMA) within 4 ulp of float32. */
function same(got: Float32Array, want: Float32Array, what: string, fused = false): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++) {
    if (g[i] === w[i]) continue;
    if (!exact && fused && Math.abs(got[i]! - want[i]!) <= 4 * 2 ** -23 * Math.max(Math.abs(got[i]!), Math.abs(want[i]!))) continue;
    assert.fail(`${what}[${i}]: native ${got[i]} (0x${g[i]!.toString(16)}), wasm ${want[i]} (0x${w[i]!.toString(16)})`);
  }
}

/**
 * Runs `body` on the native and the wasm backend of each thread count; body allocates its outputs
 * (from the same inputs), runs the host function and returns the outputs, read back.
 */
function compare(what: string, body: (b: Backend) => Record<string, Float32Array>, fused = false): void {
  for (const T of THREADS) {
    const { native, wasm } = pairs.get(T)!;
    outTop = 0;
    const want = body(wasm);
    outTop = 0;
    const got = body(native);
    for (const k of Object.keys(want)) same(got[k]!, want[k]!, `${what} ${T}T ${k}`, fused);
  }
}

// ---------------------------------------------------------------------------------------------

describe('native eltwise kernels = wasm kernels', { skip }, () => {
  test('every kernel of the two families is native', () => {
    const nb = pairs.get(1)!.native as NativeBackend;
    const names = [
      'bn_stats',
      'bn_normalize',
      'bn_backward_reduce',
      'bn_backward_reduce_act',
      'bn_backward_data',
      'bn_backward_data_acc',
      'relu_forward',
      'relu_backward',
      'add_forward',
      'mul_forward',
      'copy_fill',
      'slice_affine',
      'copy_channels',
      'copy_concat',
      'layout_convert',
      'pool_max_forward',
      'pool_max_backward',
      'pool_avg_forward',
      'pool_avg_backward',
      'pool_gap_forward',
      'pool_gap_backward',
      'sgd_update',
      'shortcut_pad_forward',
      'shortcut_pad_backward',
      'probe_read',
      'bnf_add_relu',
      'bnf_relu_mask',
      'bnf_mask',
      'relu6_forward',
      'relu6_backward',
      'silu_forward',
      'silu_backward',
      'hardswish_forward',
      'hardswish_backward',
      'sigmoid_forward',
      'sigmoid_backward',
      'channel_scale_forward',
      'channel_scale_backward_scale',
      'stochastic_depth_forward',
    ];
    for (const n of names) assert.ok(nb.isNative(n), `${n} native`);
  });

  for (const C of CS) {
    test(`batch norm C=${C}`, () => {
      for (const M of MS) {
        const rng = new Rng(C * 1000 + M);
        const x = put(randn(rng, M * C, 2, 0.5));
        const dy = put(randn(rng, M * C));
        const gamma = put(randn(rng, C, 0.5, 1)),
          beta = put(randn(rng, C, 0.5));
        const rm0 = randn(rng, C, 0.1),
          rv0 = Float32Array.from(randn(rng, C, 0.1), (v) => 1 + Math.abs(v));
        const mean = put(randn(rng, C, 0.2, 0.4)),
          rstd = put(Float32Array.from(randn(rng, C, 0.1), (v) => 0.7 + Math.abs(v)));
        const db = put(randn(rng, C, Math.sqrt(M))),
          dg = put(randn(rng, C, Math.sqrt(M)));
        // a large mean with one far sample: the second, re-shifted pass of bn_stats
        const far = randn(rng, M * C, 1, 1000);
        if (M >= 2) far[C] = 1e6;
        const xf = put(far);
        const tag = `C=${C} M=${M}`;
        for (const momentum of [0.1, null]) {
          for (const src of [x, xf]) {
            if (M < 2) continue;
            compare(
              `bn_stats ${tag}`,
              (b) => {
                const m = out(C),
                  r = out(C),
                  rm = outPut(rm0),
                  rv = outPut(rv0),
                  n = outPut([3]);
                E.bnStats(b, src.byteOffset, M, C, m.byteOffset, r.byteOffset, rm.byteOffset, rv.byteOffset, n.byteOffset, { momentum });
                return { mean: read(m), rstd: read(r), rm: read(rm), rv: read(rv), n: read(n) };
              },
              true,
            );
          }
        }
        compare(
          `bn_moments ${tag}`,
          (b) => {
            const m = out(C),
              v = out(C);
            E.bnMoments(b, x.byteOffset, M, C, m.byteOffset, v.byteOffset);
            return { mean: read(m), variance: read(v) };
          },
          true,
        );
        for (const relu of [false, true]) {
          compare(
            `bn_normalize relu=${relu} ${tag}`,
            (b) => {
              const y = out(M * C);
              E.bnNormalize(b, x.byteOffset, y.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, relu);
              // in place (y = x)
              const z = outPut(read(x));
              E.bnNormalize(b, z.byteOffset, z.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, relu);
              return { y: read(y), inPlace: read(z) };
            },
            true,
          );
        }
        compare(
          `bn_backward_reduce ${tag}`,
          (b) => {
            const d1 = out(C),
              d2 = out(C);
            E.bnBackwardReduce(b, dy.byteOffset, x.byteOffset, M, C, mean.byteOffset, rstd.byteOffset, d1.byteOffset, d2.byteOffset);
            return { dbeta: read(d1), dgamma: read(d2) };
          },
          true,
        );
        compare(
          `bn_backward_data ${tag}`,
          (b) => {
            const dx = out(M * C);
            E.bnBackwardData(
              b,
              dy.byteOffset,
              x.byteOffset,
              dx.byteOffset,
              M,
              C,
              mean.byteOffset,
              rstd.byteOffset,
              gamma.byteOffset,
              db.byteOffset,
              dg.byteOffset,
            );
            const z = outPut(read(dy));
            E.bnBackwardData(
              b,
              z.byteOffset,
              x.byteOffset,
              z.byteOffset,
              M,
              C,
              mean.byteOffset,
              rstd.byteOffset,
              gamma.byteOffset,
              db.byteOffset,
              dg.byteOffset,
            );
            return { dx: read(dx), inPlace: read(z) };
          },
          true,
        );
        for (const [LD, LX] of [
          [C, C],
          [C + 3, C],
          [2 * C + 5, C + 7],
        ] as const) {
          const x2 = put(randn(rng, M * LX));
          const g0 = randn(rng, M * LD);
          compare(
            `bn_backward_data_acc LD=${LD} LX=${LX} ${tag}`,
            (b) => {
              const G = outPut(g0);
              E.bnBackwardDataAcc(
                b,
                dy.byteOffset,
                x2.byteOffset,
                G.byteOffset,
                M,
                C,
                LD,
                mean.byteOffset,
                rstd.byteOffset,
                gamma.byteOffset,
                db.byteOffset,
                dg.byteOffset,
                LX,
              );
              return { G: read(G) };
            },
            true,
          );
        }
      }
    });

    test(`fused BN elementwise (bnfused) C=${C}`, () => {
      for (const M of MS) {
        const rng = new Rng(C * 7 + M);
        const x1 = put(special(rng, M * C)),
          x2 = put(randn(rng, M * C)),
          o = put(randn(rng, M * C)),
          dy = put(randn(rng, M * C));
        const c1 = put(randn(rng, 2 * C)),
          c2 = put(randn(rng, 2 * C));
        for (const mode of [0, 1]) {
          compare(
            `bnf_add_relu mode=${mode} C=${C} M=${M}`,
            (b) => {
              const y = out(M * C);
              F.bnAddRelu(b, x1.byteOffset, c1.byteOffset, mode === 0 ? o.byteOffset : 0, x2.byteOffset, c2.byteOffset, y.byteOffset, M, C);
              return { y: read(y) };
            },
            true,
          );
        }
        compare(
          `bnf_relu_mask C=${C} M=${M}`,
          (b) => {
            const dx = out(M * C);
            F.bnReluMask(b, dy.byteOffset, x1.byteOffset, c1.byteOffset, dx.byteOffset, M, C);
            const z = outPut(read(dy));
            F.bnReluMask(b, z.byteOffset, x1.byteOffset, c1.byteOffset, z.byteOffset, M, C);
            return { dx: read(dx), inPlace: read(z) };
          },
          true,
        );
        // the kernel's mask from y, called directly (the WebAssembly host runs two passes there)
        for (const code of [1, 2]) {
          compare(`bn_backward_reduce_act kernel act=${code} from y C=${C} M=${M}`, (b) => {
            const dz = out(M * C);
            b.run('bn_backward_reduce_act', [dy.byteOffset, x2.byteOffset, C, c1.byteOffset, x1.byteOffset, 0, 0, code, dz.byteOffset], [[0, M]]);
            return { dz: read(dz) };
          });
        }
        // the activation's backward in the BN's reduce pass: every code from the BN input x2,
        // ReLU's and ReLU6's masks from an output (x1, with its NaN, infinities and signed zeros,
        // stands in for it), dz and the two sums (finite: a NaN sum's sign is the CPU's)
        const mean = put(randn(rng, C, 0.2)),
          rstd = put(Float32Array.from(randn(rng, C, 0.1), (v) => 0.7 + Math.abs(v)));
        for (const [code, src] of [
          ...[0, 1, 2, 3, 4].map((k) => [k, { coef: c1.byteOffset }] as const),
          [1, { y: x1.byteOffset }] as const,
          [2, { y: x1.byteOffset }] as const,
        ]) {
          compare(
            `bn_backward_reduce_act act=${code} from ${'y' in src ? 'y' : 'x'} C=${C} M=${M}`,
            (b) => {
              const [dz, db, dg] = [out(M * C), out(C), out(C)];
              E.bnBackwardReduce(b, dy.byteOffset, x2.byteOffset, M, C, mean.byteOffset, rstd.byteOffset, db.byteOffset, dg.byteOffset, {
                code,
                src,
                dz: dz.byteOffset,
              });
              return { dz: read(dz), dbeta: read(db), dgamma: read(dg) };
            },
            true,
          );
        }
      }
    });

    test(`channel slices, concat, slice_affine, layout C=${C}`, () => {
      for (const M of [1, 4, 5, 17, 33, 64]) {
        const rng = new Rng(C * 13 + M);
        const wideC = 2 * C + 3;
        const src = put(special(rng, M * wideC));
        for (const [off, width] of [
          [0, C],
          [C, C],
          [C + 1, C + 2],
          [0, wideC],
        ]) {
          const dst0 = randn(rng, M * (width + 2));
          compare(`copy_channels C=${C} M=${M} off=${off} width=${width}`, (b) => {
            const dst = outPut(dst0);
            E.copyChannels(b, src.byteOffset, wideC, off, dst.byteOffset, width + 2, 1, width, M);
            const whole = out(M * wideC);
            E.copyChannels(b, src.byteOffset, wideC, 0, whole.byteOffset, wideC, 0, wideC, M);
            return { dst: read(dst), whole: read(whole) };
          });
        }
        const parts = [C, 3, C + 1];
        const Cw = parts.reduce((a, b) => a + b, 0);
        const ins = parts.map((c) => put(special(rng, M * c)));
        const dyWide = put(special(rng, M * Cw));
        compare(`concat C=${C} M=${M}`, (b) => {
          const y = out(M * Cw);
          E.concatForward(
            b,
            ins.map((p, i) => ({ ptr: p.byteOffset, C: parts[i]! })),
            y.byteOffset,
            M,
          );
          const outs = parts.map((c) => out(M * c));
          E.concatBackward(
            b,
            dyWide.byteOffset,
            outs.map((p, i) => ({ ptr: p.byteOffset, C: parts[i]! })),
            M,
          );
          return { y: read(y), ...Object.fromEntries(outs.map((p, i) => [`dx${i}`, read(p)])) };
        });
        const LG = C + 5,
          LX = C + 2;
        const g = put(randn(rng, M * LG)),
          xs = put(randn(rng, M * LX));
        const B = put(randn(rng, C)),
          C0 = put(randn(rng, C)),
          K = put(randn(rng, C));
        compare(
          `slice_affine C=${C} M=${M}`,
          (b) => {
            const y = out(M * C);
            E.sliceAffine(b, g.byteOffset, LG, xs.byteOffset, LX, y.byteOffset, C, B.byteOffset, C0.byteOffset, K.byteOffset, M);
            return { y: read(y) };
          },
          true,
        );
        for (const [N, H, W] of [
          [1, 1, M],
          [2, M, 3],
          [3, 5, 7],
        ]) {
          const n = N * H * W * C;
          const a = put(special(rng, n));
          compare(`layout C=${C} ${N}x${H}x${W}`, (b) => {
            const t = out(n),
              u = out(n);
            E.nhwcToNchw(b, a.byteOffset, t.byteOffset, N, H, W, C);
            E.nchwToNhwc(b, a.byteOffset, u.byteOffset, N, H, W, C);
            return { toNchw: read(t), toNhwc: read(u) };
          });
        }
      }
    });

    test(`pooling C=${C}`, () => {
      const shapes: [number, number, number, number, number, number][] = [
        // N, H, W, kernel, stride, padding
        [1, 7, 7, 3, 2, 1],
        [3, 8, 6, 2, 2, 0],
        [2, 5, 9, 3, 1, 1],
        [5, 4, 4, 1, 1, 0],
      ];
      for (const [N, H, W, k, s, p] of shapes) {
        const rng = new Rng(C * 31 + N * H * W);
        const shape = { N, H, W, C, kernel: k, stride: s, padding: p };
        const g = E.poolGeometry(shape);
        // ties (rounded values) and NaN in the windows
        const xv = Float32Array.from(randn(rng, N * H * W * C), (v) => Math.round(v * 2) / 2);
        for (let i = 0; i < xv.length; i++) if (rng.next() < 0.05) xv[i] = NaN;
        const x = put(xv);
        const dy = put(randn(rng, N * g.OH * g.OW * C));
        const tag = `C=${C} ${N}x${H}x${W} k${k} s${s} p${p}`;
        compare(`max pool ${tag}`, (b) => {
          const y = out(N * g.OH * g.OW * C),
            dx = out(N * H * W * C);
          E.maxPoolForward(b, x.byteOffset, y.byteOffset, shape);
          E.maxPoolBackward(b, dy.byteOffset, x.byteOffset, dx.byteOffset, shape);
          return { y: read(y), dx: read(dx) };
        });
        for (const pad of [true, false]) {
          compare(`avg pool pad=${pad} ${tag}`, (b) => {
            const y = out(N * g.OH * g.OW * C),
              dx = out(N * H * W * C);
            E.avgPoolForward(b, x.byteOffset, y.byteOffset, shape, pad);
            E.avgPoolBackward(b, dy.byteOffset, dx.byteOffset, shape, pad);
            return { y: read(y), dx: read(dx) };
          });
        }
        const gdy = put(randn(rng, N * C));
        compare(`global avg pool ${tag}`, (b) => {
          const y = out(N * C),
            dx = out(N * H * W * C);
          E.globalAvgPoolForward(b, x.byteOffset, y.byteOffset, N, H * W, C);
          E.globalAvgPoolBackward(b, gdy.byteOffset, dx.byteOffset, N, H * W, C);
          return { y: read(y), dx: read(dx) };
        });
      }
    });

    test(`shortcut_pad C=${C}`, () => {
      for (const [N, H, W, stride, before, after] of [
        [2, 5, 5, 2, C, C],
        [1, 8, 6, 2, 0, 3],
        [3, 4, 3, 1, 1, 0],
      ]) {
        const rng = new Rng(C * 17 + H);
        const s = { N: N!, C, H: H!, W: W!, stride: stride!, before: before!, after: after! };
        const K = before! + C + after!,
          OH = Math.ceil(H! / stride!),
          OW = Math.ceil(W! / stride!);
        const x = put(special(rng, N! * H! * W! * C)),
          dy = put(special(rng, N! * OH * OW * K));
        const y0 = randn(rng, N! * OH * OW * K),
          dx0 = randn(rng, N! * H! * W! * C);
        compare(`shortcut_pad C=${C} ${JSON.stringify(s)}`, (b) => {
          const y = outPut(y0),
            dx = outPut(dx0);
          E.shortcutPadForward(b, x.byteOffset, y.byteOffset, s);
          E.shortcutPadBackward(b, dy.byteOffset, dx.byteOffset, s);
          return { y: read(y), dx: read(dx) };
        });
      }
    });
  }

  test('element-wise: relu, add, mul, fill, masks (NaN, +-0, +-Infinity)', () => {
    for (const n of [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 100, 1000, 4099]) {
      const rng = new Rng(n);
      const x = put(special(rng, n)),
        y = put(special(rng, n)),
        dy = put(special(rng, n));
      compare(`relu n=${n}`, (b) => {
        const yo = out(n),
          dx = out(n),
          z = outPut(read(x));
        E.reluForward(b, x.byteOffset, yo.byteOffset, n);
        E.reluForward(b, z.byteOffset, z.byteOffset, n);
        E.reluBackward(b, dy.byteOffset, y.byteOffset, dx.byteOffset, n);
        return { y: read(yo), inPlace: read(z), dx: read(dx) };
      });
      compare(`add, mul, fill n=${n}`, (b) => {
        const s = out(n),
          p = out(n),
          f = out(n + 1);
        E.add(b, x.byteOffset, y.byteOffset, s.byteOffset, n);
        E.mul(b, x.byteOffset, y.byteOffset, p.byteOffset, n);
        E.fill(b, f.byteOffset, n, -0.75);
        return { add: read(s), mul: read(p), fill: read(f) };
      });
      compare(`bnf_mask n=${n}`, (b) => {
        const ds = out(n);
        F.reluMask(b, dy.byteOffset, y.byteOffset, ds.byteOffset, n);
        return { ds: read(ds) };
      });
    }
  });

  // Where two NaNs meet in one multiplication (silu: x * sigmoid(x)), the C++ compiler may commute
  // the operands and so keep the other one's payload: any NaN matches any NaN here.
  const nanAny = (a: Float32Array): Float32Array => a.map((v) => (Number.isNaN(v) ? NaN : v));

  test("the lean CNNs' kernels: activations (NaN, +-0, +-Infinity), channel_scale, stochastic depth", () => {
    for (const n of [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 4099]) {
      const rng = new Rng(n + 77);
      const x = put(Float32Array.from(special(rng, n), (v) => 4 * v)),
        dy = put(special(rng, n));
      for (const op of ['relu6', 'silu', 'hardswish', 'sigmoid'] as const) {
        compare(`${op} n=${n}`, (b) => {
          const y = out(n),
            dx = out(n),
            z = outPut(read(x));
          E.actForward(b, op, x.byteOffset, y.byteOffset, n);
          E.actForward(b, op, z.byteOffset, z.byteOffset, n);
          E.actBackward(b, op, dy.byteOffset, x.byteOffset, dx.byteOffset, n);
          return { y: nanAny(read(y)), inPlace: nanAny(read(z)), dx: nanAny(read(dx)) };
        });
      }
    }
    for (const C of CS) {
      for (const [N, HW] of [
        [1, 1],
        [2, 3],
        [3, 16],
        [5, 17],
      ] as const) {
        const rng = new Rng(C * 31 + N * HW);
        const x = put(randn(rng, N * HW * C)),
          dy = put(randn(rng, N * HW * C)),
          s = put(randn(rng, N * C)),
          m = put(Float32Array.from({ length: N }, (_, i) => (i % 3 === 1 ? 0 : 1.25)));
        compare(`channel_scale, stochastic depth C=${C} N=${N} HW=${HW}`, (b) => {
          const y = out(N * HW * C),
            ds = out(N * C),
            sd = out(N * HW * C);
          E.channelScale(b, x.byteOffset, s.byteOffset, y.byteOffset, N, HW, C);
          E.channelScaleBackwardScale(b, dy.byteOffset, x.byteOffset, ds.byteOffset, N, HW, C);
          E.sampleScale(b, x.byteOffset, m.byteOffset, sd.byteOffset, N, HW * C);
          return { y: read(y), ds: read(ds), sd: read(sd) };
        });
      }
    }
  });

  test('the activation codes of bn_normalize and bnf_relu_mask, bnf_add_relu without its ReLU', () => {
    for (const C of CS) {
      for (const M of [1, 3, 8, 17, 65]) {
        const rng = new Rng(C * 17 + M);
        const x = put(Float32Array.from(special(rng, M * C), (v) => 3 * v)),
          dy = put(special(rng, M * C)),
          o = put(randn(rng, M * C));
        const gamma = put(randn(rng, C, 0.5, 1)),
          beta = put(randn(rng, C, 0.5)),
          mean = put(randn(rng, C, 0.2)),
          rstd = put(Float32Array.from(randn(rng, C, 0.1), (v) => 0.7 + Math.abs(v)));
        const c1 = put(randn(rng, 2 * C)),
          c2 = put(randn(rng, 2 * C));
        for (let act = 0; act <= 4; act++) {
          compare(
            `act ${act} C=${C} M=${M}`,
            (b) => {
              const y = out(M * C),
                m = out(M * C);
              E.bnNormalize(b, x.byteOffset, y.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, act);
              F.bnReluMask(b, dy.byteOffset, x.byteOffset, c1.byteOffset, m.byteOffset, M, C, act);
              return { y: nanAny(read(y)), mask: nanAny(read(m)) };
            },
            true,
          );
        }
        compare(
          `bnf_add_relu without ReLU C=${C} M=${M}`,
          (b) => {
            const y0 = out(M * C),
              y1 = out(M * C);
            F.bnAddRelu(b, x.byteOffset, c1.byteOffset, o.byteOffset, 0, 0, y0.byteOffset, M, C, false);
            F.bnAddRelu(b, x.byteOffset, c1.byteOffset, 0, o.byteOffset, c2.byteOffset, y1.byteOffset, M, C, false);
            return { y0: read(y0), y1: read(y1) };
          },
          true,
        );
      }
    }
  });

  // Ranges of 2M floats or more take the streaming-store paths (NT_MIN in eltwise.cc and
  // bnfused.cc); y one float off a 64-byte boundary takes the aligning head of vmap.
  test('large tensors (streaming stores), aligned and not', () => {
    for (const C of [33, 40, 64]) {
      const M = Math.ceil(6.5e6 / C) + 3;
      const n = M * C;
      const rng = new Rng(C);
      const x = put(special(rng, n)),
        dy = put(randn(rng, n)),
        o = put(randn(rng, n));
      const gamma = put(randn(rng, C, 0.5, 1)),
        beta = put(randn(rng, C, 0.5)),
        mean = put(randn(rng, C, 0.2)),
        rstd = put(Float32Array.from(randn(rng, C, 0.1), (v) => 0.7 + Math.abs(v)));
      const db = put(randn(rng, C, 100)),
        dg = put(randn(rng, C, 100)),
        c1 = put(randn(rng, 2 * C)),
        c2 = put(randn(rng, 2 * C));
      compare(
        `large BN C=${C}`,
        (b) => {
          const y = out(n),
            yr = out(n),
            dx = out(n);
          E.bnNormalize(b, x.byteOffset, y.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, false);
          E.bnNormalize(b, x.byteOffset, yr.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, true);
          E.bnBackwardData(
            b,
            dy.byteOffset,
            x.byteOffset,
            dx.byteOffset,
            M,
            C,
            mean.byteOffset,
            rstd.byteOffset,
            gamma.byteOffset,
            db.byteOffset,
            dg.byteOffset,
          );
          return { y: read(y), yRelu: read(yr), dx: read(dx) };
        },
        true,
      );
      compare(
        `large bnfused C=${C}`,
        (b) => {
          const y0 = out(n),
            y1 = out(n),
            m = out(n),
            ds = out(n + 1);
          F.bnAddRelu(b, x.byteOffset, c1.byteOffset, o.byteOffset, 0, 0, y0.byteOffset, M, C);
          F.bnAddRelu(b, x.byteOffset, c1.byteOffset, 0, o.byteOffset, c2.byteOffset, y1.byteOffset, M, C);
          F.bnReluMask(b, dy.byteOffset, x.byteOffset, c1.byteOffset, m.byteOffset, M, C);
          F.reluMask(b, dy.byteOffset, x.byteOffset, ds.byteOffset + 4, n);
          return { y0: read(y0), y1: read(y1), mask: read(m), ds: read(ds) };
        },
        true,
      );
      for (const shift of [0, 1]) {
        compare(`large element-wise C=${C} shift=${shift}`, (b) => {
          const [r, g, s, p, f] = [0, 1, 2, 3, 4].map(() => out(n + 1));
          const at = (a: Float32Array) => a.byteOffset + 4 * shift;
          E.reluForward(b, x.byteOffset, at(r!), n);
          E.reluBackward(b, dy.byteOffset, x.byteOffset, at(g!), n);
          E.add(b, x.byteOffset, dy.byteOffset, at(s!), n);
          E.mul(b, x.byteOffset, dy.byteOffset, at(p!), n);
          E.fill(b, at(f!), n, 0.25);
          return { relu: read(r!), reluBwd: read(g!), add: read(s!), mul: read(p!), fill: read(f!) };
        });
      }
    }
  });

  test('sgd_update: every flag', () => {
    for (const n of [1, 5, 16, 17, 33, 1001]) {
      const rng = new Rng(n * 3);
      const p0 = randn(rng, n),
        g = put(randn(rng, n)),
        buf0 = randn(rng, n);
      const opts = [
        { lr: 0.1 },
        { lr: 0.05, weightDecay: 1e-3 },
        { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
        { lr: 0.1, momentum: 0.9, dampening: 0.1 },
        { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
      ];
      for (const o of opts) {
        for (const first of [true, false]) {
          compare(`sgd n=${n} ${JSON.stringify(o)} first=${first}`, (b) => {
            const p = outPut(p0),
              buf = outPut(buf0);
            E.sgdUpdate(b, p.byteOffset, g.byteOffset, buf.byteOffset, n, o, first);
            return { p: read(p), buf: read(buf) };
          });
        }
      }
    }
  });
});
