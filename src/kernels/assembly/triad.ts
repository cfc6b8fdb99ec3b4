// Bandwidth probe: a[i] = b[i] + s*c[i] over [start, end), the STREAM triad.
// Shape letters and pointer conventions as in every kernel module: byte offsets into the
// shared arena, work ranges [start, end) chosen by the runtime.

@inline function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** n must be a multiple of 4 and the range aligned to 4 elements. */
export function triad(a: usize, b: usize, c: usize, s: f32, start: i32, end: i32): void {
  const vs = f32x4.splat(s);
  for (let i = start; i < end; i += 4) {
    const o = <usize>i << 2;
    v128.store(a + o, fma(v128.load(c + o), vs, v128.load(b + o)));
  }
}
