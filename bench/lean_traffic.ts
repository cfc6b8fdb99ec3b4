/**
 * What the missing kernels would save in MobileNetV2 and EfficientNet-B0, by the traffic model
 * of `bnff traffic` (src/bench/traffic.ts): the main-memory bytes of one training step
 *   unfused;
 *   fused without BN work in the depthwise convolutions (FusionOptions.depthwiseFusion false,
 *   ablation depthwise-unfused; the GEMM convolutions take ReLU6 and SiLU, no cost guards);
 *   + the fused depthwise kernels (ALL_FUSION, what runs);
 *   + the activation as a parameter of the fused normalize: the same network with ReLU in place
 *     of ReLU6 and SiLU, which every rule already handles (same shapes, same passes; the
 *     derivative recomputed from the stored BN input as ReLU's mask is).
 * Bytes in total and of the BN and activation passes (the paper's BN + ReLU).
 *
 *   node dist/bench/lean_traffic.js [--json]
 */
import { parseArgs } from 'node:util';
import type { Builder } from '../src/graph/builder.js';
import { graphTraffic } from '../src/bench/traffic.js';
import { getModel } from '../src/models/index.js';
import { type ModelDef, Network } from '../src/models/network.js';
import { ALL_FUSION, type FusionOptions, NO_FUSION } from '../src/passes/index.js';
import { HostMemory } from '../src/runtime/memory.js';

/** def with every ReLU6 and SiLU built as a ReLU. */
function withRelu(def: ModelDef): ModelDef {
  return {
    ...def,
    build(b: Builder, x: number): number {
      const relu = (name: string, v: number): number => b.relu(name, v);
      Object.assign(b, { relu6: relu, silu: relu });
      return def.build(b, x);
    },
  };
}

function bytes(def: ModelDef, shape: number[], fusion: FusionOptions): { total: number; bnAct: number } {
  const g = new Network(def, new HostMemory('f32'), 0, undefined, fusion).buildTrainGraph(shape).graph;
  const l = graphTraffic(g);
  return { total: l.reduce((s, x) => s + x.bytes, 0), bnAct: l.filter((x) => x.category === 'bn' || x.category === 'relu').reduce((s, x) => s + x.bytes, 0) };
}

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false } } });
const rows = [];
for (const [model, batch, size] of [
  ['mobilenet_v2_cifar', 64, 32],
  ['mobilenet_v2', 32, 224],
  ['efficientnet_b0_cifar', 64, 32],
  ['efficientnet_b0', 16, 224],
] as const) {
  const def = getModel(model);
  const shape = [batch, def.inChannels, size, size];
  const dw = ALL_FUSION;
  const r = {
    model,
    batch,
    size,
    unfused: bytes(def, shape, NO_FUSION),
    fused: bytes(def, shape, { ...ALL_FUSION, depthwiseFusion: false }),
    depthwise: bytes(def, shape, dw),
    activation: bytes(withRelu(def), shape, dw),
  };
  rows.push(r);
}
if (values.json) {
  process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
} else {
  const gb = (b: number): string => (b / 1e9).toFixed(2);
  console.log('model (batch, px)              unfused GB (BN+act)   no depthwise     + depthwise kernels   + activation in normalize');
  for (const r of rows) {
    const cell = (x: { total: number; bnAct: number }): string => `${gb(x.total)} (${gb(x.bnAct)}) ${(x.total / r.unfused.total).toFixed(3)}`.padEnd(21);
    console.log(
      `${`${r.model} (${r.batch}, ${r.size})`.padEnd(31)}${`${gb(r.unfused.total)} (${gb(r.unfused.bnAct)})`.padEnd(22)}${cell(r.fused)}${cell(r.depthwise)}${cell(r.activation)}`,
    );
  }
}
