/**
 * Bandwidth of the memory-bound NHWC kernels (src/kernels/eltwise.ts) next to the STREAM triad
 * measured in the same run, at 1 and 2 threads (or --threads a,b,...).
 *
 *   node dist/bench/kernels_eltwise.js [--shape 16x56x56x256] [--reps 15] [--threads 1,2]
 *
 * Bytes are counted as STREAM does: every array read once plus every array written once
 * (triad: 12 bytes per element; bn stats: 4; normalize: 8; backward data: 12; ...). Each rep
 * runs triad and then every kernel, so the triad figure tracks the same machine noise; the
 * table reports medians.
 */
import { Arena } from '../src/runtime/memory.js';
import { ThreadPool, splitRange } from '../src/runtime/pool.js';
import * as E from '../src/kernels/eltwise.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

const shape = arg('shape', '16x56x56x256').split('x').map(Number) as [number, number, number, number];
const reps = Number(arg('reps', '15'));
const threadList = arg('threads', '1,2').split(',').map(Number);
const only = arg('only', '');
const [N, H, W, C] = shape;
const M = N * H * W;
const n = M * C;

const arena = new Arena();
const t = (k: number) => arena.alloc(k);
const x = t(n), y = t(n), dy = t(n), dx = t(n);
const ta = t(n), tb = t(n), tc = t(n);
const vec = () => t(C);
const gamma = vec(), beta = vec(), mean = vec(), rstd = vec(), rm = vec(), rv = vec(), dbeta = vec(), dgamma = vec();
const nbt = t(1);
for (let i = 0; i < n; i++) {
  const v = Math.sin(i * 0.618) * 2 + 0.1;
  x[i] = v;
  dy[i] = Math.cos(i * 0.3);
  ta[i] = 1;
  tb[i] = 2;
  tc[i] = 3;
}
for (let c = 0; c < C; c++) {
  gamma[c] = 1 + c / C;
  beta[c] = 0.1;
  rv[c] = 1;
}

interface Case {
  name: string;
  bytes: number;
  run: (p: ThreadPool) => void;
}

const allCases: Case[] = [
  { name: '(read probe: plain sum)', bytes: 4 * n, run: (p) => p.run('probe_read', [x.byteOffset], splitRange(n, p.threads, 16)) },
  { name: 'bn stats (x)', bytes: 4 * n, run: (p) => E.bnStats(p, x.byteOffset, M, C, mean.byteOffset, rstd.byteOffset, rm.byteOffset, rv.byteOffset, nbt.byteOffset) },
  { name: 'bn normalize', bytes: 8 * n, run: (p) => E.bnNormalize(p, x.byteOffset, y.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, false) },
  { name: 'bn normalize+relu', bytes: 8 * n, run: (p) => E.bnNormalize(p, x.byteOffset, y.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, true) },
  { name: 'bn bwd reduce', bytes: 8 * n, run: (p) => E.bnBackwardReduce(p, dy.byteOffset, x.byteOffset, M, C, mean.byteOffset, rstd.byteOffset, dbeta.byteOffset, dgamma.byteOffset) },
  { name: 'bn bwd data', bytes: 12 * n, run: (p) => E.bnBackwardData(p, dy.byteOffset, x.byteOffset, dx.byteOffset, M, C, mean.byteOffset, rstd.byteOffset, gamma.byteOffset, dbeta.byteOffset, dgamma.byteOffset) },
  // the dense-block gradient buffer: dx of C/2 channels added into the leading half of rows of C
  { name: 'bn bwd data acc (C/2 of C)', bytes: 16 * (n / 2), run: (p) => E.bnBackwardDataAcc(p, dy.byteOffset, x.byteOffset, y.byteOffset, M, C / 2, C, mean.byteOffset, rstd.byteOffset, gamma.byteOffset, dbeta.byteOffset, dgamma.byteOffset) },
  { name: 'relu fwd', bytes: 8 * n, run: (p) => E.reluForward(p, x.byteOffset, y.byteOffset, n) },
  { name: 'relu bwd', bytes: 12 * n, run: (p) => E.reluBackward(p, dy.byteOffset, y.byteOffset, dx.byteOffset, n) },
  { name: 'add', bytes: 12 * n, run: (p) => E.add(p, x.byteOffset, dy.byteOffset, y.byteOffset, n) },
  { name: 'mul', bytes: 12 * n, run: (p) => E.mul(p, x.byteOffset, dy.byteOffset, y.byteOffset, n) },
  { name: 'concat fwd (2 x C/2)', bytes: 8 * n, run: (p) => E.concatForward(p, [{ ptr: x.byteOffset, C: C / 2 }, { ptr: x.byteOffset + 2 * n, C: C / 2 }], y.byteOffset, M) },
  { name: 'concat bwd (2 x C/2)', bytes: 8 * n, run: (p) => E.concatBackward(p, dy.byteOffset, [{ ptr: dx.byteOffset, C: C / 2 }, { ptr: dx.byteOffset + 2 * n, C: C / 2 }], M) },
  { name: 'slice copy (C/2 of C)', bytes: 8 * (n / 2), run: (p) => E.copyChannels(p, x.byteOffset, C / 2, 0, y.byteOffset, C, C / 4, C / 2, M) },
  { name: 'maxpool 3x3 s2 p1 fwd', bytes: 4 * n + n, run: (p) => E.maxPoolForward(p, x.byteOffset, y.byteOffset, { N, H, W, C, kernel: 3, stride: 2, padding: 1 }) },
  { name: 'maxpool 3x3 s2 p1 bwd', bytes: n + 4 * n + 4 * n, run: (p) => E.maxPoolBackward(p, y.byteOffset, x.byteOffset, dx.byteOffset, { N, H, W, C, kernel: 3, stride: 2, padding: 1 }) },
  { name: 'avgpool 3x3 s2 p1 fwd', bytes: 4 * n + n, run: (p) => E.avgPoolForward(p, x.byteOffset, y.byteOffset, { N, H, W, C, kernel: 3, stride: 2, padding: 1 }) },
  { name: 'global avg pool fwd', bytes: 4 * n, run: (p) => E.globalAvgPoolForward(p, x.byteOffset, y.byteOffset, N, H * W, C) },
  { name: 'global avg pool bwd', bytes: 4 * n, run: (p) => E.globalAvgPoolBackward(p, dy.byteOffset, dx.byteOffset, N, H * W, C) },
  { name: 'nhwc->nchw', bytes: 8 * n, run: (p) => E.nhwcToNchw(p, x.byteOffset, y.byteOffset, N, H, W, C) },
  { name: 'nchw->nhwc', bytes: 8 * n, run: (p) => E.nchwToNhwc(p, x.byteOffset, y.byteOffset, N, H, W, C) },
  { name: 'sgd (momentum)', bytes: 20 * n, run: (p) => E.sgdUpdate(p, tb.byteOffset, tc.byteOffset, ta.byteOffset, n, { lr: 1e-9, momentum: 0.9, weightDecay: 1e-4 }, false) },
];
const cases = allCases.filter((c) => !only || c.name.includes(only));

function median(a: number[]): number {
  const s = [...a].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)]!;
}

function time(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

console.log(`shape NHWC ${shape.join('x')} (${(n * 4 / 2 ** 20).toFixed(1)} MiB per tensor), ${reps} reps; GB/s = 1e9 bytes/s`);
console.log('each kernel run is paired with a triad run just before it; % = median over reps of the paired ratio, best = best kernel GB/s over best triad GB/s');
for (const T of threadList) {
  const pool = await ThreadPool.create(arena, T);
  const triad = () => pool.run('triad', [ta.byteOffset, tb.byteOffset, tc.byteOffset, 0.5], splitRange(n, T, 16));
  const tt: number[] = [];
  const kt = cases.map(() => [] as number[]);
  const ratio = cases.map(() => [] as number[]);
  for (let r = 0; r < reps + 2; r++) {
    cases.forEach((c, i) => {
      const a = time(triad);
      const k = time(() => c.run(pool));
      if (r < 2) return; // warm-up (and tier-up to optimised code)
      tt.push(a);
      kt[i]!.push(k);
      ratio[i]!.push(((c.bytes / k) * a) / (12 * n));
    });
  }
  const triadGBs = (12 * n) / median(tt) / 1e9;
  const triadBest = (12 * n) / Math.min(...tt) / 1e9;
  console.log(`\nthreads ${T}, variant ${pool.variant}`);
  console.log('| kernel | bytes/elem | ms | GB/s | % of triad | best GB/s | best % |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(`| triad | 12 | ${(median(tt) * 1e3).toFixed(2)} | ${triadGBs.toFixed(1)} | 100 | ${triadBest.toFixed(1)} | 100 |`);
  cases.forEach((c, i) => {
    const s = median(kt[i]!);
    const best = c.bytes / Math.min(...kt[i]!) / 1e9;
    console.log(`| ${c.name} | ${(c.bytes / n).toFixed(1)} | ${(s * 1e3).toFixed(2)} | ${(c.bytes / s / 1e9).toFixed(1)} | ${(100 * median(ratio[i]!)).toFixed(0)} | ${best.toFixed(1)} | ${((100 * best) / triadBest).toFixed(0)} |`);
  });
  pool.close();
}
