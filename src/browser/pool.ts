/**
 * The WebAssembly backend in a browser: the kernel thread pool (src/runtime/worker_pool.ts) with
 * its workers as module Web Workers (src/browser/kernel_worker.ts) over the shared memory. That
 * needs a cross-origin isolated page (COOP/COEP), where SharedArrayBuffer and posting a shared
 * WebAssembly.Memory to a worker are allowed. A page's main thread may not block in
 * Atomics.wait, so there the calling thread only spins while the workers run: run bnff in a
 * worker (as the demo does) to keep the page responsive.
 */
import type { Arena } from '../runtime/memory.js';
import { type KernelThread, type KernelThreadData, type PoolKernels, type ThreadHost, WorkerPool } from '../runtime/worker_pool.js';

/** True in a worker (Atomics.wait allowed), false on a page's main thread. */
export function canBlock(): boolean {
  return typeof (globalThis as { document?: unknown }).document === 'undefined';
}

function webThreads(workerUrl: URL): ThreadHost {
  return {
    canWait: canBlock(),
    start(data: KernelThreadData, stopped: (why: string) => void): Promise<KernelThread> {
      const w = new Worker(workerUrl, { type: 'module', name: `bnff kernel thread ${data.tid}` });
      return new Promise((resolve, reject) => {
        w.onmessage = (e: MessageEvent) => {
          if (e.data === 'ready') resolve(w);
        };
        w.onerror = (e: ErrorEvent) => {
          e.preventDefault();
          const why = e.message || 'could not be loaded';
          stopped(`failed: ${why}`);
          reject(new Error(`${why} (${workerUrl.href})`));
        };
        w.postMessage(data);
      });
    },
  };
}

export class WebWorkerPool extends WorkerPool {
  /** Starts `threads - 1` Web Workers running `workerUrl` (the calling thread is thread 0). */
  static async create(arena: Arena, threads: number, kernels: PoolKernels, workerUrl: URL): Promise<WebWorkerPool> {
    const pool = new WebWorkerPool(arena, threads, kernels, webThreads(workerUrl));
    await pool.startWorkers();
    return pool;
  }
}
