/** Helpers of the kernel tests: arena buffers from host arrays, poisoned outputs, errors. */
import type { Arena } from '../../src/runtime/memory.js';

/** A copy of v in the arena (at least 4 bytes); returns its byte offset. */
export function putArena(a: Arena, v: ArrayLike<number>): number {
  const p = a.reserve(Math.max(4, v.length * 4));
  a.view(p, v.length).set(v);
  return p;
}

/** n floats of the arena filled with NaN, so that an element a kernel does not write shows; returns the byte offset. */
export function poisoned(a: Arena, n: number): number {
  const p = a.reserve(Math.max(4, n * 4));
  a.view(p, n).fill(NaN);
  return p;
}

/** Normwise relative error max|got - ref| / max|ref| (absolute where ref is all zero; Infinity where got is not finite). */
export function relErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let e = 0,
    m = 0;
  for (let i = 0; i < ref.length; i++) {
    e = Math.max(e, Math.abs(got[i]! - ref[i]!));
    m = Math.max(m, Math.abs(ref[i]!));
  }
  if (!Number.isFinite(e)) return Infinity;
  return m === 0 ? e : e / m;
}

/** '' where a and b hold the same float32 bits, else where and how they first differ. */
export function firstBitDiff(a: ArrayLike<number>, b: ArrayLike<number>): string {
  const u = new Uint32Array(Float32Array.from(a).buffer),
    v = new Uint32Array(Float32Array.from(b).buffer);
  if (u.length !== v.length) return `lengths ${u.length} and ${v.length}`;
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return `element ${i}: ${a[i]} vs ${b[i]}`;
  return '';
}
