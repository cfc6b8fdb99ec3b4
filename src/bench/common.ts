/** Shared benchmark helpers: statistics over repeats and a description of the machine. */
import os from 'node:os';
import { cpuModel } from '../util/machine.js';
import type { Backend } from '../runtime/backend.js';
import { engineChoice } from '../runtime/engine.js';
import type { Arena } from '../runtime/memory.js';
import { NativeBackend, nativeStatus } from '../runtime/native.js';
import { ThreadPool } from '../runtime/pool.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

export function machine(): Record<string, string | number> {
  return { cpu: cpuModel(), cores: os.availableParallelism(), memory_gib: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}` };
}

/**
 * The kernel backend a kernel benchmark runs on: `kind` 'native' or 'wasm', or undefined for the
 * engine bnff would pick (BNFF_ENGINE, else native where the addon loads, else wasm).
 */
export async function benchBackend(arena: Arena, threads: number, kind?: string): Promise<Backend> {
  const choice = engineChoice((kind ?? undefined) as Parameters<typeof engineChoice>[0]);
  if (choice === 'reference') throw new RangeError('kernel benchmarks run on the native or wasm engine');
  if (choice !== 'wasm') {
    const st = await nativeStatus();
    if (st.ok) return NativeBackend.create(arena, threads, st);
    if (choice === 'native') throw new RangeError(`engine native is unavailable: ${st.reason}`);
  }
  return ThreadPool.create(arena, threads);
}
