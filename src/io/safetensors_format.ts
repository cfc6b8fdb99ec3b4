/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written here
 * without dependencies:
 *
 *   [8 bytes] N, little-endian u64: the header length
 *   [N bytes] JSON object { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { string: string } }
 *   [rest]    the byte buffer; offsets are relative to its start, tensors are little-endian,
 *             row-major, and together cover the buffer exactly (no overlap, no hole).
 *
 * dtypes read and written: F64, F32, F16 (decoded to Float32Array, encoded with
 * round-to-nearest-even) and I64. The sizes of the other dtypes of the format are known, so a
 * file using them is validated and then reported as unsupported, naming the tensor.
 * Every error is a SafetensorsError whose message names the file (when there is one), the
 * tensor and the problem. This file is the format on bytes, for every platform; reading and
 * writing files is src/io/safetensors.ts.
 */

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'I64';
export type TensorData = Float32Array | Float64Array | BigInt64Array;

export interface SafeTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsContents {
  /** In header order. */
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** What the writer accepts: dtype defaults from the array type (F64 for plain number arrays). */
export interface TensorInput {
  dtype?: SafetensorsDType;
  shape: readonly number[];
  data: TensorData | ArrayLike<number>;
}

export type TensorsInput = Map<string, TensorInput> | Record<string, TensorInput>;

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Byte size of every dtype of the format (so that files using others still validate). */
const ITEM_SIZE: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};
const SUPPORTED: readonly SafetensorsDType[] = ['F64', 'F32', 'F16', 'I64'];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The spec caps the header at 100 MB; so do we (a corrupt length is caught before parsing). */
const MAX_HEADER = 100_000_000;

// ------------------------------------------------------------------ float16

/** Nearest float16 (ties to even) of v, as its 16 bits. */
export function toFloat16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === 0) return sign;
  if (a >= 65520) return sign | 0x7c00; // 65504 is the largest half; 65520 is the rounding midpoint
  if (a < 2 ** -14) {
    // subnormal: multiples of 2^-24 (1024 rounds up into the smallest normal, bits 0x400)
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let frac = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (frac === 1024) {
    frac = 0;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | frac;
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f === 0 ? sign * Infinity : NaN;
  return sign * (1024 + f) * 2 ** (e - 25);
}

// ------------------------------------------------------------------ reading

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Parses a safetensors file held in memory. The tensors are copies (they do not alias
 * `bytes`). `source` (a path) prefixes every error message.
 */
export function readSafetensors(bytes: Uint8Array, source?: string): SafetensorsContents {
  const where = source === undefined ? 'safetensors' : source;
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${where}: ${msg}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) fail(`header length ${n64} exceeds the ${bytes.length - 8} bytes that follow the length field (a truncated file?)`);
  const n = Number(n64);
  if (n > MAX_HEADER) fail(`header length ${n} exceeds the format's limit of ${MAX_HEADER} bytes`);
  if (n < 2) fail(`header length ${n} is too short for a JSON object`);

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(`header must be a JSON object, got ${describe(header)}`);
  const entries = header as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  if ('__metadata__' in entries) {
    const m = entries.__metadata__;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) fail(`"__metadata__" must be an object of strings, got ${describe(m)}`);
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`"__metadata__" entry "${k}" must be a string, got ${describe(v)}`);
      Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true }); // safe for "__proto__"
    }
  }

  const bufStart = 8 + n;
  const bufLen = bytes.length - bufStart;
  interface Entry { name: string; dtype: string; shape: number[]; begin: number; end: number }
  const list: Entry[] = [];
  for (const [name, info] of Object.entries(entries)) {
    if (name === '__metadata__') continue;
    const t = `tensor "${name}"`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(`${t}: entry must be an object, got ${describe(info)}`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(ITEM_SIZE, dtype)) fail(`${t}: unknown dtype ${describe(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`${t}: shape must be an array of non-negative integers, got ${describe(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${t}: data_offsets must be [begin, end], non-negative integers, got ${describe(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`${t}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > bufLen) fail(`${t}: data_offsets [${begin}, ${end}] run past the end of the ${bufLen}-byte buffer (a truncated file?)`);
    let count = 1;
    for (const d of shape as number[]) count *= d;
    const need = count * ITEM_SIZE[dtype as string]!;
    if (!Number.isSafeInteger(need) || end - begin !== need) {
      fail(`${t}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} [${(shape as number[]).join(', ')}] needs ${need}`);
    }
    list.push({ name, dtype: dtype as string, shape: shape as number[], begin, end });
  }

  // Overlap and holes: sorted by begin, each tensor must start where the previous ended.
  const sorted = [...list].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < pos) fail(`tensor "${e.name}": bytes [${e.begin}, ${e.end}) overlap tensor "${prev!.name}" (bytes [${prev!.begin}, ${prev!.end}))`);
    if (e.begin > pos) fail(`bytes [${pos}, ${e.begin}) of the buffer belong to no tensor (before tensor "${e.name}")`);
    pos = e.end;
    if (e.end > e.begin || prev === undefined) prev = e;
  }
  if (pos !== bufLen) fail(`bytes [${pos}, ${bufLen}) at the end of the buffer belong to no tensor`);

  const tensors = new Map<string, SafeTensor>();
  for (const e of list) {
    if (!(SUPPORTED as readonly string[]).includes(e.dtype)) fail(`tensor "${e.name}": dtype ${e.dtype} is not supported (bnff reads ${SUPPORTED.join(', ')})`);
    const raw = bytes.subarray(bufStart + e.begin, bufStart + e.end);
    tensors.set(e.name, { dtype: e.dtype as SafetensorsDType, shape: [...e.shape], data: decode(e.dtype as SafetensorsDType, raw) });
  }
  return { tensors, metadata };
}

function decode(dtype: SafetensorsDType, raw: Uint8Array): TensorData {
  const size = ITEM_SIZE[dtype]!;
  const count = raw.length / size;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (dtype) {
    case 'F16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = fromFloat16Bits(dv.getUint16(2 * i, true));
      return out;
    }
    case 'F32':
    case 'F64':
    case 'I64': {
      const out = dtype === 'F32' ? new Float32Array(count) : dtype === 'F64' ? new Float64Array(count) : new BigInt64Array(count);
      if (LITTLE_ENDIAN) {
        new Uint8Array(out.buffer).set(raw); // a copy: also fixes alignment
      } else {
        for (let i = 0; i < count; i++) {
          if (out instanceof Float32Array) out[i] = dv.getFloat32(4 * i, true);
          else if (out instanceof Float64Array) out[i] = dv.getFloat64(8 * i, true);
          else out[i] = dv.getBigInt64(8 * i, true);
        }
      }
      return out;
    }
  }
}

// ------------------------------------------------------------------ writing

function defaultDType(data: TensorInput['data']): SafetensorsDType {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  return 'F64';
}

/**
 * Serialises tensors (and string metadata). Tensors are laid out by decreasing item size
 * (stable, so in the given order within a size) so each starts aligned to its item size; the
 * header is padded with spaces so the buffer starts at a multiple of 8.
 */
export function writeSafetensors(tensors: TensorsInput, metadata?: Record<string, string>): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const fail = (msg: string): never => {
    throw new SafetensorsError(`safetensors writer: ${msg}`);
  };
  const seen = new Set<string>();
  const items = entries.map(([name, t]) => {
    if (typeof name !== 'string' || name === '' || name === '__metadata__') fail(`invalid tensor name ${describe(name)}`);
    if (seen.has(name)) fail(`tensor "${name}" is given twice`);
    seen.add(name);
    const dtype = t.dtype ?? defaultDType(t.data);
    if (!(SUPPORTED as readonly string[]).includes(dtype)) fail(`tensor "${name}": dtype ${describe(dtype)} is not supported (bnff writes ${SUPPORTED.join(', ')})`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor "${name}": shape must be non-negative integers, got ${describe(t.shape)}`);
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (count !== t.data.length) fail(`tensor "${name}": shape [${t.shape.join(', ')}] has ${count} elements but the data has ${t.data.length}`);
    return { name, dtype, shape: [...t.shape], data: t.data, bytes: count * ITEM_SIZE[dtype]! };
  });
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') fail(`metadata "${k}" must be a string, got ${describe(v)}`);
  }
  items.sort((a, b) => ITEM_SIZE[b.dtype]! - ITEM_SIZE[a.dtype]!); // Array.prototype.sort is stable

  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>; // safe for "__proto__"
  if (metadata !== undefined && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let off = 0;
  for (const it of items) {
    header[it.name] = { dtype: it.dtype, shape: it.shape, data_offsets: [off, off + it.bytes] };
    off += it.bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - ((8 + json.length) % 8)) % 8;
  const out = new Uint8Array(8 + json.length + pad + off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(json.length + pad), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + json.length + pad);
  let pos = 8 + json.length + pad;
  for (const it of items) {
    encode(it.name, it.dtype, it.data, dv, pos, fail);
    pos += it.bytes;
  }
  return out;
}

function encode(name: string, dtype: SafetensorsDType, data: TensorInput['data'], dv: DataView, pos: number, fail: (m: string) => never): void {
  const n = data.length;
  const big = data instanceof BigInt64Array;
  const num = (i: number): number => (big ? Number((data as BigInt64Array)[i]!) : (data as ArrayLike<number>)[i]!);
  switch (dtype) {
    case 'F64':
      for (let i = 0; i < n; i++) dv.setFloat64(pos + 8 * i, num(i), true);
      break;
    case 'F32':
      for (let i = 0; i < n; i++) dv.setFloat32(pos + 4 * i, num(i), true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) dv.setUint16(pos + 2 * i, toFloat16Bits(num(i)), true);
      break;
    case 'I64':
      for (let i = 0; i < n; i++) {
        if (big) {
          dv.setBigInt64(pos + 8 * i, (data as BigInt64Array)[i]!, true);
        } else {
          const v = (data as ArrayLike<number>)[i]!;
          if (!Number.isSafeInteger(v)) fail(`tensor "${name}": I64 element ${i} is ${v}, not a safe integer`);
          dv.setBigInt64(pos + 8 * i, BigInt(v), true);
        }
      }
      break;
  }
}
