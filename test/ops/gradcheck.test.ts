import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mbconv, squeezeExcitation } from '../../src/models/efficientnet.js';
import { invertedResidual } from '../../src/models/mobilenet.js';
import { gradCheck } from '../helpers/gradcheck.js';

const cases: Record<string, Parameters<typeof gradCheck>[0]> = {
  'conv2d 3x3 pad 1 with bias': { inputs: [[2, 3, 5, 6]], build: (b, [x]) => b.conv2d('conv', x!, { out: 4, kernel: 3, padding: 1, bias: true }) },
  'conv2d stride 2, non-square kernel': {
    inputs: [[2, 3, 7, 6]],
    build: (b, [x]) => b.conv2d('conv', x!, { out: 2, kernel: [3, 2], stride: 2, padding: [1, 0] }),
  },
  'conv2d dilation 2': { inputs: [[1, 2, 7, 7]], build: (b, [x]) => b.conv2d('conv', x!, { out: 3, kernel: 3, dilation: 2, padding: 2 }) },
  'conv2d groups 2': { inputs: [[2, 4, 5, 5]], build: (b, [x]) => b.conv2d('conv', x!, { out: 6, kernel: 3, groups: 2, padding: 1 }) },
  'conv2d depthwise stride 2': {
    inputs: [[2, 3, 6, 6]],
    build: (b, [x]) => b.conv2d('conv', x!, { out: 3, kernel: 3, groups: 3, stride: 2, padding: 1, bias: true }),
  },
  'conv2d 1x1': { inputs: [[2, 5, 3, 3]], build: (b, [x]) => b.conv2d('conv', x!, { out: 4, kernel: 1 }) },
  'batch_norm2d training': { inputs: [[3, 4, 3, 2]], build: (b, [x]) => b.batchNorm2d('bn', x!) },
  'batch_norm2d 1x1 spatial': { inputs: [[5, 3, 1, 1]], build: (b, [x]) => b.batchNorm2d('bn', x!) },
  relu: { inputs: [[2, 3, 4, 4]], build: (b, [x]) => b.relu('relu', x!) },
  silu: {
    inputs: [[2, 3, 4, 4]],
    // both tails of the sigmoid: large |x| takes the overflow-free branches
    fill: (_i, a, rng) => {
      for (let k = 0; k < a.length; k++) a[k] = rng.normal() * (k % 5 === 0 ? 12 : 2);
    },
    build: (b, [x]) => b.silu('silu', x!),
  },
  relu6: {
    inputs: [[2, 3, 4, 4]],
    // below 0, inside (0, 6) and above 6
    fill: (_i, a, rng) => {
      for (let k = 0; k < a.length; k++) a[k] = rng.normal() * 4 + 3;
    },
    skipKinks: true,
    build: (b, [x]) => b.relu6('relu6', x!),
  },
  hardswish: {
    inputs: [[2, 3, 4, 4]],
    // both linear pieces and the quadratic one
    fill: (_i, a, rng) => {
      for (let k = 0; k < a.length; k++) a[k] = rng.normal() * 4;
    },
    skipKinks: true,
    build: (b, [x]) => b.hardswish('hswish', x!),
  },
  sigmoid: {
    inputs: [[2, 3, 4, 4]],
    fill: (_i, a, rng) => {
      for (let k = 0; k < a.length; k++) a[k] = rng.normal() * (k % 5 === 0 ? 12 : 2);
    },
    build: (b, [x]) => b.sigmoid('sigmoid', x!),
  },
  channel_scale: {
    inputs: [
      [2, 3, 4, 5],
      [2, 3, 1, 1],
    ],
    build: (b, [x, s]) => b.channelScale('scale', x!, s!),
  },
  // seed 7, step 0 drop some of the 6 samples and keep the others
  'stochastic_depth p=0.5': { inputs: [[6, 3, 2, 2]], build: (b, [x]) => b.stochasticDepth('sd', x!, 0.5) },
  'squeeze-excitation (pool, 1x1 conv, SiLU, 1x1 conv, sigmoid, scale)': { inputs: [[2, 6, 3, 3]], build: (b, [x]) => squeezeExcitation(b, 'se', x!, 2) },
  'MobileNetV2 inverted residual (expand, depthwise, ReLU6, project, add)': {
    inputs: [[3, 4, 4, 4]],
    build: (b, [x]) => invertedResidual(b, 'ir', x!, 4, 1, 3),
  },
  'EfficientNet MBConv (SiLU, depthwise 5x5, squeeze-excitation, stochastic depth, add)': {
    inputs: [[4, 8, 3, 3]],
    build: (b, [x]) => mbconv(b, 'mb', x!, { expandRatio: 2, kernel: 5, stride: 1, out: 8 }, 0.5),
  },
  'max_pool2d 3x3 s2 p1': { inputs: [[2, 2, 7, 7]], build: (b, [x]) => b.maxPool2d('pool', x!, { kernel: 3, stride: 2, padding: 1 }) },
  'max_pool2d 2x2': { inputs: [[2, 2, 6, 5]], build: (b, [x]) => b.maxPool2d('pool', x!, { kernel: 2 }) },
  'avg_pool2d 2x2': { inputs: [[2, 2, 6, 6]], build: (b, [x]) => b.avgPool2d('pool', x!, { kernel: 2 }) },
  'avg_pool2d 3x3 s2 p1': { inputs: [[2, 2, 7, 6]], build: (b, [x]) => b.avgPool2d('pool', x!, { kernel: 3, stride: 2, padding: 1 }) },
  'avg_pool2d 3x3 s2 p1 exclude pad': {
    inputs: [[1, 2, 5, 5]],
    build: (b, [x]) => b.avgPool2d('pool', x!, { kernel: 3, stride: 2, padding: 1, count_include_pad: false }),
  },
  global_avg_pool: { inputs: [[2, 3, 4, 5]], build: (b, [x]) => b.globalAvgPool('gap', x!) },
  add: {
    inputs: [
      [2, 3, 2, 2],
      [2, 3, 2, 2],
    ],
    build: (b, [x, y]) => b.add('add', x!, y!),
  },
  concat: {
    inputs: [
      [2, 3, 2, 2],
      [2, 1, 2, 2],
      [2, 2, 2, 2],
    ],
    build: (b, xs) => b.concat('cat', xs),
  },
  flatten: { inputs: [[2, 3, 2, 2]], build: (b, [x]) => b.flatten('flat', x!) },
  linear: { inputs: [[3, 5]], build: (b, [x]) => b.linear('fc', x!, { out: 4 }) },
  'linear without bias': { inputs: [[3, 5]], build: (b, [x]) => b.linear('fc', x!, { out: 2, bias: false }) },
  'dropout p=0.3': { inputs: [[2, 3, 4, 4]], build: (b, [x]) => b.dropout('drop', x!, 0.3) },
  'shortcut_pad (option A)': { inputs: [[2, 4, 5, 5]], build: (b, [x]) => b.shortcutPad('sc', x!, { stride: 2, before: 2, after: 2 }) },
  'softmax cross-entropy': {
    inputs: [[4, 5], [4]],
    nonDiff: [1],
    fill: (i, a, rng) => {
      for (let k = 0; k < a.length; k++) a[k] = i === 1 ? rng.int(5) : rng.normal() * 2;
    },
    build: (b, [x, l]) => b.crossEntropy('loss', x!, l!),
  },
  'fan-out: one value used twice (residual)': {
    inputs: [[2, 3, 4, 4]],
    build: (b, [x]) => {
      const h = b.relu('relu1', b.batchNorm2d('bn1', b.conv2d('conv1', x!, { out: 3, kernel: 3, padding: 1 })));
      const r = b.batchNorm2d('bn2', b.conv2d('conv2', h, { out: 3, kernel: 3, padding: 1 }));
      return b.relu('relu2', b.add('add', r, x!));
    },
  },
  'fan-out: dense connections (concat reuse)': {
    inputs: [[2, 2, 4, 4]],
    build: (b, [x]) => {
      const f1 = b.conv2d('l1', b.relu('r1', b.batchNorm2d('n1', x!)), { out: 2, kernel: 3, padding: 1 });
      const c1 = b.concat('c1', [x!, f1]);
      const f2 = b.conv2d('l2', b.relu('r2', b.batchNorm2d('n2', c1)), { out: 2, kernel: 1 });
      const c2 = b.concat('c2', [x!, f1, f2]);
      return b.avgPool2d('pool', c2, { kernel: 2 });
    },
  },
};

for (const [name, c] of Object.entries(cases)) {
  test(`gradient check: ${name}`, () => {
    const { maxRelErr, checked } = gradCheck(c);
    assert.ok(checked > 0);
    assert.ok(maxRelErr < 1e-6, `max relative error ${maxRelErr}`);
  });
}
