import type { Network } from '../../src/models/network.js';
import { Rng } from '../../src/util/random.js';

/**
 * Gives every BatchNorm of net non-trivial affine parameters and running statistics (gamma in
 * [0.5, 1.5], beta ~ N(0, 0.2), running_mean ~ N(0, 0.3), running_var in [0.5, 2]), so that
 * folding and export are tested on values where a slip in the formula shows.
 */
export function randomizeBatchNorms(net: Network, seed: number): void {
  const rng = new Rng(seed);
  for (const s of net.specs) {
    if (!s.name.endsWith('.running_mean')) continue;
    const p = s.name.slice(0, -'.running_mean'.length);
    const fill = (a: Float32Array | Float64Array, f: () => number): void => {
      for (let i = 0; i < a.length; i++) a[i] = f();
    };
    fill(net.params.get(`${p}.weight`)!, () => 0.5 + rng.next());
    fill(net.params.get(`${p}.bias`)!, () => 0.2 * rng.normal());
    fill(net.state.get(`${p}.running_mean`)!, () => 0.3 * rng.normal());
    fill(net.state.get(`${p}.running_var`)!, () => 0.5 + 1.5 * rng.next());
  }
}

/** Worst |a - b| relative to the largest |b|. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 1e-30;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst / scale;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
