/**
 * silu (swish): y = x * sigmoid(x), elementwise, any shape. PyTorch's F.silu / nn.SiLU.
 * Saved for backward: x.
 * Backward: silu_backward (dy, x -> dx), with s = sigmoid(x):
 *   dx = dy * s * (1 + x * (1 - s))
 * The engines run the kernels silu_forward / silu_backward (src/kernels/eltwise.ts actForward);
 * the formulas are src/ops/activation.ts's.
 */
import { actForward, actGrad } from './activation.js';
import { type OpDef, elementwiseBackward, sameShape } from './op.js';

export const silu: OpDef = {
  type: 'silu',
  layoutFree: true,
  infer: sameShape,
  run({ x: [x], y: [y] }) {
    for (let i = 0; i < x!.length; i++) y![i] = actForward('silu', x![i]!);
  },
  backward: elementwiseBackward('silu_backward', 'x'),
};

export const siluBackward: OpDef = {
  type: 'silu_backward',
  layoutFree: true,
  infer: sameShape,
  run({ x: [dy, x], y: [dx] }) {
    for (let i = 0; i < dy!.length; i++) dx![i] = actGrad('silu', x![i]!, dy![i]!);
  },
};
