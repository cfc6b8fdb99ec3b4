/**
 * torchvision building blocks in training mode against PyTorch (blocks.safetensors): forward
 * output, gradients of the inputs and of every parameter, running statistics after the step.
 * The graphs are built here with the Builder, following torchvision's module definitions.
 * Tolerances: float64 1e-9 relative + 1e-9 absolute; float32 1e-4 relative + 1e-5 absolute.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Builder } from '../../src/graph/builder.js';
import { mbconv, squeezeExcitation } from '../../src/models/efficientnet.js';
import { invertedResidual } from '../../src/models/mobilenet.js';
import { type DType, ErrorLog, Golden, TOL_F32, TOL_F64, checkCase } from './harness.js';

const gold = new Golden('blocks.safetensors');

type Build = (b: Builder, c: string, x: Record<string, number>, a: any) => number;

const bnRelu = (b: Builder, c: string, bn: string, relu: string, h: number): number => b.relu(`${c}.${relu}`, b.batchNorm2d(`${c}.${bn}`, h));

const builders: Record<string, Build> = {
  // torchvision.models.resnet.BasicBlock, no downsample
  'resnet.BasicBlock': (b, c, { x }, a) => {
    let h = b.conv2d(`${c}.conv1`, x!, { out: a.planes, kernel: 3, stride: a.stride, padding: 1, bias: false });
    h = bnRelu(b, c, 'bn1', 'relu1', h);
    h = b.conv2d(`${c}.conv2`, h, { out: a.planes, kernel: 3, padding: 1, bias: false });
    h = b.batchNorm2d(`${c}.bn2`, h);
    return b.relu(`${c}.relu`, b.add(`${c}.add`, h, x!));
  },
  // torchvision.models.resnet.Bottleneck (v1.5: stride on the 3x3), downsample = conv1x1 + BN
  'resnet.Bottleneck': (b, c, { x }, a) => {
    let h = b.conv2d(`${c}.conv1`, x!, { out: a.planes, kernel: 1, bias: false });
    h = bnRelu(b, c, 'bn1', 'relu1', h);
    h = b.conv2d(`${c}.conv2`, h, { out: a.planes, kernel: 3, stride: a.stride, padding: 1, bias: false });
    h = bnRelu(b, c, 'bn2', 'relu2', h);
    h = b.conv2d(`${c}.conv3`, h, { out: a.planes * 4, kernel: 1, bias: false });
    h = b.batchNorm2d(`${c}.bn3`, h);
    let id = b.conv2d(`${c}.downsample.0`, x!, { out: a.planes * 4, kernel: 1, stride: a.stride, bias: false });
    id = b.batchNorm2d(`${c}.downsample.1`, id);
    return b.relu(`${c}.relu`, b.add(`${c}.add`, h, id));
  },
  // torchvision.models.densenet._DenseLayer with a list of two input tensors
  'densenet._DenseLayer': (b, c, { x0, x1 }, a) => {
    let h = b.concat(`${c}.concat`, [x0!, x1!]);
    h = bnRelu(b, c, 'norm1', 'relu1', h);
    h = b.conv2d(`${c}.conv1`, h, { out: a.bn_size * a.growth_rate, kernel: 1, bias: false });
    h = bnRelu(b, c, 'norm2', 'relu2', h);
    return b.conv2d(`${c}.conv2`, h, { out: a.growth_rate, kernel: 3, padding: 1, bias: false });
  },
  // torchvision.models.densenet._Transition
  'densenet._Transition': (b, c, { x }, a) => {
    let h = bnRelu(b, c, 'norm', 'relu', x!);
    h = b.conv2d(`${c}.conv`, h, { out: a.num_output_features, kernel: 1, bias: false });
    return b.avgPool2d(`${c}.pool`, h, { kernel: 2, stride: 2 });
  },
  // the blocks of bnff's models themselves (src/models/mobilenet.ts, efficientnet.ts)
  'mobilenetv2.InvertedResidual': (b, c, { x }, a) => invertedResidual(b, c, x!, a.oup, a.stride, a.expand_ratio),
  'ops.SqueezeExcitation': (b, c, { x }, a) => squeezeExcitation(b, c, x!, a.squeeze_channels),
  'efficientnet.MBConv': (b, c, { x }, a) =>
    mbconv(b, c, x!, { expandRatio: a.expand_ratio, kernel: a.kernel, stride: a.stride, out: a.out_channels }, a.stochastic_depth_prob),
};

const cases = gold.cases();

test('the golden file holds every block', () => {
  assert.deepEqual([...new Set(cases.map((c) => gold.meta<{ op: string }>(c).op))].sort(), Object.keys(builders).sort());
});

for (const dtype of ['f64', 'f32'] as DType[]) {
  const tol = dtype === 'f64' ? TOL_F64 : TOL_F32;
  for (const c of cases) {
    const { op } = gold.meta<{ op: string }>(c);
    test(`${c} (${op}, training) matches torch in ${dtype}`, (t) => {
      const log = new ErrorLog();
      checkCase(gold, c, dtype, tol, (b, x, a) => builders[op]!(b, c, x, a), log);
      t.diagnostic(`${dtype} ${log}`);
    });
  }
}
