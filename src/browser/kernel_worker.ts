/**
 * A kernel thread in a browser (a module Web Worker): runs kernelLoop on the first message, which
 * WebWorkerPool sends, until the pool closes. Built to kernel-worker.js next to the bundle.
 */
import { type KernelThreadData, kernelLoop } from '../runtime/worker_pool.js';

interface WorkerScope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;

scope.onmessage = (e: MessageEvent) => {
  scope.onmessage = null;
  kernelLoop(
    e.data as KernelThreadData,
    {
      ready: () => scope.postMessage('ready'),
      exit: (code) => {
        throw new Error(`asked to exit (code ${code})`);
      },
    },
    () => {}, // a browser worker runs no code when it is stopped
  );
  scope.close();
};
