/**
 * The native backend: the kernels compiled from C++ for this CPU (src/kernels/native/, built by
 * tools/build-native.mjs into build/Release/bnff_native.node), on the addon's own threads, over
 * the same arena and with the same kernel ABI as the WebAssembly kernels. A kernel the addon
 * does not provide runs on WebAssembly workers (a ThreadPool started only when some kernel is
 * missing); `coverage` says how many are native.
 *
 * Loading never throws: nativeStatus() says whether the addon can run here and, if not, why
 * (not built, built from older sources, no AVX2/FMA, BNFF_ENGINE=wasm).
 */
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KERNELS } from '../kernels/abi/kernels.js';
import { type Backend, type ChunkPartials, runChunkRounds, SCRATCH_BYTES, splitRange } from './backend.js';
import { Arena } from './memory.js';
import { PoolError, ThreadPool } from './pool.js';

interface Addon {
  info(): { best: string | null; reason: string | null; sourceHash: string; runs: Record<string, boolean> };
  kernels(isa: string): [string, number][];
  create(view: Float32Array, threads: number, isa: string, ctl: Float64Array): object;
  run(handle: object, index: number): void;
  destroy(handle: object): void;
  noreserve(view: Float32Array, bytes: number): boolean;
  /** The address of the view's first float modulo 4096. */
  pageOffset(view: Float32Array): number;
  ctlSlots: number;
}

// The control block (src/kernels/native/core/addon.cc, CTL_*).
const CTL_LIMIT = 0;
const CTL_NARGS = 1;
const CTL_PTRS = 2;
const CTL_SCRATCH_BYTES = 3;
const CTL_CHUNK = 4;
const CTL_PART_OFF = 5;
const CTL_PART_BYTES = 6;
const CTL_PART_SLOTS = 7;
const CTL_ARGS = 8;
const MAX_ARGS = 32;
const CTL_RANGES = CTL_ARGS + MAX_ARGS;
const MAX_THREADS = 64;
const CTL_SCRATCH = CTL_RANGES + 2 * MAX_THREADS;

/**
 * The probes of the bench module (src/kernels/wasm/bench.ts), which exist only for benchmarks:
 * not counted in the coverage, and their native twins may differ in what they measure.
 */
const BENCH_ONLY = new Set(Object.keys(KERNELS).filter((k) => KERNELS[k]!.module === 'bench'));

export interface NativeStatus {
  ok: boolean;
  /** 'avx512' | 'avx2' when ok. */
  isa?: string;
  /** Why the native engine cannot run, when not ok. */
  reason?: string;
  addon?: Addon;
}

/** The package root (where binding.gyp and build/ are), found from this file in dist/src/runtime. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bin'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
}

/** Whether the package root is an installed dependency (…/node_modules/bnff), not a checkout. */
function installedAsDependency(root: string): boolean {
  return path.basename(path.dirname(root)) === 'node_modules' || path.basename(path.dirname(path.dirname(root))) === 'node_modules';
}

let status: Promise<NativeStatus> | undefined;

/** Whether the native engine can run here, and which ISA variant (BNFF_NATIVE_ISA forces one). */
export function nativeStatus(): Promise<NativeStatus> {
  return (status ??= loadNative());
}

async function loadNative(): Promise<NativeStatus> {
  const root = packageRoot();
  const file = path.join(root, 'build', 'Release', 'bnff_native.node');
  if (!fs.existsSync(file)) {
    let why = 'native addon not built';
    try {
      const s = JSON.parse(fs.readFileSync(path.join(root, 'build', 'bnff-native.json'), 'utf8')) as { reason?: string };
      if (s.reason) why += `: ${s.reason}`;
    } catch {
      // No status file: tools/build-native.mjs never ran. In a checkout that is `npm run build`
      // not run yet; in an installed package, npm skipped bnff's install script (npm 11 runs a
      // dependency's install script only when the project allows it).
      why += installedAsDependency(root)
        ? ': the install script did not run (allow it with `npm install-scripts approve bnff`, then `npm rebuild bnff`)'
        : ' (run `npm run build:native` to see why)';
    }
    return { ok: false, reason: why };
  }
  let addon: Addon;
  try {
    addon = createRequire(import.meta.url)(file) as Addon;
  } catch (e) {
    return { ok: false, reason: `native addon failed to load: ${(e as Error).message.split('\n')[0]}` };
  }
  const info = addon.info();
  // An addon built from other sources than those next to it is never run.
  const hasher = path.join(root, 'tools', 'native-sources.mjs');
  if (fs.existsSync(path.join(root, 'src', 'kernels', 'native')) && fs.existsSync(hasher)) {
    const { nativeHash } = (await import(pathToFileURL(hasher).href)) as { nativeHash(): string };
    const want = nativeHash();
    if (want !== info.sourceHash) {
      return { ok: false, reason: `native addon built from older sources (hash ${info.sourceHash}, sources ${want}); run \`npm run build:native\`` };
    }
  }
  const forced = process.env.BNFF_NATIVE_ISA;
  if (forced) {
    if (!info.runs[forced]) return { ok: false, reason: `BNFF_NATIVE_ISA=${forced}: this CPU cannot run it or it is not built` };
    return { ok: true, isa: forced, addon };
  }
  if (!info.best) return { ok: false, reason: info.reason ?? 'no ISA variant for this CPU' };
  return { ok: true, isa: info.best, addon };
}

/**
 * The native engine's arena: a SharedArrayBuffer of `bytes` (default: this machine's memory,
 * BNFF_ARENA_GIB to set it), not bound by wasm32's 4 GiB. The allocation reserves address space
 * only: pages are committed as the kernels or the host first touch them (a 23 GiB arena, 4 MiB
 * touched: 45 MB resident, measured here), so an arena larger than a run uses costs nothing.
 * Its pages are mapped afresh with MAP_NORESERVE before anything writes to them (addon
 * noreserve): without it, Linux's default overcommit rule charges the whole arena at every fork(),
 * and a process holding two engines could not start a child process (spawn: ENOMEM, measured).
 * Where the system refuses that much address space (strict overcommit), the default size is
 * halved until it is granted, down to 4 GiB. Undefined where the addon lacks some kernel (the engine then keeps the WebAssembly memory, which
 * the fallback workers can address).
 */
export function nativeArena(st: NativeStatus, bytes = defaultArenaBytes()): Arena | undefined {
  if (!st.ok || !st.addon || !st.isa || NativeBackend.missing(st.addon, st.isa).length > 0) return undefined;
  let buffer: SharedArrayBuffer | undefined;
  for (let size = bytes; buffer === undefined; size = Math.floor(size / 2 / 65536) * 65536) {
    try {
      buffer = new SharedArrayBuffer(size);
    } catch (e) {
      if (!(e instanceof RangeError) || size / 2 < 2 ** 32 || arenaSizeSet()) throw e;
    }
  }
  // before anything writes to it: its pages are charged to the commit accounting as they are touched, not at fork
  st.addon.noreserve(new Float32Array(buffer, 0, 1), buffer.byteLength);
  // the buffer's memory starts 16 bytes into a page here (glibc): reservations start on a page,
  // else every 64-byte-aligned offset straddles cache lines (the native kernels ran up to 2.3x slower)
  return new Arena({ buffer, pageOffset: st.addon.pageOffset(new Float32Array(buffer, 0, 1)) });
}

const arenaSizeSet = (): boolean => (process.env.BNFF_ARENA_GIB ?? '') !== '';

/** This machine's memory in whole GiB (BNFF_ARENA_GIB overrides). */
export function defaultArenaBytes(): number {
  const env = process.env.BNFF_ARENA_GIB;
  if (env !== undefined && env !== '') {
    const g = Number(env);
    if (!Number.isFinite(g) || g <= 0) throw new RangeError(`BNFF_ARENA_GIB must be a positive number of GiB, got "${env}"`);
    return Math.ceil((g * 2 ** 30) / 65536) * 65536;
  }
  return Math.floor(os.totalmem() / 2 ** 30) * 2 ** 30;
}

export class NativeBackend implements Backend {
  readonly kind = 'native' as const;
  private readonly index = new Map<string, number>();
  private readonly ptrs = new Map<string, number>();
  private readonly ctl: Float64Array;
  private readonly handle: object;
  private readonly scratchBase: number;
  private closed = false;

  private constructor(
    private readonly addon: Addon,
    readonly isa: string,
    readonly arena: Arena,
    readonly threads: number,
    /** WebAssembly workers for the kernels the addon lacks (undefined: every kernel is native). */
    private readonly fallback: ThreadPool | undefined,
  ) {
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)
      throw new RangeError(`threads must be an integer in [1, ${MAX_THREADS}], got ${threads}`);
    for (const [i, [name, nargs]] of addon.kernels(isa).entries()) {
      const abi = KERNELS[name];
      if (abi && abi.args.length !== nargs)
        throw new PoolError(`native kernel ${name} takes ${nargs} arguments, the ABI says ${abi.args.length} (src/kernels/abi/kernels.ts)`);
      this.index.set(name, i);
      this.ptrs.set(name, abi?.pointers ?? 0);
    }
    this.ctl = new Float64Array(addon.ctlSlots);
    this.scratchBase = fallback ? fallback.scratch(0) : arena.reserve(threads * SCRATCH_BYTES, 'thread scratch');
    for (let t = 0; t < threads; t++) this.ctl[CTL_SCRATCH + t] = this.scratch(t);
    this.ctl[CTL_SCRATCH_BYTES] = SCRATCH_BYTES;
    this.handle = addon.create(arena.f32(0, 1), threads, isa, this.ctl);
  }

  /** The kernels of the ABI that the addon does not provide (training would run them on wasm). */
  static missing(addon: Addon, isa: string): string[] {
    const have = new Set(addon.kernels(isa).map(([n]) => n));
    return Object.keys(KERNELS).filter((k) => !have.has(k) && !BENCH_ONLY.has(k));
  }

  /**
   * A backend over `arena`, which may be a WebAssembly memory (kernels the addon lacks then run on
   * WebAssembly workers over it) or a native arena (nativeArena; every kernel must be native).
   */
  static async create(arena: Arena, threads: number, st: NativeStatus): Promise<NativeBackend> {
    if (!st.ok || !st.addon || !st.isa) throw new PoolError(`native engine unavailable: ${st.reason}`);
    const missing = NativeBackend.missing(st.addon, st.isa);
    if (missing.length > 0 && !arena.wasm) throw new PoolError(`a native arena needs every kernel native; the addon lacks ${missing.join(', ')}`);
    const fallback = missing.length > 0 ? await ThreadPool.create(arena, threads) : undefined;
    return new NativeBackend(st.addon, st.isa, arena, threads, fallback);
  }

  /** Kernels run natively, of the ABI's kernels. */
  get coverage(): { native: number; total: number } {
    const total = Object.keys(KERNELS).filter((k) => !BENCH_ONLY.has(k));
    return { native: total.filter((k) => this.index.has(k)).length, total: total.length };
  }

  /** Whether kernel fn runs natively (not on the WebAssembly fallback). */
  isNative(fn: string): boolean {
    return this.index.has(fn);
  }

  scratch(t: number): number {
    return this.fallback ? this.fallback.scratch(t) : this.scratchBase + t * SCRATCH_BYTES;
  }

  has(fn: string): boolean {
    return this.index.has(fn) || (this.fallback?.has(fn) ?? false);
  }

  run(fn: string, args: readonly number[], ranges: readonly (readonly [number, number])[]): void {
    this.call(fn, args, ranges, 0);
  }

  runChunks(fn: string, args: readonly number[], units: number, chunk: number, parts?: ChunkPartials): void {
    if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be a positive integer, got ${chunk}`);
    if (!this.index.has(fn)) {
      if (parts) runChunkRounds(this, fn, args, units, chunk, parts);
      else this.run(fn, args, splitRange(units, this.threads));
    } else this.call(fn, args, [[0, units]], chunk, parts);
  }

  private call(fn: string, args: readonly number[], ranges: readonly (readonly [number, number])[], chunk: number, parts?: ChunkPartials): void {
    if (this.closed) throw new PoolError('native backend is closed');
    const fi = this.index.get(fn);
    if (fi === undefined) {
      if (this.fallback) return this.fallback.run(fn, args, ranges);
      throw new PoolError(`no kernel named "${fn}"`);
    }
    if (args.length > MAX_ARGS) throw new PoolError(`kernel ${fn}: ${args.length} arguments, at most ${MAX_ARGS}`);
    if (ranges.length > this.threads) throw new PoolError(`${ranges.length} ranges for ${this.threads} threads`);
    const c = this.ctl;
    c[CTL_LIMIT] = this.arena.usedBytes;
    c[CTL_NARGS] = args.length;
    c[CTL_PTRS] = this.ptrs.get(fn)!;
    c[CTL_CHUNK] = chunk;
    c[CTL_PART_OFF] = parts ? parts.offset : 0;
    c[CTL_PART_BYTES] = parts ? parts.bytes : 0;
    c[CTL_PART_SLOTS] = parts ? parts.slots : 0;
    for (let i = 0; i < args.length; i++) c[CTL_ARGS + i] = args[i]!;
    for (let t = 0; t < this.threads; t++) {
      const r = ranges[t];
      c[CTL_RANGES + 2 * t] = r ? r[0] : 0;
      c[CTL_RANGES + 2 * t + 1] = r ? r[1] : 0;
    }
    try {
      this.addon.run(this.handle, fi);
    } catch (e) {
      throw new PoolError((e as Error).message);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.addon.destroy(this.handle);
    this.fallback?.close();
  }
}
