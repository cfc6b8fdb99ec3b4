/**
 * A backend runs kernels on the arena: the host functions (src/kernels/*.ts) and SGD take one and
 * know nothing of how it runs them. Two implement it:
 * - ThreadPool (src/runtime/pool.ts): the WebAssembly kernels on worker threads;
 * - NativeBackend (src/runtime/native.ts): the same kernels compiled from C++ for this CPU
 *   (src/kernels/native/), on the addon's own threads.
 * Both use the same kernel ABI: the kernel's name, its arguments (byte offsets into the arena,
 * counts, scalars), and per thread a work range [start, end) and a private scratch region.
 */
import type { Arena } from './memory.js';

/** Bytes of each thread's private scratch region. */
export const SCRATCH_BYTES = 4 << 20;

/** Which implementation runs the kernels. */
export type BackendKind = 'wasm' | 'native';

/** Runs named kernels on the arena's memory, split over its threads. */
export interface Backend {
  /** WebAssembly workers or the native addon. */
  readonly kind: BackendKind;
  /** The instruction set the kernels run with: 'avx512', 'avx2', 'wasm-relaxed-simd', 'wasm-simd'. */
  readonly isa: string;
  /** Threads a kernel call is split over (the calling thread included). */
  readonly threads: number;
  /** The memory its kernels read and write. */
  readonly arena: Arena;
  /** Byte offset of thread t's scratch region (SCRATCH_BYTES long, 64-byte aligned). */
  scratch(t: number): number;
  /** Whether a kernel of that name exists on this backend. */
  has(fn: string): boolean;
  /**
   * Calls kernel `fn(...args, start, end, scratch)` with ranges[t] on thread t; threads whose
   * range is empty skip the call. Returns when every thread is done.
   */
  run(fn: string, args: readonly number[], ranges: readonly (readonly [number, number])[]): void;
  /**
   * Calls kernel `fn` over [0, units) in chunks of `chunk` units that the threads claim in turn (a
   * dynamic split: a thread on a busy core takes fewer), where the backend has one (runChunks
   * below falls back to run's static split). Only for kernels whose results do not depend on
   * which thread runs which chunk: no per-thread partial sums, no state carried from one call's
   * units to the next beyond what the kernel recomputes at its range's start.
   */
  runChunks?(fn: string, args: readonly number[], units: number, chunk: number, parts?: ChunkPartials): void;
  /** Stops its threads; the backend is unusable afterwards. */
  close(): void;
}

/**
 * Where the partial sums of a chunked call go: the kernel leaves `bytes` at `offset` in its
 * thread's scratch at the end of each call, and after chunk i they are copied to the arena at
 * `slots + i * bytes`, whichever thread ran it.
 */
export interface ChunkPartials {
  /** Byte offset of the partials in the thread scratch. */
  offset: number;
  /** Their bytes (a multiple of 8), and the stride of the slots. */
  bytes: number;
  /** Byte offset in the arena of chunk 0's slot. */
  slots: number;
}

/**
 * Kernel `fn` over [0, units) split dynamically into chunks of about units / (perThread * threads)
 * units (Backend.runChunks), or statically (splitRange) where the backend has no dynamic split.
 */
export function runChunks(backend: Backend, fn: string, args: readonly number[], units: number, perThread = 8): void {
  const T = backend.threads;
  if (T > 1 && backend.runChunks) backend.runChunks(fn, args, units, Math.max(1, Math.ceil(units / (perThread * T))));
  else backend.run(fn, args, splitRange(units, T));
}

/**
 * Kernel `fn` over [0, units) in chunks of `chunk` units, each chunk's partials into its own slot
 * (ChunkPartials), dynamically where the backend can (runChunks), else in rounds of one chunk a
 * thread: the partials, and so their merge in chunk order, do not depend on the thread count or
 * the engine. Returns the slots' arena byte offsets, in chunk order.
 */
export function runChunkPartials(backend: Backend, fn: string, args: readonly number[], units: number, chunk: number, parts: ChunkPartials): number[] {
  if (backend.runChunks) backend.runChunks(fn, args, units, chunk, parts);
  else runChunkRounds(backend, fn, args, units, chunk, parts);
  return Array.from({ length: Math.ceil(units / chunk) }, (_, i) => parts.slots + i * parts.bytes);
}

/** runChunkPartials on the static split: rounds of `threads` chunks, the partials copied after each. */
export function runChunkRounds(backend: Backend, fn: string, args: readonly number[], units: number, chunk: number, parts: ChunkPartials): void {
  const T = backend.threads,
    n = Math.ceil(units / chunk),
    ar = backend.arena,
    w = parts.bytes / 4;
  for (let c0 = 0; c0 < n; c0 += T) {
    const ranges: [number, number][] = [];
    for (let t = 0; t < T; t++) ranges.push(c0 + t < n ? [(c0 + t) * chunk, Math.min(units, (c0 + t + 1) * chunk)] : [0, 0]);
    backend.run(fn, args, ranges);
    for (let t = 0; t < T && c0 + t < n; t++) ar.f32(parts.slots + (c0 + t) * parts.bytes, w).set(ar.f32(backend.scratch(t) + parts.offset, w));
  }
}

/** Splits [0, units) into `parts` contiguous ranges whose starts are multiples of `align`. */
export function splitRange(units: number, parts: number, align = 1): [number, number][] {
  const out: [number, number][] = [];
  const blocks = Math.ceil(units / align);
  for (let t = 0; t < parts; t++) {
    const a = Math.min(units, Math.floor((blocks * t) / parts) * align);
    const b = Math.min(units, Math.floor((blocks * (t + 1)) / parts) * align);
    out.push([a, b]);
  }
  return out;
}

/**
 * Sums the f64 partials S[P], Q[P] that the kernels left at `offset` bytes into each thread's
 * scratch, in thread order, skipping threads whose range was empty (they did not run): the
 * reductions (BN statistics, fused epilogues) are then bit-identical for a given thread count.
 */
export function mergePartials(backend: Backend, ranges: readonly (readonly [number, number])[], P: number, offset = 0): [Float64Array, Float64Array] {
  const bases: number[] = [];
  for (let t = 0; t < ranges.length; t++) if (ranges[t]![1] > ranges[t]![0]) bases.push(backend.scratch(t) + offset);
  return mergePartialsAt(backend.arena, bases, P);
}

/** The f64 partials S[P], Q[P] at each of `bases` (arena byte offsets), summed in that order. */
export function mergePartialsAt(arena: Arena, bases: readonly number[], P: number): [Float64Array, Float64Array] {
  const S = new Float64Array(P),
    Q = new Float64Array(P);
  for (const b of bases) {
    const d = arena.f64(b, 2 * P);
    for (let c = 0; c < P; c++) {
      S[c] += d[c]!;
      Q[c] += d[P + c]!;
    }
  }
  return [S, Q];
}
