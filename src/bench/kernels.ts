/**
 * `bnff bench kernels`: runs the kernel benchmarks (src/bench/kernels_conv.ts: GFLOP/s of the three
 * convolution passes on resnet50's shapes next to the in-cache micro-kernel rate;
 * src/bench/kernels_eltwise.ts: GB/s of the BN/ReLU/add kernels next to a triad measured in the same
 * run; src/bench/kernels_depthwise.ts: GB/s of the depthwise convolutions on mobilenet_v2's layers
 * at 224 px, batch 32, next to the triad; only with --only depthwise), each in its own process so
 * that none disturbs another's memory.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export function benchKernels(o: { threads: number; json: boolean; only?: 'conv' | 'eltwise' | 'depthwise'; engine?: string }): number {
  const threads = o.threads > 1 ? `1,${o.threads}` : '1';
  const runs: [string, string[]][] = [];
  const engine = o.engine && o.engine !== 'auto' ? o.engine : undefined;
  if (o.only === 'depthwise')
    runs.push(['depthwise', [path.join(here, 'kernels_depthwise.js'), '--threads', threads, '--engine', engine ?? 'native', ...(o.json ? ['--json'] : [])]]);
  else if (o.only !== 'eltwise')
    runs.push(['conv', [path.join(here, 'kernels_conv.js'), '--threads', threads, ...(engine ? ['--engine', engine] : []), ...(o.json ? ['--json'] : [])]]);
  if (o.only !== 'conv' && o.only !== 'depthwise')
    runs.push([
      'eltwise',
      [path.join(here, 'kernels_eltwise.js'), '--threads', threads, ...(engine ? ['--engine', engine] : []), ...(o.json ? ['--json'] : [])],
    ]);
  const out: Record<string, unknown> = {};
  for (const [name, args] of runs) {
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', o.json ? 'pipe' : 'inherit'], maxBuffer: 64 << 20 });
    if (r.status !== 0) {
      process.stderr.write(`bnff bench kernels: the ${name} benchmark failed: ${r.stderr ?? ''}\n`);
      return 1;
    }
    if (!o.json) process.stdout.write(r.stdout);
    else {
      try {
        out[name] = JSON.parse(r.stdout);
      } catch {
        out[name] = { text: r.stdout };
      }
    }
  }
  if (o.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return 0;
}
