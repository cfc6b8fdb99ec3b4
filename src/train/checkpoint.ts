/**
 * Checkpoints: one safetensors file holding the weights (torchvision names), the optimizer's
 * momentum buffers ("optimizer.momentum_buffer.<param>") and, in its metadata, what is needed
 * to resume (model, epochs done, global step, how far an interrupted epoch got, seed, the run's
 * configuration and metrics).
 * One file, written atomically (temporary file, fsync, rename): a crash mid-write leaves the
 * previous checkpoint intact.
 */
import { SafetensorsError } from '../io/safetensors.js';
import { loadWeights, stateDict } from '../io/weights.js';
import { writeSafetensorsFile } from '../io/safetensors.js';
import type { Network } from '../models/network.js';
import type { SGD } from './sgd.js';
import type { PartialEpoch } from './trainer.js';

export interface CheckpointMeta {
  model: string;
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken in all, the partial epoch's included. */
  globalStep: number;
  /** Written on an interrupt: how far the epoch after `epoch` got (its steps and running sums). */
  partial?: PartialEpoch;
  seed: number;
  dataset: string;
  config: Record<string, unknown>;
  metrics: unknown[];
}

const MOMENTUM = 'optimizer.momentum_buffer.';

export function saveCheckpoint(path: string, net: Network, opt: SGD, meta: CheckpointMeta): void {
  const tensors = stateDict(net);
  for (const [name, buf] of opt.buffers) tensors.set(MOMENTUM + name, { dtype: 'F32', shape: [buf.length], data: Float32Array.from(buf) });
  writeSafetensorsFile(path, tensors, { format: 'pt', model: net.def.name, bnff_checkpoint: JSON.stringify(meta) });
}

/** Loads weights and state into net, returns the metadata and the momentum buffers. */
export function loadCheckpoint(path: string, net: Network): { meta: CheckpointMeta; momentum: Map<string, Float32Array> } {
  const { tensors, metadata } = loadWeights(net, path, [MOMENTUM]);
  if (!metadata.bnff_checkpoint) throw new SafetensorsError(`${path}: not a bnff checkpoint (no bnff_checkpoint metadata); plain weights load with loadWeights`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metadata.bnff_checkpoint) as CheckpointMeta;
  } catch {
    throw new SafetensorsError(`${path}: corrupt checkpoint metadata`);
  }
  const momentum = new Map<string, Float32Array>();
  for (const [k, t] of tensors) {
    if (!k.startsWith(MOMENTUM)) continue;
    const name = k.slice(MOMENTUM.length);
    const p = net.params.get(name);
    if (!p || p.length !== t.data.length) throw new SafetensorsError(`${path}: momentum buffer "${name}" does not match a parameter of ${net.def.name}`);
    momentum.set(name, Float32Array.from(t.data as Float32Array));
  }
  return { meta, momentum };
}
