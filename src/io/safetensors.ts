/**
 * safetensors files: the format on bytes is src/io/safetensors_format.ts (re-exported here); this
 * file reads and writes it on disk (Node).
 */
import { readFileSync } from 'node:fs';
import { WriteRefusedError, type WriteGuard, writeFileSafe } from './safe_write.js';
import { SafetensorsError, type SafetensorsContents, type TensorsInput, readSafetensors, writeSafetensors } from './safetensors_format.js';

export * from './safetensors_format.js';

export function readSafetensorsFile(path: string): SafetensorsContents {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  return readSafetensors(bytes, path);
}

/**
 * Writes atomically (src/io/atomic.ts): a temporary file in the same directory, fsync, then
 * rename over `path`. On failure `path` is left as it was. `guard` (src/io/safe_write.ts) says
 * what may be replaced; by default an existing regular file is, anything else (a directory, a
 * symlink, a FIFO, a device) never is (a WriteRefusedError).
 */
export function writeSafetensorsFile(path: string, tensors: TensorsInput, metadata?: Record<string, string>, guard: WriteGuard = { replace: true }): void {
  const bytes = writeSafetensors(tensors, metadata);
  try {
    writeFileSafe(path, bytes, guard);
  } catch (e) {
    if (e instanceof WriteRefusedError) throw e;
    throw new SafetensorsError(`${path}: cannot write: ${(e as Error).message}`, { cause: e });
  }
}
