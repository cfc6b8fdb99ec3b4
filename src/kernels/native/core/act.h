// The lean CNNs' activations on vf vectors: the native twins of src/kernels/wasm/common/act.ts,
// operation for operation (no FMA: plain IEEE adds, muls, divs, compares and selects), so every
// lane gives the WebAssembly kernels' bits. Include inside the family's ISA namespace, after
// core/vec.h and core/abi.h. Constants are written as doubles rounded to float, as
// AssemblyScript rounds its f32 literals.
#pragma once

namespace {

#if BNFF_VW == 16
typedef __mmask16 amask;
inline amask act_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline amask act_le(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
inline amask act_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
inline amask act_or(amask a, amask b) { return (amask)(a | b); }
// m ? a : b
inline vf act_sel(amask m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
inline vf act_abs(vf v) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff))); }
inline vf act_neg(vf v) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u))); }
inline vf act_div(vf a, vf b) { return _mm512_div_ps(a, b); }
inline vf act_nearest(vf v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// 2^(n>>1) and 2^(n - (n>>1)) for integral n in [-150, 0]
inline void act_pow2(vf n, vf &s1, vf &s2) {
  __m512i ni = _mm512_cvttps_epi32(n), n1 = _mm512_srai_epi32(ni, 1), bias = _mm512_set1_epi32(127);
  s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
  s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(ni, n1), bias), 23));
}
#else
typedef __m256 amask;
inline amask act_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline amask act_le(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
inline amask act_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
inline amask act_or(amask a, amask b) { return _mm256_or_ps(a, b); }
inline vf act_sel(amask m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
inline vf act_abs(vf v) { return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
inline vf act_neg(vf v) { return _mm256_xor_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u))); }
inline vf act_div(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf act_nearest(vf v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline void act_pow2(vf n, vf &s1, vf &s2) {
  __m256i ni = _mm256_cvttps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), bias = _mm256_set1_epi32(127);
  s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, n1), bias), 23));
}
#endif

// exp(t) for t <= 0 (Cephes expf; wasm expNegv)
inline vf act_exp_neg(vf t) {
  const vf lo = vsplat((float)-104.0);
  vf c = act_sel(act_lt(t, lo), lo, t);
  vf n = act_nearest(vmul(c, vsplat((float)1.4426950408889634)));
  vf r = vsub(vsub(c, vmul(n, vsplat((float)0.693359375))), vmul(n, vsplat((float)-2.12194440e-4)));
  vf p = vadd(vmul(vsplat((float)1.98756915e-4), r), vsplat((float)1.3981999507e-3));
  p = vadd(vmul(p, r), vsplat((float)8.3334519073e-3));
  p = vadd(vmul(p, r), vsplat((float)4.1665795894e-2));
  p = vadd(vmul(p, r), vsplat((float)1.6666665459e-1));
  p = vadd(vmul(p, r), vsplat((float)5.0000001201e-1));
  vf y = vadd(vadd(vmul(p, vmul(r, r)), r), vsplat(1.0f));
  vf s1, s2;
  act_pow2(n, s1, s2);
  return vmul(vmul(y, s1), s2);
}

inline vf act_sigmoid(vf x) {
  vf e = act_exp_neg(act_neg(act_abs(x)));
  vf d = vadd(vsplat(1.0f), e);
  return act_div(act_sel(act_ge(x, vzero()), vsplat(1.0f), e), d);
}

inline vf act_relu6(vf v) {
  vf r = vrelu(v), six = vsplat(6.0f);
  return act_sel(act_ge(r, six), six, r);
}

inline vf act_hardswish(vf x) { return act_div(vmul(x, act_relu6(vadd(x, vsplat(3.0f)))), vsplat(6.0f)); }

// act(z) for an ACT_* code (abi.h)
inline vf act_apply(int code, vf z) {
  switch (code) {
    case ACT_RELU: return vrelu(z);
    case ACT_RELU6: return act_relu6(z);
    case ACT_SILU: return vmul(z, act_sigmoid(z));
    case ACT_HARDSWISH: return act_hardswish(z);
    default: return z;
  }
}

// dy * act'(z) (wasm actGradv)
inline vf act_grad(int code, vf z, vf dy) {
  const vf zero = vzero();
  switch (code) {
    case ACT_RELU: return act_sel(act_le(z, zero), zero, dy);
    case ACT_RELU6: return act_sel(act_or(act_le(z, zero), act_ge(z, vsplat(6.0f))), zero, dy);
    case ACT_SILU: {
      vf s = act_sigmoid(z), one = vsplat(1.0f);
      return vmul(vmul(dy, s), vadd(one, vmul(z, vsub(one, s))));
    }
    case ACT_HARDSWISH: {
      vf g = vmul(dy, vadd(act_div(z, vsplat(3.0f)), vsplat(0.5f)));
      vf mid = act_sel(act_le(z, vsplat(3.0f)), g, dy);
      return act_sel(act_lt(z, vsplat(-3.0f)), zero, mid);
    }
    default: return dy;
  }
}

#if BNFF_VW == 16
inline float act_lane0(vf v) { return _mm512_cvtss_f32(v); }
#else
inline float act_lane0(vf v) { return _mm256_cvtss_f32(v); }
#endif

// act(v), dy * act'(z) of one float through the vector formulas (wasm acts, actGrads): the scalar
// tails of the kernels that apply an activation
inline float act_apply_s(int code, float v) { return act_lane0(act_apply(code, vsplat(v))); }
inline float act_grad_s(int code, float z, float dy) { return act_lane0(act_grad(code, vsplat(z), vsplat(dy))); }

}  // namespace
