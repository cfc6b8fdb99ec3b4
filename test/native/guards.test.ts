/**
 * The native backend's boundary: every pointer argument and every scratch region is checked
 * against the arena before a kernel runs, so a bad offset is an error naming the kernel (and,
 * through the executor, the layer), never a SIGSEGV; arguments that do not match the kernel ABI
 * are refused; threads are the addon's own (no WebAssembly workers when every kernel is native).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getModel } from '../../src/models/index.js';
import { Network } from '../../src/models/network.js';
import { createEngine } from '../../src/runtime/engine.js';
import type { Lowering } from '../../src/runtime/executor.js';
import { Arena } from '../../src/runtime/memory.js';
import { NativeBackend, nativeStatus } from '../../src/runtime/native.js';

const st = await nativeStatus();
const skip = !st.ok && `native engine unavailable: ${st.reason}`;

test('a pointer argument outside the arena is an error naming the kernel, argument and offset, not a crash', { skip }, async () => {
  const arena = new Arena();
  const be = await NativeBackend.create(arena, 2, st);
  try {
    const x = arena.alloc(64);
    const top = arena.usedBytes;
    assert.throws(
      () =>
        be.run(
          'relu_forward',
          [x.byteOffset, top + 4096],
          [
            [0, 32],
            [32, 64],
          ],
        ),
      {
        name: 'PoolError',
        message: `kernel relu_forward: argument 1 (byte offset ${top + 4096}) lies outside the arena (${top} bytes)`,
      },
    );
    assert.throws(
      () =>
        be.run(
          'relu_forward',
          [-64, x.byteOffset],
          [
            [0, 32],
            [32, 64],
          ],
        ),
      /argument 0 \(byte offset -64\) lies outside the arena/,
    );
    assert.throws(
      () =>
        be.run(
          'relu_forward',
          [x.byteOffset + 0.5, x.byteOffset],
          [
            [0, 32],
            [32, 64],
          ],
        ),
      /argument 0 .* lies outside the arena/,
    );
    assert.throws(
      () =>
        be.run(
          'relu_forward',
          [x.byteOffset],
          [
            [0, 32],
            [32, 64],
          ],
        ),
      { message: 'kernel relu_forward: 1 arguments given, its ABI has 2' },
    );
    assert.throws(
      () =>
        be.run(
          'relu_forward',
          [x.byteOffset, NaN],
          [
            [0, 32],
            [32, 64],
          ],
        ),
      /argument 1 is not finite/,
    );
    // the backend still works afterwards
    x.set(Array.from({ length: 64 }, (_, i) => i - 32));
    be.run(
      'relu_forward',
      [x.byteOffset, x.byteOffset],
      [
        [0, 32],
        [32, 64],
      ],
    );
    assert.deepEqual(Array.from(x.subarray(30, 34)), [0, 0, 0, 1]);
  } finally {
    be.close();
  }
});

test('a bad offset inside a training step names the layer (native engine)', { skip }, async () => {
  const engine = await createEngine({ kind: 'native', threads: 2 });
  try {
    const be = engine.backend!;
    const faulty: Lowering = {
      name: 'faulty',
      lower: (node, lc) =>
        node.op === 'relu'
          ? () =>
              be.run(
                'relu_forward',
                [0x7ffffff0, 0x7ffffff0],
                [
                  [0, 64],
                  [64, 128],
                ],
              )
          : engine.lowering!.lower(node, lc),
    };
    const net = new Network(getModel('resnet8'), engine.memory, 1, faulty);
    assert.throws(
      () => net.forwardBackward(new Float32Array(4 * 3 * 8 * 8), [0, 1, 2, 3], [4, 3, 8, 8], { seed: 1, step: 0 }),
      (e: Error) => /^layer "[^"]+" \(relu\): kernel relu_forward: argument 0 \(byte offset 2147483632\) lies outside the arena/.test(e.message),
    );
  } finally {
    engine.close();
  }
});

test('the native engine names its ISA and threads, and says why it was chosen', { skip }, async () => {
  const engine = await createEngine({ kind: 'auto', threads: 3 });
  try {
    assert.equal(engine.kind, 'native');
    assert.equal(engine.isa, st.isa);
    assert.equal(engine.threads, 3);
    assert.match(engine.reason, new RegExp(`^native: ${st.isa}, 3 threads \\(auto\\)$`));
  } finally {
    engine.close();
  }
});

test('a chunked call covers every unit once at every chunk size, and its partials region is checked against the arena', { skip }, async () => {
  const arena = new Arena();
  const be = await NativeBackend.create(arena, 3, st);
  try {
    const n = 1000;
    const [x, y] = [arena.alloc(n), arena.alloc(n)];
    for (let i = 0; i < n; i++) x[i] = i % 2 ? i : -i;
    for (const chunk of [1, 7, 64, 999, 1000, 5000]) {
      y.fill(Number.NaN);
      be.runChunks('relu_forward', [x.byteOffset, y.byteOffset], n, chunk);
      for (let i = 0; i < n; i++) assert.equal(y[i], i % 2 ? i : 0, `chunk ${chunk}, element ${i}`);
    }
    const top = arena.usedBytes;
    assert.throws(() => be.runChunks('relu_forward', [x.byteOffset, y.byteOffset], n, 10, { offset: 0, bytes: 64, slots: top - 64 }), {
      name: 'PoolError',
      message: 'kernel relu_forward: bad partials region of a chunked call',
    });
  } finally {
    be.close();
  }
});
