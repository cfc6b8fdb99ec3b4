/** The closed set of ops. Adding an op: one file in src/ops, registered here (import + `all`); the whole recipe, with its tests, is in docs/contributing.md. */
import { add } from './add.js';
import { batchNorm2d, bnBackwardData, bnBackwardDataAcc, bnBackwardReduce, bnDxCoef, sliceChannelsAffine } from './batch_norm2d.js';
import { bnActReduce } from './bn_act_reduce.js';
import { bnAddRelu, bnAddReluBackward } from './bn_add_relu.js';
import { bnApply, bnFinalize, channelMoments, concatVec } from './bn_split.js';
import { channelAffine } from './channel_affine.js';
import { channelScale, channelScaleBackwardScale } from './channel_scale.js';
import { concat, sliceChannels } from './concat.js';
import { conv2d, conv2dBackwardData, conv2dBackwardWeight } from './conv2d.js';
import { bnReluMask, conv2dFused, conv2dFusedBackwardData, conv2dFusedBackwardDataAcc, conv2dFusedBackwardWeight } from './conv2d_fused.js';
import { dropout, mul } from './dropout.js';
import { hardswish, hardswishBackward } from './hardswish.js';
import { linear, linearBackwardData, linearBackwardWeight } from './linear.js';
import type { OpDef } from './op.js';
import { avgPool2d, avgPool2dBackward, globalAvgPool, globalAvgPoolBackward, maxPool2d, maxPool2dBackward } from './pool2d.js';
import { relu, reluBackward } from './relu.js';
import { relu6, relu6Backward } from './relu6.js';
import { flatten, reshape } from './reshape.js';
import { shortcutPad, shortcutPadBackward } from './shortcut_pad.js';
import { sigmoid, sigmoidBackward } from './sigmoid.js';
import { silu, siluBackward } from './silu.js';
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from './softmax_cross_entropy.js';
import { stochasticDepth, stochasticDepthBackward } from './stochastic_depth.js';

const all: OpDef[] = [
  conv2d,
  conv2dBackwardData,
  conv2dBackwardWeight,
  conv2dFused,
  conv2dFusedBackwardData,
  conv2dFusedBackwardDataAcc,
  conv2dFusedBackwardWeight,
  bnReluMask,
  bnActReduce,
  batchNorm2d,
  bnBackwardReduce,
  bnBackwardData,
  bnBackwardDataAcc,
  bnDxCoef,
  sliceChannelsAffine,
  channelMoments,
  bnFinalize,
  bnApply,
  concatVec,
  bnAddRelu,
  bnAddReluBackward,
  channelAffine,
  relu,
  reluBackward,
  silu,
  siluBackward,
  relu6,
  relu6Backward,
  hardswish,
  hardswishBackward,
  sigmoid,
  sigmoidBackward,
  channelScale,
  channelScaleBackwardScale,
  maxPool2d,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  add,
  mul,
  concat,
  sliceChannels,
  flatten,
  reshape,
  linear,
  linearBackwardData,
  linearBackwardWeight,
  dropout,
  stochasticDepth,
  stochasticDepthBackward,
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
  shortcutPad,
  shortcutPadBackward,
];

/** Every op, by type: the forward ops and their backward ops. */
export const OPS: ReadonlyMap<string, OpDef> = new Map(all.map((d) => [d.type, d]));

/** The op of a type; throws, listing the known types, for another. */
export function getOp(type: string): OpDef {
  const d = OPS.get(type);
  if (!d) throw new Error(`unknown op "${type}"; known ops: ${[...OPS.keys()].join(', ')}`);
  return d;
}

export type { Arr, OpDef, RunContext } from './op.js';
