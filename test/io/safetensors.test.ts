import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  SafetensorsError,
  fromFloat16Bits,
  readSafetensors,
  readSafetensorsFile,
  toFloat16Bits,
  writeSafetensors,
  writeSafetensorsFile,
} from '../../src/io/safetensors.js';
import { WriteRefusedError } from '../../src/io/safe_write.js';

/** A file from a header object and a raw buffer, with the length field as given (default: right). */
function rawFile(header: unknown, buffer: Uint8Array = new Uint8Array(0), headerText?: string, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(buffer, 8 + json.length);
  return out;
}

function f32bytes(...v: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(v).buffer);
}

function rejects(bytes: Uint8Array, pattern: RegExp, source?: string): void {
  assert.throws(
    () => readSafetensors(bytes, source),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

test('round trip: F64, F32, F16, I64, scalars, empty tensors and metadata', () => {
  const f64 = new Float64Array([1.5, -2.25, Math.PI, 1e-300, -0, Infinity]);
  const f32 = new Float32Array([0.1, -3, 7.5, 1e30]);
  const i64 = new BigInt64Array([0n, -1n, 9007199254740993n, -(2n ** 63n)]);
  const bytes = writeSafetensors(
    {
      a: { shape: [2, 3], data: f64 },
      b: { shape: [4], data: f32 },
      c: { shape: [2, 2], data: i64 },
      h: { dtype: 'F16', shape: [3], data: [1, -0.5, 65504] },
      s: { shape: [], data: [42] },
      z: { dtype: 'F32', shape: [0, 3], data: [] },
      n: { dtype: 'I64', shape: [2], data: [3, -7] },
    },
    { format: 'pt', note: 'ünïcode ✓' },
  );
  assert.equal(new DataView(bytes.buffer).getBigUint64(0, true) % 8n, 0n, 'buffer starts 8-aligned');
  const { tensors, metadata } = readSafetensors(bytes);
  assert.deepEqual(metadata, { format: 'pt', note: 'ünïcode ✓' });
  assert.deepEqual(tensors.get('a'), { dtype: 'F64', shape: [2, 3], data: f64 });
  assert.deepEqual(tensors.get('b'), { dtype: 'F32', shape: [4], data: f32 });
  assert.deepEqual(tensors.get('c'), { dtype: 'I64', shape: [2, 2], data: i64 });
  assert.deepEqual(tensors.get('h'), { dtype: 'F16', shape: [3], data: new Float32Array([1, -0.5, 65504]) });
  assert.deepEqual(tensors.get('s'), { dtype: 'F64', shape: [], data: new Float64Array([42]) });
  assert.deepEqual(tensors.get('z'), { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) });
  assert.deepEqual(tensors.get('n'), { dtype: 'I64', shape: [2], data: new BigInt64Array([3n, -7n]) });
  // The copies do not alias the input bytes.
  bytes.fill(0, 8);
  assert.equal(tensors.get('a')!.data[2], Math.PI);
});

test('writer lays tensors out by decreasing item size, contiguous, from offset 0', () => {
  const bytes = writeSafetensors(
    new Map([
      ['h', { dtype: 'F16' as const, shape: [3], data: [1, 2, 3] }],
      ['f', { shape: [1], data: new Float32Array([1]) }],
      ['d', { shape: [2], data: new Float64Array([1, 2]) }],
    ]),
  );
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { data_offsets: number[] }>;
  assert.deepEqual(header.d!.data_offsets, [0, 16]);
  assert.deepEqual(header.f!.data_offsets, [16, 20]);
  assert.deepEqual(header.h!.data_offsets, [20, 26]);
  assert.equal(bytes.length, 8 + n + 26);
});

test('float16 encoding rounds to nearest even and decodes exactly', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65519.99, 0x7bff],
    [65520, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000],
    [1.5 * 2 ** -25, 0x0001],
    [2 ** -14, 0x0400],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [(1023.5 / 1024) * 2 ** -14, 0x0400],
  ];
  for (const [v, bits] of cases) assert.equal(toFloat16Bits(v), bits, `toFloat16Bits(${v})`);
  assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN))));
  for (let h = 0; h < 0x7c00; h += 7) {
    const v = fromFloat16Bits(h);
    assert.equal(toFloat16Bits(v), h, `bits ${h.toString(16)}`);
    assert.equal(toFloat16Bits(-v), h | 0x8000);
  }
});

test('rejects a file shorter than the length field', () => {
  rejects(new Uint8Array(5), /5 bytes, too short/);
});

test('rejects a header length beyond the file', () => {
  rejects(rawFile({}, new Uint8Array(0), undefined, 1000n), /header length 1000 exceeds the 2 bytes/);
  rejects(rawFile({}, new Uint8Array(0), undefined, 2n ** 64n - 1n), /exceeds/);
});

test('rejects a header that is not JSON, not UTF-8 or not an object', () => {
  rejects(rawFile(null, undefined, '{"a": [1, 2'), /not valid JSON/);
  const bad = rawFile(null, undefined, '{"a":"xx"}');
  bad[8 + 6] = 0xff;
  rejects(bad, /not valid UTF-8/);
  rejects(rawFile([1, 2]), /must be a JSON object/);
});

test('rejects bad metadata', () => {
  rejects(rawFile({ __metadata__: { a: 1 } }), /"__metadata__" entry "a" must be a string/);
  rejects(rawFile({ __metadata__: [] }), /"__metadata__" must be an object/);
});

test('rejects unknown dtypes and reports valid but unsupported ones by tensor', () => {
  rejects(rawFile({ w: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, f32bytes(1)), /tensor "w": unknown dtype "F33"/);
  rejects(rawFile({ w: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, f32bytes(1)), /unknown dtype/);
  rejects(rawFile({ w: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, f32bytes(1)), /tensor "w": dtype I32 is not supported/);
});

test('rejects bad shapes and offsets', () => {
  rejects(rawFile({ w: { dtype: 'F32', shape: [1, -2], data_offsets: [0, 4] } }, f32bytes(1)), /tensor "w": shape must be/);
  rejects(rawFile({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, f32bytes(1)), /tensor "w": shape must be/);
  rejects(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, f32bytes(1)), /tensor "w": data_offsets must be/);
  rejects(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32bytes(1)), /end before they begin/);
});

test('rejects offsets outside the buffer', () => {
  rejects(
    rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32bytes(1)),
    /tensor "w": data_offsets \[0, 8\] run past the end of the 4-byte buffer/,
  );
});

test('rejects offsets inconsistent with dtype and shape', () => {
  rejects(
    rawFile({ w: { dtype: 'F64', shape: [2], data_offsets: [0, 8] } }, f32bytes(1, 2)),
    /tensor "w": data_offsets \[0, 8\] hold 8 bytes, but F64 \[2\] needs 16/,
  );
});

test('rejects overlapping tensors and holes', () => {
  rejects(
    rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32bytes(1, 2, 3)),
    /tensor "b": bytes \[4, 12\) overlap tensor "a"/,
  );
  rejects(
    rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32bytes(1, 2, 3)),
    /bytes \[4, 8\) of the buffer belong to no tensor/,
  );
  rejects(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32bytes(1, 2)), /bytes \[4, 8\) at the end/);
});

test('errors from a file name the file and the tensor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bnff-st-'));
  try {
    const path = join(dir, 'bad.safetensors');
    writeFileSync(path, rawFile({ weight: { dtype: 'F64', shape: [3], data_offsets: [0, 8] } }, f32bytes(1, 2)));
    assert.throws(
      () => readSafetensorsFile(path),
      (e: unknown) => {
        assert.ok(e instanceof SafetensorsError);
        assert.ok(e.message.startsWith(`${path}: tensor "weight":`), e.message);
        return true;
      },
    );
    assert.throws(() => readSafetensorsFile(join(dir, 'missing.safetensors')), /missing\.safetensors: cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer validates its input', () => {
  assert.throws(() => writeSafetensors({ a: { shape: [2, 2], data: [1, 2, 3] } }), /tensor "a": shape \[2, 2\] has 4 elements but the data has 3/);
  assert.throws(() => writeSafetensors({ __metadata__: { shape: [1], data: [1] } }), /invalid tensor name/);
  assert.throws(() => writeSafetensors({ a: { dtype: 'I64', shape: [1], data: [1.5] } }), /not a safe integer/);
  assert.throws(() => writeSafetensors({ a: { dtype: 'U8' as never, shape: [1], data: [1] } }), /dtype "U8" is not supported/);
  assert.throws(() => writeSafetensors({}, { a: 1 as never }), /metadata "a" must be a string/);
});

test('atomic file write: round trip, overwrite, no temporary file left, failure keeps nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bnff-st-'));
  try {
    const path = join(dir, 'model.safetensors');
    writeSafetensorsFile(path, { w: { shape: [2], data: new Float32Array([1, 2]) } }, { step: '1' });
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    writeSafetensorsFile(path, { w: { shape: [3], data: new Float64Array([4, 5, 6]) } }, { step: '2' });
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    const r = readSafetensorsFile(path);
    assert.deepEqual(r.metadata, { step: '2' });
    assert.deepEqual(r.tensors.get('w')!.data, new Float64Array([4, 5, 6]));
    assert.deepEqual(new Uint8Array(readFileSync(path)), writeSafetensors({ w: { shape: [3], data: new Float64Array([4, 5, 6]) } }, { step: '2' }));

    // A directory is never replaced: the error names the path and what is there, no temporary file remains.
    const blocked = join(dir, 'blocked');
    mkdirSync(blocked);
    writeFileSync(join(blocked, 'x'), 'x');
    assert.throws(
      () => writeSafetensorsFile(blocked, { w: { shape: [1], data: [1] } }),
      (e: unknown) => {
        assert.ok(e instanceof WriteRefusedError);
        assert.equal(e.message, `refusing to replace ${blocked}: it is a directory, not a regular file`);
        return true;
      },
    );
    assert.deepEqual(readdirSync(dir).sort(), ['blocked', 'model.safetensors']);
    // A missing directory fails before anything is created.
    assert.throws(() => writeSafetensorsFile(join(dir, 'no', 'such.safetensors'), {}), SafetensorsError);
    assert.deepEqual(readdirSync(dir).sort(), ['blocked', 'model.safetensors']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reads the golden files written by tools/make_goldens.py (an independent writer)', () => {
  const path = new URL('../../../test/golden/data/sgd.safetensors', import.meta.url).pathname;
  const { tensors, metadata } = readSafetensorsFile(path);
  assert.equal(metadata.generator, 'tools/make_goldens.py');
  const lr = tensors.get('steplr.lr')!;
  assert.equal(lr.dtype, 'F64');
  assert.deepEqual([...lr.data].slice(0, 4), [0.1, 0.1, 0.1, 0.05]);
});
