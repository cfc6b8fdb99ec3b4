/**
 * The engine in a browser: the WebAssembly engine of src/runtime/engine.ts (same arena, kernels,
 * lowering and results), its threads being Web Workers. Threads need a cross-origin isolated page
 * (served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy:
 * require-corp); elsewhere the engine runs on one thread and says so, in `reason`, in
 * `description` and on the console.
 */
import type { Variant } from '../kernels/modules.js';
import type { Engine } from '../runtime/engine.js';
import { Arena } from '../runtime/memory.js';
import { wasmEngine } from '../runtime/wasm_engine.js';
import { BrowserSupportError, browserVariant, compileBrowserKernels } from './kernels.js';
import { WebWorkerPool } from './pool.js';

export interface BrowserEngineOptions {
  /** Kernel threads, the calling thread included (default: navigator.hardwareConcurrency). */
  threads?: number;
  /** The folder holding kernels/*.wasm and kernel-worker.js (default: the bundle's own folder). */
  baseUrl?: string | URL;
  /** Force a kernel variant ('simd' where the browser also has relaxed SIMD). */
  variant?: Variant;
}

export interface BrowserEngine extends Engine {
  readonly kind: 'wasm';
  /** Whether the page is cross-origin isolated (threads possible). */
  readonly isolated: boolean;
  readonly variant: Variant;
}

/** Whether this context may share memory with workers: cross-origin isolated, SharedArrayBuffer present. */
export function isCrossOriginIsolated(): boolean {
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
}

export function defaultThreads(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return Math.max(1, Math.min(64, n ?? 1));
}

export const NOT_ISOLATED =
  'one thread: this page is not cross-origin isolated (it needs the response headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so SharedArrayBuffer and WebAssembly threads are unavailable';

export async function createEngine(o: BrowserEngineOptions = {}): Promise<BrowserEngine> {
  const variant = o.variant ?? browserVariant();
  if (typeof Worker !== 'function' && (o.threads ?? 1) > 1) throw new BrowserSupportError('no-workers', 'this context has no Web Workers; create the engine with threads: 1');
  const isolated = isCrossOriginIsolated();
  const asked = o.threads ?? defaultThreads();
  if (!Number.isInteger(asked) || asked < 1 || asked > 64) throw new RangeError(`threads must be an integer in [1, 64], got ${asked}`);
  const threads = isolated ? asked : 1;
  if (!isolated && asked > 1) console.warn(`bnff: ${NOT_ISOLATED}`);
  const base = new URL(o.baseUrl ?? './', o.baseUrl === undefined ? import.meta.url : (globalThis as { location?: { href: string } }).location?.href);
  const kernels = await compileBrowserKernels(new URL('kernels/', base), variant);
  const arena = new Arena();
  const pool = await WebWorkerPool.create(arena, threads, kernels, new URL('kernel-worker.js', base));
  const engine = wasmEngine(arena, pool, isolated ? `wasm: ${threads} thread(s) in Web Workers, cross-origin isolated` : `wasm: ${NOT_ISOLATED}`, ` (Web Workers)${isolated ? '' : ', not cross-origin isolated'}`);
  return { ...engine, isolated, variant };
}
