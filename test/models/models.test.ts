import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { numel } from '../../src/graph/ir.js';
import { MODELS, getModel, UnknownModelError } from '../../src/models/index.js';
import { Network, countParams, paramSpecs } from '../../src/models/network.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { fromRoot } from '../helpers/paths.js';

const EXPECTED: Record<string, number> = {
  resnet18: 11_689_512,
  resnet34: 21_797_672,
  resnet50: 25_557_032,
  densenet121: 7_978_856,
  mobilenet_v2: 3_504_872,
  efficientnet_b0: 5_288_548,
  // CIFAR models (10 classes): the counts of the original papers' designs.
  resnet20: 269_722,
  resnet56: 853_018,
  densenet40: 1_019_722,
  densenet_bc_100: 769_162,
  // torchvision's classes with the CIFAR settings (tools/torchvision_models.py)
  mobilenet_v2_cifar: 2_236_682,
  mobilenet_v2_050_cifar: 700_490,
  efficientnet_b0_cifar: 4_020_358,
};

for (const [name, params] of Object.entries(EXPECTED)) {
  test(`${name} has ${params} parameters`, () => {
    assert.equal(countParams(getModel(name)), params);
  });
}

const manifest = JSON.parse(fs.readFileSync(fromRoot('test/models/data/torchvision_state_dicts.json'), 'utf8')) as {
  models: Record<string, { params: number; state_dict: [string, number[]][] }>;
};

for (const [name, m] of Object.entries(manifest.models)) {
  test(`${name}: same state_dict names, shapes and order as torchvision`, () => {
    const ours = paramSpecs(getModel(name)).map((s) => [s.name, [...s.shape]]);
    // torchvision stores num_batches_tracked as a 0-d tensor; bnff as [1].
    const theirs = m.state_dict.map(([k, s]) => [k, s.length === 0 ? [1] : s]);
    assert.deepEqual(ours, theirs);
    assert.equal(countParams(getModel(name)), m.params);
  });
}

test('num_classes and in_channels options change the stem and the classifier', () => {
  const def = getModel('resnet18', { numClasses: 7, inChannels: 1 });
  const specs = new Map(paramSpecs(def).map((s) => [s.name, s.shape]));
  assert.deepEqual(specs.get('conv1.weight'), [64, 1, 7, 7]);
  assert.deepEqual(specs.get('fc.weight'), [7, 512]);
  const d = new Map(paramSpecs(getModel('densenet121', { numClasses: 5 })).map((s) => [s.name, s.shape]));
  assert.deepEqual(d.get('classifier.weight'), [5, 1024]);
});

test('every model builds for its own input size and lists itself', () => {
  assert.ok(MODELS.length >= 9);
  for (const m of MODELS) assert.ok(countParams(m.create()) > 0, m.name);
});

test('unknown model names the model and lists the available ones', () => {
  assert.throws(
    () => getModel('resnet19'),
    (e: Error) => e instanceof UnknownModelError && /resnet19/.test(e.message) && /resnet20/.test(e.message),
  );
});

test('initialisation: seeded, kaiming normal std for convs, BN ones/zeros', () => {
  const a = new Network(getModel('resnet20'), new HostMemory('f64'), 3);
  const b = new Network(getModel('resnet20'), new HostMemory('f64'), 3);
  const c = new Network(getModel('resnet20'), new HostMemory('f64'), 4);
  const w = a.params.get('layer3.0.conv1.weight')!;
  assert.deepEqual(w, b.params.get('layer3.0.conv1.weight'));
  assert.notDeepEqual(w, c.params.get('layer3.0.conv1.weight'));
  // fan_out = 64 * 3 * 3; std = sqrt(2 / 576)
  let s2 = 0;
  for (const v of w) s2 += v * v;
  const std = Math.sqrt(s2 / w.length);
  assert.ok(Math.abs(std - Math.sqrt(2 / 576)) < 0.05 * Math.sqrt(2 / 576), `std ${std}`);
  assert.ok(a.params.get('bn1.weight')!.every((v) => v === 1));
  assert.ok(a.params.get('bn1.bias')!.every((v) => v === 0));
  assert.ok(a.state.get('bn1.running_var')!.every((v) => v === 1));
  const fc = a.params.get('fc.weight')!;
  assert.ok(fc.every((v) => Math.abs(v) <= 1 / Math.sqrt(64)));
  assert.equal(a.paramCount, 269_722);
  assert.equal(
    [...a.state.values()].reduce((n, s) => n + s.length, 0),
    paramSpecs(getModel('resnet20'))
      .filter((s) => s.kind === 'state')
      .reduce((n, s) => n + numel(s.shape), 0),
  );
});

test('initialisation of mobilenet_v2 and efficientnet_b0 as torchvision: kaiming normal (fan_out) convs, depthwise included; classifier N(0, 0.01) / U(+-1/sqrt(classes)); zero biases', () => {
  const std = (a: ArrayLike<number>): number => {
    let s2 = 0;
    for (let i = 0; i < a.length; i++) s2 += a[i]! * a[i]!;
    return Math.sqrt(s2 / a.length);
  };
  const near = (got: number, want: number, what: string): void => assert.ok(Math.abs(got - want) < 0.1 * want, `${what}: std ${got}, want ${want}`);
  const m = new Network(getModel('mobilenet_v2_cifar'), new HostMemory('f64'), 1);
  // depthwise [96, 1, 3, 3]: fan_out = 96 * 9
  near(std(m.params.get('features.2.conv.1.0.weight')!), Math.sqrt(2 / (96 * 9)), 'depthwise conv');
  near(std(m.params.get('features.2.conv.2.weight')!), Math.sqrt(2 / 24), 'project conv');
  near(std(m.params.get('classifier.1.weight')!), 0.01, 'classifier');
  assert.ok(m.params.get('classifier.1.bias')!.every((v) => v === 0));
  const e = new Network(getModel('efficientnet_b0'), new HostMemory('f64'), 1);
  const fc = e.params.get('classifier.1.weight')!;
  assert.ok(fc.every((v) => Math.abs(v) <= 1 / Math.sqrt(1000)));
  near(std(fc), 1 / Math.sqrt(1000) / Math.sqrt(3), 'classifier (uniform)');
  for (const name of ['features.2.0.block.2.fc1.bias', 'features.2.0.block.2.fc2.bias', 'classifier.1.bias'])
    assert.ok(
      e.params.get(name)!.every((v) => v === 0),
      name,
    );
  // SE fc2 [96, 4, 1, 1]: fan_out = 96
  near(std(e.params.get('features.2.0.block.2.fc2.weight')!), Math.sqrt(2 / 96), 'squeeze-excitation fc2');
});

test('mobilenet_v2_050_cifar: the width multiplier rounds channels to multiples of 8 as torchvision does', () => {
  const specs = new Map(paramSpecs(getModel('mobilenet_v2_050_cifar')).map((s) => [s.name, s.shape]));
  assert.deepEqual(specs.get('features.0.0.weight'), [16, 3, 3, 3]);
  assert.deepEqual(specs.get('features.1.conv.1.weight'), [8, 16, 1, 1]);
  assert.deepEqual(specs.get('features.18.0.weight'), [1280, 160, 1, 1], 'the last conv keeps 1280 channels below width 1');
});
