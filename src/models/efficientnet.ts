/**
 * EfficientNet-B0 (Tan and Le 2019) with torchvision's topology, parameter names and
 * initialisation (torchvision.models.EfficientNet, 0.14): a 3x3 stem, MBConv blocks (expand 1x1
 * -> BN -> SiLU -> depthwise kxk -> BN -> SiLU -> squeeze-excitation -> project 1x1 -> BN; where
 * stride is 1 and the widths agree, stochastic depth on that branch and the input added), a 1x1
 * conv to 4x the last width, global average pool, dropout 0.2 and a linear classifier.
 * Squeeze-excitation (torchvision.ops.SqueezeExcitation): global average pool -> fc1 (1x1 conv
 * with bias, to max(1, block input channels / 4)) -> SiLU -> fc2 (1x1 conv with bias) ->
 * sigmoid -> channel scale of the block's tensor.
 * Stochastic depth: torchvision's recipe, p = 0.2 * (block index) / (number of blocks), mode
 * "row" (a whole sample's branch dropped); in eval it is the identity.
 * Init: conv kaiming_normal (fan_out), conv biases 0, BN 1/0, classifier U(-1/sqrt(classes),
 * 1/sqrt(classes)) with bias 0.
 * Names: features.0.{0,1} (stem), features.s.i.block.j.{0,1} (expand, depthwise, project conv
 * and BN), features.s.i.block.j.fc1/fc2 (squeeze-excitation), features.8.{0,1}, classifier.1.
 * - efficientnet_b0: torchvision's efficientnet_b0(), 224 px, 5,288,548 parameters at 1000 classes;
 * - efficientnet_b0_cifar: the same network for 32 px images: stem stride 1 and the second
 *   stage at stride 1 (3 downsamplings, 32 -> 4 px), 10 classes.
 */
import type { Builder, Init } from '../graph/builder.js';
import { classifierHead, convBnAct, makeDivisible } from './mobilenet.js';
import type { ModelDef, ModelOptions } from './network.js';

const convInit: Init = { kind: 'kaiming_normal', mode: 'fan_out' };
const zero: Init = { kind: 'const', value: 0 };

/** torchvision's MBConvConfig before width and depth scaling. */
/** One stage of EfficientNet (torchvision's MBConvConfig before width and depth scaling). */
export interface MBConvRow {
  /** Expansion ratio of the first 1x1 convolution. */
  expandRatio: number;
  /** Depthwise kernel size (3 or 5). */
  kernel: number;
  /** Stride of the stage's first block. */
  stride: number;
  /** Input channels of the stage. */
  inputChannels: number;
  /** Output channels of the stage. */
  outChannels: number;
  /** Blocks in the stage. */
  numLayers: number;
}

const row = (expandRatio: number, kernel: number, stride: number, inputChannels: number, outChannels: number, numLayers: number): MBConvRow => ({
  expandRatio,
  kernel,
  stride,
  inputChannels,
  outChannels,
  numLayers,
});

/** torchvision's _efficientnet_conf for efficientnet_b*. */
export const EFFICIENTNET_B_SETTING: readonly MBConvRow[] = [
  row(1, 3, 1, 32, 16, 1),
  row(6, 3, 2, 16, 24, 2),
  row(6, 5, 2, 24, 40, 2),
  row(6, 3, 2, 40, 80, 3),
  row(6, 5, 1, 80, 112, 3),
  row(6, 5, 2, 112, 192, 4),
  row(6, 3, 1, 192, 320, 1),
];

/** torchvision's EfficientNet constructor arguments (B0 by default), and the CIFAR variants' changes. */
export interface EfficientNetConfig {
  /** The MBConv stages (default B0's). */
  setting?: readonly MBConvRow[];
  /** Channel width multiplier (default 1). */
  widthMult?: number;
  /** Depth multiplier: blocks per stage scaled and rounded up (default 1). */
  depthMult?: number;
  /** Dropout probability before the classifier (default 0.2). */
  dropout?: number;
  /** Stochastic depth probability of the last block, linearly from 0 (default 0.2). */
  stochasticDepthProb?: number;
  /** Channels of the last conv (default 4x the last stage's). */
  lastChannel?: number;
  /** Stride of the stem convolution (2; the CIFAR variants use 1). */
  stemStride?: number;
  /** The input size the model is made for (224; CIFAR variants 32). */
  imageSize?: number;
}

export function squeezeExcitation(b: Builder, name: string, x: number, squeeze: number): number {
  const C = b.shape(x)[1]!;
  let s = b.globalAvgPool(`${name}.avgpool`, x);
  s = b.conv2d(`${name}.fc1`, s, { out: squeeze, kernel: 1, bias: true, init: convInit, biasInit: zero });
  s = b.silu(`${name}.activation`, s);
  s = b.conv2d(`${name}.fc2`, s, { out: C, kernel: 1, bias: true, init: convInit, biasInit: zero });
  s = b.sigmoid(`${name}.scale_activation`, s);
  return b.channelScale(`${name}.scale`, x, s);
}

export function mbconv(b: Builder, name: string, x: number, r: { expandRatio: number; kernel: number; stride: number; out: number }, sdProb: number): number {
  const inp = b.shape(x)[1]!;
  const expanded = makeDivisible(inp * r.expandRatio, 8);
  let h = x;
  let j = 0;
  if (expanded !== inp) h = convBnAct(b, `${name}.block.${j++}`, h, { out: expanded, kernel: 1, act: 'silu' });
  h = convBnAct(b, `${name}.block.${j++}`, h, { out: expanded, kernel: r.kernel, stride: r.stride, groups: expanded, act: 'silu' });
  h = squeezeExcitation(b, `${name}.block.${j++}`, h, Math.max(1, Math.floor(inp / 4)));
  h = convBnAct(b, `${name}.block.${j}`, h, { out: r.out, kernel: 1, act: null });
  if (r.stride !== 1 || inp !== r.out) return h;
  h = b.stochasticDepth(`${name}.stochastic_depth`, h, sdProb);
  return b.add(`${name}.add`, h, x);
}

/** torchvision.models.EfficientNet with MBConv blocks, with torchvision's parameter names. */
export function torchvisionEfficientnet(name: string, c: EfficientNetConfig = {}, o: ModelOptions = {}): ModelDef {
  const numClasses = o.numClasses ?? 1000;
  const inChannels = o.inChannels ?? 3;
  const width = c.widthMult ?? 1;
  const depth = c.depthMult ?? 1;
  const rows = (c.setting ?? EFFICIENTNET_B_SETTING).map((r) => ({
    ...r,
    inputChannels: makeDivisible(r.inputChannels * width, 8),
    outChannels: makeDivisible(r.outChannels * width, 8),
    numLayers: Math.ceil(r.numLayers * depth),
  }));
  const sdMax = c.stochasticDepthProb ?? 0.2;
  return {
    name,
    inChannels,
    numClasses,
    imageSize: c.imageSize ?? 224,
    build(b, x) {
      let h = convBnAct(b, 'features.0', x, { out: rows[0]!.inputChannels, kernel: 3, stride: c.stemStride ?? 2, act: 'silu' });
      const total = rows.reduce((a, r) => a + r.numLayers, 0);
      let id = 0;
      rows.forEach((r, s) => {
        for (let i = 0; i < r.numLayers; i++) {
          const sd = (sdMax * id++) / total;
          h = mbconv(b, `features.${s + 1}.${i}`, h, { expandRatio: r.expandRatio, kernel: r.kernel, stride: i === 0 ? r.stride : 1, out: r.outChannels }, sd);
        }
      });
      const last = rows[rows.length - 1]!.outChannels;
      h = convBnAct(b, `features.${rows.length + 1}`, h, { out: c.lastChannel ?? 4 * last, kernel: 1, act: 'silu' });
      return classifierHead(b, h, c.dropout ?? 0.2, numClasses, { kind: 'uniform', bound: 1 / Math.sqrt(numClasses) });
    },
  };
}

export const efficientnetB0 = (o: ModelOptions = {}): ModelDef => torchvisionEfficientnet('efficientnet_b0', {}, o);

/** The CIFAR setting: B0's, with the second stage at stride 1. */
export const EFFICIENTNET_B0_CIFAR_SETTING: readonly MBConvRow[] = EFFICIENTNET_B_SETTING.map((r, i) => (i === 1 ? { ...r, stride: 1 } : r));

/** EfficientNet-B0 for 32-px inputs: the stem and the second stage at stride 1, 10 classes by default. */
export const efficientnetB0Cifar = (o: ModelOptions & { widthMult?: number } = {}, name = 'efficientnet_b0_cifar'): ModelDef =>
  torchvisionEfficientnet(
    name,
    { setting: EFFICIENTNET_B0_CIFAR_SETTING, widthMult: o.widthMult ?? 1, stemStride: 1, imageSize: 32 },
    { numClasses: o.numClasses ?? 10, inChannels: o.inChannels },
  );
