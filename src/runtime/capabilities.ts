/**
 * The fusion rules' questions (src/passes/capabilities.ts) answered by the convolution kernels
 * of the fast engines. Native and WebAssembly share the host functions that choose a kernel
 * path (src/kernels/conv.ts), so one answer serves both; graphs for the reference kernels are
 * planned with it too, so that every engine runs the same fused graph.
 */
import { convDxAccumulates, convFusedActivation, convFusedDepthwise, convGeomOf, convStridedInput, convStridedOutput } from '../kernels/conv.js';
import { actCode } from '../ops/activation.js';
import type { ConvSpec, KernelCapabilities } from '../passes/capabilities.js';

const geom = (c: ConvSpec): ReturnType<typeof convGeomOf> => convGeomOf(c.xShape, c.wShape, c.attrs);

/** What the fast engines' convolution kernels can do. */
export const FAST_KERNELS: KernelCapabilities = {
  convStridedInput: (c) => convStridedInput(geom(c)),
  convStridedOutput: (c) => convStridedOutput(geom(c)),
  convDxAccumulates: (c) => convDxAccumulates(geom(c)),
  // the GEMM and depthwise prologues and dx epilogues take every activation code, the Winograd ones
  // ReLU only; there the other activations run in the standalone normalize (bn_normalize) and
  // derivative (bnf_relu_mask) kernels
  convActivation: (c, act) => convFusedActivation(geom(c), actCode(act)),
  convFusedDepthwise: (c) => convFusedDepthwise(geom(c)),
};
