/** Shared benchmark helpers: the command line, statistics over repeats and a description of the machine. */
import os from 'node:os';
import { convTuning } from '../kernels/conv.js';
import { cpuModel } from '../util/machine.js';
import type { Backend } from '../runtime/backend.js';
import { engineChoice } from '../runtime/engine.js';
import type { Arena } from '../runtime/memory.js';
import { NativeBackend, nativeStatus } from '../runtime/native.js';
import { ThreadPool } from '../runtime/pool.js';

/** A benchmark script's command line: `opt('name', default)` for `--name value`, `flag('name')` for `--name`. */
export function benchArgs(argv: readonly string[] = process.argv.slice(2)): { opt: (name: string, def: string) => string; flag: (name: string) => boolean } {
  return {
    opt: (name, def) => {
      const i = argv.indexOf(`--${name}`);
      return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : def;
    },
    flag: (name) => argv.includes(`--${name}`),
  };
}

/**
 * The options of the convolution benchmarks: --batch (16), --threads a,b (1,2), --reps, --only
 * (a substring of the shape names), --ops (fwd,bwd-data,bwd-weight), --json; and any field of
 * convTuning as --<field> N (e.g. --winoWBytes 1048576), set here.
 */
export function convBenchArgs(defaultReps: number) {
  const { opt, flag } = benchArgs();
  for (const k of Object.keys(convTuning) as (keyof typeof convTuning)[]) {
    const v = opt(k, '');
    if (v) convTuning[k] = Number(v);
  }
  return {
    opt,
    flag,
    batch: Number(opt('batch', '16')),
    threadList: opt('threads', '1,2').split(',').map(Number),
    reps: Number(opt('reps', String(defaultReps))),
    only: opt('only', ''),
    ops: opt('ops', 'fwd,bwd-data,bwd-weight').split(','),
    json: flag('json'),
  };
}

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
