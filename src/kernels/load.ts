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
import { RELAXED_PROBE, type Variant } from './modules.js';

export { instantiate, type Variant } from './modules.js';

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
