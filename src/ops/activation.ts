/**
 * The activations a fused normalize can apply (bn_apply, the convolutions' x prologue,
 * bn_add_relu) and whose derivative their backwards recompute from the activation's input z:
 * the one definition of each, in float64, that the standalone ops (relu.ts, relu6.ts, silu.ts,
 * hardswish.ts), the fused ops and the tests use. The fast kernels' versions are
 * src/kernels/wasm/common/act.ts and src/kernels/native/core/act.h (scalar twin:
 * src/kernels/act_scalar.ts); `actCode` is the code they take (ACT_* of the kernel ABI).
 *   none       z
 *   relu       max(z, 0)                     dy where z > 0 (or NaN), else 0
 *   relu6      min(max(z, 0), 6)             dy where 0 < z < 6 (or NaN), else 0
 *   silu       z * s, s = sigmoid(z)         dy * s * (1 + z * (1 - s))
 *   hardswish  z * relu6(z + 3) / 6          0 below -3, dy * (z / 3 + 0.5) up to 3, dy above
 * For ReLU and ReLU6 the derivative read from the output y is the same (y <= 0 and y >= 6 are
 * z's masks), which is what their standalone backward ops read.
 */
import { ACT_HARDSWISH, ACT_NONE, ACT_RELU, ACT_RELU6, ACT_SILU } from '../kernels/abi/conv_descriptor.js';
import { type OpDef, elementwiseBackward, sameShape } from './op.js';

/** An activation folded into a normalize ('none': the normalize alone). */
export type Activation = 'none' | 'relu' | 'relu6' | 'silu' | 'hardswish';

/** Every activation, 'none' first. */
export const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'relu6', 'silu', 'hardswish'];

const CODES: Record<Activation, number> = { none: ACT_NONE, relu: ACT_RELU, relu6: ACT_RELU6, silu: ACT_SILU, hardswish: ACT_HARDSWISH };

const NAMES: Record<Activation, string> = { none: 'none', relu: 'ReLU', relu6: 'ReLU6', silu: 'SiLU', hardswish: 'hardswish' };

/** An activation's name in reports ('ReLU', 'ReLU6', 'SiLU', 'hardswish'; 'none'). */
export function activationName(a: Activation): string {
  return NAMES[a];
}

/** The kernel ABI's code of an activation (ACT_NONE ... ACT_HARDSWISH). */
export function actCode(a: Activation): number {
  return CODES[a];
}

/** The activation a graph op applies ('relu', 'relu6', 'silu', 'hardswish'), or undefined for any other op. */
export function activationOfOp(op: string): Exclude<Activation, 'none'> | undefined {
  return op === 'relu' || op === 'relu6' || op === 'silu' || op === 'hardswish' ? op : undefined;
}

/**
 * The activation of fused-op attributes that predate the Activation type: `act` where given,
 * else ReLU when `relu` is true, else none.
 */
export function activationOf(attrs: { act?: Activation; relu?: boolean } | undefined): Activation {
  return attrs?.act ?? (attrs?.relu === true ? 'relu' : 'none');
}

/** sigmoid(v) without overflow: exp of a non-positive number only. */
export function sigmoidOf(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/** act(z), NaN propagating (ReLU and ReLU6 map -0 to +0). */
export function actForward(a: Activation, z: number): number {
  switch (a) {
    case 'relu':
      return z > 0 || z !== z ? z : 0;
    case 'relu6':
      return z !== z ? z : z <= 0 ? 0 : z >= 6 ? 6 : z;
    case 'silu':
      return z * sigmoidOf(z);
    case 'hardswish': {
      const r = z + 3;
      return (z * (r !== r ? r : r <= 0 ? 0 : r >= 6 ? 6 : r)) / 6;
    }
    default:
      return z;
  }
}

/** dy * act'(z) (at ReLU's and ReLU6's kinks: 0, as PyTorch). */
export function actGrad(a: Activation, z: number, dy: number): number {
  switch (a) {
    case 'relu':
      return z <= 0 ? 0 : dy;
    case 'relu6':
      return z <= 0 || z >= 6 ? 0 : dy;
    case 'silu': {
      const s = sigmoidOf(z);
      return dy * s * (1 + z * (1 - s));
    }
    case 'hardswish':
      return z < -3 ? 0 : z <= 3 ? dy * (z / 3 + 0.5) : dy;
    default:
      return dy;
  }
}

/**
 * The op pair of an elementwise activation: `act` (y = actForward(act, x)) and `act_backward`
 * (dx = actGrad(act, v, dy)), where v is what the backward reads: `saved` 'y' for an activation
 * whose derivative its output determines (ReLU6: 0 < y < 6 exactly where 0 < x < 6, so x can be
 * freed after the forward), 'x' otherwise (SiLU, hardswish). Both run on NHWC arrays as they are.
 */
export function activationOps(act: Exclude<Activation, 'none' | 'relu'>, saved: 'x' | 'y'): [OpDef, OpDef] {
  const forward: OpDef = {
    type: act,
    layoutFree: true,
    infer: sameShape,
    run({ x: [x], y: [y] }) {
      for (let i = 0; i < x!.length; i++) y![i] = actForward(act, x![i]!);
    },
    backward: elementwiseBackward(`${act}_backward`, saved),
  };
  const backward: OpDef = {
    type: `${act}_backward`,
    layoutFree: true,
    infer: sameShape,
    run({ x: [dy, v], y: [dx] }) {
      for (let i = 0; i < dy!.length; i++) dx![i] = actGrad(act, v![i]!, dy![i]!);
    },
  };
  return [forward, backward];
}
