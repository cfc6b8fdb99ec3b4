/**
 * Bandwidth of the depthwise convolution kernels (src/kernels/conv.ts on the depthwise family:
 * conv_dw_fwd, conv_dw_bwd_data, conv_dw_bwd_w and their fused variants conv_dw_*_f) on the
 * depthwise layers of a model, next to the STREAM triad measured in the same run. A depthwise
 * convolution does KH*KW multiply-adds per element it reads: it is memory-bound, and its bound is
 * the bytes it must move at the triad's bandwidth.
 *
 *   node dist/src/bench/kernels_depthwise.js [--model mobilenet_v2] [--batch 32] [--image 224]
 *        [--threads 1,2] [--reps 7] [--engine native|wasm|wasm,native] [--only fwd,...] [--json]
 *
 * Bytes as STREAM counts them, every tensor read once and written once (weights excluded):
 * forward x + y; backward-data dy + dx; backward-weights dy + x; the fused variants add what
 * their operand groups read (dy prologue: dbn and xbn instead of dy; dx epilogue: x2), the
 * moments epilogue and the x prologue read nothing more. Each rep runs, per layer, kernel and
 * engine in turn, that engine's triad and then the kernel; % of triad is the median over reps of
 * the paired ratio, and the model line sums bytes and times over every depthwise layer of the
 * model (each shape as often as the model has it).
 */
import { isDepthwise } from '../kernels/conv_geometry.js';
import { convBackwardData, convBackwardWeight, convForward, convGeomOf, convWorkspace, type ConvGeom, ACT } from '../kernels/conv.js';
import { getModel } from '../models/index.js';
import { Network } from '../models/network.js';
import { NO_FUSION } from '../passes/index.js';
import type { Backend } from '../runtime/backend.js';
import { Arena, HostMemory } from '../runtime/memory.js';
import { splitRange } from '../runtime/pool.js';
import type { Conv2dAttrs } from '../ops/conv2d.js';
import { benchArgs, benchBackend, machine, spread } from './common.js';

const { opt, flag } = benchArgs();
const model = opt('model', 'mobilenet_v2');
const batch = Number(opt('batch', '32'));
const image = Number(opt('image', '224'));
const reps = Number(opt('reps', '7'));
const threadList = opt('threads', '1,2').split(',').map(Number);
const engines = opt('engine', 'native').split(',');
const only = opt('only', '');
const json = flag('json');

/** The depthwise layers of the model's training graph, one entry per shape with its count. */
function layers(): { g: ConvGeom; count: number; name: string }[] {
  const net = new Network(getModel(model), new HostMemory('f64'), 0, undefined, NO_FUSION);
  const graph = net.buildTrainGraph([batch, 3, image, image]).graph;
  const out = new Map<string, { g: ConvGeom; count: number; name: string }>();
  for (const n of graph.nodes) {
    if (n.op !== 'conv2d') continue;
    const g = convGeomOf(graph.value(n.inputs[0]!).shape, graph.value(n.inputs[1]!).shape, n.attrs as unknown as Conv2dAttrs);
    if (!isDepthwise(g)) continue;
    const key = `${g.C}@${g.H}x${g.W} ${g.KH}x${g.KW} s${g.stride[0]}`;
    const e = out.get(key);
    if (e) e.count++;
    else out.set(key, { g, count: 1, name: key });
  }
  return [...out.values()];
}

const shapes = layers();
const maxIn = Math.max(...shapes.map((s) => s.g.N * s.g.H * s.g.W * s.g.C));
const maxOut = Math.max(...shapes.map((s) => s.g.N * s.g.OH * s.g.OW * s.g.C));
const maxC = Math.max(...shapes.map((s) => s.g.C));
const triadN = 16 << 20;

const arena = new Arena();
const t = (k: number): Float32Array => arena.alloc(k);
const [x, x2, dx] = [t(maxIn), t(maxIn), t(maxIn)];
const [y, dy, xbn] = [t(maxOut), t(maxOut), t(maxOut)];
const [ta, tb, tc] = [t(triadN), t(triadN), t(triadN)];
const w = t(maxC * 25),
  dw = t(maxC * 25);
const [coef, cdy, mean, rstd, vm, vv, dbeta, dgamma] = [t(2 * maxC), t(3 * maxC), t(maxC), t(maxC), t(maxC), t(maxC), t(maxC), t(maxC)];
for (let i = 0; i < maxIn; i++) {
  x[i] = Math.sin(i * 0.618) + 0.1;
  x2[i] = Math.cos(i * 0.37);
}
for (let i = 0; i < maxOut; i++) {
  dy[i] = Math.cos(i * 0.3);
  xbn[i] = Math.sin(i * 0.7);
}
for (let i = 0; i < triadN; i++) [ta[i], tb[i], tc[i]] = [1, 2, 3];
for (let i = 0; i < w.length; i++) w[i] = Math.sin(i) * 0.3;
for (let c = 0; c < maxC; c++) {
  [coef[c], coef[maxC + c]] = [1 + c / maxC, -0.1];
  [cdy[c], cdy[maxC + c], cdy[2 * maxC + c]] = [1, -1e-3, 1e-3];
  [rstd[c], mean[c]] = [1, 0];
}

interface Kernel {
  name: string;
  bytes: (g: ConvGeom) => number;
  run: (b: Backend, g: ConvGeom, ws: ReturnType<typeof convWorkspace>) => void;
}
const inB = (g: ConvGeom): number => 4 * g.N * g.H * g.W * g.C;
const outB = (g: ConvGeom): number => 4 * g.N * g.OH * g.OW * g.C;
// the coefficients of a fused call are laid out for maxC channels: a2 = coef[0..C), b2 = coef[maxC..)
// reads stale values for C < maxC, which changes nothing the timing depends on
const xp = { coef: coef.byteOffset, relu: false, act: ACT.relu6 };
const dyp = { dbn: dy.byteOffset, xbn: xbn.byteOffset, coef: cdy.byteOffset };
const KERNELS: Kernel[] = [
  { name: 'fwd', bytes: (g) => inB(g) + outB(g), run: (b, g, ws) => convForward(b, g, x.byteOffset, w.byteOffset, 0, y.byteOffset, ws) },
  { name: 'bwd-data', bytes: (g) => outB(g) + inB(g), run: (b, g, ws) => convBackwardData(b, g, dy.byteOffset, w.byteOffset, dx.byteOffset, ws) },
  { name: 'bwd-weight', bytes: (g) => outB(g) + inB(g), run: (b, g, ws) => convBackwardWeight(b, g, dy.byteOffset, x.byteOffset, dw.byteOffset, 0, ws) },
  {
    name: 'fwd-f (x prologue relu6, moments)',
    bytes: (g) => inB(g) + outB(g),
    run: (b, g, ws) =>
      convForward(b, g, x.byteOffset, w.byteOffset, 0, y.byteOffset, ws, { xPrologue: xp, moments: { mean: vm.byteOffset, variance: vv.byteOffset } }),
  },
  {
    name: 'bwd-data-f (dy prologue, dx epilogue relu6)',
    bytes: (g) => 2 * outB(g) + 2 * inB(g),
    run: (b, g, ws) =>
      convBackwardData(b, g, 0, w.byteOffset, dx.byteOffset, ws, {
        dyPrologue: dyp,
        dxEpilogue: {
          x2: x2.byteOffset,
          coef: coef.byteOffset,
          mean: mean.byteOffset,
          rstd: rstd.byteOffset,
          relu: false,
          act: ACT.relu6,
          dbeta: dbeta.byteOffset,
          dgamma: dgamma.byteOffset,
        },
      }),
  },
  {
    name: 'bwd-weight-f (dy prologue, x prologue relu6)',
    bytes: (g) => 2 * outB(g) + inB(g),
    run: (b, g, ws) => convBackwardWeight(b, g, 0, x.byteOffset, dw.byteOffset, 0, ws, { dyPrologue: dyp, xPrologue: xp }),
  },
];
const kernels = KERNELS.filter((k) => !only || only.split(',').some((o) => k.name.startsWith(o)));

const time = (f: () => void): number => {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
};

interface Row {
  threads: number;
  engine: string;
  isa: string;
  layer: string;
  count: number;
  kernel: string;
  bytes: number;
  ms: ReturnType<typeof spread>;
  gbs: number;
  triad_gbs: number;
  pct_triad: ReturnType<typeof spread>;
}
const rows: Row[] = [];
const summary: { threads: number; engine: string; kernel: string; bytes: number; seconds: number; triad_gbs: number; pct_triad: number }[] = [];
const ws = convWorkspace(
  arena,
  shapes.map((s) => s.g),
);
const log = (s: string): void => {
  (json ? process.stderr : process.stdout).write(s + '\n');
};
log(`${machine().cpu}; ${model} depthwise layers at ${image} px, batch ${batch}; ${reps} reps; GB/s = 1e9 bytes/s, % = kernel GB/s over the paired triad's`);
for (const T of threadList) {
  const backends: Backend[] = [];
  for (const e of engines) backends.push(await benchBackend(arena, T, e));
  // [engine][layer][kernel] -> times and paired ratios
  const kt = backends.map(() => shapes.map(() => kernels.map(() => [] as number[])));
  const kr = backends.map(() => shapes.map(() => kernels.map(() => [] as number[])));
  const tt = backends.map(() => [] as number[]);
  for (let r = 0; r < reps + 1; r++) {
    shapes.forEach((s, li) =>
      kernels.forEach((k, ki) =>
        backends.forEach((b, e) => {
          const a = time(() => b.run('triad', [ta.byteOffset, tb.byteOffset, tc.byteOffset, 0.5], splitRange(triadN, T, 16)));
          const kk = time(() => k.run(b, s.g, ws));
          if (r === 0) return; // warm-up
          tt[e]!.push(a);
          kt[e]![li]![ki]!.push(kk);
          kr[e]![li]![ki]!.push(k.bytes(s.g) / kk / ((12 * triadN) / a));
        }),
      ),
    );
  }
  backends.forEach((b, e) => {
    const triad = (12 * triadN) / spread(tt[e]!).median / 1e9;
    log(`\nthreads ${T}, ${b.kind} ${b.isa}: triad ${triad.toFixed(1)} GB/s`);
    log('| layer (count) | kernel | ms | GB/s | % of triad (median, min-max) |');
    log('| --- | --- | ---: | ---: | ---: |');
    shapes.forEach((s, li) =>
      kernels.forEach((k, ki) => {
        const ms = spread(kt[e]![li]![ki]!.map((v) => v * 1e3));
        const pct = spread(kr[e]![li]![ki]!.map((v) => 100 * v));
        const gbs = k.bytes(s.g) / (ms.median / 1e3) / 1e9;
        rows.push({
          threads: T,
          engine: b.kind,
          isa: b.isa,
          layer: s.name,
          count: s.count,
          kernel: k.name,
          bytes: k.bytes(s.g),
          ms,
          gbs,
          triad_gbs: triad,
          pct_triad: pct,
        });
        log(
          `| ${s.name} (${s.count}) | ${k.name} | ${ms.median.toFixed(2)} | ${gbs.toFixed(1)} | ${pct.median.toFixed(0)} (${pct.min.toFixed(0)}-${pct.max.toFixed(0)}) |`,
        );
      }),
    );
    log(`\nthreads ${T}, ${b.kind}: the model's depthwise layers together (bytes and median times summed over every layer)`);
    log('| kernel | GB | s | GB/s | % of triad |');
    log('| --- | ---: | ---: | ---: | ---: |');
    kernels.forEach((k, ki) => {
      const bytes = shapes.reduce((a, s) => a + s.count * k.bytes(s.g), 0);
      const sec = shapes.reduce((a, s, li) => a + s.count * spread(kt[e]![li]![ki]!).median, 0);
      const pct = (100 * bytes) / sec / 1e9 / triad;
      summary.push({ threads: T, engine: b.kind, kernel: k.name, bytes, seconds: sec, triad_gbs: triad, pct_triad: pct });
      log(`| ${k.name} | ${(bytes / 1e9).toFixed(2)} | ${sec.toFixed(3)} | ${(bytes / sec / 1e9).toFixed(1)} | ${pct.toFixed(0)} |`);
    });
  });
  for (const b of backends) b.close();
}
if (json) process.stdout.write(JSON.stringify({ machine: machine(), model, batch, image, reps, rows, summary }, null, 2) + '\n');
