/**
 * MobileNetV2 (Sandler et al. 2018) with torchvision's topology, parameter names and
 * initialisation (torchvision.models.MobileNetV2, 0.14): a 3x3 stem, inverted residual blocks
 * (expand 1x1 -> BN -> ReLU6 -> depthwise 3x3 -> BN -> ReLU6 -> project 1x1 -> BN, plus the
 * input where stride is 1 and the widths agree), a 1x1 conv to 1280 channels, global average
 * pool, dropout 0.2 and a linear classifier. Conv init kaiming_normal (fan_out), BN 1/0,
 * classifier N(0, 0.01) with bias 0. Names: features.0.{0,1} (stem conv, BN),
 * features.i.conv.{0.0, 0.1, 1.0, 1.1, 2, 3} (expand, depthwise, project conv and BN; without
 * the expansion the block starts at the depthwise conv), classifier.1 (the linear layer).
 * - mobilenet_v2: torchvision's mobilenet_v2(), 224 px, 3,504,872 parameters at 1000 classes;
 * - mobilenet_v2_cifar: the same network for 32 px images: stem stride 1 and the second stage
 *   at stride 1 (3 downsamplings, 32 -> 4 px), 10 classes; a torchvision MobileNetV2 with
 *   that inverted_residual_setting and features[0][0].stride = 1 has the same state_dict.
 */
import type { Builder, Init } from '../graph/builder.js';
import type { ModelDef, ModelOptions } from './network.js';

const convInit: Init = { kind: 'kaiming_normal', mode: 'fan_out' };

export type Activation = 'relu6' | 'silu';

/** torchvision's _make_divisible: v rounded to a multiple of divisor, at least divisor and at least 90% of v. */
export function makeDivisible(v: number, divisor: number, minValue = divisor): number {
  let n = Math.max(minValue, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** torchvision's Conv2dNormActivation: conv (prefix.0, no bias) -> BN (prefix.1) -> activation (prefix.2). */
export function convBnAct(
  b: Builder,
  prefix: string,
  x: number,
  o: { out: number; kernel: number; stride?: number; groups?: number; act: Activation | null },
): number {
  const h = b.conv2d(`${prefix}.0`, x, {
    out: o.out,
    kernel: o.kernel,
    stride: o.stride ?? 1,
    padding: (o.kernel - 1) >> 1,
    groups: o.groups ?? 1,
    bias: false,
    init: convInit,
  });
  const z = b.batchNorm2d(`${prefix}.1`, h);
  if (o.act === null) return z;
  return o.act === 'relu6' ? b.relu6(`${prefix}.2`, z) : b.silu(`${prefix}.2`, z);
}

/** torchvision's head of MobileNetV2 and EfficientNet: avgpool, flatten, classifier.0 (dropout), classifier.1 (linear, bias 0). */
export function classifierHead(b: Builder, x: number, dropout: number, numClasses: number, init: Init): number {
  const h = b.dropout('classifier.0', b.flatten('flatten', b.globalAvgPool('avgpool', x)), dropout);
  return b.linear('classifier.1', h, { out: numClasses, init, biasInit: { kind: 'const', value: 0 } });
}

/** One row of torchvision's inverted_residual_setting: expansion t, channels c, blocks n, first stride s. */
export type InvertedResidualRow = [t: number, c: number, n: number, s: number];

export const MOBILENET_V2_SETTING: readonly InvertedResidualRow[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** The CIFAR setting: torchvision's, with the second stage at stride 1. */
export const MOBILENET_V2_CIFAR_SETTING: readonly InvertedResidualRow[] = MOBILENET_V2_SETTING.map(([t, c, n, s], i) => [t, c, n, i === 1 ? 1 : s]);

/** What torchvision.models.MobileNetV2(...) takes, plus the stem stride (2 in torchvision). */
/** torchvision.models.MobileNetV2's constructor arguments, and the CIFAR variants' changes. */
export interface MobileNetV2Config {
  /** Channel width multiplier (torchvision's width_mult; default 1). */
  widthMult?: number;
  /** The inverted-residual stages: expansion t, channels c, repeats n, first stride s (torchvision's inverted_residual_setting). */
  setting?: readonly InvertedResidualRow[];
  /** Channels are rounded to multiples of this (torchvision's round_nearest; default 8). */
  roundNearest?: number;
  /** Dropout probability before the classifier (default 0.2). */
  dropout?: number;
  /** Stride of the stem convolution (2; the CIFAR variants use 1). */
  stemStride?: number;
  /** The input size the model is made for (224; CIFAR variants 32). */
  imageSize?: number;
}

export function invertedResidual(b: Builder, name: string, x: number, out: number, stride: number, t: number): number {
  const inp = b.shape(x)[1]!;
  const hidden = Math.round(inp * t);
  let h = x;
  let i = 0;
  if (t !== 1) h = convBnAct(b, `${name}.conv.${i++}`, h, { out: hidden, kernel: 1, act: 'relu6' });
  h = convBnAct(b, `${name}.conv.${i++}`, h, { out: hidden, kernel: 3, stride, groups: hidden, act: 'relu6' });
  h = b.conv2d(`${name}.conv.${i++}`, h, { out, kernel: 1, bias: false, init: convInit });
  h = b.batchNorm2d(`${name}.conv.${i}`, h);
  return stride === 1 && inp === out ? b.add(`${name}.add`, x, h) : h;
}

/** torchvision.models.MobileNetV2 of any configuration, with torchvision's parameter names. */
export function torchvisionMobilenetV2(name: string, c: MobileNetV2Config = {}, o: ModelOptions = {}): ModelDef {
  const numClasses = o.numClasses ?? 1000;
  const inChannels = o.inChannels ?? 3;
  const width = c.widthMult ?? 1;
  const round = c.roundNearest ?? 8;
  const setting = c.setting ?? MOBILENET_V2_SETTING;
  return {
    name,
    inChannels,
    numClasses,
    imageSize: c.imageSize ?? 224,
    build(b, x) {
      let h = convBnAct(b, 'features.0', x, { out: makeDivisible(32 * width, round), kernel: 3, stride: c.stemStride ?? 2, act: 'relu6' });
      let f = 1;
      for (const [t, ch, n, s] of setting) {
        const out = makeDivisible(ch * width, round);
        for (let i = 0; i < n; i++) h = invertedResidual(b, `features.${f++}`, h, out, i === 0 ? s : 1, t);
      }
      h = convBnAct(b, `features.${f}`, h, { out: makeDivisible(1280 * Math.max(1, width), round), kernel: 1, act: 'relu6' });
      return classifierHead(b, h, c.dropout ?? 0.2, numClasses, { kind: 'normal', std: 0.01 });
    },
  };
}

export const mobilenetV2 = (o: ModelOptions = {}): ModelDef => torchvisionMobilenetV2('mobilenet_v2', {}, o);

/** Options of the CIFAR variant: torchvision's width multiplier (channels rounded to multiples of 8). */
/** Options of mobilenetV2Cifar. */
export interface MobileNetV2CifarOptions extends ModelOptions {
  /** Channel width multiplier (default 1). */
  widthMult?: number;
}

/** MobileNetV2 for 32-px inputs: the stem and the second stage at stride 1 (4 px before the pooling), 10 classes by default. */
export const mobilenetV2Cifar = (o: MobileNetV2CifarOptions = {}, name = 'mobilenet_v2_cifar'): ModelDef =>
  torchvisionMobilenetV2(
    name,
    { widthMult: o.widthMult ?? 1, setting: MOBILENET_V2_CIFAR_SETTING, stemStride: 1, imageSize: 32 },
    { numClasses: o.numClasses ?? 10, inChannels: o.inChannels },
  );
