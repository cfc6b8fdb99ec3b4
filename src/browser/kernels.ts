/**
 * The kernel modules in a browser: fetched from the folder next to the bundle (kernels/*.wasm,
 * copied there by tools/build-browser.mjs) and compiled once; the variant is picked by feature
 * probes as on Node: relaxed SIMD (FMA) where the browser has it, else plain SIMD. Without
 * WebAssembly SIMD there is no engine: a BrowserSupportError says so.
 */
import { KERNELS } from '../kernels/abi/kernels.js';
import { RELAXED_PROBE, SIMD_PROBE, type Variant } from '../kernels/modules.js';
import type { PoolKernels } from '../runtime/worker_pool.js';

export type SupportProblem = 'no-webassembly' | 'no-simd' | 'no-workers';

/** The browser lacks something bnff needs; `problem` says what, the message how to fix it. */
export class BrowserSupportError extends Error {
  override name = 'BrowserSupportError';
  constructor(readonly problem: SupportProblem, message: string) {
    super(message);
  }
}

/** The kernel variant this browser runs; throws a BrowserSupportError without WebAssembly SIMD. */
export function browserVariant(): Variant {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') {
    throw new BrowserSupportError('no-webassembly', 'this browser has no WebAssembly; bnff needs WebAssembly with SIMD (Chrome 91+, Firefox 89+, Safari 16.4+)');
  }
  if (!WebAssembly.validate(SIMD_PROBE)) {
    throw new BrowserSupportError('no-simd', 'this browser has no WebAssembly SIMD (fixed-width, 128-bit); bnff\'s kernels need it: Chrome 91+, Firefox 89+, Safari 16.4+');
  }
  return WebAssembly.validate(RELAXED_PROBE) ? 'relaxed' : 'simd';
}

/** The kernel module names, from the ABI (one module per family file of src/kernels/wasm). */
export function kernelModuleNames(): string[] {
  return [...new Set(Object.values(KERNELS).map((k) => k.module))].sort();
}

const cache = new Map<string, Promise<PoolKernels>>();

/** Fetches and compiles every kernel module of `variant` from `baseUrl` (a folder URL ending in /). */
export function compileBrowserKernels(baseUrl: URL, variant: Variant = browserVariant()): Promise<PoolKernels> {
  const key = `${baseUrl.href}|${variant}`;
  let p = cache.get(key);
  if (!p) {
    p = Promise.all(
      kernelModuleNames().map(async (name) => {
        const url = new URL(`${name}.${variant}.wasm`, baseUrl);
        const res = await fetch(url);
        if (!res.ok) throw new Error(`bnff: kernel module ${url.href}: HTTP ${res.status} ${res.statusText}`);
        return { name, module: await WebAssembly.compile(await res.arrayBuffer()) };
      }),
    ).then((modules) => ({ variant, modules }));
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}
