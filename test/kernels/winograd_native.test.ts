/**
 * The native Winograd F(2x2, 3x3) kernels (src/kernels/native/families/winograd.cc) against the
 * WebAssembly ones (src/kernels/wasm/winograd.ts): the host functions of src/kernels/conv.ts run on a
 * NativeBackend and on a wasm ThreadPool, each on its own arena, with the same inputs, at 1, 2
 * and 3 threads; every output (y, dx, dW, the moments, dbeta / dgamma, a gradient buffer) must be
 * bit-identical: the native kernels keep every element's float operations and their order (see
 * the file's header comment). Forward, backward-data and backward-weights, unfused and with each
 * fusion: the x prologue (ReLU on and off; through the normalised window and, with
 * convTuning.winoWindow = 0, normalised on load), the moments epilogue, the dy prologue, the dx
 * epilogue stored or accumulated into a gradient buffer, x and y as views of wider buffers.
 * C and K run over 4..36 (around the 128-bit, 256-bit and 512-bit widths and the 32-column and
 * 12-row register tiles), images of odd and even size, default and tiny cache blocks.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  convBackwardData,
  convBackwardWeight,
  convDxAccumulates,
  convForward,
  convGeom,
  convStridedInput,
  convStridedOutput,
  convTuning,
  convWorkspace,
  type ConvGeom,
  type ConvGeomSpec,
} from '../../src/kernels/conv.js';
import { winogradW } from '../../src/kernels/conv_config.js';
import type { Backend } from '../../src/runtime/backend.js';
import { Arena } from '../../src/runtime/memory.js';
import { NativeBackend, nativeStatus } from '../../src/runtime/native.js';
import { ThreadPool } from '../../src/runtime/pool.js';
import { Rng } from '../../src/util/random.js';

const THREADS = [1, 2, 3];

const backends = new Map<string, Backend>();
after(() => {
  for (const b of backends.values()) b.close();
  backends.clear();
});

async function backend(kind: 'native' | 'wasm', threads: number): Promise<Backend> {
  const key = `${kind}${threads}`;
  let b = backends.get(key);
  if (!b) {
    b = kind === 'native' ? await NativeBackend.create(new Arena(), threads, await nativeStatus()) : await ThreadPool.create(new Arena(), threads);
    backends.set(key, b);
  }
  return b;
}

/** Which fusions a run uses. */
interface Variant {
  name: string;
  xPrologue?: { relu: boolean };
  moments?: boolean;
  bias?: boolean;
  dyPrologue?: boolean;
  dxEpilogue?: { relu: boolean; accumulate?: boolean };
  /** x and x2 read at a pixel stride of C + 4; y written at K + 3 from channel 2 of a wider buffer */
  strided?: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'plain', bias: true },
  { name: 'x prologue + ReLU, moments', xPrologue: { relu: true }, moments: true },
  { name: 'x prologue without ReLU', xPrologue: { relu: false } },
  { name: 'moments with bias', moments: true, bias: true },
  { name: 'dy prologue', dyPrologue: true },
  { name: 'dx epilogue + ReLU', dxEpilogue: { relu: true } },
  { name: 'dx epilogue without ReLU', dxEpilogue: { relu: false } },
  { name: 'dy prologue + dx epilogue', dyPrologue: true, dxEpilogue: { relu: true } },
  { name: 'dx epilogue accumulating', dxEpilogue: { relu: true, accumulate: true } },
  { name: 'dy prologue + dx epilogue accumulating', dyPrologue: true, dxEpilogue: { relu: false, accumulate: true } },
  { name: 'strided x and y', xPrologue: { relu: true }, moments: true, dxEpilogue: { relu: true }, strided: true },
];

/** All outputs of a forward, backward-data and backward-weights run of variant v on b, as raw bits. */
function run(b: Backend, g: ConvGeom, v: Variant, seed: number): Map<string, Uint32Array> {
  const a = b.arena;
  const { N, C, H, W, K, OH, OW } = g;
  const rng = new Rng(seed);
  const rnd = (n: number, f = (): number => rng.normal()): Float32Array => Float32Array.from({ length: n }, f);
  const put = (arr: ArrayLike<number>): number => {
    const p = a.reserve(Math.max(4, arr.length * 4));
    a.view(p, arr.length).set(arr);
    return p;
  };
  const out = (n: number): number => {
    const p = a.reserve(Math.max(4, n * 4));
    a.view(p, n).fill(NaN);
    return p;
  };
  const Min = N * H * W,
    Mout = N * OH * OW;
  const strided = v.strided === true && convStridedInput(g);
  const xs = strided ? C + 4 : C;
  const x = rnd(Min * C, () => 0.3 + rng.normal());
  const xw = new Float32Array(Min * xs).fill(NaN);
  for (let r = 0; r < Min; r++) for (let c = 0; c < C; c++) xw[r * xs + c] = x[r * C + c]!;
  const px = put(xw);
  const pw = put(rnd(K * C * 9, () => rng.normal() / Math.sqrt(9 * C)));
  const pb = put(rnd(K));
  const dbn = rnd(Mout * K),
    xbn = rnd(Mout * K, () => 0.2 + rng.normal());
  // xbn before or after dbn (the kernels address it as dbn + a wrapping 32-bit offset)
  const [pdbn, pxbn] =
    seed % 2
      ? [put(dbn), put(xbn)]
      : ((): [number, number] => {
          const q = put(xbn);
          return [put(dbn), q];
        })();
  const coef = put(Float32Array.from([...rnd(C, () => (rng.next() < 0.25 ? -1 : 1) * (0.5 + rng.next())), ...rnd(C, () => 0.3 * rng.normal())]));
  const cdy = put(rnd(3 * K, () => 0.5 * rng.normal()));
  const mean = put(rnd(C, () => 0.3 + 0.1 * rng.normal())),
    rstd = put(rnd(C, () => 0.8 + 0.4 * rng.next()));
  const ws = convWorkspace(a, g);
  const res = new Map<string, Uint32Array>();
  const take = (name: string, p: number, n: number): void => void res.set(name, new Uint32Array(a.view(p, n).slice().buffer));
  const xPro = v.xPrologue ? { coef, relu: v.xPrologue.relu, stride: strided ? xs : undefined } : undefined;
  // forward
  const ys = v.strided && convStridedOutput(g) ? K + 3 : K,
    y0 = ys === K ? 0 : 2;
  const py = out(Mout * ys),
    mom = out(2 * K);
  const ff =
    xPro || v.moments || ys !== K
      ? { xPrologue: xPro, moments: v.moments ? { mean: mom, variance: mom + 4 * K } : undefined, outputStride: ys === K ? undefined : ys }
      : undefined;
  convForward(b, g, px, pw, v.bias ? pb : 0, py + 4 * y0, ws, ff);
  take('y', py, Mout * ys);
  if (v.moments) take('moments', mom, 2 * K);
  // backward-data
  const pdx = out(Min * C),
    red = out(2 * C);
  const acc = v.dxEpilogue?.accumulate === true && convDxAccumulates(g);
  const gs = C + 8,
    pG = acc ? put(rnd(Min * gs)) : 0;
  const dyPro = v.dyPrologue ? { dbn: pdbn, xbn: pxbn, coef: cdy } : undefined;
  const de = v.dxEpilogue
    ? {
        x2: px,
        coef,
        mean,
        rstd,
        relu: v.dxEpilogue.relu,
        dbeta: red,
        dgamma: red + 4 * C,
        stride: strided ? xs : undefined,
        accumulate: acc ? { G: pG, stride: gs } : undefined,
      }
    : undefined;
  convBackwardData(b, g, dyPro ? 0 : pdbn, pw, pdx, ws, dyPro || de ? { dyPrologue: dyPro, dxEpilogue: de } : undefined);
  if (!acc) take('dx', pdx, Min * C);
  if (acc) take('G', pG, Min * gs);
  if (de) take('dbeta, dgamma', red, 2 * C);
  // backward-weights
  const pdw = out(K * C * 9),
    pdb = out(K);
  convBackwardWeight(b, g, dyPro ? 0 : pdbn, px, pdw, v.bias ? pdb : 0, ws, dyPro || xPro ? { dyPrologue: dyPro, xPrologue: xPro } : undefined);
  take('dw', pdw, K * C * 9);
  if (v.bias) take('db', pdb, K);
  return res;
}

async function same(spec: ConvGeomSpec, v: Variant, seed: number, label: string): Promise<void> {
  const g = convGeom(spec);
  for (const threads of THREADS) {
    const nat = run(await backend('native', threads), g, v, seed);
    const was = run(await backend('wasm', threads), g, v, seed);
    for (const [name, w] of was) {
      const n = nat.get(name)!;
      for (let i = 0; i < w.length; i++) {
        if (n[i] !== w[i]) {
          const f = (u: number): number => new Float32Array(new Uint32Array([u]).buffer)[0]!;
          assert.fail(`${label} ${v.name} ${JSON.stringify(spec)} ${threads}T: ${name}[${i}] native ${f(n[i]!)} != wasm ${f(w[i]!)}`);
        }
      }
    }
  }
}

const native = await nativeStatus();
const skip = native.ok ? false : `native engine unavailable: ${native.reason}`;

const CS = [4, 8, 12, 16, 20, 32, 36];

test('native Winograd: unfused, C x K in {4..36}, odd and even images, 1-3 threads, bit-identical to wasm', { skip }, async () => {
  for (const [i, C] of CS.entries()) {
    for (const [j, K] of CS.entries()) {
      const odd = (i + j) % 2 === 0;
      await same({ N: 2, C, H: odd ? 5 : 6, W: odd ? 7 : 4, K, KH: 3, pad: 1 }, VARIANTS[0]!, 10 * i + j, 'grid');
    }
  }
});

const FUSED_SHAPES: ConvGeomSpec[] = [
  { N: 2, C: 4, H: 5, W: 7, K: 4, KH: 3, pad: 1 },
  { N: 1, C: 8, H: 6, W: 6, K: 12, KH: 3, pad: 1 },
  { N: 2, C: 12, H: 7, W: 5, K: 20, KH: 3 },
  { N: 1, C: 16, H: 5, W: 4, K: 36, KH: 3, pad: 2 },
  { N: 2, C: 20, H: 4, W: 9, K: 8, KH: 3, pad: 1 },
  { N: 2, C: 32, H: 5, W: 7, K: 16, KH: 3, pad: 1 },
  { N: 3, C: 36, H: 6, W: 5, K: 32, KH: 3, pad: 1 },
  { N: 1, C: 36, H: 9, W: 8, K: 52, KH: 3, pad: 1 },
  { N: 2, C: 64, H: 7, W: 6, K: 36, KH: 3, pad: 1 },
  { N: 1, C: 72, H: 8, W: 9, K: 20, KH: 3, pad: 1 },
];

const KNOBS: [string, Partial<typeof convTuning>][] = [
  ['default blocks', {}],
  ['no window', { winoWindow: 0 }],
  ['tiny blocks', { winoUBytes: 1, winoVBytes: 1, winoWBytes: 1, winoWMinTiles: 0 }],
  ['small dx ring', { winoAccBytes: 1 }],
];

for (const [kn, knobs] of KNOBS) {
  test(`native Winograd: every fusion (${kn}), 1-3 threads, bit-identical to wasm`, { skip }, async () => {
    const saved = { ...convTuning };
    try {
      Object.assign(convTuning, knobs);
      for (const [i, spec] of FUSED_SHAPES.entries()) {
        for (const [j, v] of VARIANTS.entries()) await same(spec, v, 1000 + 100 * i + j, kn);
      }
    } finally {
      Object.assign(convTuning, saved);
    }
  });
}

test('native Winograd: larger layers over several blocks and chunks, bit-identical to wasm', { skip }, async () => {
  for (const [i, spec] of (
    [
      { N: 2, C: 64, H: 14, W: 14, K: 64, KH: 3, pad: 1 },
      { N: 1, C: 128, H: 9, W: 11, K: 32, KH: 3, pad: 1 },
      { N: 1, C: 48, H: 30, W: 30, K: 24, KH: 3, pad: 1 },
    ] as ConvGeomSpec[]
  ).entries()) {
    await same(spec, VARIANTS[0]!, 5000 + i, 'large');
    await same(spec, VARIANTS[1]!, 5100 + i, 'large');
    await same(spec, VARIANTS[7]!, 5200 + i, 'large');
  }
});

test(
  'native Winograd backward-weights of a layer only the native budget admits (nativeConvTuning): the same dW at 1-3 threads, wasm GEMM within tolerance',
  { skip },
  async () => {
    // 512->512 @7: 48 KiB per chunk tile, over convTuning.winoWBytes (the wasm engine runs the
    // GEMM path) and within nativeConvTuning.winoWBytes; N = 6: 96 tiles, several chunks
    for (const v of [VARIANTS[0]!, VARIANTS[4]!]) {
      const g = convGeom({ N: 6, C: 512, H: 7, W: 7, K: 512, KH: 3, pad: 1 });
      assert.ok(winogradW(g, 'native') && !winogradW(g, 'wasm'));
      const dws: Uint32Array[] = [];
      for (const threads of THREADS) dws.push(run(await backend('native', threads), g, v, 6000).get('dw')!);
      for (const dw of dws.slice(1))
        assert.ok(
          dw.every((u, i) => u === dws[0]![i]),
          `${v.name}: dW differs across thread counts`,
        );
      const f32 = (u: Uint32Array): Float32Array => new Float32Array(u.buffer, u.byteOffset, u.length);
      const n = f32(dws[0]!),
        w = f32(run(await backend('wasm', 2), g, v, 6000).get('dw')!);
      let d2 = 0,
        w2 = 0;
      for (let i = 0; i < w.length; i++) {
        d2 += (n[i]! - w[i]!) ** 2;
        w2 += w[i]! ** 2;
      }
      // both against each other: each within 1e-5 sqrt(R) of the exact dW (R = N*OH*OW)
      assert.ok(Math.sqrt(d2 / w2) < 2e-5 * Math.sqrt(6 * 49), `${v.name}: relative difference ${Math.sqrt(d2 / w2)}`);
    }
  },
);
