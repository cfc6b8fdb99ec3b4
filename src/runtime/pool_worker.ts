/** A kernel thread on Node (worker_threads): runs kernelLoop on what ThreadPool gave it. */
import v8 from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { type KernelThreadData, kernelLoop } from './worker_pool.js';

const data = workerData as KernelThreadData;
if (data.relaxed) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
kernelLoop(
  data,
  { ready: () => parentPort!.postMessage('ready'), exit: (code) => process.exit(code) },
  (handler) => process.on('exit', handler),
);
