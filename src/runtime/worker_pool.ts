/**
 * A pool of kernel threads over the shared arena, on any platform: Node's worker_threads
 * (src/runtime/pool.ts) or a browser's Web Workers (src/browser/pool.ts). Every thread (the
 * calling thread included, as thread 0) holds its own instances of the kernel modules on the same
 * WebAssembly.Memory. `run` calls one exported kernel on every thread with that thread's work
 * range and scratch, synchronously: the calling thread does range 0 while the workers do the others.
 *
 * What differs between platforms is behind one small interface, ThreadHost: how a worker is
 * started (and learns that it stopped), and whether the calling thread may block in Atomics.wait
 * (a browser's main thread may not; it only spins). The worker side is kernelLoop() below, which
 * both platforms' worker scripts call.
 *
 * Dispatch goes through a small shared control block. Workers spin briefly before sleeping in
 * Atomics.wait: a wake-up from sleep costs tens of microseconds, a spin about one. A failing
 * kernel raises an error naming the kernel and the thread, never a hang. So does a worker that
 * exits: the platform's hook marks it dead in the control block and releases the call it was
 * running; the pool is then broken and every later call fails at once.
 */
import { instantiate, type KernelModules, type Variant } from '../kernels/modules.js';
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

/** The compiled kernel modules and which variant they are ('relaxed' or 'simd'). */
export interface PoolKernels {
  variant: Variant;
  modules: KernelModules;
}

/** What a kernel thread is given: everything kernelLoop needs. Structured-cloneable. */
export interface KernelThreadData {
  memory: WebAssembly.Memory;
  modules: KernelModules;
  names: string[];
  ctlBuf: SharedArrayBuffer;
  argBuf: SharedArrayBuffer;
  errBuf: SharedArrayBuffer;
  tid: number;
  scratch: number;
  spin: number;
  relaxed: boolean;
}

export interface KernelThread {
  terminate(): unknown;
}

/** The platform: starting kernel threads, and whether the calling thread may block. */
export interface ThreadHost {
  /**
   * Starts kernel thread data.tid running kernelLoop(data); resolves once it is ready.
   * `stopped(why)` is called if the thread stops on its own or from outside.
   */
  start(data: KernelThreadData, stopped: (why: string) => void): Promise<KernelThread>;
  /** Whether the calling thread may sleep in Atomics.wait (not on a browser's main thread). */
  readonly canWait: boolean;
}

/** The platform hooks of a worker: how it reports a failure of its own making, and exits. */
export interface LoopHooks {
  /** Called once the modules are instantiated, before the first job. */
  ready(): void;
  /** Ends the thread at once (fault injection in tests). */
  exit(code: number): void;
}

/**
 * The worker side: waits for jobs in the control block and runs them until told to exit.
 * Returns a function the platform calls if the thread is exiting on its own (code given), so
 * that the call it was running fails instead of hanging.
 */
export function kernelLoop(d: KernelThreadData, hooks: LoopHooks, onExitHook: (handler: (code: number) => void) => void): void {
  const fns = instantiate(d.modules, d.memory);
  const table = d.names.map((n) => fns.get(n));
  const ctl = new Int32Array(d.ctlBuf);
  const args = new Float64Array(d.argBuf);
  const err = new Uint8Array(d.errBuf);
  const { tid, scratch, spin } = d;
  let seen = 0;
  let busy = false;
  let closing = false;
  const report = (msg: string): void => {
    const b = new TextEncoder().encode(msg).subarray(0, err.length - 1);
    err.fill(0);
    err.set(b);
    Atomics.store(ctl, ERROR, tid + 1);
  };
  onExitHook((code) => {
    if (closing) return;
    Atomics.compareExchange(ctl, DEAD, 0, tid + 1);
    if (busy) {
      report(`the thread exited (code ${code}) during the call`);
      if (Atomics.sub(ctl, PENDING, 1) === 1) Atomics.notify(ctl, PENDING);
    }
  });
  hooks.ready();
  for (;;) {
    let n = 0;
    while (Atomics.load(ctl, GEN) === seen) {
      if (++n > spin) {
        Atomics.wait(ctl, GEN, seen);
        n = 0;
      }
    }
    seen = Atomics.load(ctl, GEN);
    const fi = ctl[FN]!;
    if (fi < 0) {
      closing = true;
      break;
    }
    busy = true;
    if (Atomics.load(ctl, EXIT_AT) === tid + 1) hooks.exit(70);
    const start = ctl[RANGES + 2 * tid]!;
    const end = ctl[RANGES + 2 * tid + 1]!;
    try {
      if (end > start) {
        const na = ctl[NARGS]!;
        const a = new Array<number>(na + 3);
        for (let i = 0; i < na; i++) a[i] = args[i]!;
        a[na] = start;
        a[na + 1] = end;
        a[na + 2] = scratch;
        table[fi]!(...a);
      }
    } catch (e) {
      report(String((e as Error)?.stack ?? e));
    }
    busy = false;
    if (Atomics.sub(ctl, PENDING, 1) === 1) Atomics.notify(ctl, PENDING);
  }
}

/** A buffer shared with the workers where there are any; a plain one for a single thread (no SharedArrayBuffer needed). */
function controlBuffer(bytes: number, shared: boolean): SharedArrayBuffer {
  return (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes)) as SharedArrayBuffer;
}

export class WorkerPool implements Backend {
  static readonly SCRATCH_BYTES = SCRATCH_BYTES;
  readonly kind = 'wasm' as const;
  readonly fns: Map<string, (...a: number[]) => number>;
  readonly variant: string;
  readonly isa: string;
  private readonly names: string[];
  private readonly index = new Map<string, number>();
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly err: Uint8Array;
  protected readonly workers: KernelThread[] = [];
  private readonly scratchBase: number;
  private readonly canWait: boolean;
  private closed = false;
  /** Why the pool cannot run kernels any more (a worker exited), once it cannot. */
  private broken: string | undefined;

  protected constructor(readonly arena: Arena, readonly threads: number, private readonly kernels: PoolKernels, private readonly host: ThreadHost) {
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new RangeError(`threads must be an integer in [1, ${MAX_THREADS}], got ${threads}`);
    if (!arena.memory) throw new RangeError("the WebAssembly kernels need an arena in WebAssembly memory (this one is the native engine's)");
    this.variant = kernels.variant;
    this.isa = kernels.variant === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd';
    this.fns = instantiate(kernels.modules, arena.memory!);
    this.names = [...this.fns.keys()];
    this.names.forEach((n, i) => this.index.set(n, i));
    const shared = threads > 1;
    this.ctl = new Int32Array(controlBuffer(4 * (RANGES + 2 * MAX_THREADS), shared));
    this.args = new Float64Array(controlBuffer(8 * MAX_ARGS, shared));
    this.err = new Uint8Array(controlBuffer(2048, shared));
    this.canWait = host.canWait;
    this.scratchBase = arena.reserve(threads * SCRATCH_BYTES, 'thread scratch');
  }

  /** Starts `threads - 1` workers (the calling thread is thread 0) and waits until they are ready. */
  protected async startWorkers(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let t = 1; t < this.threads; t++) {
      const data: KernelThreadData = {
        memory: this.arena.memory!, modules: this.kernels.modules, names: this.names, ctlBuf: this.ctl.buffer as SharedArrayBuffer, argBuf: this.args.buffer as SharedArrayBuffer,
        errBuf: this.err.buffer as SharedArrayBuffer, tid: t, scratch: this.scratch(t), spin: SPIN, relaxed: this.kernels.variant === 'relaxed',
      };
      ready.push(
        this.host.start(data, (why) => {
          if (!this.closed) this.broken ??= `worker thread ${t} ${why}`;
        }).then(
          (w) => void this.workers.push(w),
          (e: unknown) => { throw new PoolError(`worker thread ${t} failed to start: ${(e as Error).message ?? String(e)}`); },
        ),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Byte offset of thread t's scratch region (SCRATCH_BYTES long, 64-byte aligned). */
  scratch(t: number): number {
    return this.scratchBase + t * SCRATCH_BYTES;
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
        if (++n > SPIN && this.canWait) {
          Atomics.wait(ctl, PENDING, p, 50);
          n = 0;
        }
      }
      const failed = Atomics.exchange(ctl, ERROR, 0);
      if (failed) {
        const end = this.err.indexOf(0);
        const msg = new TextDecoder().decode(this.err.slice(0, end < 0 ? this.err.length : end));
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

  /** Fault injection for tests: worker thread t exits when it picks up its next call. */
  injectWorkerExit(t: number): void {
    Atomics.store(this.ctl, EXIT_AT, t + 1);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctl[FN] = -1;
    Atomics.add(this.ctl, GEN, 1);
    if (this.threads > 1) Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
  }
}
