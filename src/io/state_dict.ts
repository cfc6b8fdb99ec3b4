/**
 * A network's parameters and buffers as tensors with torchvision's state_dict names, and back, on
 * bytes (safetensors): for every platform. src/io/weights.ts reads and writes them as files.
 */
import type { Network } from '../models/network.js';
import { SafetensorsError, type SafetensorsContents, type TensorInput, readSafetensors, writeSafetensors } from './safetensors_format.js';

export function stateDict(net: Network): Map<string, TensorInput> {
  const out = new Map<string, TensorInput>();
  for (const s of net.specs) {
    const a = s.kind === 'param' ? net.params.get(s.name)! : net.state.get(s.name)!;
    if (s.name.endsWith('num_batches_tracked')) out.set(s.name, { dtype: 'I64', shape: [], data: BigInt64Array.from([BigInt(Math.round(a[0]!))]) });
    else out.set(s.name, { dtype: 'F32', shape: [...s.shape], data: Float32Array.from(a) });
  }
  return out;
}

/** The weights as the bytes of a safetensors file (what saveWeights writes), metadata naming the model. */
export function weightsToBytes(net: Network, metadata: Record<string, string> = {}): Uint8Array {
  return writeSafetensors(stateDict(net), { format: 'pt', model: net.def.name, ...metadata });
}

/**
 * Copies every parameter and buffer from `contents` into the network; names a missing,
 * unexpected or mis-shaped tensor. Tensors whose names start with one of `ignorePrefixes` (a
 * checkpoint's optimizer state) are skipped. `source` (a file name) prefixes every error.
 */
export function applyStateDict(net: Network, contents: SafetensorsContents, source: string, ignorePrefixes: string[] = []): void {
  const { tensors } = contents;
  const expected = new Set(net.specs.map((s) => s.name));
  const unexpected = [...tensors.keys()].filter((k) => !expected.has(k) && !ignorePrefixes.some((p) => k.startsWith(p)));
  const missing = [...expected].filter((k) => !tensors.has(k));
  if (missing.length || unexpected.length) {
    throw new SafetensorsError(
      `${source}: does not match model ${net.def.name}` +
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
      throw new SafetensorsError(`${source}: tensor "${s.name}" has shape [${got.join(', ')}], model ${net.def.name} expects [${want.join(', ')}]`);
    }
    const dst = s.kind === 'param' ? net.params.get(s.name)! : net.state.get(s.name)!;
    const src = t.data;
    for (let i = 0; i < dst.length; i++) dst[i] = Number(src[i]!);
  }
}

/** Loads weights from the bytes of a safetensors file (`source` names it in errors). */
export function loadWeightsFromBytes(net: Network, bytes: Uint8Array, source = 'weights', ignorePrefixes: string[] = []): SafetensorsContents {
  const contents = readSafetensors(bytes, source);
  applyStateDict(net, contents, source, ignorePrefixes);
  return contents;
}
