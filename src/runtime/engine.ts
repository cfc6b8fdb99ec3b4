/**
 * Engines: where tensors live and which kernels run them.
 * - 'wasm' (default): float32 in the shared arena, WebAssembly SIMD kernels on a worker pool,
 *   NHWC activations (src/runtime/lower_wasm.ts maps graph nodes to kernels).
 * - 'reference': the plain kernels on NCHW arrays, one thread (float32, or float64 for tests).
 */
import os from 'node:os';
import { WasmLowering } from './lower_wasm.js';
import type { Lowering } from './executor.js';
import { Arena, HostMemory, type Memory } from './memory.js';
import { ThreadPool } from './pool.js';

export type EngineKind = 'wasm' | 'reference';

export interface Engine {
  readonly kind: EngineKind;
  readonly memory: Memory;
  readonly lowering?: Lowering;
  readonly pool?: ThreadPool;
  readonly threads: number;
  /** One line for logs: "wasm relaxed-simd, 2 threads". */
  readonly description: string;
  close(): void;
}

export function defaultThreads(): number {
  return os.availableParallelism();
}

export async function createEngine(o: { kind?: EngineKind; threads?: number; dtype?: 'f32' | 'f64' } = {}): Promise<Engine> {
  const kind = o.kind ?? 'wasm';
  if (kind === 'reference') {
    const memory = new HostMemory(o.dtype ?? 'f32');
    return { kind, memory, threads: 1, description: `reference kernels (${memory.dtype}, NCHW), 1 thread`, close() {} };
  }
  const threads = o.threads ?? defaultThreads();
  const arena = new Arena();
  const pool = await ThreadPool.create(arena, threads);
  const lowering = new WasmLowering(pool, arena);
  return {
    kind,
    memory: arena,
    lowering,
    pool,
    threads,
    description: `WebAssembly ${pool.variant === 'relaxed' ? 'relaxed-SIMD (FMA)' : 'SIMD'} kernels, NHWC, ${threads} thread${threads === 1 ? '' : 's'}`,
    close: () => pool.close(),
  };
}
