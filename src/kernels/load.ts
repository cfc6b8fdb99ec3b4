/**
 * Loads the WebAssembly kernel modules built from src/kernels/wasm/ (tools/build-kernels.mjs)
 * and picks the variant at start-up: relaxed SIMD (FMA) where the runtime has it, plain SIMD
 * otherwise. Node 20 keeps relaxed SIMD behind a V8 flag, which is process-wide and can be set
 * before the first module is compiled.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

export type Variant = 'relaxed' | 'simd';

/** A minimal module using f32x4.relaxed_madd, to probe support. */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
  0x0a, 0x3d, 0x01, 0x3b, 0x00,
  0xfd, 0x0c, ...new Array(16).fill(0), 0xfd, 0x0c, ...new Array(16).fill(0), 0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0x85, 0x02, 0x0b,
]);

let chosen: Variant | undefined;

export function kernelVariant(): Variant {
  if (chosen) return chosen;
  const forced = process.env.BNFF_SIMD;
  if (forced === 'simd' || forced === 'relaxed') return (chosen = forced === 'relaxed' && !enableRelaxed() ? 'simd' : forced);
  return (chosen = enableRelaxed() ? 'relaxed' : 'simd');
}

function enableRelaxed(): boolean {
  if (WebAssembly.validate(RELAXED_PROBE)) return true;
  try {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(RELAXED_PROBE);
}

/** dist/kernels, found from this file whether it runs from dist/src/kernels or elsewhere in dist. */
export function kernelDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const cand = path.join(dir, 'kernels');
    if (fs.existsSync(cand) && fs.readdirSync(cand).some((f) => f.endsWith('.wasm'))) return cand;
    const cand2 = path.join(dir, 'dist', 'kernels');
    if (fs.existsSync(cand2)) return cand2;
    dir = path.dirname(dir);
  }
  throw new Error('bnff: compiled kernels not found (dist/kernels/*.wasm); run `npm run build`');
}

export interface CompiledKernels {
  variant: Variant;
  modules: { name: string; module: WebAssembly.Module }[];
}

let compiled: CompiledKernels | undefined;

export function compileKernels(): CompiledKernels {
  if (compiled) return compiled;
  const variant = kernelVariant();
  const dir = kernelDir();
  const names = fs.readdirSync(dir).filter((f) => f.endsWith(`.${variant}.wasm`)).sort();
  const modules = names.map((f) => ({ name: f.slice(0, -`.${variant}.wasm`.length), module: new WebAssembly.Module(fs.readFileSync(path.join(dir, f))) }));
  return (compiled = { variant, modules });
}

/** Instantiates every module on `memory`; returns all exported functions by name. */
export function instantiate(modules: CompiledKernels['modules'], memory: WebAssembly.Memory): Map<string, (...a: number[]) => number> {
  const fns = new Map<string, (...a: number[]) => number>();
  for (const { name, module } of modules) {
    const inst = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error(`kernel module ${name} aborted`); } } });
    for (const [k, v] of Object.entries(inst.exports)) {
      if (typeof v !== 'function') continue;
      if (fns.has(k)) throw new Error(`kernel function "${k}" is exported by two modules`);
      fns.set(k, v as (...a: number[]) => number);
    }
  }
  return fns;
}
