/**
 * ResNets. torchvision's ImageNet family (resnet18/34/50, v1.5: stride on the 3x3 conv of the
 * bottleneck; projection shortcut conv1x1+BN where the shape changes) with torchvision's
 * parameter names and initialisation (conv: kaiming_normal fan_out; BN: 1, 0; fc: PyTorch
 * default), and the CIFAR family of He et al. 2016 (resnet20/56: 3 stages of 16/32/64
 * channels, 3x3 stem, shortcut option A: parameter-free, subsample + zero channel padding).
 */
import type { Builder, Init } from '../graph/builder.js';
import type { ModelDef, ModelOptions } from './network.js';

const convInit: Init = { kind: 'kaiming_normal', mode: 'fan_out' };

function convBnRelu(b: Builder, prefix: string, x: number, out: number, kernel: number, stride: number, relu: boolean, idx = ''): number {
  let h = b.conv2d(`${prefix}.conv${idx}`, x, { out, kernel, stride, padding: (kernel - 1) >> 1, bias: false, init: convInit });
  h = b.batchNorm2d(`${prefix}.bn${idx}`, h);
  return relu ? b.relu(`${prefix}.relu${idx}`, h) : h;
}

function basicBlock(b: Builder, name: string, x: number, planes: number, stride: number): number {
  const inC = b.shape(x)[1]!;
  let h = convBnRelu(b, name, x, planes, 3, stride, true, '1');
  h = convBnRelu(b, name, h, planes, 3, 1, false, '2');
  let identity = x;
  if (stride !== 1 || inC !== planes) {
    identity = b.conv2d(`${name}.downsample.0`, x, { out: planes, kernel: 1, stride, bias: false, init: convInit });
    identity = b.batchNorm2d(`${name}.downsample.1`, identity);
  }
  return b.relu(`${name}.relu`, b.add(`${name}.add`, h, identity));
}

function bottleneck(b: Builder, name: string, x: number, planes: number, stride: number): number {
  const inC = b.shape(x)[1]!;
  const out = planes * 4;
  let h = convBnRelu(b, name, x, planes, 1, 1, true, '1');
  h = convBnRelu(b, name, h, planes, 3, stride, true, '2');
  h = convBnRelu(b, name, h, out, 1, 1, false, '3');
  let identity = x;
  if (stride !== 1 || inC !== out) {
    identity = b.conv2d(`${name}.downsample.0`, x, { out, kernel: 1, stride, bias: false, init: convInit });
    identity = b.batchNorm2d(`${name}.downsample.1`, identity);
  }
  return b.relu(`${name}.relu`, b.add(`${name}.add`, h, identity));
}

/** torchvision.models.ResNet(block, layers) with torchvision's parameter names. */
export function torchvisionResnet(name: string, block: 'basic' | 'bottleneck', layers: number[], o: ModelOptions = {}): ModelDef {
  const numClasses = o.numClasses ?? 1000;
  const inChannels = o.inChannels ?? 3;
  return {
    name,
    inChannels,
    numClasses,
    imageSize: 224,
    build(b, x) {
      let h = b.conv2d('conv1', x, { out: 64, kernel: 7, stride: 2, padding: 3, bias: false, init: convInit });
      h = b.relu('relu', b.batchNorm2d('bn1', h));
      h = b.maxPool2d('maxpool', h, { kernel: 3, stride: 2, padding: 1 });
      layers.forEach((count, stage) => {
        const planes = 64 << stage;
        for (let i = 0; i < count; i++) {
          const stride = stage > 0 && i === 0 ? 2 : 1;
          const blk = `layer${stage + 1}.${i}`;
          h = block === 'basic' ? basicBlock(b, blk, h, planes, stride) : bottleneck(b, blk, h, planes, stride);
        }
      });
      h = b.flatten('flatten', b.globalAvgPool('avgpool', h));
      return b.linear('fc', h, { out: numClasses });
    },
  };
}

export const resnet18 = (o: ModelOptions = {}): ModelDef => torchvisionResnet('resnet18', 'basic', [2, 2, 2, 2], o);
export const resnet34 = (o: ModelOptions = {}): ModelDef => torchvisionResnet('resnet34', 'basic', [3, 4, 6, 3], o);
export const resnet50 = (o: ModelOptions = {}): ModelDef => torchvisionResnet('resnet50', 'bottleneck', [3, 4, 6, 3], o);

/** He et al. 2016, section 4.2: depth = 6n + 2, option A shortcuts. */
export function cifarResnet(depth: number, o: ModelOptions = {}, name = `resnet${depth}`): ModelDef {
  if ((depth - 2) % 6 !== 0) throw new Error(`CIFAR ResNet depth must be 6n+2, got ${depth}`);
  const n = (depth - 2) / 6;
  const numClasses = o.numClasses ?? 10;
  const inChannels = o.inChannels ?? 3;
  return {
    name,
    inChannels,
    numClasses,
    imageSize: 32,
    build(b, x) {
      let h = b.conv2d('conv1', x, { out: 16, kernel: 3, padding: 1, bias: false, init: convInit });
      h = b.relu('relu', b.batchNorm2d('bn1', h));
      for (let stage = 0; stage < 3; stage++) {
        const planes = 16 << stage;
        for (let i = 0; i < n; i++) {
          const stride = stage > 0 && i === 0 ? 2 : 1;
          const name = `layer${stage + 1}.${i}`;
          const inC = b.shape(h)[1]!;
          let r = convBnRelu(b, name, h, planes, 3, stride, true, '1');
          r = convBnRelu(b, name, r, planes, 3, 1, false, '2');
          let identity = h;
          if (stride !== 1 || inC !== planes) {
            const pad = (planes - inC) >> 1;
            identity = b.shortcutPad(`${name}.shortcut`, h, { stride, before: pad, after: planes - inC - pad });
          }
          h = b.relu(`${name}.relu`, b.add(`${name}.add`, r, identity));
        }
      }
      h = b.flatten('flatten', b.globalAvgPool('avgpool', h));
      return b.linear('fc', h, { out: numClasses });
    },
  };
}

export const resnet20 = (o: ModelOptions = {}): ModelDef => cifarResnet(20, o);
export const resnet56 = (o: ModelOptions = {}): ModelDef => cifarResnet(56, o);
/** The small default of `bnff train`: the CIFAR design with one block per stage. */
export const resnet8 = (o: ModelOptions = {}): ModelDef => cifarResnet(8, o);
