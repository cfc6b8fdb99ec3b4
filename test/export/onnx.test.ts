import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { runExport } from '../../src/cli/export.js';
import { OnnxExportError, exportOnnx } from '../../src/export/onnx.js';
import { emit } from '../../src/graph/emit.js';
import { getModel } from '../../src/models/index.js';
import { type ModelDef, Network } from '../../src/models/network.js';
import { createEngine } from '../../src/runtime/engine.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { SGD } from '../../src/train/sgd.js';
import { Rng } from '../../src/util/random.js';
import { maxAbsDiff, randomizeBatchNorms } from '../helpers/bn.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-onnx-'));
const ALLOWED = new Set([
  'Conv',
  'Relu',
  'Add',
  'Mul',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Concat',
  'Flatten',
  'Gemm',
  'Slice',
  'Pad',
  'Clip',
  'Sigmoid',
  'Identity',
]);

/** A checkpoint of model with non-trivial BN statistics: random ones, then two train-mode steps. */
function checkpointOf(model: string, size: number): string {
  const net = new Network(getModel(model, { numClasses: 10 }), new HostMemory('f32'), 4);
  randomizeBatchNorms(net, 12);
  const rng = new Rng(2);
  const shape = [4, 3, size, size];
  for (let s = 0; s < 2; s++)
    net.forwardBackward(
      Float32Array.from({ length: 4 * 3 * size * size }, () => rng.normal()),
      [0, 1, 2, 3],
      shape,
      { seed: 0, step: s },
    );
  const file = path.join(dir, `${model}.safetensors`);
  saveCheckpoint(file, net, new SGD(net.params, { lr: 0.1 }), {
    model,
    epoch: 3,
    globalStep: 9,
    seed: 0,
    dataset: 'x',
    config: { data: 'embedded', mean: [0.5, 0.4, 0.3], std: [0.2, 0.2, 0.2] },
    metrics: [],
  });
  return file;
}

// resnet18 is the torchvision topology (7x7 stem, max pool, projection shortcuts) at 32x32.
// mobilenet_v2_cifar: depthwise convolutions, ReLU6 (Clip), dropout (Identity); efficientnet_b0_cifar:
// SiLU (Sigmoid, Mul), squeeze-excitation (Conv with bias, Sigmoid, a broadcast Mul)
for (const [model, size] of [
  ['resnet20', 32],
  ['densenet40', 32],
  ['resnet18', 32],
  ['mobilenet_v2_cifar', 32],
  ['efficientnet_b0_cifar', 32],
] as const) {
  test(`ONNX export of ${model} runs in onnxruntime with bnff eval's logits (dynamic batch)`, async (t) => {
    const ckpt = checkpointOf(model, size);
    const out = path.join(dir, `${model}.onnx`);
    runExport({ checkpoint: ckpt, format: 'onnx', out, imageSize: size, json: false });
    const bytes = fs.readFileSync(out);
    const m = onnxProto.onnx.ModelProto.decode(bytes);
    assert.equal(Number(m.opsetImport[0]!.version), 17);
    const ops = new Set(m.graph!.node!.map((n) => n.opType!));
    for (const op of ops) assert.ok(ALLOWED.has(op), `unexpected ONNX op ${op}`);
    assert.ok(ops.has('Conv') && !ops.has('BatchNormalization'));
    if (!model.startsWith('efficientnet')) assert.equal(ops.has('Mul'), model === 'densenet40', 'Mul+Add only for BNs that follow no convolution');
    if (model.startsWith('mobilenet')) assert.ok(ops.has('Clip') && ops.has('Identity'));
    assert.equal(m.graph!.input![0]!.type!.tensorType!.shape!.dim![0]!.dimParam, 'N');
    assert.ok(m.metadataProps.some((p) => p.key === 'mean' && p.value === '[0.5,0.4,0.3]'));

    const engine = await createEngine({ threads: 1 });
    try {
      const net = new Network(getModel(model, { numClasses: 10 }), engine.memory, 0, engine.lowering);
      loadCheckpoint(ckpt, net);
      const session = await ort.InferenceSession.create(out);
      for (const N of [1, 3]) {
        const rng = new Rng(N);
        const x = Float32Array.from({ length: N * 3 * size * size }, () => rng.normal());
        const { logits } = await session.run({ input: new ort.Tensor('float32', x, [N, 3, size, size]) });
        assert.deepEqual(logits!.dims, [N, 10]);
        const ours = net.predict(x, [N, 3, size, size]);
        const diff = maxAbsDiff(logits!.data as Float32Array, ours);
        t.diagnostic(
          `${model} batch ${N}: max |onnxruntime - bnff| = ${diff.toExponential(2)} (largest |logit| ${Math.max(...Array.from(ours, Math.abs)).toFixed(2)})`,
        );
        assert.ok(diff < 1e-4, `${model} batch ${N}: max |onnxruntime - bnff| = ${diff}`);
      }
    } finally {
      engine.close();
    }
  });
}

test('an op without an ONNX counterpart is refused, naming the layer and the op', () => {
  const def: ModelDef = {
    name: 'odd',
    inChannels: 1,
    numClasses: 4,
    imageSize: 4,
    build(b, x) {
      const h = b.flatten('flatten', b.conv2d('conv', x, { out: 2, kernel: 3, padding: 1 }));
      const r = emit(b.g, 'reshape', 'regroup', [h], { shape: [1, 32] })[0]!;
      return b.linear('fc', r, { out: 4 });
    },
  };
  const net = new Network(def, new HostMemory('f32'), 0);
  assert.throws(
    () => exportOnnx(net),
    (e: unknown) => e instanceof OnnxExportError && /^layer "regroup" \(reshape\): the ONNX exporter does not support op "reshape"/.test(e.message),
  );
});
