/** Value parsers for CLI options: each rejects bad input with a message naming the value. */
import { InvalidArgumentError } from 'commander';

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`"${v}" is not a positive integer.`);
  return n;
}

export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${v}" is not a non-negative integer.`);
  return n;
}

export function positiveFloat(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${v}" is not a positive number.`);
  return n;
}

export function nonNegativeFloat(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`"${v}" is not a number >= 0.`);
  return n;
}

/** A byte count: an integer, or a number with K, M, G or T (powers of 1024; "2G", "1.5GiB", "500MB"). */
export function byteSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kKmMgGtT])(?:i?[bB])?)?\s*$/.exec(v);
  const n = m ? Math.round(Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] ?? ' ').toLowerCase())) : NaN;
  if (!m || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`"${v}" is not a size in bytes (e.g. 4096, 500M, 2G).`);
  return n;
}

export function oneOf<T extends string>(choices: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(choices as readonly string[]).includes(v)) throw new InvalidArgumentError(`"${v}" is not one of: ${choices.join(', ')}.`);
    return v as T;
  };
}

/** A usage error found after parsing (an option value that does not fit the model or data): exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The most worker threads the thread pool takes (MAX_THREADS in src/runtime/pool.ts). */
export const MAX_THREADS = 64;

export function threadCount(v: string): number {
  const n = positiveInt(v);
  if (n > MAX_THREADS) throw new InvalidArgumentError(`"${v}" is more than the ${MAX_THREADS} threads the thread pool takes.`);
  return n;
}
