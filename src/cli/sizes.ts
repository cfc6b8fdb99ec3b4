/**
 * Image sizes and batch sizes checked against the model and against memory before anything is
 * allocated: a size the model's layers cannot take is a usage error naming the smallest size
 * that works (exit 2); a size whose activations cannot fit is a HeapOverflowError naming the
 * largest that does (exit 1, as an overflowing batch).
 */
import os from 'node:os';
import { Builder } from '../graph/builder.js';
import { numel, ShapeError } from '../graph/ir.js';
import type { ModelDef } from '../models/network.js';
import { type EngineChoice, engineChoice } from '../runtime/engine.js';
import { HeapOverflowError, MAX_ARENA_BYTES } from '../runtime/memory.js';
import { defaultArenaBytes, nativeStatus } from '../runtime/native.js';
import { UsageError } from './args.js';

export interface SizeCheck {
  /** The option that set the size, for messages ("--image-size"). */
  option: string;
  /** Training builds BNs in training mode (more than one value per channel). */
  training: boolean;
  batch: number;
  /** Bytes the activations may take (default: the 4 GiB wasm32 heap; engineMemory gives each engine's); 0: no memory check. */
  memoryBytes?: number;
  /** Bytes per element (4 for float32). */
  itemBytes?: number;
  /** Why the size is checked at this batch, when it is not the one asked for. */
  why?: string;
}

/** Bytes of the forward activations of def at [batch, C, size, size], or the ShapeError of a size it cannot take. */
function forward(def: ModelDef, size: number, c: SizeCheck): { bytes: number } | { error: ShapeError } {
  const b = new Builder({ training: c.training });
  try {
    def.build(b, b.input('x', [c.batch, def.inChannels, size, size]));
  } catch (e) {
    if (e instanceof ShapeError) return { error: e };
    throw e;
  }
  let n = 0;
  for (const v of b.g.values) if (v.kind === 'input' || v.kind === 'activation') n += numel(v.shape);
  return { bytes: n * (c.itemBytes ?? 4) };
}

/**
 * The memory limit of an engine: the 4 GiB wasm32 heap (wasm), the native arena (native, and auto
 * where the native engine runs: this machine's memory), or this machine's memory in float64
 * (reference).
 */
export async function engineMemory(engine: EngineChoice): Promise<{ memoryBytes: number; itemBytes: number }> {
  const kind = engineChoice(engine);
  if (kind === 'reference') return { memoryBytes: os.totalmem(), itemBytes: 8 };
  if (kind === 'wasm') return { memoryBytes: MAX_ARENA_BYTES, itemBytes: 4 };
  const st = await nativeStatus();
  return { memoryBytes: st.ok ? defaultArenaBytes() : MAX_ARENA_BYTES, itemBytes: 4 };
}

const GiB = (b: number): string => `${(b / 2 ** 30).toFixed(b >= 2 ** 40 ? 0 : 2)} GiB`;

export function checkImageSize(def: ModelDef, size: number, c: SizeCheck): void {
  const limit = c.memoryBytes ?? MAX_ARENA_BYTES;
  const at = (s: number): { bytes: number } | { error: ShapeError } => forward(def, s, c);
  const r = at(size);
  if ('error' in r) {
    // the smallest size that builds, by bisection up to the model's own size (which always does)
    let lo = size;
    let hi = Math.max(def.imageSize, size + 1);
    while ('error' in at(hi)) hi *= 2;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if ('error' in at(mid)) lo = mid;
      else hi = mid;
    }
    const mode = c.training ? ` when training at batch ${c.batch}${c.why ? ` (${c.why})` : ''}` : '';
    throw new UsageError(`${c.option} ${size} is too small for ${def.name}${mode}: ${r.error.message}; the smallest size it takes is ${hi}`);
  }
  if (limit > 0 && r.bytes > limit) {
    let lo = 1;
    let hi = size;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const m = at(mid);
      if ('error' in m || m.bytes <= limit) lo = mid;
      else hi = mid;
    }
    const where = limit === MAX_ARENA_BYTES ? 'the 4 GiB wasm32 heap holds' : `this machine's ${GiB(limit)} of memory (the native arena)`;
    throw new HeapOverflowError(`${def.name} at batch ${c.batch} and ${c.option} ${size}: the activations alone need ${GiB(r.bytes)}, more than ${where}; the largest size that fits is about ${lo}`);
  }
}
