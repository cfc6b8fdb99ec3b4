/**
 * Decode + resize throughput, sharp (libvips) against the pure-JS decoders (jpeg-js, pngjs), on
 * the same files: each file to its base image (the shorter side resized to 256, the centre
 * 256 x 256: what training at 224 px decodes), one image at a time on this thread (wall and
 * CPU time per image, median over the files), then through the streaming pipeline's decode
 * workers (images per second, all files, --workers threads). Files are read once before timing,
 * so the page cache holds them.
 *
 *   node dist/bench/decode.js --dir /tmp/photos [--files 8] [--base 256] [--workers 1] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDecoder } from '../src/data/decode.js';
import { DEFAULT_LIMITS } from '../src/data/limits.js';
import { StreamSource } from '../src/data/stream.js';
import { machine, spread } from '../src/bench/common.js';

const { values: v } = parseArgs({
  options: {
    dir: { type: 'string' },
    files: { type: 'string', default: '8' },
    base: { type: 'string', default: '256' },
    workers: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
if (!v.dir) throw new Error('--dir DIR (a folder of images, e.g. made by bench/photos.ts) is required');
const dir = v.dir;
const R = Number(v.base);
const workers = Number(v.workers);

/** The first n image files under dir, one class folder after another (sorted). */
function pick(n: number): string[] {
  const all: string[] = [];
  for (const c of fs.readdirSync(dir).sort()) {
    const d = path.join(dir, c);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort()) all.push(path.join(d, f));
  }
  // spread over the classes, so distinct images are picked
  return Array.from({ length: Math.min(n, all.length) }, (_, i) => all[Math.floor((i * all.length) / Math.min(n, all.length))]!);
}

const files = pick(Number(v.files));
for (const f of files) fs.readFileSync(f);
const sizes = files.map((f) => fs.statSync(f).size);
const result: Record<string, unknown> = {
  machine: machine(),
  files: files.length,
  mean_file_mb: sizes.reduce((a, b) => a + b, 0) / files.length / 2 ** 20,
  base: R,
  decoders: {} as Record<string, unknown>,
};
for (const name of ['sharp', 'js'] as const) {
  const dec = await openDecoder(name);
  await dec.base(files[0]!, R, 3, DEFAULT_LIMITS); // warm-up: module and library set-up
  const wall: number[] = [];
  const cpu: number[] = [];
  for (const f of files) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await dec.base(f, R, 3, DEFAULT_LIMITS);
    wall.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  // the pipeline: decode workers, eval crop at base size, all files
  const src = new StreamSource(
    'bench',
    files.map((file) => ({ file, label: 0 })),
    1,
    undefined,
    {
      size: R,
      base: R,
      channels: 3,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      decoder: name,
      workers,
      inflight: 2,
      ahead: 2,
      limits: DEFAULT_LIMITS,
    },
  );
  const t0 = performance.now();
  for (const _ of src.epoch(4, { shuffle: false, seed: 0, epoch: 0 })) void _;
  const pipeS = (performance.now() - t0) / 1000;
  (result.decoders as Record<string, unknown>)[name] = {
    decoder: dec.description,
    per_image_wall_s: spread(wall),
    per_image_cpu_s: spread(cpu),
    images_per_s_one_thread: 1 / spread(wall).median,
    pipeline: { workers, seconds: pipeS, images_per_s: files.length / pipeS },
  };
  process.stderr.write(
    `${dec.description}: ${spread(wall).median.toFixed(4)} s per image on one thread (CPU ${spread(cpu).median.toFixed(4)} s), pipeline ${(files.length / pipeS).toFixed(2)} images/s on ${workers} worker(s)\n`,
  );
}
const d = result.decoders as Record<string, { per_image_wall_s: { median: number } }>;
result.sharp_speedup = d.js!.per_image_wall_s.median / d.sharp!.per_image_wall_s.median;
result.cores = os.availableParallelism();
process.stdout.write(JSON.stringify(result, null, v.json ? 2 : 1) + '\n');
