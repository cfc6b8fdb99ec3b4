/**
 * Training steps of resnet8 (1x32x32 inputs, 10 classes), fused and unfused interleaved on one
 * engine, the same code on Node (bench/browser_step.ts) and in a browser worker (bnff_worker.ts):
 * forward, backward and the SGD update, timed per step after warm-up steps.
 */
import { ALL_FUSION, type Engine, NO_FUSION, Network, SGD, getModel } from '../../src/browser/index.js';
import { type Rate, type StepOptions, fixedBatch, rate } from './timing.js';

export function bnffSteps(engine: Engine, o: StepOptions): { fused: Rate; unfused: Rate } {
  const def = getModel('resnet8', { numClasses: 10, inChannels: 1 });
  const shape = [o.batch, 1, 32, 32];
  const { x, labels } = fixedBatch(o.batch, 32);
  const modes = (['fused', 'unfused'] as const).map((name) => {
    const net = new Network(def, engine.memory, 0, engine.lowering, name === 'fused' ? ALL_FUSION : NO_FUSION);
    const opt = new SGD(net.params, { lr: 0.01, momentum: 0.9 }, engine.memory, engine.backend);
    return { name, net, opt, times: [] as number[] };
  });
  for (let i = 0; i < o.warmup + o.steps; i++) {
    for (const m of modes) {
      const t0 = performance.now();
      m.net.forwardBackward(x, labels, shape, { seed: 0, step: i });
      m.opt.step(m.net.trainPlan(shape).grads);
      if (i >= o.warmup) m.times.push((performance.now() - t0) / 1000);
    }
  }
  return { fused: rate(modes[0]!.times, o.batch), unfused: rate(modes[1]!.times, o.batch) };
}
