/**
 * The WebAssembly engine around a started kernel thread pool, on any platform (Node's
 * createEngine in src/runtime/engine.ts, the browser's in src/browser/engine.ts).
 */
import type { Engine } from './engine.js';
import { WasmLowering } from './lower_wasm.js';
import type { Arena } from './memory.js';
import type { WorkerPool } from './worker_pool.js';

/** `where` ends the description ("" on Node, " (Web Workers)" in a browser); `reason` says why this engine. */
export function wasmEngine(arena: Arena, pool: WorkerPool, reason: string, where = ''): Engine & { kind: 'wasm' } {
  const plural = `${pool.threads} thread${pool.threads === 1 ? '' : 's'}`;
  return {
    kind: 'wasm',
    memory: arena,
    lowering: new WasmLowering(pool, arena),
    backend: pool,
    threads: pool.threads,
    isa: pool.isa,
    description: `WebAssembly ${pool.variant === 'relaxed' ? 'relaxed-SIMD (FMA)' : 'SIMD'} kernels, NHWC, ${plural}${where}`,
    reason,
    close: () => pool.close(),
  };
}
