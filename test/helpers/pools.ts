/**
 * One backend per thread count, shared by a test file's tests and closed after them. The kind
 * follows the engine the suite runs on (BNFF_ENGINE: auto, the default, is native where the addon
 * is built; wasm forces the WebAssembly kernels): tools/test.mjs runs the kernel suites on each.
 */
import { after, before } from 'node:test';
import type { Backend } from '../../src/runtime/backend.js';
import { engineChoice } from '../../src/runtime/engine.js';
import { Arena } from '../../src/runtime/memory.js';
import { NativeBackend, nativeStatus } from '../../src/runtime/native.js';
import { ThreadPool } from '../../src/runtime/pool.js';

const pools = new Map<number, Backend>();
let registered = false;

/** The backend kind the kernel suites run on: 'native' or 'wasm'. */
export async function testBackendKind(): Promise<'native' | 'wasm'> {
  const choice = engineChoice();
  if (choice === 'wasm' || choice === 'reference') return 'wasm';
  const st = await nativeStatus();
  if (!st.ok && choice === 'native') throw new Error(`BNFF_ENGINE=native but ${st.reason}`);
  return st.ok ? 'native' : 'wasm';
}

/** A backend of the suite's kind on `arena` (the caller closes it). */
export async function createBackend(arena: Arena, threads: number): Promise<Backend> {
  return (await testBackendKind()) === 'native' ? NativeBackend.create(arena, threads, await nativeStatus()) : ThreadPool.create(arena, threads);
}

export async function getPool(threads: number): Promise<Backend> {
  if (!registered) {
    registered = true;
    after(() => {
      for (const p of pools.values()) p.close();
      pools.clear();
    });
  }
  let p = pools.get(threads);
  if (!p) {
    p = await createBackend(new Arena(), threads);
    pools.set(threads, p);
  }
  return p;
}

/** Backends of the suite's kind on `arena`, one per thread count, made before the file's tests and closed after them. */
export function poolsFor(arena: Arena, threads: readonly number[] = [1, 2]): Backend[] {
  const pools: Backend[] = [];
  before(async () => {
    for (const t of threads) pools.push(await createBackend(arena, t));
  });
  after(() => {
    for (const p of pools) p.close();
  });
  return pools;
}
