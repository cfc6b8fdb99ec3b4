/**
 * relu6: y = min(max(x, 0), 6), elementwise, NaN propagating. PyTorch's F.relu6 / nn.ReLU6
 * (hardtanh with bounds 0 and 6). Saved for backward: y.
 * Backward: relu6_backward (dy, y -> dx = dy where 0 < y < 6, else 0), PyTorch's
 * hardtanh_backward; y lies strictly inside (0, 6) exactly where x does, so the mask read from y
 * is the one PyTorch reads from x, and x can be freed after the forward.
 * The engines run the kernels relu6_forward / relu6_backward (src/kernels/eltwise.ts actForward);
 * the formulas are src/ops/activation.ts's.
 */
import { activationOps } from './activation.js';

export const [relu6, relu6Backward] = activationOps('relu6', 'y');
