/**
 * hardswish: y = x * relu6(x + 3) / 6, elementwise. PyTorch's F.hardswish / nn.Hardswish
 * (MobileNetV3's activation). Saved for backward: x.
 * Backward: hardswish_backward (dy, x -> dx), PyTorch's hardswish_backward branch for branch:
 *   dx = 0 where x < -3;  dy * (x / 3 + 0.5) where -3 <= x <= 3;  dy where x > 3.
 * The engines run the kernels hardswish_forward / hardswish_backward (src/kernels/eltwise.ts
 * actForward); the formulas are src/ops/activation.ts's.
 */
import { activationOps } from './activation.js';

export const [hardswish, hardswishBackward] = activationOps('hardswish', 'x');
