// SIMD helpers shared by the kernel families.

@inline export function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** max(0, v) letting NaN through (PyTorch's relu): 0 where v <= 0. */
@inline export function reluv(v: v128): v128 {
  return v128.andnot(v, f32x4.le(v, f32x4.splat(0)));
}

/** Scalar ReLU, as reluv. */
@inline export function relus(v: f32): f32 {
  return v <= 0 ? 0 : v;
}

@inline export function lo64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}
@inline export function hi64(v: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 2, 3));
}

/** (sum of the lanes of a, b, c, d) as one vector. */
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const s01 = f32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const s23 = f32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return f32x4.add(i64x2.shuffle(s01, s23, 0, 2), i64x2.shuffle(s01, s23, 1, 3));
}

/** Bytes of i f32 elements. */
@inline export function off(i: i32): usize {
  return <usize>i << 2;
}

/** Copies `bytes` (a multiple of 4) from s to d, 64 bytes at a time. */
@inline export function copyRow(d: usize, s: usize, bytes: usize): void {
  let j: usize = 0;
  for (; j + 64 <= bytes; j += 64) {
    const v0 = v128.load(s + j);
    const v1 = v128.load(s + j, 16);
    const v2 = v128.load(s + j, 32);
    const v3 = v128.load(s + j, 48);
    v128.store(d + j, v0);
    v128.store(d + j, v1, 16);
    v128.store(d + j, v2, 32);
    v128.store(d + j, v3, 48);
  }
  for (; j + 16 <= bytes; j += 16) v128.store(d + j, v128.load(s + j));
  for (; j < bytes; j += 4) f32.store(d + j, f32.load(s + j));
}
