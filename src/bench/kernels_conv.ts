/**
 * Convolution kernel throughput: GFLOP/s of forward, backward-data and backward-weights on
 * ResNet-50 conv shapes (batch 16 by default), with 1 and 2 threads, next to the in-cache
 * micro-kernel rate measured in the same run (the 4x8 micro-kernel called repeatedly on
 * L1-resident packed panels): "% peak" is the median over repeats of (shape rate) / (micro-kernel
 * rate in a burst of the same length just before), at the same thread count.
 *
 *   node dist/src/bench/kernels_conv.js [--engine native|wasm] [--batch 16] [--threads 1,2] [--reps 5] [--only 3x3] [--set resnet50|cifar|mobilenet] [--json] [--fused [--cold]]
 *
 * With --fused, each pass is instead timed as a set, interleaved repeat by repeat: the unfused
 * kernel, its fused variant (all BN parts on, ReLU on: forward = x prologue + moments epilogue,
 * backward-data = dy prologue + dx epilogue, backward-weights = dy prologue + x prologue) and the
 * composition the fused variant replaces (the unfused kernel plus the separate BN passes, as the
 * engine ran fused nodes before the fused kernels). Reported: GFLOP/s of the three (the
 * convolution's flops), and the medians of the per-repeat ratios fused/unfused and
 * composed/fused (the speed-up of fusing).
 *
 * Timings are medians over repeats; the machine is shared, so compare ratios from one run.
 */
import type { Backend } from '../runtime/backend.js';
import { Arena } from '../runtime/memory.js';
import { NativeBackend } from '../runtime/native.js';
import {
  convBackwardData,
  convBackwardWeight,
  convFlops,
  convForward,
  convGeom,
  convTuning,
  convWorkspace,
  type ConvGeom,
  type ConvGeomSpec,
} from '../kernels/conv.js';
import { bnCoefficients, bnReluMask } from '../kernels/bn_fused.js';
import { bnMoments } from '../kernels/eltwise.js';
import { bnBackwardData, bnBackwardReduce, bnNormalize, fill as fillArena } from '../kernels/eltwise.js';
import { benchBackend, convBenchArgs, machine, spread } from './common.js';

const { opt, flag, batch, threadList, reps, only, ops, json } = convBenchArgs(5);
const fusedMode = flag('fused');
// --cold (with --fused): 64 MiB are written before every timed call, so operands come from DRAM
// as in a training step, not from the caches that a repeated call leaves them in
const cold = flag('cold');
const engineArg = opt('engine', '') || undefined;

const SHAPES: [string, Omit<ConvGeomSpec, 'N'>][] = [
  ['3x3 64->64 @56', { C: 64, H: 56, W: 56, K: 64, KH: 3, pad: 1 }],
  ['1x1 256->64 @56', { C: 256, H: 56, W: 56, K: 64, KH: 1 }],
  ['1x1 64->256 @56', { C: 64, H: 56, W: 56, K: 256, KH: 1 }],
  ['3x3 256->256 @14', { C: 256, H: 14, W: 14, K: 256, KH: 3, pad: 1 }],
  ['1x1 1024->256 @14', { C: 1024, H: 14, W: 14, K: 256, KH: 1 }],
  ['3x3 512->512 @7', { C: 512, H: 7, W: 7, K: 512, KH: 3, pad: 1 }],
  // the stem reads the images, which need no gradient: no training step runs its backward-data
  ['7x7 3->64 s2 @224 (stem)', { C: 3, H: 224, W: 224, K: 64, KH: 7, stride: 2, pad: 3 }],
  // densenet121's growth layers (bottleneck 128 -> growth 32)
  ['3x3 128->32 @56 (dense)', { C: 128, H: 56, W: 56, K: 32, KH: 3, pad: 1 }],
  ['3x3 128->32 @14 (dense)', { C: 128, H: 14, W: 14, K: 32, KH: 3, pad: 1 }],
  // and their bottlenecks (concatenation -> 128)
  ['1x1 160->128 @56 (dense)', { C: 160, H: 56, W: 56, K: 128, KH: 1 }],
  ['1x1 352->128 @28 (dense)', { C: 352, H: 28, W: 28, K: 128, KH: 1 }],
  ['1x1 736->128 @14 (dense)', { C: 736, H: 14, W: 14, K: 128, KH: 1 }],
];
// CIFAR-size layers of resnet20 (post-activation, 16/32/64 channels) and densenet40 (growth 12),
// for `--set cifar` (use with --batch 64, as `bnff bench step`)
const CIFAR: [string, Omit<ConvGeomSpec, 'N'>][] = [
  ['3x3 16->16 @32', { C: 16, H: 32, W: 32, K: 16, KH: 3, pad: 1 }],
  ['3x3 32->32 @16', { C: 32, H: 16, W: 16, K: 32, KH: 3, pad: 1 }],
  ['3x3 64->64 @8', { C: 64, H: 8, W: 8, K: 64, KH: 3, pad: 1 }],
  ['3x3 88->12 @32 (dense)', { C: 88, H: 32, W: 32, K: 12, KH: 3, pad: 1 }],
  ['3x3 148->12 @32 (dense)', { C: 148, H: 32, W: 32, K: 12, KH: 3, pad: 1 }],
  ['3x3 232->12 @16 (dense)', { C: 232, H: 16, W: 16, K: 12, KH: 3, pad: 1 }],
  ['3x3 148->12 @8 (dense)', { C: 148, H: 8, W: 8, K: 12, KH: 3, pad: 1 }],
  ['1x1 160->80 @32 (transition)', { C: 160, H: 32, W: 32, K: 80, KH: 1 }],
];
// mobilenet_v2's 1x1 layers at 224 px (expand: C -> 6C; project: 6C -> K), for `--set mobilenet`
// (use with --batch 32, as `bnff bench step`)
const MOBILENET: [string, Omit<ConvGeomSpec, 'N'>][] = [
  ['1x1 24->144 @56 (expand)', { C: 24, H: 56, W: 56, K: 144, KH: 1 }],
  ['1x1 144->24 @56 (project)', { C: 144, H: 56, W: 56, K: 24, KH: 1 }],
  ['1x1 32->192 @28 (expand)', { C: 32, H: 28, W: 28, K: 192, KH: 1 }],
  ['1x1 192->32 @28 (project)', { C: 192, H: 28, W: 28, K: 32, KH: 1 }],
  ['1x1 384->64 @14 (project)', { C: 384, H: 14, W: 14, K: 64, KH: 1 }],
  ['1x1 576->96 @14 (project)', { C: 576, H: 14, W: 14, K: 96, KH: 1 }],
  ['1x1 960->160 @7 (project)', { C: 960, H: 7, W: 7, K: 160, KH: 1 }],
];
const SETS: Record<string, [string, Omit<ConvGeomSpec, 'N'>][]> = { resnet50: SHAPES, cifar: CIFAR, mobilenet: MOBILENET };
const setName = opt('set', 'resnet50');
if (!SETS[setName]) throw new Error(`--set ${setName}: expected one of ${Object.keys(SETS).join(', ')}`);
const shapes = SETS[setName].filter(([n]) => !only || n.includes(only)).map(([n, s]) => [n, convGeom({ ...s, N: batch })] as [string, ConvGeom]);

const now = (): number => Number(process.hrtime.bigint()) / 1e9;

/**
 * Times `fn` interleaved with bursts of the in-cache micro-kernel of about the same duration,
 * so that a slow period of the shared machine hits both: returns the median time of `fn` and
 * the median of the per-pair ratios (rate of fn) / (rate of the micro-kernel).
 */
function timeVsPeak(pool: Backend, fn: () => void, flops: number, minReps: number): { s: number; best: number; ratio: number; peak: number; peakMax: number } {
  fn(); // warm-up
  const kc = 256;
  const ranges = Array.from({ length: pool.threads }, () => [0, 1] as [number, number]);
  const t0 = now();
  fn();
  const t1 = now() - t0;
  const pkRate0 = burst(pool, kc, 2000, ranges);
  // micro-kernel repetitions for a burst of about t1 seconds
  const reps = Math.max(200, Math.round((t1 * pkRate0 * 1e9) / (2 * 4 * 8 * kc * pool.threads)));
  const ts: number[] = [],
    ratios: number[] = [],
    peaks: number[] = [];
  const start = now();
  while (ts.length < minReps || (now() - start < 1.0 && ts.length < 30)) {
    const pk = burst(pool, kc, reps, ranges);
    const t = now();
    fn();
    const s = now() - t;
    ts.push(s);
    peaks.push(pk);
    ratios.push(flops / s / 1e9 / pk);
  }
  return { s: spread(ts).median, best: spread(ts).min, ratio: spread(ratios).median, peak: spread(peaks).median, peakMax: spread(peaks).max };
}

/**
 * Times the functions of a set interleaved (one call of each per repeat, in order): median time
 * of each, and rel(ref, i) = median over repeats of (time of fns[ref]) / (time of fns[i]).
 */
function timeSet(fns: (() => void)[], minReps: number, flush?: () => void): { s: number[]; rel: (ref: number, i: number) => number } {
  for (const f of fns) f(); // warm-up
  const ts: number[][] = fns.map(() => []);
  const start = now();
  while (ts[0]!.length < minReps || (now() - start < 2.0 && ts[0]!.length < 30)) {
    for (const [i, f] of fns.entries()) {
      flush?.();
      const t = now();
      f();
      ts[i]!.push(now() - t);
    }
  }
  return {
    s: ts.map((t) => spread(t).median),
    rel: (ref, i) => spread(ts[ref]!.map((t, r) => t / ts[i]![r]!)).median,
  };
}

/** GFLOP/s of the micro-kernel on L1-resident panels, every thread at once. */
function burst(pool: Backend, kc: number, reps: number, ranges: [number, number][]): number {
  const t = now();
  pool.run('gemm_bench_mk', [kc, reps], ranges);
  return (2 * 4 * 8 * kc * reps * pool.threads) / (now() - t) / 1e9;
}

/** GFLOP/s of the native FMA probe (12 independent full-width chains per thread), median of 7. */
function fmaPeak(pool: Backend): number {
  const reps = 2_000_000,
    lanes = pool.isa === 'avx512' ? 16 : 8;
  const ranges = Array.from({ length: pool.threads }, () => [0, 1] as [number, number]);
  const one = (): number => {
    const t = now();
    pool.run('fma_peak', [reps], ranges);
    return (pool.threads * reps * 24 * lanes) / (now() - t) / 1e9;
  };
  one();
  return spread(Array.from({ length: 7 }, one)).median;
}

/** The micro-kernel peak: median of several bursts. */
function peak(pool: Backend): number {
  const ranges = Array.from({ length: pool.threads }, () => [0, 1] as [number, number]);
  burst(pool, 256, 20000, ranges);
  return spread(Array.from({ length: 7 }, () => burst(pool, 256, 20000, ranges))).median;
}

interface Row {
  shape: string;
  threads: number;
  gflops: Record<string, number>;
  best: Record<string, number>;
  pct: Record<string, number>;
}

interface FusedRow {
  shape: string;
  threads: number;
  op: string;
  unfused: number;
  fused: number;
  composed: number;
  fusedVsUnfused: number;
  composedOverFused: number;
}
const fusedResults: FusedRow[] = [];

const results: Row[] = [];
const peaks: Record<number, number> = {};
/** the native FMA probe (independent FMA chains at full width), per thread count: native only */
const fmaPeaks: Record<number, number> = {};
let engineName = '',
  isa = '';
/** fastest micro-kernel burst seen per thread count: the least disturbed by other load */
const peakMax: Record<number, number> = {};
for (const threads of threadList) {
  const arena = new Arena();
  const pool = await benchBackend(arena, threads, engineArg);
  engineName = pool.kind;
  isa = pool.isa;
  if (pool instanceof NativeBackend) fmaPeaks[threads] = fmaPeak(pool);
  const max = (f: (g: ConvGeom) => number): number => Math.max(...shapes.map(([, g]) => f(g)));
  const nx = max((g) => g.N * g.H * g.W * g.C),
    ny = max((g) => g.N * g.OH * g.OW * g.K),
    nw = max((g) => g.K * (g.C / g.groups) * g.KH * g.KW);
  const px = arena.reserve(nx * 4),
    pdx = arena.reserve(nx * 4),
    py = arena.reserve(ny * 4),
    pdy = arena.reserve(ny * 4);
  const pw = arena.reserve(nw * 4),
    pdw = arena.reserve(nw * 4);
  const ws = convWorkspace(
    arena,
    shapes.map(([, g]) => g),
  );
  const fill = (p: number, n: number): void => {
    const v = arena.view(p, n);
    for (let i = 0; i < n; i++) v[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  };
  fill(px, nx);
  fill(pdy, ny);
  fill(pw, nw);
  if (fusedMode) {
    // xbn (the BN input behind dy), temporaries of the composition, per-channel BN vectors
    const pxbn = arena.reserve(ny * 4),
      tx = arena.reserve(nx * 4),
      ty = arena.reserve(ny * 4);
    fill(pxbn, ny);
    const cmax = max((g) => Math.max(g.C, g.K));
    const vec = (v: number): number => {
      const p = arena.reserve(cmax * 4);
      arena.view(p, cmax).fill(v);
      return p;
    };
    const [mean, rstd, gamma, beta, dbeta, dgamma, om, ov, ob, og] = [0.1, 1.2, 0.9, 0.3, 0.5, 0.7, 0, 0, 0, 0].map(vec) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const coef = arena.reserve(cmax * 8),
      cdy = arena.reserve(cmax * 12);
    const FLUSH = 16 << 20; // floats
    const pflush = cold ? arena.reserve(FLUSH * 4) : 0;
    const flush = cold ? (): void => fillArena(pool, pflush, FLUSH, 1) : undefined;
    for (const [name, g] of shapes) {
      const f = convFlops(g);
      const [Mx, My, C, K] = [g.N * g.H * g.W, g.N * g.OH * g.OW, g.C, g.K];
      const xp = { coef, relu: true };
      const dyp = { dbn: pdy, xbn: pxbn, coef: cdy, bn: { mean, rstd, gamma, dbeta, dgamma } };
      const sets: Record<string, (() => void)[]> = {
        fwd: [
          () => convForward(pool, g, px, pw, 0, py, ws),
          () => {
            bnCoefficients(pool, C, mean, rstd, gamma, beta, coef);
            convForward(pool, g, px, pw, 0, py, ws, { xPrologue: xp, moments: { mean: om, variance: ov } });
          },
          () => {
            bnNormalize(pool, px, tx, Mx, C, gamma, beta, mean, rstd, true);
            convForward(pool, g, tx, pw, 0, py, ws);
            bnMoments(pool, py, My, K, om, ov);
          },
        ],
        'bwd-data': [
          () => convBackwardData(pool, g, pdy, pw, pdx, ws),
          () => {
            bnCoefficients(pool, C, mean, rstd, gamma, beta, coef);
            convBackwardData(pool, g, 0, pw, pdx, ws, { dyPrologue: dyp, dxEpilogue: { x2: px, coef, mean, rstd, relu: true, dbeta: ob, dgamma: og } });
          },
          () => {
            bnBackwardData(pool, pdy, pxbn, ty, My, K, mean, rstd, gamma, dbeta, dgamma);
            convBackwardData(pool, g, ty, pw, pdx, ws);
            bnCoefficients(pool, C, mean, rstd, gamma, beta, coef);
            bnReluMask(pool, pdx, px, coef, pdx, Mx, C);
            bnBackwardReduce(pool, pdx, px, Mx, C, mean, rstd, ob, og);
          },
        ],
        'bwd-weight': [
          () => convBackwardWeight(pool, g, pdy, px, pdw, 0, ws),
          () => {
            bnCoefficients(pool, C, mean, rstd, gamma, beta, coef);
            convBackwardWeight(pool, g, 0, px, pdw, 0, ws, { dyPrologue: dyp, xPrologue: xp });
          },
          () => {
            bnBackwardData(pool, pdy, pxbn, ty, My, K, mean, rstd, gamma, dbeta, dgamma);
            bnNormalize(pool, px, tx, Mx, C, gamma, beta, mean, rstd, true);
            convBackwardWeight(pool, g, ty, tx, pdw, 0, ws);
          },
        ],
      };
      for (const o of ops) {
        const r = timeSet(sets[o]!, reps, flush);
        const row: FusedRow = {
          shape: name,
          threads,
          op: o,
          unfused: f / r.s[0]! / 1e9,
          fused: f / r.s[1]! / 1e9,
          composed: f / r.s[2]! / 1e9,
          fusedVsUnfused: r.rel(0, 1),
          composedOverFused: r.rel(2, 1),
        };
        fusedResults.push(row);
        if (!json) {
          process.stderr.write(
            `${threads}T ${name} ${o}: unfused ${row.unfused.toFixed(1)}, fused ${row.fused.toFixed(1)} (${(100 * row.fusedVsUnfused).toFixed(1)}%), ` +
              `composed ${row.composed.toFixed(1)} GFLOP/s (fused ${row.composedOverFused.toFixed(2)}x faster)\n`,
          );
        }
      }
    }
    pool.close();
    continue;
  }
  const pk: number[] = [peak(pool)];
  for (const [name, g] of shapes) {
    const f = convFlops(g);
    const gflops: Record<string, number> = {},
      pct: Record<string, number> = {},
      best: Record<string, number> = {};
    const run: Record<string, () => void> = {
      fwd: () => convForward(pool, g, px, pw, 0, py, ws),
      'bwd-data': () => convBackwardData(pool, g, pdy, pw, pdx, ws),
      'bwd-weight': () => convBackwardWeight(pool, g, pdy, px, pdw, 0, ws),
    };
    for (const o of ops) {
      const r = timeVsPeak(pool, run[o]!, f, reps);
      gflops[o] = f / r.s / 1e9;
      best[o] = f / r.best / 1e9;
      pct[o] = 100 * r.ratio;
      pk.push(r.peak);
      peakMax[threads] = Math.max(peakMax[threads] ?? 0, r.peakMax);
    }
    results.push({ shape: name, threads, gflops, best, pct });
    if (!json) process.stderr.write(`${threads}T ${name}: ${ops.map((o) => `${o} ${gflops[o]!.toFixed(1)} (${pct[o]!.toFixed(0)}%)`).join(', ')}\n`);
  }
  peaks[threads] = spread(pk).median;
  pool.close();
}

if (fusedMode) {
  if (json) {
    process.stdout.write(JSON.stringify({ machine: machine(), batch, tuning: convTuning, fused: fusedResults }, null, 2) + '\n');
  } else {
    const m = machine();
    const lines = [`fused vs unfused conv kernels, batch ${batch}; ${m.cpu}, ${m.cores} cores, Node ${m.node}`];
    lines.push('GFLOP/s (conv flops) of the unfused kernel, its fused variant (f/u: median per-repeat time ratio unfused/fused),');
    lines.push('and the composition it replaces (unfused kernel + separate BN passes; speed-up: composed time / fused time)');
    for (const t of threadList) {
      lines.push(`${t} thread(s):`);
      lines.push(
        `${'shape'.padEnd(26)}${'pass'.padEnd(12)}${'unfused'.padStart(9)}${'fused'.padStart(9)}${'f/u'.padStart(9)}${'composed'.padStart(10)}${'speed-up'.padStart(10)}`,
      );
      for (const r of fusedResults.filter((x) => x.threads === t)) {
        lines.push(
          `${r.shape.padEnd(26)}${r.op.padEnd(12)}${r.unfused.toFixed(1).padStart(9)}${r.fused.toFixed(1).padStart(9)}${`${(100 * r.fusedVsUnfused).toFixed(1)}%`.padStart(9)}` +
            `${r.composed.toFixed(1).padStart(10)}${`${r.composedOverFused.toFixed(2)}x`.padStart(10)}`,
        );
      }
    }
    process.stdout.write(lines.join('\n') + '\n');
  }
} else if (json) {
  const mkOfFma = Object.fromEntries(Object.entries(fmaPeaks).map(([t, f]) => [t, peaks[Number(t)]! / f]));
  process.stdout.write(
    JSON.stringify(
      {
        machine: machine(),
        engine: engineName,
        isa,
        batch,
        tuning: convTuning,
        fma_peaks: fmaPeaks,
        micro_kernel_of_fma_peak: mkOfFma,
        peaks,
        peakMax,
        results,
      },
      null,
      2,
    ) + '\n',
  );
} else {
  const m = machine();
  const lines = [`conv kernels, batch ${batch}, engine ${engineName} ${isa}; ${m.cpu}, ${m.cores} cores, Node ${m.node}`];
  lines.push(
    `in-cache micro-kernel: ${Object.entries(peaks)
      .map(
        ([t, p]) =>
          `${t}T ${p.toFixed(1)} GFLOP/s${fmaPeaks[Number(t)] ? ` (${((100 * p) / fmaPeaks[Number(t)]!).toFixed(0)}% of the FMA peak ${fmaPeaks[Number(t)]!.toFixed(1)})` : ''}`,
      )
      .join(', ')}`,
  );
  const head = ['shape'.padEnd(26)];
  for (const t of threadList) for (const o of ops) head.push(`${o} ${t}T`.padStart(20));
  lines.push(head.join(''));
  for (const [name] of shapes) {
    const cols = [name.padEnd(26)];
    for (const t of threadList) {
      const r = results.find((x) => x.shape === name && x.threads === t)!;
      for (const o of ops) cols.push(`${r.gflops[o]!.toFixed(1)} (${r.pct[o]!.toFixed(0)}%)`.padStart(20));
    }
    lines.push(cols.join(''));
  }
  lines.push('best of the repeats (GFLOP/s):');
  for (const [name] of shapes) {
    const cols = [name.padEnd(26)];
    for (const t of threadList) {
      const r = results.find((x) => x.shape === name && x.threads === t)!;
      for (const o of ops) cols.push(`${r.best[o]!.toFixed(1)}`.padStart(20));
    }
    lines.push(cols.join(''));
  }
  if (threadList.length > 1) {
    const [t1, t2] = [threadList[0]!, threadList[threadList.length - 1]!];
    lines.push(`speed-up ${t2}T / ${t1}T (medians; best of the repeats in brackets):`);
    for (const [name] of shapes) {
      const a = results.find((x) => x.shape === name && x.threads === t1)!,
        b = results.find((x) => x.shape === name && x.threads === t2)!;
      lines.push(
        `  ${name.padEnd(26)}${ops.map((o) => `${o} ${(b.gflops[o]! / a.gflops[o]!).toFixed(2)}x (best ${(b.best[o]! / a.best[o]!).toFixed(2)}x)`).join('  ')}`,
      );
    }
    lines.push(
      `  in-cache micro-kernel       ${(peaks[t2]! / peaks[t1]!).toFixed(2)}x (fastest bursts: ${peakMax[t1]!.toFixed(1)} and ${peakMax[t2]!.toFixed(1)} GFLOP/s, ${(peakMax[t2]! / peakMax[t1]!).toFixed(2)}x)`,
    );
    lines.push(`speed-up estimated from the % of peak (robust to other load): (% at ${t2}T / % at ${t1}T) x fastest-burst ratio`);
    for (const [name] of shapes) {
      const a = results.find((x) => x.shape === name && x.threads === t1)!,
        b = results.find((x) => x.shape === name && x.threads === t2)!;
      lines.push(`  ${name.padEnd(26)}${ops.map((o) => `${o} ${((b.pct[o]! / a.pct[o]!) * (peakMax[t2]! / peakMax[t1]!)).toFixed(2)}x`).join('  ')}`);
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
}
