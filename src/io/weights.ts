/**
 * Model weights as safetensors files with torchvision's state_dict names, so files move between
 * bnff and PyTorch (num_batches_tracked is an I64 scalar there, as in torch). The tensors
 * themselves: src/io/state_dict.ts.
 */
import type { Network } from '../models/network.js';
import type { WriteGuard } from './safe_write.js';
import { type SafetensorsContents, readSafetensorsFile, writeSafetensorsFile } from './safetensors.js';
import { applyStateDict, stateDict } from './state_dict.js';

export { stateDict } from './state_dict.js';

/** Writes atomically (temporary file, then rename); `guard` as for writeSafetensorsFile. */
export function saveWeights(net: Network, path: string, metadata: Record<string, string> = {}, guard?: WriteGuard): void {
  writeSafetensorsFile(path, stateDict(net), { format: 'pt', model: net.def.name, ...metadata }, guard);
}

/**
 * Loads every parameter and buffer; names a missing, unexpected or mis-shaped tensor. Tensors
 * whose names start with one of `ignorePrefixes` (a checkpoint's optimizer state) are skipped.
 */
export function loadWeights(net: Network, path: string, ignorePrefixes: string[] = []): SafetensorsContents {
  const contents = readSafetensorsFile(path);
  applyStateDict(net, contents, path, ignorePrefixes);
  return contents;
}
