/**
 * Native vs WebAssembly convolution kernels, side by side in one process: GFLOP/s of forward,
 * backward-data and backward-weights (unfused, and with --fused every BN part on) on ResNet-50
 * GEMM shapes, the native call and the wasm call interleaved repeat by repeat (medians; "x" is
 * the median of the per-repeat time ratios wasm/native), next to each engine's micro-kernel rate
 * on L1-resident panels (gemm_bench_mk: the 4x8 wasm kernel; natively the wide kernel of
 * families/gemm_wide.h) and the native FMA peak (fma_peak), all at the same thread count.
 *
 *   node dist/bench/conv_native.js [--batch 16] [--threads 1,2] [--reps 7] [--only stem] [--ops fwd,bwd-data,bwd-weight] [--fused] [--cpu] [--json]
 *
 * The machine is shared: compare the ratios of one run.
 */
import { convBackwardData, convBackwardWeight, convFlops, convForward, convGeom, convWorkspace, type ConvGeom, type ConvGeomSpec } from '../src/kernels/conv.js';
import type { Backend } from '../src/runtime/backend.js';
import { Arena } from '../src/runtime/memory.js';
import { NativeBackend, nativeStatus } from '../src/runtime/native.js';
import { ThreadPool } from '../src/runtime/pool.js';
import { convBenchArgs, machine, spread } from '../src/bench/common.js';

const { flag, batch, threadList, reps, only, ops, json } = convBenchArgs(7);
const fused = flag('fused');

const SHAPES: [string, Omit<ConvGeomSpec, 'N'>][] = [
  ['1x1 256->64 @56', { C: 256, H: 56, W: 56, K: 64, KH: 1 }],
  ['1x1 64->256 @56', { C: 64, H: 56, W: 56, K: 256, KH: 1 }],
  ['1x1 512->128 @28', { C: 512, H: 28, W: 28, K: 128, KH: 1 }],
  ['1x1 1024->256 @14', { C: 1024, H: 14, W: 14, K: 256, KH: 1 }],
  ['1x1 2048->512 @7', { C: 2048, H: 7, W: 7, K: 512, KH: 1 }],
  ['7x7 3->64 s2 @224 (stem)', { C: 3, H: 224, W: 224, K: 64, KH: 7, stride: 2, pad: 3 }],
  ['1x1 160->128 @56 (dense)', { C: 160, H: 56, W: 56, K: 128, KH: 1 }],
];
const shapes = SHAPES.filter(([n]) => !only || n.includes(only)).map(([n, s]) => [n, convGeom({ ...s, N: batch })] as [string, ConvGeom]);

// --cpu: time by this process's CPU time instead of the wall clock (with --threads 1, where the
// native kernels run on the calling thread and the wasm kernel on one worker): on a machine shared
// with other load, time spent descheduled then does not count
const cpu = flag('cpu');
const now = cpu
  ? (): number => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    }
  : (): number => Number(process.hrtime.bigint()) / 1e9;

/** Buffers of every shape on one backend's arena. */
function setup(be: Backend): { run: (g: ConvGeom, op: string) => () => void } {
  const a = be.arena;
  const max = (f: (g: ConvGeom) => number): number => Math.max(...shapes.map(([, g]) => f(g)));
  const nx = max((g) => g.N * g.H * g.W * g.C), ny = max((g) => g.N * g.OH * g.OW * g.K), nw = max((g) => g.K * g.C * g.KH * g.KW);
  const cm = max((g) => Math.max(g.C, g.K));
  const [px, pdx, py, pdy, pxbn, pw, pdw, pdb] = [nx, nx, ny, ny, ny, nw, nw, cm].map((n) => a.reserve(n * 4));
  const fill = (p: number, n: number, s = 1): void => {
    const v = a.view(p, n);
    for (let i = 0; i < n; i++) v[i] = s * (((i * 2654435761) % 1000) / 1000 - 0.5);
  };
  fill(px!, nx); fill(pdy!, ny); fill(pxbn!, ny); fill(pw!, nw, 0.1);
  const vec = (n: number, v: number): number => {
    const p = a.reserve(n * 4);
    a.view(p, n).fill(v);
    return p;
  };
  const coef = vec(2 * cm, 0.5), cdy = vec(3 * cm, 0.3), mean = vec(cm, 0.1), rstd = vec(cm, 1.2), om = vec(cm, 0), ov = vec(cm, 0), ob = vec(cm, 0), og = vec(cm, 0);
  const ws = convWorkspace(a, shapes.map(([, g]) => g));
  return {
    run: (g, op) => {
      const xp = { coef, relu: true }, dyp = { dbn: pdy!, xbn: pxbn!, coef: cdy };
      if (op === 'fwd') return fused ? () => convForward(be, g, px!, pw!, 0, py!, ws, { xPrologue: xp, moments: { mean: om, variance: ov } }) : () => convForward(be, g, px!, pw!, 0, py!, ws);
      if (op === 'bwd-data') {
        return fused
          ? () => convBackwardData(be, g, 0, pw!, pdx!, ws, { dyPrologue: dyp, dxEpilogue: { x2: px!, coef, mean, rstd, relu: true, dbeta: ob, dgamma: og } })
          : () => convBackwardData(be, g, pdy!, pw!, pdx!, ws);
      }
      return fused ? () => convBackwardWeight(be, g, 0, px!, pdw!, pdb!, ws, { dyPrologue: dyp, xPrologue: xp }) : () => convBackwardWeight(be, g, pdy!, px!, pdw!, pdb!, ws);
    },
  };
}

/** GFLOP/s of one burst of gemm_bench_mk (kc 256, `reps` tiles per thread), every thread at once. */
function mkBurst(be: Backend, reps: number): number {
  const T = be.threads;
  const ranges = Array.from({ length: T }, () => [0, 1] as [number, number]);
  const t = now();
  be.run('gemm_bench_mk', [256, reps], ranges);
  return (2 * 4 * 8 * 256 * reps * T) / (now() - t) / 1e9;
}

/** GFLOP/s of one burst of fma_peak (`n` rounds per thread). */
function fmaBurst(be: NativeBackend, n: number): number {
  const T = be.threads, lanes = be.isa === 'avx512' ? 16 : 8;
  const ranges = Array.from({ length: T }, () => [0, 1] as [number, number]);
  const t = now();
  be.run('fma_peak', [n], ranges);
  return (T * n * 24 * lanes) / (now() - t) / 1e9;
}

const st = await nativeStatus();
if (!st.ok) {
  console.error(`native engine unavailable: ${st.reason}`);
  process.exit(1);
}
const rows: Record<string, unknown>[] = [];
const peaks: Record<string, unknown>[] = [];
for (const threads of threadList) {
  const nat = await NativeBackend.create(new Arena(), threads, st);
  const wasm = await ThreadPool.create(new Arena(), threads);
  const sn = setup(nat), sw = setup(wasm);
  // micro-kernels and FMA peak, interleaved: the native micro-kernel's share of the peak is the
  // median of per-pair ratios
  mkBurst(nat, 20000); mkBurst(wasm, 20000); fmaBurst(nat, 1_000_000);
  const mkn: number[] = [], mkw: number[] = [], fm: number[] = [], share: number[] = [];
  for (let r = 0; r < 9; r++) {
    const a = mkBurst(nat, 20000), b = fmaBurst(nat, 1_000_000);
    mkn.push(a); fm.push(b); share.push(a / b); mkw.push(mkBurst(wasm, 20000));
  }
  const pk = { threads, isa: nat.isa, fma: spread(fm).max, mkNative: spread(mkn).max, mkWasm: spread(mkw).max, mkShare: spread(share).median };
  peaks.push(pk);
  if (!json) {
    console.log(`${threads}T: native FMA peak ${pk.fma.toFixed(1)} GFLOP/s (${nat.isa}; best burst), native micro-kernel ${pk.mkNative.toFixed(1)} ` +
      `(${(100 * pk.mkShare).toFixed(0)}% of the FMA peak, median of interleaved pairs), wasm micro-kernel ${pk.mkWasm.toFixed(1)}`);
  }
  for (const [name, g] of shapes) {
    const f = convFlops(g);
    for (const op of ops) {
      const fn = sn.run(g, op), fw = sw.run(g, op);
      fn(); fw();
      const tn: number[] = [], tw: number[] = [], ofMk: number[] = [];
      // a native micro-kernel burst of about the native call's duration before each pair
      let t = now();
      fn();
      const bReps = Math.max(200, Math.round(((now() - t) * pk.mkNative * 1e9) / (2 * 4 * 8 * 256 * threads)));
      const t0 = now();
      while (tn.length < reps || (now() - t0 < 1.0 && tn.length < 25)) {
        const mk = mkBurst(nat, bReps);
        t = now();
        fn();
        const s = now() - t;
        tn.push(s);
        ofMk.push(f / s / 1e9 / mk);
        t = now();
        fw();
        tw.push(now() - t);
      }
      const gn = f / spread(tn).median / 1e9, gw = f / spread(tw).median / 1e9;
      const x = spread(tn.map((t, i) => tw[i]! / t)).median;
      const row = { shape: name, op, threads, fused, native: gn, wasm: gw, speedup: x, ofMk: spread(ofMk).median };
      rows.push(row);
      if (!json) {
        console.log(`${threads}T ${name.padEnd(26)} ${op.padEnd(10)} native ${gn.toFixed(1).padStart(6)}  wasm ${gw.toFixed(1).padStart(6)} GFLOP/s  x${x.toFixed(2)}  native ${(100 * row.ofMk).toFixed(0)}% of its micro-kernel`);
      }
    }
  }
  nat.close();
  wasm.close();
}
if (json) console.log(JSON.stringify({ machine: machine(), batch, fused, peaks, rows }, null, 1));
