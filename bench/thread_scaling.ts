/**
 * Thread scaling of a training step: the same model on a 1-thread and a 2-thread engine (or
 * --threads T), in one process, steps alternating between the two (the order flips every round),
 * so that a shared machine's slow phases hit both alike. Prints the per-round ratio
 * (time with 1 thread / time with T threads), its median and spread, and the ratio of medians.
 *
 *   node dist/bench/thread_scaling.js [--model resnet50] [--batch-size 16] [--image-size 224] [--threads 2] [--steps 5] [--fused] [--json]
 */
import { getModel } from '../src/models/index.js';
import { Network } from '../src/models/network.js';
import { ALL_FUSION, NO_FUSION } from '../src/passes/index.js';
import { createEngine } from '../src/runtime/engine.js';
import { Rng } from '../src/util/random.js';
import { benchArgs, machine, spread } from '../src/bench/common.js';

const { opt, flag } = benchArgs();
const model = opt('model', 'resnet50');
const N = Number(opt('batch-size', '16')), S = Number(opt('image-size', '224'));
const T = Number(opt('threads', '2')), steps = Number(opt('steps', '5'));
const fusion = flag('fused') ? ALL_FUSION : NO_FUSION;

const shape = [N, 3, S, S];
const rng = new Rng(1);
const x = Float32Array.from({ length: N * 3 * S * S }, () => rng.normal());
const labels = Array.from({ length: N }, (_, i) => i % 10);
const runs: { threads: number; close: () => void; net: Network; times: number[] }[] = [];
for (const threads of [1, T]) {
  const e = await createEngine({ threads });
  runs.push({ threads, close: () => e.close(), net: new Network(getModel(model), e.memory, 1, e.lowering, fusion), times: [] });
}
const ratios: number[] = [];
for (let r = 0; r <= steps; r++) {
  const t: number[] = [];
  for (const run of r % 2 ? runs : [...runs].reverse()) {
    const t0 = performance.now();
    run.net.forwardBackward(x, labels, shape, { seed: 1, step: r });
    t[run.threads] = (performance.now() - t0) / 1000;
    if (r > 0) run.times.push(t[run.threads]!);
  }
  if (r > 0) ratios.push(t[1]! / t[T]!);
}
for (const run of runs) run.close();
const one = spread(runs[0]!.times), many = spread(runs[1]!.times);
const out = {
  model, batch_size: N, image_size: S, fused: fusion === ALL_FUSION, threads: T, machine: machine(),
  step_s: { 1: one, [T]: many }, ratio_of_medians: one.median / many.median, ratio_per_round: spread(ratios),
};
if (flag('json')) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
else {
  process.stdout.write(`${model} batch ${N} ${S}px, ${fusion === ALL_FUSION ? 'fused' : 'unfused'}: 1 thread ${one.median.toFixed(3)} s, ${T} threads ${many.median.toFixed(3)} s (medians of ${steps})\n`);
  process.stdout.write(`speed-up ${out.ratio_of_medians.toFixed(3)} (ratio of medians), per round ${out.ratio_per_round.median.toFixed(3)} [${out.ratio_per_round.min.toFixed(3)}, ${out.ratio_per_round.max.toFixed(3)}]\n`);
}
