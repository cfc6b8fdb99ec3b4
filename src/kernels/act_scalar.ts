/**
 * Scalar twin of the activation helpers of the fast kernels (src/kernels/wasm/common/act.ts,
 * src/kernels/native/core/act.h): the same float32 operations in the same order, each rounded
 * with Math.fround, so a kernel's output is these functions' bits. The float64 definitions are
 * src/ops/activation.ts.
 */
import { type Activation, actForward, actGrad } from '../ops/activation.js';

const f = Math.fround;
const LOG2E = f(1.4426950408889634);
const LN2_HI = f(0.693359375);
const LN2_LO = f(-2.1219444e-4);
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1].map(f);
const EXP_MIN = -104;

/** Round half to even, as f32x4.nearest. */
function nearest(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** exp(t) for t <= 0 in float32 (Cephes expf, 2^n applied in two halves), as expNegv. */
export function expNeg32(t: number): number {
  const c = t < EXP_MIN ? EXP_MIN : t;
  const n = nearest(f(c * LOG2E));
  const r = f(f(c - f(n * LN2_HI)) - f(n * LN2_LO));
  let p = f(f(P[0]! * r) + P[1]!);
  for (let k = 2; k < 6; k++) p = f(f(p * r) + P[k]!);
  const y = f(f(f(p * f(r * r)) + r) + 1);
  if (n !== n) return y;
  const n1 = n >> 1;
  return f(f(y * 2 ** n1) * 2 ** (n - n1));
}

/** sigmoid in float32, as sigmoidv. */
export function sigmoid32(x: number): number {
  const e = expNeg32(-Math.abs(x));
  const d = f(1 + e);
  return f((x >= 0 ? 1 : e) / d);
}

const relu6of = (v: number): number => actForward('relu6', v);

/** act(z) in float32, as actv (ReLU and ReLU6 round nothing: the float64 definition's values). */
export function act32(a: Activation, z: number): number {
  if (a === 'silu') return f(z * sigmoid32(z));
  if (a === 'hardswish') return f(f(z * relu6of(f(z + 3))) / 6);
  return actForward(a, z);
}

/** dy * act'(z) in float32, as actGradv (ReLU's and ReLU6's masks round nothing). */
export function actGrad32(a: Activation, z: number, dy: number): number {
  if (a === 'silu') {
    const s = sigmoid32(z);
    return f(f(dy * s) * f(1 + f(z * f(1 - s))));
  }
  if (a === 'hardswish') return z < -3 ? 0 : z <= 3 ? f(dy * f(f(z / 3) + 0.5)) : dy;
  return actGrad(a, z, dy);
}

/** dy * y * (1 - y) in float32, as sigmoid_backward. */
export function sigmoidGrad32(y: number, dy: number): number {
  return f(f(dy * y) * f(1 - y));
}
