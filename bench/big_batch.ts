/**
 * A training step beyond the 4 GiB wasm32 heap, on the native engine, whose arena is as large as
 * this machine's memory: resnet50 at 224 px and batch 256 by default (the fused graph; --unfused
 * for the baseline). Runs --steps forward/backward + SGD steps and prints the arena used, each
 * step's time, the loss (finite) and the process's peak resident memory.
 *
 *   node dist/bench/big_batch.js [--model resnet50] [--batch-size 256] [--image-size 224] [--steps 1] [--unfused] [--json]
 */
import { getModel } from '../src/models/index.js';
import { Network } from '../src/models/network.js';
import { ALL_FUSION, NO_FUSION } from '../src/passes/index.js';
import { createEngine } from '../src/runtime/engine.js';
import { MAX_ARENA_BYTES } from '../src/runtime/memory.js';
import { SGD } from '../src/train/sgd.js';
import { Rng } from '../src/util/random.js';
import { machine } from '../src/bench/common.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : def;
};
const model = opt('model', 'resnet50');
const N = Number(opt('batch-size', '256')), S = Number(opt('image-size', '224')), steps = Number(opt('steps', '1'));
const fused = !args.includes('--unfused');

const engine = await createEngine({ kind: 'native' });
const GiB = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;
try {
  const def = getModel(model);
  const net = new Network(def, engine.memory, 1, engine.lowering, fused ? ALL_FUSION : NO_FUSION);
  const opt = new SGD(net.params, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }, engine.memory, engine.backend);
  const shape = [N, def.inChannels, S, S];
  const rng = new Rng(1);
  const x = Float32Array.from({ length: N * def.inChannels * S * S }, () => rng.normal());
  const labels = Array.from({ length: N }, (_, i) => i % def.numClasses);
  const times: number[] = [];
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    losses.push(net.forwardBackward(x, labels, shape, { seed: 1, step: s }));
    opt.step(net.trainPlan(shape).grads);
    times.push((performance.now() - t0) / 1000);
    process.stderr.write(`step ${s + 1}/${steps}: ${times[s]!.toFixed(1)} s, loss ${losses[s]!.toFixed(4)}\n`);
  }
  const out = {
    model, batch_size: N, image_size: S, fused, engine: engine.description, machine: machine(),
    arena_used_bytes: engine.memory.usedBytes, arena_max_bytes: engine.memory.maxBytes, wasm32_heap_bytes: MAX_ARENA_BYTES,
    step_s: times, images_per_s: times.map((t) => N / t), loss: losses, finite: losses.every(Number.isFinite),
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
  if (args.includes('--json')) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  else {
    process.stdout.write(`${model} batch ${N} ${S}px ${fused ? 'fused' : 'unfused'} on ${engine.description} (${out.machine.cpu})\n`);
    process.stdout.write(`arena used ${GiB(out.arena_used_bytes)} of ${GiB(out.arena_max_bytes)} (the wasm32 heap holds ${GiB(MAX_ARENA_BYTES)}); peak RSS ${GiB(out.peak_rss_bytes)}\n`);
    process.stdout.write(`steps: ${times.map((t) => `${t.toFixed(1)} s`).join(', ')}; loss ${losses.map((l) => l.toFixed(4)).join(', ')}\n`);
  }
  if (!out.finite) process.exitCode = 1;
} finally {
  engine.close();
}
