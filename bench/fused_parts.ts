/**
 * What each BN part of a fused 1x1 convolution costs on its own: the host function with one part
 * on (the x prologue or the moments epilogue of the forward, the dy prologue or the dx epilogue
 * of backward-data, the dy or x prologue of backward-weights) against the plain call, on one
 * geometry, operands in cache unless the geometry is large. Per part: the least time of 7 runs
 * of --calls calls each, plain and fused alternated, and plain/fused (below 1: the part's cost),
 * the median of 3 such pairs.
 *
 *   node dist/bench/fused_parts.js --shape C,K,HW,N [--threads 1] [--engine native] [--parts xp,mom,dx,dy,wdy,wx] [--calls 50] [--json]
 */
import { parseArgs } from 'node:util';
import { benchBackend, machine } from '../src/bench/common.js';
import { bnCoefficients } from '../src/kernels/bn_fused.js';
import { convBackwardData, convBackwardWeight, convForward, convGeom, convWorkspace } from '../src/kernels/conv.js';
import { Arena } from '../src/runtime/memory.js';

const { values: o } = parseArgs({
  options: {
    shape: { type: 'string', default: '144,24,28,1' },
    threads: { type: 'string', default: '1' },
    engine: { type: 'string', default: 'native' },
    parts: { type: 'string', default: 'xp,mom,dx,dy,wdy,wx' },
    calls: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
  },
});
const [C, K, HW, N] = o.shape.split(',').map(Number) as [number, number, number, number];
const calls = Number(o.calls);
const arena = new Arena();
const be = await benchBackend(arena, Number(o.threads), o.engine);
const g = convGeom({ N, C, H: HW, W: HW, K, KH: 1 });
const nx = N * HW * HW * C,
  ny = N * HW * HW * K;
const buf = (n: number, v?: number): number => {
  const p = arena.reserve(n * 4);
  const a = arena.view(p, n);
  for (let i = 0; i < n; i++) a[i] = v ?? ((i * 2654435761) % 1000) / 1000 - 0.5;
  return p;
};
const [x, dx, dy, xbn, y, w, dw] = [buf(nx), buf(nx), buf(ny), buf(ny), buf(ny), buf(C * K), buf(C * K)];
const ws = convWorkspace(arena, [g]);
const P = Math.max(C, K);
const [mean, rstd, gamma, beta, dbeta, dgamma, om, ov] = [0.1, 1.2, 0.9, 0.3, 0, 0, 0, 0].map((v) => buf(P, v)) as number[];
const coef = buf(2 * P, 0),
  cdy = buf(3 * P, 0.5);
bnCoefficients(be, C, mean!, rstd!, gamma!, beta!, coef);
const dyp = { dbn: dy, xbn, coef: cdy, bn: { mean: mean!, rstd: rstd!, gamma: gamma!, dbeta: dbeta!, dgamma: dgamma! } };
const xPro = { coef, relu: true };
const dxEpi = { x2: x, coef, mean: mean!, rstd: rstd!, relu: true, dbeta: dbeta!, dgamma: dgamma! };
const fwd = (): void => convForward(be, g, x, w, 0, y, ws);
const bwdData = (): void => convBackwardData(be, g, dy, w, dx, ws);
const bwdW = (): void => convBackwardWeight(be, g, dy, x, dw, 0, ws);
const PARTS: Record<string, [string, () => void, () => void]> = {
  xp: ['forward x prologue', fwd, () => convForward(be, g, x, w, 0, y, ws, { xPrologue: xPro })],
  mom: ['forward moments epilogue', fwd, () => convForward(be, g, x, w, 0, y, ws, { moments: { mean: om!, variance: ov! } })],
  dx: ['backward-data dx epilogue', bwdData, () => convBackwardData(be, g, dy, w, dx, ws, { dxEpilogue: dxEpi })],
  dy: ['backward-data dy prologue', bwdData, () => convBackwardData(be, g, 0, w, dx, ws, { dyPrologue: dyp })],
  wdy: ['backward-weights dy prologue', bwdW, () => convBackwardWeight(be, g, 0, x, dw, 0, ws, { dyPrologue: dyp })],
  wx: ['backward-weights x prologue', bwdW, () => convBackwardWeight(be, g, dy, x, dw, 0, ws, { xPrologue: xPro })],
};
const best = (f: () => void): number => {
  let b = Infinity;
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) f();
    b = Math.min(b, (performance.now() - t0) / calls);
  }
  return b;
};
const rows: { part: string; what: string; plain_ms: number; fused_ms: number; plain_over_fused: number }[] = [];
try {
  for (const part of o.parts.split(',')) {
    const entry = PARTS[part];
    if (!entry) throw new RangeError(`--parts: unknown part "${part}" (one of ${Object.keys(PARTS).join(', ')})`);
    const [what, plain, fused] = entry;
    plain();
    fused();
    const pairs = [0, 1, 2].map(() => {
      const p = best(plain),
        f = best(fused);
      return { p, f, r: p / f };
    });
    pairs.sort((a, b) => a.r - b.r);
    const m = pairs[1]!;
    rows.push({ part, what, plain_ms: m.p, fused_ms: m.f, plain_over_fused: m.r });
  }
} finally {
  be.close();
}
const m = machine();
const head = `1x1 ${C}->${K} @${HW}, batch ${N}, ${o.threads} thread(s), ${be.kind}${be.isa ? ` ${be.isa}` : ''}; ${m.cpu}, ${m.cores} cores`;
if (o.json)
  process.stdout.write(
    JSON.stringify({ shape: { C, K, HW, N }, threads: Number(o.threads), engine: be.kind, isa: be.isa, machine: m, parts: rows }, null, 2) + '\n',
  );
else {
  process.stdout.write(head + '\n');
  for (const r of rows)
    process.stdout.write(
      `${r.what.padEnd(30)} plain ${r.plain_ms.toFixed(3)} ms, fused ${r.fused_ms.toFixed(3)} ms, plain/fused ${r.plain_over_fused.toFixed(3)}\n`,
    );
}
