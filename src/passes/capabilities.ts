/**
 * What the kernels that will run a graph can do, as far as a fusion rule's guards depend on it.
 * The passes get these from their caller (applyFusion's argument) instead of asking the kernel
 * modules: the rules stay graph rewrites, and the runtime, which owns the kernels, answers for
 * them (src/runtime/capabilities.ts).
 */
import type { Shape } from '../graph/ir.js';
import type { Activation } from '../ops/activation.js';
import type { Conv2dAttrs } from '../ops/conv2d.js';

/** A convolution as a rule sees it: x [N, C, H, W], w [K, C/groups, KH, KW], and its attributes. */
export interface ConvSpec {
  /** Shape of the input x. */
  readonly xShape: Shape;
  /** Shape of the weight w. */
  readonly wShape: Shape;
  /** Stride, padding, dilation, groups. */
  readonly attrs: Conv2dAttrs;
}

/** The questions the concatenation rules ask of the convolution kernels. */
export interface KernelCapabilities {
  /**
   * Whether the fused convolution reads its normalised input (and its backward passes their x)
   * at a pixel stride wider than C: a view of the leading channels of a wider buffer.
   */
  convStridedInput(c: ConvSpec): boolean;
  /** Whether the fused forward convolution can write y at a pixel stride wider than K. */
  convStridedOutput(c: ConvSpec): boolean;
  /** Whether the fused backward-data can add its dx epilogue's result into a gradient buffer. */
  convDxAccumulates(c: ConvSpec): boolean;
  /**
   * Whether the fused convolution's x prologue can apply `act` after the normalize, and its
   * backward-data's dx epilogue differentiate it (normalize-into-conv, reduce-into-conv-backward).
   */
  convActivation(c: ConvSpec, act: Activation): boolean;
  /**
   * Whether a depthwise convolution (groups = C = K) has fused kernels: the moments epilogue, the
   * normalize(+activation) x prologue, the BN dx prologue and the dx epilogue (guard
   * depthwiseFused where it has not).
   */
  convFusedDepthwise(c: ConvSpec): boolean;
}

/** "3x3, 16->32" for messages. */
export function convLabel(c: ConvSpec): string {
  return `${c.wShape[2]}x${c.wShape[3]}, ${c.xShape[1]}->${c.wShape[0]}`;
}
