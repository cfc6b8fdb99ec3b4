/**
 * The worker thread of prefetchBatches() (prefetch.ts): fills the two shared batch slots in
 * turn with the same epochOrder() and fillBatch() as batches(), waiting while the consumer
 * still holds a slot. A failure is written to the shared error buffer and both slots are
 * marked failed, so the waiting main thread wakes and reports it.
 */

import { workerData } from 'node:worker_threads';
import { batchCount, epochOrder, fillBatch } from './dataset.js';
import { CTL_ERR_LEN, SLOT_EMPTY, SLOT_ERROR, SLOT_FULL, type PrefetchWorkerData } from './prefetch.js';

function run(d: PrefetchWorkerData): void {
  const { ds, batchSize, o, ctl } = d;
  const n = batchCount(ds, batchSize, o.dropLast ?? false);
  const order = epochOrder(ds.count, o);
  const tmp = new Float32Array(o.augment ? ds.height * ds.width : 0);
  for (let b = o.startBatch ?? 0; b < n; b++) {
    const s = b & 1;
    let state: number;
    while ((state = Atomics.load(ctl, s)) === SLOT_FULL) Atomics.wait(ctl, s, SLOT_FULL);
    if (state !== SLOT_EMPTY) return; // stopped
    fillBatch(ds, order, b, batchSize, o, d.slots[s]!, tmp);
    Atomics.compareExchange(ctl, s, SLOT_EMPTY, SLOT_FULL);
    Atomics.notify(ctl, s);
  }
}

const d = workerData as PrefetchWorkerData;
try {
  run(d);
} catch (e) {
  const msg = new TextEncoder().encode(e instanceof Error ? `${e.name}: ${e.message}` : String(e)).subarray(0, d.err.length);
  d.err.set(msg);
  Atomics.store(d.ctl, CTL_ERR_LEN, msg.length);
  for (const s of [0, 1]) {
    Atomics.store(d.ctl, s, SLOT_ERROR);
    Atomics.notify(d.ctl, s);
  }
}
