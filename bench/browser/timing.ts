import { fixedInput } from '../../web/protocol.js';

/** Images per second from step times (seconds): median, and the spread of the timed steps. */
export interface Rate {
  median: number;
  min: number;
  max: number;
  steps: number;
  /** The step times, seconds. */
  times: number[];
}

export function rate(times: number[], batch: number): Rate {
  const s = [...times].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: batch / mid, min: batch / s[s.length - 1]!, max: batch / s[0]!, steps: s.length, times };
}

/** A fixed batch: inputs in [-1, 1) by integer hashing (the same bits everywhere), labels 0..9 in turn. */
export function fixedBatch(batch: number, size: number): { x: Float32Array; labels: Float32Array } {
  return { x: fixedInput(batch * size * size), labels: Float32Array.from({ length: batch }, (_, i) => i % 10) };
}

export interface StepOptions {
  threads: number;
  batch: number;
  steps: number;
  warmup: number;
}
