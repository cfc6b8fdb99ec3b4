/**
 * The native engine's arena is not bound by wasm32's 4 GiB. The native kernels address it with
 * 64-bit offsets (the WebAssembly kernels' 32-bit ones wrap), so every pointer a kernel family
 * derives (row tables, the normalised window, the accumulating epilogue's buffer, concatenation
 * part tables, the dy prologue's signed distance between two tensors) must survive offsets above
 * 4 GiB. Here the same training steps run with every tensor placed above a 4.5 GiB gap of
 * untouched (uncommitted) pages, while the thread scratch stays below it, and give the bits of
 * the same steps at low offsets: resnet20 (Winograd 3x3, zero-padded shortcuts), densenet40
 * (concatenation views, gradients accumulated into a block's buffer), resnet18 at 32 px (the 7x7
 * stem, max pooling, strided 1x1 projections), fused and unfused, and a depthwise convolution.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Builder } from '../../src/graph/builder.js';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { ALL_FUSION, type FusionOptions, NO_FUSION } from '../../src/passes/index.js';
import { createEngine } from '../../src/runtime/engine.js';
import { WasmLowering } from '../../src/runtime/lower_wasm.js';
import { Arena, HeapOverflowError, MAX_ARENA_BYTES } from '../../src/runtime/memory.js';
import { NativeBackend, nativeArena, nativeStatus } from '../../src/runtime/native.js';
import { Rng } from '../../src/util/random.js';
import { type StepOutputs, trainStep } from '../helpers/step.js';

const st = await nativeStatus();
const skip = st.ok ? false : `native engine unavailable: ${st.reason}`;
const GAP = 4.5 * 2 ** 30;

/** A native backend whose scratch lies low and whose next allocations lie above a 4.5 GiB gap (gap: false, none). */
async function backendOver(gap: boolean): Promise<{ arena: Arena; backend: NativeBackend; lowering: WasmLowering }> {
  const arena = nativeArena(st, 6 * 2 ** 30)!;
  const backend = await NativeBackend.create(arena, 2, st);
  if (gap) arena.reserve(GAP, 'gap');
  return { arena, backend, lowering: new WasmLowering(backend, arena) };
}

/** Loss, every gradient and the running statistics after one forward/backward. */
function step(arena: Arena, lowering: WasmLowering, model: string, size: number, fusion: FusionOptions): Map<string, Float32Array> {
  const def = getModel(model, { numClasses: 10 });
  const net = new Network(def, arena, 7, lowering, fusion);
  const shape = [2, def.inChannels, size, size];
  const rng = new Rng(3);
  const x = Float32Array.from({ length: 2 * def.inChannels * size * size }, () => rng.normal());
  const loss = net.forwardBackward(x, [3, 8], shape, { seed: 1, step: 0 });
  const out = new Map<string, Float32Array>([['loss', Float32Array.of(loss)]]);
  for (const [k, g] of net.trainPlan(shape).grads) out.set(`grad:${k}`, Float32Array.from(g));
  for (const [k, s] of net.state) out.set(k, Float32Array.from(s));
  return out;
}

function assertBits(a: Map<string, ArrayLike<number>>, b: Map<string, ArrayLike<number>>, what: string): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), what);
  for (const [k, v] of a) {
    const w = b.get(k)!;
    assert.equal(v.length, w.length, `${what}: ${k}`);
    for (let i = 0; i < v.length; i++) if (!Object.is(v[i], w[i])) assert.fail(`${what}: ${k}[${i}] = ${w[i]} above 4 GiB, ${v[i]} below`);
  }
}

test('the native engine arena holds more than the 4 GiB wasm32 heap where this machine has the memory', { skip }, async () => {
  const engine = await createEngine({ kind: 'native', threads: 1 });
  try {
    assert.ok(engine.memory instanceof Arena);
    assert.equal(engine.memory.wasm, false, 'the native engine runs on its own arena');
    assert.ok(engine.memory.maxBytes >= Math.min(MAX_ARENA_BYTES, 2 ** 30), `arena of ${engine.memory.maxBytes} bytes`);
  } finally {
    engine.close();
  }
  // a reservation beyond the arena is refused with a HeapOverflowError naming the native arena
  const arena = nativeArena(st, 2 ** 30)!;
  assert.throws(
    () => arena.reserve(2 ** 31, 'a test tensor'),
    (e: Error) => e instanceof HeapOverflowError && /native arena/.test(e.message) && /a test tensor/.test(e.message),
  );
});

for (const [model, size] of [
  ['resnet20', 16],
  ['densenet40', 16],
  ['resnet18', 32],
] as const) {
  for (const fused of [false, true]) {
    test(`${model} ${fused ? 'fused' : 'unfused'}: tensors above 4 GiB give the bits of tensors below (native, 2 threads)`, { skip }, async () => {
      const lo = await backendOver(false);
      const hi = await backendOver(true);
      try {
        const fusion = fused ? ALL_FUSION : NO_FUSION;
        const a = step(lo.arena, lo.lowering, model, size, fusion);
        const b = step(hi.arena, hi.lowering, model, size, fusion);
        assert.ok(hi.arena.usedBytes > 2 ** 32 + 2 ** 28, 'the tensors lie above 4 GiB');
        assert.ok(hi.backend.scratch(0) < 2 ** 31, 'the thread scratch lies below');
        assertBits(a, b, `${model} ${fused ? 'fused' : 'unfused'}`);
      } finally {
        lo.backend.close();
        hi.backend.close();
      }
    });
  }
}

test('a depthwise convolution with BN and ReLU: tensors above 4 GiB give the bits of tensors below (native, 2 threads)', { skip }, async () => {
  const c = {
    input: [2, 16, 9, 9],
    build: (b: Builder, x: number) => {
      const dw = b.conv2d('dw', x, { out: 16, kernel: 3, padding: 1, groups: 16, bias: false });
      return b.relu('relu', b.batchNorm2d('bn', dw));
    },
  };
  const lo = await backendOver(false);
  const hi = await backendOver(true);
  try {
    const a: StepOutputs = trainStep(c, ALL_FUSION, lo.arena, lo.lowering);
    const b: StepOutputs = trainStep(c, ALL_FUSION, hi.arena, hi.lowering);
    assert.ok(hi.arena.usedBytes > 2 ** 32 + 2 ** 28);
    assertBits(a, b, 'depthwise');
  } finally {
    lo.backend.close();
    hi.backend.close();
  }
});

test('a process holding native arenas as large as the machine can still start child processes (the arenas are not charged at fork)', { skip }, async () => {
  const { spawnSync } = await import('node:child_process');
  // two arenas of this machine's memory: adjacent, Linux merges them into one mapping twice the
  // size of RAM, and a fork() charged for it fails with ENOMEM under the default overcommit rule
  const engines = [await createEngine({ kind: 'native', threads: 1 }), await createEngine({ kind: 'native', threads: 1 })];
  try {
    const r = spawnSync(process.execPath, ['-e', 'process.exit(7)']);
    assert.equal(r.error?.message, undefined);
    assert.equal(r.status, 7);
  } finally {
    for (const e of engines) e.close();
  }
});

test('native arena: reservations start on a page of memory, whatever the buffer start (every 64-byte-aligned offset a cache line)', { skip }, () => {
  // A SharedArrayBuffer's memory need not start a cache line (glibc's large blocks start 16 bytes
  // into their mapping): without the pageOffset lead, every vector of the native kernels at an
  // aligned offset straddled two lines (the 1x1 backward-data of mobilenet_v2 ran 1.9x slower).
  const arena = nativeArena(st, 256 * 2 ** 20)!;
  const at = (off: number): number => st.addon!.pageOffset(new Float32Array(arena.buffer, off, 1));
  const offs = [arena.reserve(100), arena.reserve(3 * 4096 + 5), arena.reserve(64), arena.reserve(1 << 20)];
  assert.equal(at(offs[0]!), 0, 'the first reservation starts a page of memory');
  for (const off of offs) assert.equal(at(off) % 64, 0, `offset ${off} is ${at(off) % 64} bytes into a cache line`);
  // a fixed buffer whose memory starts mid-page: the lead moves the first reservation to the page
  const lead = at(0);
  const shifted = new Arena({ buffer: arena.buffer as SharedArrayBuffer, pageOffset: lead });
  assert.equal(at(shifted.reserve(8)), 0);
  assert.throws(() => new Arena({ buffer: new SharedArrayBuffer(1 << 21), pageOffset: 4096 }), /pageOffset must be an integer in \[0, 4096\)/);
});
