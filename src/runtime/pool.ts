/**
 * The WebAssembly backend on Node: the kernel thread pool (src/runtime/worker_pool.ts) with its
 * workers on worker_threads (src/runtime/pool_worker.ts) and the kernel modules read from
 * dist/kernels. A worker that exits (process.exit, an uncaught error) runs its exit handler, which
 * marks it dead in the control block and releases the call it was running; a worker stopped from
 * outside (terminate, an out-of-memory kill) runs no handler, and the parent's 'exit' event marks
 * it dead before the next call instead.
 */
import { Worker } from 'node:worker_threads';
import { compileKernels } from '../kernels/load.js';
import type { Arena } from './memory.js';
import { type KernelThread, type KernelThreadData, type ThreadHost, WorkerPool } from './worker_pool.js';

export { PoolError } from './worker_pool.js';
export { splitRange } from './backend.js';

const WORKER_URL = new URL('./pool_worker.js', import.meta.url);

/** Node's threads: worker_threads, and the main thread may block in Atomics.wait. */
const nodeThreads: ThreadHost = {
  canWait: true,
  start(data: KernelThreadData, stopped: (why: string) => void): Promise<KernelThread> {
    const w = new Worker(WORKER_URL, { workerData: data });
    w.unref();
    w.on('exit', (code) => stopped(`exited (code ${code})`));
    w.on('error', (e) => stopped(`failed: ${e.message}`));
    return new Promise((resolve, reject) => {
      w.once('message', () => resolve(w));
      w.once('error', reject);
    });
  },
};

export class ThreadPool extends WorkerPool {
  /** Starts `threads - 1` workers (the main thread is thread 0) and waits until they are ready. */
  static async create(arena: Arena, threads: number): Promise<ThreadPool> {
    const pool = new ThreadPool(arena, threads, compileKernels(), nodeThreads);
    await pool.startWorkers();
    return pool;
  }
}
