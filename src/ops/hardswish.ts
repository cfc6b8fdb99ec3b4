/**
 * hardswish: y = x * relu6(x + 3) / 6, elementwise. PyTorch's F.hardswish / nn.Hardswish
 * (MobileNetV3's activation). Saved for backward: x.
 * Backward: hardswish_backward (dy, x -> dx), PyTorch's hardswish_backward branch for branch:
 *   dx = 0 where x < -3;  dy * (x / 3 + 0.5) where -3 <= x <= 3;  dy where x > 3.
 * The engines run the kernels hardswish_forward / hardswish_backward (src/kernels/eltwise.ts
 * actForward); the formulas are src/ops/activation.ts's.
 */
import { actForward, actGrad } from './activation.js';
import { type OpDef, elementwiseBackward, sameShape } from './op.js';

export const hardswish: OpDef = {
  type: 'hardswish',
  layoutFree: true,
  infer: sameShape,
  run({ x: [x], y: [y] }) {
    for (let i = 0; i < x!.length; i++) y![i] = actForward('hardswish', x![i]!);
  },
  backward: elementwiseBackward('hardswish_backward', 'x'),
};

export const hardswishBackward: OpDef = {
  type: 'hardswish_backward',
  layoutFree: true,
  infer: sameShape,
  run({ x: [dy, x], y: [dx] }) {
    for (let i = 0; i < dy!.length; i++) dx![i] = actGrad('hardswish', x![i]!, dy![i]!);
  },
};
