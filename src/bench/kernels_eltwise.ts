/**
 * Bandwidth of the memory-bound NHWC kernels (src/kernels/eltwise.ts, bn_fused.ts) next to the
 * STREAM triad measured in the same run, at 1 and 2 threads (or --threads a,b,...), on the wasm
 * engine, the native engine, or both interleaved in one process (--engine wasm,native).
 *
 *   node dist/src/bench/kernels_eltwise.js [--shape 16x56x56x256] [--reps 15] [--threads 1,2]
 *                                      [--engine wasm|native|wasm,native] [--only name,name]
 *
 * Bytes are counted as STREAM does: every array read once plus every array written once
 * (triad: 12 bytes per element; bn stats: 4; normalize: 8; backward data: 12; ...). Each rep
 * runs, for every kernel and engine in turn, that engine's triad and then the kernel, so the
 * triad figure tracks the same machine noise; the tables report medians. With two engines a last
 * table sets them side by side, each against its own triad and against the native triad (the
 * machine's bandwidth as a native program sees it).
 */
import os from 'node:os';
import type { Backend } from '../runtime/backend.js';
import { Arena } from '../runtime/memory.js';
import { NativeBackend, nativeStatus } from '../runtime/native.js';
import { ThreadPool, splitRange } from '../runtime/pool.js';
import { engineChoice } from '../runtime/engine.js';
import * as E from '../kernels/eltwise.js';
import type { ActGrad } from '../kernels/eltwise.js';
import * as F from '../kernels/bn_fused.js';
import { ACT_RELU6, ACT_SILU } from '../kernels/abi/conv_descriptor.js';
import { benchArgs } from './common.js';

const arg = benchArgs().opt;

const shape = arg('shape', '16x56x56x256').split('x').map(Number) as [number, number, number, number];
const reps = Number(arg('reps', '15'));
const threadList = arg('threads', '1,2').split(',').map(Number);
const only = arg('only', '');
// default: the engine bnff would pick (BNFF_ENGINE, else native where the addon loads)
const engines = (arg('engine', '') || ((await nativeStatus()).ok && engineChoice() !== 'wasm' ? 'native' : 'wasm')).split(',') as ('wasm' | 'native')[];
const [N, H, W, C] = shape;
const M = N * H * W;
const n = M * C;

const arena = new Arena();
const t = (k: number) => arena.alloc(k);
const x = t(n),
  y = t(n),
  dy = t(n),
  dx = t(n);
const ta = t(n),
  tb = t(n),
  tc = t(n);
const vec = () => t(C);
const gamma = vec(),
  beta = vec(),
  mean = vec(),
  rstd = vec(),
  rm = vec(),
  rv = vec(),
  dbeta = vec(),
  dgamma = vec();
const nbt = t(1);
const coef1 = t(2 * C),
  coef2 = t(2 * C);
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
  coef1[c] = coef2[c] = 1 + c / C;
  coef1[C + c] = coef2[C + c] = -0.1;
}

/** bnBackwardReduce with the activation `code`'s backward in the same pass, dz to dx. */
function reduceAct(code: number, src: ActGrad['src']): (p: Backend) => void {
  return (p) =>
    E.bnBackwardReduce(p, dy.byteOffset, x.byteOffset, M, C, mean.byteOffset, rstd.byteOffset, dbeta.byteOffset, dgamma.byteOffset, {
      code,
      src,
      dz: dx.byteOffset,
    });
}

interface Case {
  name: string;
  bytes: number;
  run: (p: Backend) => void;
}

const allCases: Case[] = [
  { name: '(read probe: plain sum)', bytes: 4 * n, run: (p) => p.run('probe_read', [x.byteOffset], splitRange(n, p.threads, 16)) },
  {
    name: 'bn stats (x)',
    bytes: 4 * n,
    run: (p) => E.bnStats(p, x.byteOffset, M, C, mean.byteOffset, rstd.byteOffset, rm.byteOffset, rv.byteOffset, nbt.byteOffset),
  },
  {
    name: 'bn normalize',
    bytes: 8 * n,
    run: (p) => E.bnNormalize(p, x.byteOffset, y.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, false),
  },
  {
    name: 'bn normalize+relu',
    bytes: 8 * n,
    run: (p) => E.bnNormalize(p, x.byteOffset, y.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, true),
  },
  {
    name: 'bn bwd reduce',
    bytes: 8 * n,
    run: (p) => E.bnBackwardReduce(p, dy.byteOffset, x.byteOffset, M, C, mean.byteOffset, rstd.byteOffset, dbeta.byteOffset, dgamma.byteOffset),
  },
  {
    name: 'bn bwd data',
    bytes: 12 * n,
    run: (p) =>
      E.bnBackwardData(
        p,
        dy.byteOffset,
        x.byteOffset,
        dx.byteOffset,
        M,
        C,
        mean.byteOffset,
        rstd.byteOffset,
        gamma.byteOffset,
        dbeta.byteOffset,
        dgamma.byteOffset,
      ),
  },
  // the dense-block gradient buffer: dx of C/2 channels added into the leading half of rows of C
  {
    name: 'bn bwd data acc (C/2 of C)',
    bytes: 16 * (n / 2),
    run: (p) =>
      E.bnBackwardDataAcc(
        p,
        dy.byteOffset,
        x.byteOffset,
        y.byteOffset,
        M,
        C / 2,
        C,
        mean.byteOffset,
        rstd.byteOffset,
        gamma.byteOffset,
        dbeta.byteOffset,
        dgamma.byteOffset,
      ),
  },
  { name: 'relu fwd', bytes: 8 * n, run: (p) => E.reluForward(p, x.byteOffset, y.byteOffset, n) },
  { name: 'bn add relu (identity)', bytes: 12 * n, run: (p) => F.bnAddRelu(p, x.byteOffset, coef1.byteOffset, dy.byteOffset, 0, 0, y.byteOffset, M, C) },
  {
    name: 'bn add relu (projection)',
    bytes: 12 * n,
    run: (p) => F.bnAddRelu(p, x.byteOffset, coef1.byteOffset, 0, dy.byteOffset, coef2.byteOffset, y.byteOffset, M, C),
  },
  { name: 'bn relu mask', bytes: 12 * n, run: (p) => F.bnReluMask(p, dy.byteOffset, x.byteOffset, coef1.byteOffset, dx.byteOffset, M, C) },
  { name: 'relu bwd', bytes: 12 * n, run: (p) => E.reluBackward(p, dy.byteOffset, y.byteOffset, dx.byteOffset, n) },
  // the lean CNNs' activations (MobileNetV2: ReLU6; EfficientNet: SiLU, sigmoid, channel_scale)
  { name: 'relu6 fwd', bytes: 8 * n, run: (p) => E.actForward(p, 'relu6', x.byteOffset, y.byteOffset, n) },
  { name: 'relu6 bwd', bytes: 12 * n, run: (p) => E.actBackward(p, 'relu6', dy.byteOffset, x.byteOffset, dx.byteOffset, n) },
  { name: 'silu fwd', bytes: 8 * n, run: (p) => E.actForward(p, 'silu', x.byteOffset, y.byteOffset, n) },
  { name: 'silu bwd', bytes: 12 * n, run: (p) => E.actBackward(p, 'silu', dy.byteOffset, x.byteOffset, dx.byteOffset, n) },
  { name: 'sigmoid fwd', bytes: 8 * n, run: (p) => E.actForward(p, 'sigmoid', x.byteOffset, y.byteOffset, n) },
  {
    name: 'bn normalize+silu',
    bytes: 8 * n,
    run: (p) => E.bnNormalize(p, x.byteOffset, y.byteOffset, M, C, gamma.byteOffset, beta.byteOffset, mean.byteOffset, rstd.byteOffset, ACT_SILU),
  },
  { name: 'bn silu mask', bytes: 12 * n, run: (p) => F.bnReluMask(p, dy.byteOffset, x.byteOffset, coef1.byteOffset, dx.byteOffset, M, C, ACT_SILU) },
  // the activation's backward in the BN's reduce pass (act-with-reduce): reads dy and x (and y for a mask from the output), writes dz
  { name: 'bn bwd reduce + silu', bytes: 12 * n, run: reduceAct(ACT_SILU, { coef: coef1.byteOffset }) },
  { name: 'bn bwd reduce + relu6 (mask from y)', bytes: 16 * n, run: reduceAct(ACT_RELU6, { y: y.byteOffset }) },
  { name: 'channel scale', bytes: 8 * n, run: (p) => E.channelScale(p, x.byteOffset, dy.byteOffset, y.byteOffset, N, H * W, C) },
  { name: 'channel scale: ds', bytes: 8 * n, run: (p) => E.channelScaleBackwardScale(p, dy.byteOffset, x.byteOffset, y.byteOffset, N, H * W, C) },
  { name: 'add', bytes: 12 * n, run: (p) => E.add(p, x.byteOffset, dy.byteOffset, y.byteOffset, n) },
  { name: 'mul', bytes: 12 * n, run: (p) => E.mul(p, x.byteOffset, dy.byteOffset, y.byteOffset, n) },
  {
    name: 'concat fwd (2 x C/2)',
    bytes: 8 * n,
    run: (p) =>
      E.concatForward(
        p,
        [
          { ptr: x.byteOffset, C: C / 2 },
          { ptr: x.byteOffset + 2 * n, C: C / 2 },
        ],
        y.byteOffset,
        M,
      ),
  },
  {
    name: 'concat bwd (2 x C/2)',
    bytes: 8 * n,
    run: (p) =>
      E.concatBackward(
        p,
        dy.byteOffset,
        [
          { ptr: dx.byteOffset, C: C / 2 },
          { ptr: dx.byteOffset + 2 * n, C: C / 2 },
        ],
        M,
      ),
  },
  { name: 'slice copy (C/2 of C)', bytes: 8 * (n / 2), run: (p) => E.copyChannels(p, x.byteOffset, C / 2, 0, y.byteOffset, C, C / 4, C / 2, M) },
  {
    name: 'maxpool 3x3 s2 p1 fwd',
    bytes: 4 * n + n,
    run: (p) => E.maxPoolForward(p, x.byteOffset, y.byteOffset, { N, H, W, C, kernel: 3, stride: 2, padding: 1 }),
  },
  {
    name: 'maxpool 3x3 s2 p1 bwd',
    bytes: n + 4 * n + 4 * n,
    run: (p) => E.maxPoolBackward(p, y.byteOffset, x.byteOffset, dx.byteOffset, { N, H, W, C, kernel: 3, stride: 2, padding: 1 }),
  },
  {
    name: 'avgpool 3x3 s2 p1 fwd',
    bytes: 4 * n + n,
    run: (p) => E.avgPoolForward(p, x.byteOffset, y.byteOffset, { N, H, W, C, kernel: 3, stride: 2, padding: 1 }),
  },
  { name: 'global avg pool fwd', bytes: 4 * n, run: (p) => E.globalAvgPoolForward(p, x.byteOffset, y.byteOffset, N, H * W, C) },
  { name: 'global avg pool bwd', bytes: 4 * n, run: (p) => E.globalAvgPoolBackward(p, dy.byteOffset, dx.byteOffset, N, H * W, C) },
  { name: 'nhwc->nchw', bytes: 8 * n, run: (p) => E.nhwcToNchw(p, x.byteOffset, y.byteOffset, N, H, W, C) },
  { name: 'nchw->nhwc', bytes: 8 * n, run: (p) => E.nchwToNhwc(p, x.byteOffset, y.byteOffset, N, H, W, C) },
  {
    name: 'sgd (momentum)',
    bytes: 20 * n,
    run: (p) => E.sgdUpdate(p, tb.byteOffset, tc.byteOffset, ta.byteOffset, n, { lr: 1e-9, momentum: 0.9, weightDecay: 1e-4 }, false),
  },
];
const cases = allCases.filter((c) => !only || only.split(',').some((o) => c.name.includes(o)));

function median(a: number[]): number {
  const s = [...a].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)]!;
}

function time(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `${cpu}, ${os.cpus().length} logical cores; shape NHWC ${shape.join('x')} (${((n * 4) / 2 ** 20).toFixed(1)} MiB per tensor), ${reps} reps; GB/s = 1e9 bytes/s`,
);
console.log(
  'each kernel run is paired with a triad run (same engine) just before it; % = median over reps of the paired ratio, best = best kernel GB/s over best triad GB/s',
);
const st = engines.includes('native') ? await nativeStatus() : undefined;
if (st && !st.ok) throw new Error(`--engine native: ${st.reason}`);

interface Stats {
  triad: number;
  triadBest: number;
  gbs: number[];
  pct: number[];
  best: number[];
  ms: number[];
}

for (const T of threadList) {
  const backends: Backend[] = [];
  for (const e of engines) backends.push(e === 'native' ? await NativeBackend.create(arena, T, st!) : await ThreadPool.create(arena, T));
  const tt = backends.map(() => [] as number[]);
  const kt = backends.map(() => cases.map(() => [] as number[]));
  const ratio = backends.map(() => cases.map(() => [] as number[]));
  for (let r = 0; r < reps + 2; r++) {
    cases.forEach((c, i) => {
      backends.forEach((b, e) => {
        const a = time(() => b.run('triad', [ta.byteOffset, tb.byteOffset, tc.byteOffset, 0.5], splitRange(n, T, 16)));
        const k = time(() => c.run(b));
        if (r < 2) return; // warm-up (and tier-up to optimised code)
        tt[e]!.push(a);
        kt[e]![i]!.push(k);
        ratio[e]![i]!.push(((c.bytes / k) * a) / (12 * n));
      });
    });
  }
  const stats: Stats[] = backends.map((b, e) => {
    const triad = (12 * n) / median(tt[e]!) / 1e9;
    const triadBest = (12 * n) / Math.min(...tt[e]!) / 1e9;
    return {
      triad,
      triadBest,
      ms: cases.map((_, i) => median(kt[e]![i]!) * 1e3),
      gbs: cases.map((c, i) => c.bytes / median(kt[e]![i]!) / 1e9),
      pct: cases.map((_, i) => 100 * median(ratio[e]![i]!)),
      best: cases.map((c, i) => c.bytes / Math.min(...kt[e]![i]!) / 1e9),
    };
  });
  backends.forEach((b, e) => {
    const s = stats[e]!;
    console.log(`\nthreads ${T}, ${b.kind} ${b.isa}`);
    console.log('| kernel | bytes/elem | ms | GB/s | % of triad | best GB/s | best % |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    console.log(`| triad | 12 | ${((12 * n) / s.triad / 1e6).toFixed(2)} | ${s.triad.toFixed(1)} | 100 | ${s.triadBest.toFixed(1)} | 100 |`);
    cases.forEach((c, i) => {
      console.log(
        `| ${c.name} | ${(c.bytes / n).toFixed(1)} | ${s.ms[i]!.toFixed(2)} | ${s.gbs[i]!.toFixed(1)} | ${s.pct[i]!.toFixed(0)} | ${s.best[i]!.toFixed(1)} | ${((100 * s.best[i]!) / s.triadBest).toFixed(0)} |`,
      );
    });
  });
  const wi = engines.indexOf('wasm'),
    ni = engines.indexOf('native');
  if (wi >= 0 && ni >= 0) {
    const w = stats[wi]!,
      nv = stats[ni]!;
    console.log(`\nthreads ${T}: wasm ${backends[wi]!.isa} vs native ${backends[ni]!.isa} (triad ${w.triad.toFixed(1)} / ${nv.triad.toFixed(1)} GB/s)`);
    console.log('| kernel | wasm GB/s | native GB/s | native / wasm | wasm % own triad | native % own triad | wasm % native triad |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    cases.forEach((c, i) => {
      console.log(
        `| ${c.name} | ${w.gbs[i]!.toFixed(1)} | ${nv.gbs[i]!.toFixed(1)} | ${(nv.gbs[i]! / w.gbs[i]!).toFixed(2)} | ${w.pct[i]!.toFixed(0)} | ${nv.pct[i]!.toFixed(0)} | ${((100 * w.gbs[i]!) / nv.triad).toFixed(0)} |`,
      );
    });
  }
  for (const b of backends) b.close();
}
