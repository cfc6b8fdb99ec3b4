/**
 * Winograd F(2x2, 3x3) convolutions, native engine vs WebAssembly, side by side in one process:
 * forward, backward-data and backward-weights of the 3x3 layers of resnet50 and densenet121
 * (batch 16 by default), native and wasm calls interleaved. GFLOP/s count the direct convolution's
 * 2*N*OH*OW*K*C*9 (so Winograd can pass 100% of the FMA peak): per wall-clock second, and per
 * CPU-second of the process (all its threads: the rate of a core while it runs this work, which
 * stays meaningful on a shared, loaded machine where wall-clock times are not). "% of peak":
 * native GFLOP per CPU-second over the native FMA probe's (families/bench.cc fma_peak: 12
 * independent FMA chains per thread), measured at the same thread count.
 *
 *   node dist/bench/kernels_wino_native.js [--batch 16] [--threads 1,2] [--reps 7] [--only 64->64] [--ops fwd,bwd-data,bwd-weight] [--json] [--winoWBytes N ...]
 *
 * BNFF_NATIVE_ISA=avx2 runs the native AVX2 variant.
 */
import { convBackwardData, convBackwardWeight, convFlops, convForward, convGeom, convWorkspace, type ConvGeom, type ConvGeomSpec } from '../src/kernels/conv.js';
import type { Backend } from '../src/runtime/backend.js';
import { splitRange } from '../src/runtime/backend.js';
import { Arena } from '../src/runtime/memory.js';
import { NativeBackend, nativeStatus } from '../src/runtime/native.js';
import { ThreadPool } from '../src/runtime/pool.js';
import { convBenchArgs, machine, spread } from '../src/bench/common.js';

// tuning knobs as --winoWBytes 1048576 etc. (conv_config.ts convTuning)
const { batch, threadList, reps, only, ops, json } = convBenchArgs(7);

const SHAPES: [string, Omit<ConvGeomSpec, 'N'>][] = [
  ['3x3 64->64 @56', { C: 64, H: 56, W: 56, K: 64, KH: 3, pad: 1 }],
  ['3x3 128->128 @28', { C: 128, H: 28, W: 28, K: 128, KH: 3, pad: 1 }],
  ['3x3 256->256 @14', { C: 256, H: 14, W: 14, K: 256, KH: 3, pad: 1 }],
  ['3x3 512->512 @7', { C: 512, H: 7, W: 7, K: 512, KH: 3, pad: 1 }],
  ['3x3 128->32 @56 (dense)', { C: 128, H: 56, W: 56, K: 32, KH: 3, pad: 1 }],
  ['3x3 128->32 @28 (dense)', { C: 128, H: 28, W: 28, K: 32, KH: 3, pad: 1 }],
  ['3x3 128->32 @14 (dense)', { C: 128, H: 14, W: 14, K: 32, KH: 3, pad: 1 }],
  ['3x3 128->32 @7 (dense)', { C: 128, H: 7, W: 7, K: 32, KH: 3, pad: 1 }],
];

interface Bufs { x: number; w: number; y: number; dy: number; dx: number; dw: number; ws: ReturnType<typeof convWorkspace> }

function setup(b: Backend, g: ConvGeom): Bufs {
  const a = b.arena;
  const fill = (n: number): number => {
    const v = a.alloc(n);
    for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.37) * 0.5;
    return v.byteOffset;
  };
  const nx = g.N * g.C * g.H * g.W, ny = g.N * g.K * g.OH * g.OW, nw = g.K * g.C * 9;
  return { x: fill(nx), w: fill(nw), y: fill(ny), dy: fill(ny), dx: fill(nx), dw: fill(nw), ws: convWorkspace(a, g) };
}

function call(b: Backend, g: ConvGeom, o: Bufs, op: string): void {
  if (op === 'fwd') convForward(b, g, o.x, o.w, 0, o.y, o.ws);
  else if (op === 'bwd-data') convBackwardData(b, g, o.dy, o.w, o.dx, o.ws);
  else convBackwardWeight(b, g, o.dy, o.x, o.dw, 0, o.ws);
}

const time = (f: () => void): number => {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
};
/** CPU seconds of the whole process (every thread) spent in f. */
const cpu = (f: () => void): number => {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
};

const st = await nativeStatus();
if (!st.ok) {
  console.error(`native engine unavailable: ${st.reason}`);
  process.exit(1);
}
const rows: Record<string, unknown>[] = [];
if (!json) console.log(`native ${st.isa} vs wasm, batch ${batch}, ${reps} repeats (medians); ${machine().cpu}`);
for (const T of threadList) {
  const nat = await NativeBackend.create(new Arena(), T, st);
  const was = await ThreadPool.create(new Arena(), T);
  const lanes = st.isa === 'avx512' ? 16 : 8;
  // the FMA probe's rate per CPU-second (median of 5 runs of about 50 ms)
  const probe = (n: number): number => (T * n * 24 * lanes) / cpu(() => nat.run('fma_peak', [n], splitRange(T, T))) / 1e9;
  probe(100000);
  const peak = spread([0, 1, 2, 3, 4].map(() => probe(2_000_000))).median;
  for (const [name, s] of SHAPES) {
    if (only && !name.includes(only)) continue;
    const g = convGeom({ N: batch, ...s });
    const fl = convFlops(g);
    const bn = setup(nat, g), bw = setup(was, g);
    for (const op of ops) {
      call(nat, g, bn, op);
      call(was, g, bw, op);
      const tn: number[] = [], tw: number[] = [], cn: number[] = [], cw: number[] = [];
      for (let r = 0; r < reps; r++) {
        let c = 0;
        tn.push(time(() => (c = cpu(() => call(nat, g, bn, op)))));
        cn.push(c);
        tw.push(time(() => (c = cpu(() => call(was, g, bw, op)))));
        cw.push(c);
      }
      const rate = (ts: number[]): number => fl / spread(ts).median / 1e9;
      const n = rate(tn), w = rate(tw), nc = rate(cn), wc = rate(cw), pct = (100 * nc) / peak;
      rows.push({
        shape: name, op, threads: T, native_gflops: +n.toFixed(1), wasm_gflops: +w.toFixed(1), native_gflops_cpu: +nc.toFixed(1),
        wasm_gflops_cpu: +wc.toFixed(1), native_pct_peak: +pct.toFixed(0), speedup_cpu: +(nc / wc).toFixed(2),
      });
      if (!json) {
        console.log(`${T}T ${name.padEnd(24)} ${op.padEnd(10)} native ${n.toFixed(1).padStart(6)} (${nc.toFixed(1).padStart(6)} per CPU-s, ${pct.toFixed(0).padStart(3)}% of peak)` +
          `  wasm ${w.toFixed(1).padStart(6)} (${wc.toFixed(1).padStart(6)})  x${(nc / wc).toFixed(2)}`);
      }
    }
  }
  if (!json) console.log(`${T}T native FMA peak (${lanes * 32}-bit): ${peak.toFixed(1)} GFLOP per CPU-second`);
  nat.close();
  was.close();
}
if (json) console.log(JSON.stringify({ machine: machine(), isa: st.isa, batch, rows }, null, 1));
