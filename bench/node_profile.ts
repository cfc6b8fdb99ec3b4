/**
 * Wall time per node of a training step, fused (the engine's options, as `bnff train` runs) and
 * unfused in one process, the profiled steps interleaved: the nodes whose "layer (op)" matches
 * --match, summed per op, and the step's total. For one site of a model (the project
 * convolutions of mobilenet_v2 and the BN + ReLU6 before them:
 * `--match '^features\.([2-9]|1[0-7])\.conv\.(2|1\.1|1\.2)[ .:]'`).
 *
 *   node dist/bench/node_profile.js --model mobilenet_v2 --batch-size 32 --image-size 224 --steps 3 --match REGEX [--engine native]
 */
import { parseArgs } from 'node:util';
import { getModel } from '../src/models/index.js';
import { Network } from '../src/models/network.js';
import { ALL_FUSION, NO_FUSION } from '../src/passes/index.js';
import { createEngine, type EngineKind } from '../src/runtime/engine.js';
import { fusionCosts } from '../src/runtime/engine_factory.js';
import { Rng } from '../src/util/random.js';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string', default: 'mobilenet_v2_cifar' },
    'batch-size': { type: 'string', default: '64' },
    'image-size': { type: 'string', default: '32' },
    steps: { type: 'string', default: '3' },
    match: { type: 'string', default: '.' },
    engine: { type: 'string', default: 'native' },
  },
});
const engine = await createEngine({ kind: o.engine as EngineKind, threads: 2 });
try {
  const def = getModel(o.model);
  const B = Number(o['batch-size']),
    S = Number(o['image-size']),
    steps = Number(o.steps);
  const shape = [B, def.inChannels, S, S];
  const rng = new Rng(2);
  const x = Float32Array.from({ length: B * def.inChannels * S * S }, () => rng.normal());
  const labels = Float32Array.from({ length: B }, () => rng.int(def.numClasses));
  const nets = {
    fused: new Network(def, engine.memory, 1, engine.lowering, { ...ALL_FUSION, ...fusionCosts(engine.kind) }),
    unfused: new Network(def, engine.memory, 1, engine.lowering, NO_FUSION),
  };
  let step = 0;
  for (const n of Object.values(nets)) for (let i = 0; i < 2; i++) n.forwardBackward(x, labels, shape, { seed: 1, step: step++ });
  for (let i = 0; i < steps; i++) {
    for (const n of Object.values(nets)) {
      const { exec } = n.trainPlan(shape);
      exec.profiling = true;
      n.forwardBackward(x, labels, shape, { seed: 1, step: step++ });
      exec.profiling = false;
    }
  }
  const re = new RegExp(o.match);
  const out: Record<string, { step_s: number; matched_s: number; by_op: Record<string, number> }> = {};
  for (const [k, n] of Object.entries(nets)) {
    let total = 0,
      matched = 0;
    const byOp: Record<string, number> = {};
    for (const [key, s] of n.trainPlan(shape).exec.nodeProfile) {
      total += s / steps;
      if (!re.test(key)) continue;
      const op = /\((.*)\)$/.exec(key)![1]!;
      byOp[op] = (byOp[op] ?? 0) + s / steps;
      matched += s / steps;
    }
    out[k] = { step_s: total, matched_s: matched, by_op: byOp };
  }
  process.stdout.write(JSON.stringify({ model: o.model, batch: B, size: S, steps, engine: engine.description, match: o.match, ...out }, null, 2) + '\n');
} finally {
  engine.close();
}
