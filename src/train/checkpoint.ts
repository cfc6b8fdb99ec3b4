/**
 * Checkpoints: one safetensors file holding the weights (torchvision names), the optimizer's
 * momentum buffers ("optimizer.momentum_buffer.<param>") and, in its metadata, what is needed
 * to resume (model, epochs done, global step, how far an interrupted epoch got, seed, the run's
 * configuration and metrics).
 * One file, written atomically (temporary file, fsync, rename, fsync of the directory): a
 * crash mid-write leaves the previous checkpoint intact, and the next write removes the
 * temporary file the crashed writer left.
 */
import { existsSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SafetensorsError, readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.js';
import { loadWeights, stateDict } from '../io/weights.js';
import type { WriteGuard } from '../io/safe_write.js';
import { getModel, MODELS } from '../models/index.js';
import { type ModelDef, type Network, paramSpecs } from '../models/network.js';
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

/** `guard` as for writeSafetensorsFile (by default a regular file there is replaced, nothing else). */
export function saveCheckpoint(path: string, net: Network, opt: SGD, meta: CheckpointMeta, guard?: WriteGuard): void {
  removeStaleTemporaries(path);
  const tensors = stateDict(net);
  for (const [name, buf] of opt.buffers) tensors.set(MOMENTUM + name, { dtype: 'F32', shape: [buf.length], data: Float32Array.from(buf) });
  writeSafetensorsFile(path, tensors, { format: 'pt', model: net.def.name, bnff_checkpoint: JSON.stringify(meta) }, guard);
}

/**
 * Removes the temporary files (".<name>.<pid>.<random>.tmp", see src/io/atomic.ts) that
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
    if (other !== undefined && other !== net.def.name)
      throw new SafetensorsError(`${path} is a checkpoint of ${other}, not ${net.def.name}; resume it with --model ${other}`);
    throw e;
  }
  const { tensors, metadata } = contents;
  const meta = checkpointMeta(path, metadata);
  if (!meta)
    throw new SafetensorsError(
      `${path}: not a bnff checkpoint (no bnff_checkpoint metadata); resume from a run's checkpoint.safetensors (weights.safetensors holds weights only)`,
    );
  checkNormalisation(path, meta.config, net.def.inChannels, net.def.name);
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

/** The checkpoint metadata of a file's safetensors metadata; undefined for a plain weights file. Every field is checked, naming the file. */
export function checkpointMeta(path: string, metadata: Record<string, string>): CheckpointMeta | undefined {
  if (metadata.bnff_checkpoint === undefined) return undefined;
  let meta: unknown;
  try {
    meta = JSON.parse(metadata.bnff_checkpoint);
  } catch {
    throw new SafetensorsError(`${path}: corrupt checkpoint metadata`);
  }
  const m = meta as Partial<CheckpointMeta> | null;
  if (typeof m !== 'object' || m === null || typeof m.model !== 'string' || typeof m.config !== 'object' || m.config === null || Array.isArray(m.config)) {
    throw new SafetensorsError(`${path}: corrupt checkpoint metadata (no model or config)`);
  }
  const bad = (field: string, what: string, v: unknown): never => {
    throw new SafetensorsError(`${path}: corrupt checkpoint metadata: ${field} is ${JSON.stringify(v) ?? String(v)}, expected ${what}`);
  };
  if (!MODELS.some((d) => d.name === m.model)) bad('model', `one of ${MODELS.map((d) => d.name).join(', ')}`, m.model);
  const count = (field: string, v: unknown, min = 0): number =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= MAX_COUNT ? v : bad(field, `an integer in [${min}, ${MAX_COUNT}]`, v);
  const epoch = count('epoch', m.epoch);
  count('globalStep', m.globalStep);
  count('seed', m.seed);
  if (typeof m.dataset !== 'string') bad('dataset', 'a string', m.dataset);
  if (!Array.isArray(m.metrics)) bad('metrics', 'an array', m.metrics);
  m.metrics!.forEach((e, i) => {
    const r = e as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null) bad(`metrics[${i}]`, 'an object', e);
    count(`metrics[${i}].epoch`, r!.epoch, 1);
    if ((r!.epoch as number) > epoch) bad(`metrics[${i}].epoch`, `at most the ${epoch} epoch(s) done`, r!.epoch);
  });
  if (m.partial !== undefined) {
    const p = m.partial as unknown as Record<string, unknown> | null;
    if (typeof p !== 'object' || p === null) bad('partial', 'an object', p);
    count('partial.step', p!.step);
    count('partial.correct', p!.correct);
    count('partial.seen', p!.seen);
    for (const k of ['lossSum', 'seconds'])
      if (typeof p![k] !== 'number' || !Number.isFinite(p![k]) || (p![k] as number) < 0) bad(`partial.${k}`, 'a finite number >= 0', p![k]);
  }
  for (const k of ['mean', 'std'] as const) {
    const v = m.config[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (k === 'mean' || x > 0))) {
      bad(`config.${k}`, k === 'std' ? 'an array of numbers > 0' : 'an array of finite numbers', v);
    }
  }
  return m as CheckpointMeta;
}

/** The per-channel normalisation of a run's configuration must have one entry per input channel of the model. */
export function checkNormalisation(path: string, config: Record<string, unknown>, inChannels: number, model: string): void {
  for (const k of ['mean', 'std'] as const) {
    const v = config[k];
    if (Array.isArray(v) && v.length !== inChannels) {
      throw new SafetensorsError(`${path}: ${k} has ${v.length} value(s) but ${model} here takes ${inChannels}-channel images: one per channel expected`);
    }
  }
}

/** Epochs, steps, seeds: far beyond any real run, and exact in a float64. */
const MAX_COUNT = 2 ** 40;

/** What a saved model file says about itself, read without building the model. */
export interface SavedModel {
  path: string;
  /** The model built for the file's weights: classes and input channels read off their shapes. */
  def: ModelDef;
  /** Present for a checkpoint; absent for a plain weights file (saveWeights). */
  meta?: CheckpointMeta;
  /** The run's configuration: the checkpoint's, else config.json of the run directory beside a weights file. */
  config: Record<string, unknown>;
}

/**
 * Reads a checkpoint (or a weights file written by saveWeights) far enough to know its model:
 * the model name from its metadata, the numbers of input channels and classes from the shapes
 * of its first convolution and its classifier. `expectModel` (a --model option) must match.
 */
export function inspectSavedModel(path: string, expectModel?: string): SavedModel {
  const { tensors, metadata } = readSafetensorsFile(path);
  const meta = checkpointMeta(path, metadata);
  const model = meta?.model ?? metadata.model;
  if (model === undefined) throw new SafetensorsError(`${path}: not a bnff checkpoint or weights file (no model in its metadata)`);
  if (!MODELS.some((d) => d.name === model)) throw new SafetensorsError(`${path}: its metadata names model "${model}", which bnff does not have`);
  if (expectModel !== undefined && expectModel !== model)
    throw new SafetensorsError(`${path} is a checkpoint of ${model}, not ${expectModel}; drop --model or pass --model ${model}`);
  const specs = paramSpecs(getModel(model)).filter((s) => s.kind === 'param');
  const first = specs.find((s) => s.shape.length === 4);
  const last = [...specs].reverse().find((s) => s.shape.length === 2);
  const dim = (name: string | undefined, axis: number): number | undefined => (name === undefined ? undefined : tensors.get(name)?.shape[axis]);
  const inChannels = dim(first?.name, 1);
  const numClasses = dim(last?.name, 0);
  if (inChannels === undefined || numClasses === undefined)
    throw new SafetensorsError(`${path}: does not hold the weights of ${model} (no "${first?.name}" or "${last?.name}")`);
  // The run's config.json fills in what the checkpoint's own configuration lacks (a weights
  // file has none; checkpoints older than the mean/std field lack the normalisation).
  let config = meta?.config ?? {};
  const beside = join(dirname(path), 'config.json');
  if (existsSync(beside) && (!meta || config.mean === undefined || config.std === undefined)) {
    try {
      config = { ...(JSON.parse(readFileSync(beside, 'utf8')) as Record<string, unknown>), ...config };
    } catch (e) {
      throw new SafetensorsError(`${path}: cannot read the run's ${beside}: ${(e as Error).message}`);
    }
  }
  for (const k of ['mean', 'std'] as const) {
    const v = config[k];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (k === 'mean' || x > 0)))) {
      throw new SafetensorsError(
        `${path}: ${k} in the run's configuration is ${JSON.stringify(v)}, expected an array of ${k === 'std' ? 'numbers > 0' : 'finite numbers'}`,
      );
    }
  }
  checkNormalisation(path, config, inChannels, model);
  return { path, def: getModel(model, { numClasses, inChannels }), meta, config };
}
