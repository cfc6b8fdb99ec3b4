/**
 * DenseNets (pre-activation BN-ReLU-conv layers whose inputs are the concatenation of all
 * earlier outputs in the block).
 * - densenet121: torchvision's topology and parameter names (features.denseblockN.denselayerM.
 *   norm1/conv1/norm2/conv2, features.transitionN, classifier); growth 32, bn_size 4, blocks
 *   (6, 12, 24, 16); conv init kaiming_normal (fan_in), BN 1/0, classifier bias 0.
 * - CIFAR DenseNets of Huang et al. 2017: densenet40 (k=12, 3 blocks of 12 BN-ReLU-conv3x3
 *   layers, transitions without compression, 16-channel stem) and densenet_bc_100 (k=12,
 *   bottleneck 1x1 of 4k channels, 3 blocks of 16 layers, compression 0.5, 2k-channel stem).
 */
import type { Builder, Init } from '../graph/builder.js';
import type { ModelDef, ModelOptions } from './network.js';

const convInit: Init = { kind: 'kaiming_normal', mode: 'fan_in' };

function denseLayer(b: Builder, name: string, features: number[], growth: number, bottleneck: number | null): number {
  const x = features.length === 1 ? features[0]! : b.concat(`${name}.concat`, features);
  let h = b.relu(`${name}.relu1`, b.batchNorm2d(`${name}.norm1`, x));
  if (bottleneck !== null) {
    h = b.conv2d(`${name}.conv1`, h, { out: bottleneck, kernel: 1, bias: false, init: convInit });
    h = b.relu(`${name}.relu2`, b.batchNorm2d(`${name}.norm2`, h));
    return b.conv2d(`${name}.conv2`, h, { out: growth, kernel: 3, padding: 1, bias: false, init: convInit });
  }
  return b.conv2d(`${name}.conv1`, h, { out: growth, kernel: 3, padding: 1, bias: false, init: convInit });
}

function denseBlock(b: Builder, name: string, x: number, layers: number, growth: number, bottleneck: number | null): number {
  const features = [x];
  for (let i = 0; i < layers; i++) features.push(denseLayer(b, `${name}.denselayer${i + 1}`, features, growth, bottleneck));
  return b.concat(`${name}.concat`, features);
}

function transition(b: Builder, name: string, x: number, out: number): number {
  let h = b.relu(`${name}.relu`, b.batchNorm2d(`${name}.norm`, x));
  h = b.conv2d(`${name}.conv`, h, { out, kernel: 1, bias: false, init: convInit });
  return b.avgPool2d(`${name}.pool`, h, { kernel: 2, stride: 2 });
}

interface DenseConfig {
  name: string;
  growth: number;
  blocks: number[];
  stem: 'imagenet' | 'cifar';
  initFeatures: number;
  bottleneck: number | null;
  compression: number;
  imageSize: number;
  prefix: string;
  defaultClasses: number;
}

function densenet(cfg: DenseConfig, o: ModelOptions): ModelDef {
  const numClasses = o.numClasses ?? cfg.defaultClasses;
  const inChannels = o.inChannels ?? 3;
  const p = cfg.prefix;
  return {
    name: cfg.name,
    inChannels,
    numClasses,
    imageSize: cfg.imageSize,
    build(b, x) {
      let h: number;
      if (cfg.stem === 'imagenet') {
        h = b.conv2d(`${p}conv0`, x, { out: cfg.initFeatures, kernel: 7, stride: 2, padding: 3, bias: false, init: convInit });
        h = b.relu(`${p}relu0`, b.batchNorm2d(`${p}norm0`, h));
        h = b.maxPool2d(`${p}pool0`, h, { kernel: 3, stride: 2, padding: 1 });
      } else {
        h = b.conv2d(`${p}conv0`, x, { out: cfg.initFeatures, kernel: 3, padding: 1, bias: false, init: convInit });
      }
      cfg.blocks.forEach((layers, i) => {
        h = denseBlock(b, `${p}denseblock${i + 1}`, h, layers, cfg.growth, cfg.bottleneck);
        if (i !== cfg.blocks.length - 1) h = transition(b, `${p}transition${i + 1}`, h, Math.floor(b.shape(h)[1]! * cfg.compression));
      });
      h = b.relu(`${p}relu5`, b.batchNorm2d(`${p}norm5`, h));
      h = b.flatten('flatten', b.globalAvgPool('avgpool', h));
      return b.linear('classifier', h, { out: numClasses, biasInit: { kind: 'const', value: 0 } });
    },
  };
}

/** torchvision's DenseNet-BC as torchvision.models.DenseNet(growth_rate, block_config, num_init_features, bn_size) builds it. */
/** torchvision.models.DenseNet's constructor arguments. */
export interface TorchvisionDenseNetConfig {
  /** Channels each layer adds (k). */
  growthRate: number;
  /** Layers per dense block. */
  blockConfig: number[];
  /** Channels of the stem convolution. */
  numInitFeatures: number;
  /** Bottleneck width factor: a layer's 1x1 convolution has bnSize * k outputs. */
  bnSize: number;
}

/** torchvision.models.DenseNet of any configuration, with torchvision's parameter names. */
export function torchvisionDensenet(name: string, c: TorchvisionDenseNetConfig, o: ModelOptions = {}): ModelDef {
  return densenet(
    {
      name,
      growth: c.growthRate,
      blocks: c.blockConfig,
      stem: 'imagenet',
      initFeatures: c.numInitFeatures,
      bottleneck: c.bnSize * c.growthRate,
      compression: 0.5,
      imageSize: 224,
      prefix: 'features.',
      defaultClasses: 1000,
    },
    o,
  );
}

export const densenet121 = (o: ModelOptions = {}): ModelDef =>
  torchvisionDensenet('densenet121', { growthRate: 32, blockConfig: [6, 12, 24, 16], numInitFeatures: 64, bnSize: 4 }, o);

export const densenet40 = (o: ModelOptions = {}): ModelDef =>
  densenet(
    {
      name: 'densenet40',
      growth: 12,
      blocks: [12, 12, 12],
      stem: 'cifar',
      initFeatures: 16,
      bottleneck: null,
      compression: 1,
      imageSize: 32,
      prefix: 'features.',
      defaultClasses: 10,
    },
    o,
  );

export const densenetBc100 = (o: ModelOptions = {}): ModelDef =>
  densenet(
    {
      name: 'densenet_bc_100',
      growth: 12,
      blocks: [16, 16, 16],
      stem: 'cifar',
      initFeatures: 24,
      bottleneck: 48,
      compression: 0.5,
      imageSize: 32,
      prefix: 'features.',
      defaultClasses: 10,
    },
    o,
  );
