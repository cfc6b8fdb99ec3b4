/**
 * A decode worker of a StreamSource (stream.ts): takes tickets from the shared counter, waits
 * until the ticket's batch slot is free, gets the example's base image (from the decoded cache,
 * or by decoding the file and, while the cache is being filled, writing it there), crops and
 * normalises it into the slot and counts it in. `inflight` loops run at once, so sharp (whose
 * work runs off this thread) keeps that many images decoding; they wait with Atomics.waitAsync,
 * never blocking each other. A failure is written to the shared error buffer, the state set
 * to failed, and the training thread woken to report it.
 */

import { workerData } from 'node:worker_threads';
import { augmentExample } from './dataset.js';
import { readRecord, writeRecord } from './cache.js';
import { type Decoder, openDecoder } from './decode.js';
import { DECODER_IDS, STREAM_CTL, STREAM_STATE, type StreamWorkerData, unpackPath, type WorkerFailure } from './stream.js';
import { affineOf, baseToPlanar, normTables, resizedCropBox } from './transform.js';

const d = workerData as StreamWorkerData;
const { ctl } = d;
const nslots = d.slots.length;
const per = d.channels * d.size * d.size;
const tables = normTables(d.mean, d.std);
const affine = affineOf(d.mean, d.std);
const aug = d.o.augment;
/** Shifts and flips after the crop (the resized crop itself is done on the base). */
const after = aug && (aug.padding > 0 || aug.flip) ? { ...aug, resizedCrop: false } : undefined;

type WaitAsync = (a: Int32Array, i: number, v: number, ms: number) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

async function waitWhile(i: number, v: number): Promise<void> {
  const r = waitAsync(ctl, i, v, 1000);
  if (r.async) await r.value;
}

function running(): boolean {
  return Atomics.load(ctl, STREAM_CTL.state) === STREAM_STATE.run;
}

async function baseOf(dec: Decoder, idx: number, rec: Uint8Array | undefined, td: TextDecoder): Promise<Uint8Array> {
  const c = d.cache;
  if (c && (c.mode === 'read' || Atomics.load(c.written!, idx) === 1)) {
    readRecord(c, idx, rec!, c.path);
    return rec!;
  }
  const base = await dec.base(unpackPath(d.paths, idx, td), d.base, d.channels, d.limits);
  if (c) writeRecord(c, idx, base);
  return base;
}

async function loop(dec: Decoder): Promise<void> {
  const td = new TextDecoder();
  const tmp = new Float32Array(after ? d.size * d.size : 0);
  const rec = d.cache ? new Uint8Array(d.cache.recordBytes) : undefined;
  for (;;) {
    if (!running()) return;
    const t = Atomics.add(ctl, STREAM_CTL.next, 1);
    if (t >= d.end) return;
    const b = Math.floor(t / d.batchSize);
    const s = b % nslots;
    for (let cur; (cur = Atomics.load(ctl, STREAM_CTL.slots + s)) !== b; ) {
      if (!running()) return;
      await waitWhile(STREAM_CTL.slots + s, cur);
    }
    const idx = d.order[t]!;
    const base = await baseOf(dec, idx, rec, td);
    if (!running()) return;
    const slot = d.slots[s]!;
    const i = t - b * d.batchSize;
    const key: [number, number, number] = [d.o.seed, d.o.epoch, t];
    const box = aug?.resizedCrop ? resizedCropBox(d.base, d.base, key) : undefined;
    baseToPlanar(base, d.base, d.channels, box, slot.x, i * per, d.size, tables, affine);
    if (after) augmentExample(slot.x, i * per, d.channels, d.size, d.size, after, key, tmp);
    slot.labels[i] = d.labels[idx]!;
    slot.indices[i] = idx;
    Atomics.add(ctl, STREAM_CTL.done, 1);
    const size = Math.min(d.batchSize, d.count - b * d.batchSize);
    const fill = STREAM_CTL.slots + nslots + s;
    if (Atomics.add(ctl, fill, 1) + 1 === size) Atomics.notify(ctl, fill);
  }
}

function fail(e: unknown): void {
  if (Atomics.load(ctl, STREAM_CTL.state) === STREAM_STATE.error) return;
  const err = e instanceof Error ? e : new Error(String(e));
  const f: WorkerFailure = { name: err.name, message: err.message, ...((err as { path?: string }).path !== undefined ? { path: (err as { path?: string }).path } : {}) };
  const msg = new TextEncoder().encode(JSON.stringify(f)).subarray(0, d.err.length);
  d.err.set(msg);
  Atomics.store(ctl, STREAM_CTL.errLen, msg.length);
  Atomics.store(ctl, STREAM_CTL.state, STREAM_STATE.error);
  for (let i = STREAM_CTL.slots; i < ctl.length; i++) Atomics.notify(ctl, i);
}

async function main(): Promise<void> {
  // A pending Atomics.waitAsync does not keep a worker's event loop alive: without a handle
  // the worker would end while its loops wait for a slot.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    const dec = await openDecoder(d.decoder);
    Atomics.store(ctl, STREAM_CTL.decoder, DECODER_IDS[dec.name]);
    await Promise.all(Array.from({ length: Math.max(1, dec.name === 'sharp' ? d.inflight : 1) }, () => loop(dec)));
  } finally {
    clearInterval(keepAlive);
  }
}

// an exit with tickets left (an exception outside the loops, a terminated thread) must not leave the training thread waiting
process.on('exit', () => {
  if (running() && Atomics.load(ctl, STREAM_CTL.next) < d.end) fail(new Error('a decode worker ended with images left to decode'));
});
main().catch(fail);
