/**
 * Checkpoints: one safetensors file holding the weights (torchvision names), the optimizer's
 * momentum buffers ("optimizer.momentum_buffer.<param>") and, in its metadata, what is needed
 * to resume (model, epochs done, global step, seed, the run's configuration and metrics).
 * One file, written atomically (temporary file, fsync, rename, fsync of the directory): a
 * crash mid-write leaves the previous checkpoint intact, and the next write removes the
 * temporary file the crashed writer left.
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SafetensorsError } from '../io/safetensors.js';
import { loadWeights, stateDict } from '../io/weights.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.js';
import type { Network } from '../models/network.js';
import type { SGD } from './sgd.js';

export interface CheckpointMeta {
  model: string;
  /** Epochs completed. */
  epoch: number;
  globalStep: number;
  seed: number;
  dataset: string;
  config: Record<string, unknown>;
  metrics: unknown[];
}

const MOMENTUM = 'optimizer.momentum_buffer.';

export function saveCheckpoint(path: string, net: Network, opt: SGD, meta: CheckpointMeta): void {
  removeStaleTemporaries(path);
  const tensors = stateDict(net);
  for (const [name, buf] of opt.buffers) tensors.set(MOMENTUM + name, { dtype: 'F32', shape: [buf.length], data: Float32Array.from(buf) });
  writeSafetensorsFile(path, tensors, { format: 'pt', model: net.def.name, bnff_checkpoint: JSON.stringify(meta) });
}

/**
 * Removes the temporary files (".<name>.<pid>.<random>.tmp", see writeSafetensorsFile) that
 * writers of this checkpoint killed mid-write left behind: those whose process is gone.
 */
function removeStaleTemporaries(path: string): void {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const f of names) {
    const m = f.startsWith(prefix) ? /^(\d+)\.[0-9a-f]+\.tmp$/.exec(f.slice(prefix.length)) : null;
    if (!m || Number(m[1]) === process.pid || isAlive(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, f));
    } catch {
      /* gone already, or not ours to remove */
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function modelOf(path: string): string | undefined {
  try {
    return readSafetensorsFile(path).metadata.model;
  } catch {
    return undefined;
  }
}

/** Loads weights and state into net, returns the metadata and the momentum buffers. */
export function loadCheckpoint(path: string, net: Network): { meta: CheckpointMeta; momentum: Map<string, Float32Array> } {
  let contents: ReturnType<typeof loadWeights>;
  try {
    contents = loadWeights(net, path, [MOMENTUM]);
  } catch (e) {
    // A checkpoint of another model: say which model, rather than which tensor differs.
    const other = modelOf(path);
    if (other !== undefined && other !== net.def.name) throw new SafetensorsError(`${path} is a checkpoint of ${other}, not ${net.def.name}; resume it with --model ${other}`);
    throw e;
  }
  const { tensors, metadata } = contents;
  if (!metadata.bnff_checkpoint) throw new SafetensorsError(`${path}: not a bnff checkpoint (no bnff_checkpoint metadata); resume from a run's checkpoint.safetensors (weights.safetensors holds weights only)`);
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
