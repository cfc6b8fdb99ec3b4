/**
 * Model weights as safetensors with torchvision's state_dict names, so files move between
 * bnff and PyTorch (num_batches_tracked is an I64 scalar there, as in torch).
 */
import type { Network } from '../models/network.js';
import type { WriteGuard } from './safe_write.js';
import { SafetensorsError, type SafetensorsContents, readSafetensorsFile, type TensorInput, writeSafetensorsFile } from './safetensors.js';

export function stateDict(net: Network): Map<string, TensorInput> {
  const out = new Map<string, TensorInput>();
  for (const s of net.specs) {
    const a = s.kind === 'param' ? net.params.get(s.name)! : net.state.get(s.name)!;
    if (s.name.endsWith('num_batches_tracked')) out.set(s.name, { dtype: 'I64', shape: [], data: BigInt64Array.from([BigInt(Math.round(a[0]!))]) });
    else out.set(s.name, { dtype: 'F32', shape: [...s.shape], data: Float32Array.from(a) });
  }
  return out;
}

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
  const { tensors } = contents;
  const expected = new Set(net.specs.map((s) => s.name));
  const unexpected = [...tensors.keys()].filter((k) => !expected.has(k) && !ignorePrefixes.some((p) => k.startsWith(p)));
  const missing = [...expected].filter((k) => !tensors.has(k));
  if (missing.length || unexpected.length) {
    throw new SafetensorsError(
      `${path}: does not match model ${net.def.name}` +
        (missing.length ? `; missing ${missing.length} tensor(s), first "${missing[0]}"` : '') +
        (unexpected.length ? `; unexpected ${unexpected.length} tensor(s), first "${unexpected[0]}"` : ''),
    );
  }
  for (const s of net.specs) {
    const t = tensors.get(s.name)!;
    const want = s.name.endsWith('num_batches_tracked') ? [] : [...s.shape];
    const got = t.shape;
    const same = got.length === want.length && got.every((d, i) => d === want[i]);
    if (!same && !(want.length === 0 && got.length === 1 && got[0] === 1)) {
      throw new SafetensorsError(`${path}: tensor "${s.name}" has shape [${got.join(', ')}], model ${net.def.name} expects [${want.join(', ')}]`);
    }
    const dst = s.kind === 'param' ? net.params.get(s.name)! : net.state.get(s.name)!;
    const src = t.data;
    for (let i = 0; i < dst.length; i++) dst[i] = Number(src[i]!);
  }
  return contents;
}
