import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { readSafetensorsFile } from '../../src/io/safetensors.js';
import { loadWeights } from '../../src/io/weights.js';
import { torchvisionDensenet } from '../../src/models/densenet.js';
import { torchvisionEfficientnet } from '../../src/models/efficientnet.js';
import { type InvertedResidualRow, torchvisionMobilenetV2 } from '../../src/models/mobilenet.js';
import { type ModelDef, Network } from '../../src/models/network.js';
import { torchvisionResnet } from '../../src/models/resnet.js';
import { createEngine } from '../../src/runtime/engine.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { maxRelDiff } from '../helpers/bn.js';
import { fromRoot } from '../helpers/paths.js';

/** What tools/make_torchvision_fixture.py records of the torchvision model it built. */
type TorchvisionConfig =
  | { family: 'densenet'; growth_rate: number; block_config: number[]; num_init_features: number; bn_size: number; num_classes: number }
  | { family: 'resnet'; block: 'basic' | 'bottleneck'; layers: number[]; num_classes: number }
  | { family: 'mobilenet_v2'; width_mult: number; inverted_residual_setting?: InvertedResidualRow[]; stem_stride: number; num_classes: number }
  | { family: 'efficientnet'; rows?: number[][]; width_mult: number; depth_mult: number; last_channel?: number; stem_stride: number; num_classes: number };

function bnffModel(name: string, c: TorchvisionConfig): ModelDef {
  const o = { numClasses: c.num_classes };
  if (c.family === 'resnet') return torchvisionResnet(name, c.block, c.layers, o);
  if (c.family === 'mobilenet_v2')
    return torchvisionMobilenetV2(name, { widthMult: c.width_mult, setting: c.inverted_residual_setting, stemStride: c.stem_stride }, o);
  if (c.family === 'efficientnet') {
    const setting = c.rows?.map(([expandRatio, kernel, stride, inputChannels, outChannels, numLayers]) => ({
      expandRatio: expandRatio!,
      kernel: kernel!,
      stride: stride!,
      inputChannels: inputChannels!,
      outChannels: outChannels!,
      numLayers: numLayers!,
    }));
    return torchvisionEfficientnet(
      name,
      { setting, widthMult: c.width_mult, depthMult: c.depth_mult, lastChannel: c.last_channel, stemStride: c.stem_stride },
      o,
    );
  }
  return torchvisionDensenet(name, { growthRate: c.growth_rate, blockConfig: c.block_config, numInitFeatures: c.num_init_features, bnSize: c.bn_size }, o);
}

/**
 * Loads NAME.safetensors (a torchvision state_dict) into bnff's model with loadWeights and
 * compares bnff's eval logits with PyTorch's (NAME.io.safetensors): float64 folded and unfolded
 * against torch's float64 logits, the float32 wasm engine against torch's float32 logits.
 */
async function compareWithTorch(t: TestContext, dir: string, name: string): Promise<void> {
  const io = readSafetensorsFile(path.join(dir, `${name}.io.safetensors`));
  const def = bnffModel(name, JSON.parse(io.metadata.config!) as TorchvisionConfig);
  const input = io.tensors.get('input')!;
  const x = input.data as Float32Array;
  const shape = input.shape;
  const want64 = io.tensors.get('logits_f64')!.data as Float64Array;
  const want32 = io.tensors.get('logits')!.data as Float32Array;
  const weights = path.join(dir, `${name}.safetensors`);

  const net = new Network(def, new HostMemory('f64'), 0);
  loadWeights(net, weights);
  assert.equal(net.state.get(net.specs.find((s) => s.name.endsWith('num_batches_tracked'))!.name)![0], 3);
  const folded = maxRelDiff(net.predict(x, shape), want64);
  const unfolded = maxRelDiff(net.predict(x, shape, { fold: false }), want64);
  const engine = await createEngine({ threads: 2 });
  let f32: number;
  try {
    const fast = new Network(def, engine.memory, 0, engine.lowering);
    loadWeights(fast, weights);
    f32 = maxRelDiff(fast.predict(x, shape), want32);
  } finally {
    engine.close();
  }
  t.diagnostic(
    `${name}: relative logit difference vs PyTorch: float64 folded ${folded.toExponential(2)}, unfolded ${unfolded.toExponential(2)}; float32 wasm ${f32.toExponential(2)}`,
  );
  assert.ok(folded < 1e-10 && unfolded < 1e-10, `${name} float64: folded ${folded}, unfolded ${unfolded}`);
  assert.ok(f32 < 1e-4, `${name} float32 wasm engine: ${f32}`);
}

for (const [name, what] of [
  ['densenet_tiny', 'DenseNet'],
  ['mobilenet_v2_tiny', 'MobileNetV2'],
  ['efficientnet_tiny', 'EfficientNet'],
]) {
  test(`a torchvision ${what} state_dict (committed fixture) loads into bnff and gives PyTorch's logits`, async (t) => {
    await compareWithTorch(t, fromRoot('test/io/data'), name!);
  });
}

const PYTHON = '/usr/bin/python3';
const torchMissing = ((): string | false => {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8', timeout: 120_000 });
  return r.status === 0
    ? false
    : `${PYTHON} cannot import torch and torchvision (Debian: apt-get install python3-torch python3-torchvision): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
})();

test(
  "torchvision resnet18, densenet121, mobilenet_v2 and efficientnet_b0, exported by PyTorch at test time, give PyTorch's logits in bnff",
  { skip: torchMissing },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-torchvision-'));
    const models = ['resnet18', 'densenet121', 'mobilenet_v2', 'efficientnet_b0'];
    try {
      const r = spawnSync(PYTHON, [fromRoot('tools/make_torchvision_fixture.py'), dir, '--models', models.join(','), '--image-size', '64'], {
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(r.status, 0, `make_torchvision_fixture.py failed: ${r.stderr || r.error?.message || `signal ${r.signal}`}`);
      for (const name of models) await compareWithTorch(t, dir, name);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
