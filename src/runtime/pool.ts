/**
 * A pool of worker threads over the shared arena. Every thread (the main thread included, as
 * thread 0) holds its own instances of the kernel modules on the same WebAssembly.Memory.
 * `run` calls one exported kernel on every thread with that thread's work range and scratch,
 * synchronously: the main thread does range 0 while the workers do the others.
 *
 * Dispatch goes through a small shared control block. Workers spin briefly before sleeping in
 * Atomics.wait: a wake-up from sleep costs tens of microseconds, a spin about one. A failing
 * kernel raises an error naming the kernel and the thread, never a hang. So does a worker that
 * exits (process.exit, an uncaught error): its exit handler, which runs on the worker, marks it
 * dead in the control block and releases the call it was running; the pool is then broken and
 * every later call fails at once. A worker stopped from outside (terminate, an out-of-memory
 * kill) runs no handler; the parent's 'exit' event marks it dead before the next call instead.
 */
import { Worker } from 'node:worker_threads';
import { compileKernels, instantiate } from '../kernels/load.js';
import type { Backend } from './backend.js';
import { SCRATCH_BYTES } from './backend.js';
import type { Arena } from './memory.js';

const GEN = 0; // dispatch generation
const PENDING = 1; // workers still running
const FN = 2; // function index, -1 = exit
const NARGS = 3;
const ERROR = 4; // thread index + 1 of a failed worker
const DEAD = 5; // thread index + 1 of a worker that has exited
const EXIT_AT = 6; // fault injection (tests): thread index + 1 of a worker to exit at its next job
const RANGES = 16; // start, end per thread
const MAX_THREADS = 64;
const MAX_ARGS = 32;
const SPIN = 20000;

export class PoolError extends Error {
  override name = 'PoolError';
}

export { splitRange } from './backend.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { memory, modules, names, ctlBuf, argBuf, errBuf, tid, scratch, spin } = workerData;
if (workerData.relaxed) require('node:v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
const fns = new Map();
for (const { module } of modules) {
  const inst = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error('kernel aborted'); } } });
  for (const [k, v] of Object.entries(inst.exports)) if (typeof v === 'function') fns.set(k, v);
}
const table = names.map((n) => fns.get(n));
const ctl = new Int32Array(ctlBuf);
const args = new Float64Array(argBuf);
const err = new Uint8Array(errBuf);
let seen = 0;
let busy = false;
let closing = false;
const report = (msg) => {
  const b = new TextEncoder().encode(msg).subarray(0, err.length - 1);
  err.fill(0); err.set(b);
  Atomics.store(ctl, ${ERROR}, tid + 1);
};
process.on('exit', (code) => {
  if (closing) return;
  Atomics.compareExchange(ctl, ${DEAD}, 0, tid + 1);
  if (busy) {
    report('the thread exited (code ' + code + ') during the call');
    if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
  }
});
parentPort.postMessage('ready');
for (;;) {
  let n = 0;
  while (Atomics.load(ctl, ${GEN}) === seen) {
    if (++n > spin) { Atomics.wait(ctl, ${GEN}, seen); n = 0; }
  }
  seen = Atomics.load(ctl, ${GEN});
  const fi = ctl[${FN}];
  if (fi < 0) { closing = true; break; }
  busy = true;
  if (Atomics.load(ctl, ${EXIT_AT}) === tid + 1) process.exit(70);
  const start = ctl[${RANGES} + 2 * tid], end = ctl[${RANGES} + 2 * tid + 1];
  try {
    if (end > start) {
      const na = ctl[${NARGS}];
      const a = new Array(na + 3);
      for (let i = 0; i < na; i++) a[i] = args[i];
      a[na] = start; a[na + 1] = end; a[na + 2] = scratch;
      table[fi](...a);
    }
  } catch (e) {
    report(String(e && e.stack || e));
  }
  busy = false;
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
}
`;

export class ThreadPool implements Backend {
  static readonly SCRATCH_BYTES = SCRATCH_BYTES;
  readonly kind = 'wasm' as const;
  readonly fns: Map<string, (...a: number[]) => number>;
  private readonly names: string[];
  private readonly index = new Map<string, number>();
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly err: Uint8Array;
  private readonly workers: Worker[] = [];
  private readonly scratchBase: number;
  readonly variant: string;
  readonly isa: string;
  private closed = false;
  /** Why the pool cannot run kernels any more (a worker exited), once it cannot. */
  private broken: string | undefined;

  private constructor(readonly arena: Arena, readonly threads: number) {
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new RangeError(`threads must be an integer in [1, ${MAX_THREADS}], got ${threads}`);
    if (!arena.memory) throw new RangeError('the WebAssembly kernels need an arena in WebAssembly memory (this one is the native engine\'s)');
    const { modules, variant } = compileKernels();
    this.variant = variant;
    this.isa = variant === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd';
    this.fns = instantiate(modules, arena.memory!);
    this.names = [...this.fns.keys()];
    this.names.forEach((n, i) => this.index.set(n, i));
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * (RANGES + 2 * MAX_THREADS)));
    this.args = new Float64Array(new SharedArrayBuffer(8 * MAX_ARGS));
    this.err = new Uint8Array(new SharedArrayBuffer(2048));
    this.scratchBase = arena.reserve(threads * ThreadPool.SCRATCH_BYTES, 'thread scratch');
  }

  /** Starts `threads - 1` workers (the main thread is thread 0) and waits until they are ready. */
  static async create(arena: Arena, threads: number): Promise<ThreadPool> {
    const pool = new ThreadPool(arena, threads);
    const { modules, variant } = compileKernels();
    const ready: Promise<void>[] = [];
    for (let t = 1; t < threads; t++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          memory: arena.memory!, modules, names: pool.names, ctlBuf: pool.ctl.buffer, argBuf: pool.args.buffer, errBuf: pool.err.buffer,
          tid: t, scratch: pool.scratch(t), spin: SPIN, relaxed: variant === 'relaxed',
        },
      });
      w.unref();
      w.on('exit', (code) => {
        if (!pool.closed) pool.broken ??= `worker thread ${t} exited (code ${code})`;
      });
      w.on('error', (e) => {
        if (!pool.closed) pool.broken = `worker thread ${t} failed: ${e.message}`;
      });
      pool.workers.push(w);
      ready.push(new Promise((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', (e) => reject(new PoolError(`worker thread ${t} failed to start: ${e.message}`)));
      }));
    }
    await Promise.all(ready);
    return pool;
  }

  /** Byte offset of thread t's scratch region (SCRATCH_BYTES long, 64-byte aligned). */
  scratch(t: number): number {
    return this.scratchBase + t * ThreadPool.SCRATCH_BYTES;
  }

  has(fn: string): boolean {
    return this.index.has(fn);
  }

  /**
   * Calls kernel `fn(...args, start, end, scratch)` with ranges[t] on thread t. Threads whose
   * range is empty skip the call. Returns when every thread is done.
   */
  run(fn: string, args: readonly number[], ranges: readonly (readonly [number, number])[]): void {
    if (this.closed) throw new PoolError('thread pool is closed');
    const dead = Atomics.load(this.ctl, DEAD);
    if (dead) this.broken ??= `worker thread ${dead - 1} exited`;
    if (this.broken) throw new PoolError(`kernel ${fn} cannot run: ${this.broken}; the thread pool is unusable, create a new engine`);
    const fi = this.index.get(fn);
    if (fi === undefined) throw new PoolError(`no kernel named "${fn}"`);
    if (ranges.length > this.threads) throw new PoolError(`${ranges.length} ranges for ${this.threads} threads`);
    const main = ranges[0] ?? [0, 0];
    if (this.threads > 1 && ranges.length > 1) {
      const ctl = this.ctl;
      if (args.length > MAX_ARGS) throw new PoolError(`kernel ${fn}: ${args.length} arguments, at most ${MAX_ARGS}`);
      for (let i = 0; i < args.length; i++) this.args[i] = args[i]!;
      ctl[FN] = fi;
      ctl[NARGS] = args.length;
      for (let t = 1; t < this.threads; t++) {
        const r = ranges[t] ?? [0, 0];
        ctl[RANGES + 2 * t] = r[0];
        ctl[RANGES + 2 * t + 1] = r[1];
      }
      Atomics.store(ctl, PENDING, this.threads - 1);
      Atomics.add(ctl, GEN, 1);
      Atomics.notify(ctl, GEN);
      let mainError: unknown;
      try {
        if (main[1] > main[0]) this.fns.get(fn)!(...args, main[0], main[1], this.scratch(0));
      } catch (e) {
        mainError = e;
      }
      let n = 0;
      for (;;) {
        const p = Atomics.load(ctl, PENDING);
        if (p === 0) break;
        if (++n > SPIN) {
          Atomics.wait(ctl, PENDING, p, 50);
          n = 0;
        }
      }
      const failed = Atomics.exchange(ctl, ERROR, 0);
      if (failed) {
        const msg = new TextDecoder().decode(this.err.slice(0, this.err.indexOf(0) < 0 ? this.err.length : this.err.indexOf(0)));
        throw new PoolError(`kernel ${fn} failed on worker thread ${failed - 1}: ${msg.split('\n')[0]}`);
      }
      if (mainError) throw new PoolError(`kernel ${fn} failed on the main thread: ${(mainError as Error).message}`);
    } else if (main[1] > main[0]) {
      try {
        this.fns.get(fn)!(...args, main[0], main[1], this.scratch(0));
      } catch (e) {
        throw new PoolError(`kernel ${fn} failed: ${(e as Error).message}`);
      }
    }
  }

  /** Fault injection for tests: worker thread t exits (process.exit) when it picks up its next call. */
  injectWorkerExit(t: number): void {
    Atomics.store(this.ctl, EXIT_AT, t + 1);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctl[FN] = -1;
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
  }
}
