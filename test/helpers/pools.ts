/** One thread pool per thread count, shared by a test file's tests and closed after them. */
import { after } from 'node:test';
import { Arena } from '../../src/runtime/memory.js';
import { ThreadPool } from '../../src/runtime/pool.js';

const pools = new Map<number, ThreadPool>();
let registered = false;

export async function getPool(threads: number): Promise<ThreadPool> {
  if (!registered) {
    registered = true;
    after(() => {
      for (const p of pools.values()) p.close();
      pools.clear();
    });
  }
  let p = pools.get(threads);
  if (!p) {
    p = await ThreadPool.create(new Arena(), threads);
    pools.set(threads, p);
  }
  return p;
}
