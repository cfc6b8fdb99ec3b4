/**
 * Engines: where tensors live and which kernels run them.
 * - 'native': float32 in an arena the addon reserves (as large as this machine's memory, not bound
 *   by wasm32), the kernels compiled from C++ for this CPU (AVX-512 or AVX2+FMA) on the addon's
 *   threads (src/runtime/native.ts), NHWC activations;
 * - 'wasm': the same layouts, lowering and kernel ABI in a WebAssembly memory (at most 4 GiB),
 *   WebAssembly SIMD kernels on worker threads;
 * - 'reference': the plain kernels on NCHW arrays, one thread (float32, or float64 for tests);
 * - 'auto' (the default): native where the addon is built and loads on this CPU, else wasm.
 * BNFF_ENGINE (auto | native | wasm | reference) sets the default.
 */
import os from 'node:os';
import type { FusionOptions } from '../passes/index.js';
import type { Backend } from './backend.js';
import { WasmLowering } from './lower_wasm.js';
import type { Lowering } from './executor.js';
import { Arena, HostMemory, type Memory } from './memory.js';
import { NativeBackend, nativeArena, nativeStatus } from './native.js';
import { ThreadPool } from './pool.js';
import { wasmEngine } from './wasm_engine.js';

export type EngineKind = 'native' | 'wasm' | 'reference';
export type EngineChoice = EngineKind | 'auto';
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'native', 'wasm', 'reference'];

export interface Engine {
  readonly kind: EngineKind;
  readonly memory: Memory;
  readonly lowering?: Lowering;
  /** The backend the kernels run on (native or wasm); none for the reference engine. */
  readonly backend?: Backend;
  readonly threads: number;
  /** The instruction set: 'avx512', 'avx2', 'wasm-relaxed-simd', 'wasm-simd', or 'scalar'. */
  readonly isa: string;
  /** One line for logs: "native avx512, 2 threads". */
  readonly description: string;
  /** Why this engine was chosen (e.g. "wasm: native addon not built: g++ not found"). */
  readonly reason: string;
  close(): void;
}

/**
 * The cost guard of each engine (FusionOptions.minFissionBytes, guard cacheResident): on the
 * native engine a BN whose input tensor is at most 4 MiB stays whole. Such tensors stay in the
 * caches (L2 + L3 here), where its standalone passes cost less than the work the fused
 * convolutions add: measured on resnet20 at batch 64 (every BN input 4 MiB or less), fused was
 * 0.86-0.95x of unfused on native (docs/design/native-engine.md). The WebAssembly engine keeps
 * every fusion (its measured figures predate the guard).
 */
export function fusionCosts(kind: EngineKind): Pick<FusionOptions, 'minFissionBytes'> {
  return { minFissionBytes: kind === 'native' ? 4 << 20 : 0 };
}

export function defaultThreads(): number {
  return os.availableParallelism();
}

/** The engine asked for: o.kind, else BNFF_ENGINE, else 'auto'. Throws on an unknown name. */
export function engineChoice(kind?: EngineChoice): EngineChoice {
  const k = kind ?? (process.env.BNFF_ENGINE as EngineChoice | undefined) ?? 'auto';
  if (!ENGINE_CHOICES.includes(k)) throw new RangeError(`unknown engine "${k}" (BNFF_ENGINE or --engine): expected one of ${ENGINE_CHOICES.join(', ')}`);
  return k;
}

export async function createEngine(o: { kind?: EngineChoice; threads?: number; dtype?: 'f32' | 'f64' } = {}): Promise<Engine> {
  const choice = engineChoice(o.kind);
  if (choice === 'reference') {
    const memory = new HostMemory(o.dtype ?? 'f32');
    return { kind: 'reference', memory, threads: 1, isa: 'scalar', description: `reference kernels (${memory.dtype}, NCHW), 1 thread`, reason: 'reference: asked for', close() {} };
  }
  const threads = o.threads ?? defaultThreads();
  const plural = `${threads} thread${threads === 1 ? '' : 's'}`;
  let why = 'wasm: asked for';
  if (choice !== 'wasm') {
    const st = await nativeStatus();
    if (st.ok) {
      // the addon's arena (not bound by wasm32) where every kernel is native, else WebAssembly memory
      const arena = nativeArena(st) ?? new Arena();
      const backend = await NativeBackend.create(arena, threads, st);
      const cov = backend.coverage;
      const mixed = cov.native < cov.total ? `; ${cov.total - cov.native} of ${cov.total} kernels on WebAssembly workers` : '';
      return {
        kind: 'native',
        memory: arena,
        lowering: new WasmLowering(backend, arena),
        backend,
        threads,
        isa: backend.isa,
        description: `native ${backend.isa} kernels, NHWC, ${plural}${mixed}`,
        reason: `native: ${backend.isa}, ${plural}${choice === 'auto' ? ' (auto)' : ''}`,
        close: () => backend.close(),
      };
    }
    if (choice === 'native') throw new RangeError(`engine native is unavailable: ${st.reason}`);
    why = `wasm: ${st.reason}`;
  }
  const arena = new Arena();
  return wasmEngine(arena, await ThreadPool.create(arena, threads), why);
}
