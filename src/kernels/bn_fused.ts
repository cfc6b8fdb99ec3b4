/**
 * Host side of src/kernels/wasm/bnfused.ts: the elementwise kernels of the fused BN graph
 * (residual BN + add + ReLU, the ReLU mask recomputed from a BN's input). NHWC rows; per-channel
 * coefficients a = gamma*rstd, b = beta - a*mean are computed here into a small arena buffer.
 */
import { bnDxAffine } from '../ops/batch_norm2d.js';
import { type Backend, splitRange } from '../runtime/backend.js';
import { ACT_HARDSWISH, ACT_NONE, ACT_RELU } from './abi/conv_descriptor.js';

const F32 = 4;

/** Writes a[c] = gamma*rstd, b[c] = beta - a*mean into coef (2*C floats: a then b). */
export function bnCoefficients(backend: Backend, C: number, mean: number, rstd: number, gamma: number, beta: number, coef: number): void {
  const ar = backend.arena;
  const [m, r, g, b, o] = [ar.f32(mean, C), ar.f32(rstd, C), ar.f32(gamma, C), ar.f32(beta, C), ar.f32(coef, 2 * C)];
  for (let c = 0; c < C; c++) {
    const a = g[c]! * r[c]!;
    o[c] = a;
    o[C + c] = b[c]! - a * m[c]!;
  }
}

/**
 * The affine half of BN dx summed over the BNs of a gradient buffer's channels (op bn_dx_coef,
 * src/ops/batch_norm2d.ts): out = [sum B; sum (C0 + B*K); K] ([3, CG] f32) from S (0: init, K =
 * mean on the first C channels, 0 elsewhere) and one BN over m values per channel (f32 [C]
 * mean, rstd, gamma, dbeta, dgamma), with A = gamma*rstd, B = -A*rstd*dgamma/m, C0 = -A*dbeta/m -
 * B*mean in f64. out may be S.
 */
export function bnDxCoef(
  backend: Backend,
  C: number,
  CG: number,
  m: number,
  S: number,
  mean: number,
  rstd: number,
  gamma: number,
  dbeta: number,
  dgamma: number,
  out: number,
): void {
  if (C > CG) throw new RangeError(`bn_dx_coef: ${C} channels do not fit a buffer of ${CG}`);
  const ar = backend.arena;
  const [mu, r, ga, db, dg, o] = [ar.f32(mean, C), ar.f32(rstd, C), ar.f32(gamma, C), ar.f32(dbeta, C), ar.f32(dgamma, C), ar.f32(out, 3 * CG)];
  if (S === 0) {
    o.fill(0);
    for (let c = 0; c < C; c++) o[2 * CG + c] = mu[c]!;
  } else if (S !== out) {
    o.set(ar.f32(S, 3 * CG));
  }
  for (let c = 0; c < C; c++) {
    const [, B, C0] = bnDxAffine(m, mu[c]!, r[c]!, ga[c]!, db[c]!, dg[c]!);
    const K = o[2 * CG + c]!;
    o[c] = o[c]! + B;
    o[CG + c] = o[CG + c]! + (C0 + B * K);
  }
}

const rows = (backend: Backend, M: number): [number, number][] => splitRange(M, backend.threads, 1);

/** y = relu(bn1(x1) + o) (o = 0 pointer: use x2 with coef2, the projection shortcut's BN); relu false: y = bn1(x1) + o. */
export function bnAddRelu(
  backend: Backend,
  x1: number,
  coef1: number,
  o: number,
  x2: number,
  coef2: number,
  y: number,
  M: number,
  C: number,
  relu = true,
): void {
  const mode = o === 0 ? 1 : 0;
  backend.run('bnf_add_relu', [x1, coef1, coef1 + C * F32, o, x2, coef2, coef2 + C * F32, mode, y, C, relu ? 1 : 0], rows(backend, M));
}

/** dx = dy * act'(bn(x)) (act an ACT_* code; ReLU: dy where bn(x) > 0 else 0). */
export function bnReluMask(backend: Backend, dy: number, x: number, coef: number, dx: number, M: number, C: number, act: number = ACT_RELU): void {
  if (!Number.isInteger(act) || act < ACT_NONE || act > ACT_HARDSWISH) throw new RangeError(`activation code ${act} is not one of ACT_NONE..ACT_HARDSWISH`);
  backend.run('bnf_relu_mask', [dy, x, coef, coef + C * F32, dx, C, act], rows(backend, M));
}

/** ds = dy where y > 0 else 0, over n elements. */
export function reluMask(backend: Backend, dy: number, y: number, ds: number, n: number): void {
  backend.run('bnf_mask', [dy, y, ds], splitRange(n, backend.threads, 16));
}
