/**
 * A child process for the crash tests: writes checkpoints of resnet8 (for the embedded
 * dataset: 1 channel, 10 classes) to one path in a loop, as fast as it can. Write i holds
 * every weight, state and momentum value equal to i and globalStep = i, so a reader can tell
 * a whole checkpoint from a torn one. Prints "wrote i" after each write.
 *   node checkpoint_writer.js PATH FIRST
 * Without arguments (the test runner loads every file under test/) it does nothing.
 */
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { SGD } from '../../src/train/sgd.js';
import { createNetwork } from '../../src/train/trainer.js';

export const WRITER_MODEL = 'resnet8';
export const writerNetwork = (): ReturnType<typeof createNetwork> => createNetwork({ model: WRITER_MODEL, seed: 0 }, { channels: 1, numClasses: 10 });

/** Checks that the checkpoint at path is one whole write; returns its index. */
export function readWrite(path: string): number {
  const net = writerNetwork();
  const { meta, momentum } = loadCheckpoint(path, net);
  const i = meta.globalStep;
  for (const m of [net.params, net.state, momentum]) {
    for (const [k, a] of m) if (!a.every((v) => v === i)) throw new Error(`${path}: torn checkpoint: ${k} is not all ${i}`);
  }
  if (momentum.size !== net.params.size) throw new Error(`${path}: ${momentum.size} momentum buffers for ${net.params.size} parameters`);
  return i;
}

const [, , path, first] = process.argv;
if (path !== undefined && first !== undefined) {
  const net = writerNetwork();
  const opt = new SGD(net.params, { lr: 0.1, momentum: 0.9 });
  opt.loadBuffers(new Map([...net.params].map(([k, a]) => [k, new Float32Array(a.length)])));
  for (let i = Number(first); ; i++) {
    for (const m of [net.params, net.state, opt.buffers]) for (const a of m.values()) a.fill(i);
    saveCheckpoint(path, net, opt, { model: WRITER_MODEL, epoch: 1, globalStep: i, seed: 0, dataset: 'fashion-mnist-subset', config: {}, metrics: [] });
    process.stdout.write(`wrote ${i}\n`);
  }
}
