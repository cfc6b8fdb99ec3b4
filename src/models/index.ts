/** The model zoo: one entry per model, with what `bnff models` prints. */
import { densenet121, densenet40, densenetBc100 } from './densenet.js';
import { efficientnetB0, efficientnetB0Cifar } from './efficientnet.js';
import { mobilenetV2, mobilenetV2Cifar } from './mobilenet.js';
import type { ModelDef, ModelOptions } from './network.js';
import { resnet18, resnet20, resnet34, resnet50, resnet56, resnet8 } from './resnet.js';

/** A model of the zoo. */
export interface ModelEntry {
  /** Its name on the command line and in getModel ("resnet20"). */
  name: string;
  /** Makes its definition, with other classes or input channels where asked. */
  create: (o?: ModelOptions) => ModelDef;
  /** One line: what it is, after whom. */
  description: string;
}

/** Every model bnff defines, as `bnff models` lists them. */
export const MODELS: readonly ModelEntry[] = [
  { name: 'resnet8', create: resnet8, description: 'CIFAR ResNet, 1 basic block per stage (16/32/64), option-A shortcuts; the default of bnff train' },
  { name: 'resnet20', create: resnet20, description: 'CIFAR ResNet-20 (He et al. 2016), option-A shortcuts' },
  { name: 'resnet56', create: resnet56, description: 'CIFAR ResNet-56 (He et al. 2016), option-A shortcuts' },
  { name: 'resnet18', create: resnet18, description: 'torchvision resnet18' },
  { name: 'resnet34', create: resnet34, description: 'torchvision resnet34' },
  { name: 'resnet50', create: resnet50, description: 'torchvision resnet50 (v1.5)' },
  { name: 'densenet40', create: densenet40, description: 'CIFAR DenseNet-40, k=12, no bottleneck or compression (Huang et al. 2017)' },
  { name: 'densenet_bc_100', create: densenetBc100, description: 'CIFAR DenseNet-BC-100, k=12 (Huang et al. 2017)' },
  { name: 'densenet121', create: densenet121, description: 'torchvision densenet121' },
  { name: 'mobilenet_v2', create: mobilenetV2, description: 'torchvision mobilenet_v2 (inverted residuals, depthwise 3x3, ReLU6)' },
  { name: 'mobilenet_v2_cifar', create: (o) => mobilenetV2Cifar(o), description: 'mobilenet_v2 for 32 px: stem and second stage at stride 1 (32 -> 4 px)' },
  {
    name: 'mobilenet_v2_050_cifar',
    create: (o) => mobilenetV2Cifar({ ...o, widthMult: 0.5 }, 'mobilenet_v2_050_cifar'),
    description: 'mobilenet_v2_cifar at width 0.5 (channels rounded to multiples of 8)',
  },
  { name: 'efficientnet_b0', create: efficientnetB0, description: 'torchvision efficientnet_b0 (MBConv, squeeze-excitation, SiLU, stochastic depth)' },
  {
    name: 'efficientnet_b0_cifar',
    create: (o) => efficientnetB0Cifar(o),
    description: 'efficientnet_b0 for 32 px: stem and second stage at stride 1 (32 -> 4 px)',
  },
];

/** A model name that MODELS does not hold; the message lists the names it does. */
export class UnknownModelError extends Error {
  /** 'UnknownModelError', the name error messages and stack traces show. */
  override name = 'UnknownModelError';
}

/** The definition of a model of MODELS by name; throws UnknownModelError for another name. */
export function getModel(name: string, o: ModelOptions = {}): ModelDef {
  const e = MODELS.find((m) => m.name === name);
  if (!e) throw new UnknownModelError(`unknown model "${name}"; available: ${MODELS.map((m) => m.name).join(', ')}`);
  return e.create(o);
}
