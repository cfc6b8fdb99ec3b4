/**
 * Checks the traffic model (src/bench/traffic.ts) against a cache simulation: valgrind's cachegrind
 * runs training steps of a small network on one thread, unfused and fused, with a last-level
 * cache small enough that the activations do not fit (as they do not at full scale), and
 * counts last-level misses. The misses of one step are isolated as the difference between a
 * run of setup + 1 + k steps and one of setup + 1 step, divided by k.
 *
 * cachegrind counts a miss once per line fetched (reads, and writes through write-allocate);
 * it does not model write-backs, so its bytes (misses x 64) and the model's bytes (every
 * tensor read and written once per pass) measure the same streams only roughly: the ratio
 * fused/unfused is the figure to compare.
 *
 *   node dist/bench/cachegrind.js [--model resnet8] [--batch-size 64] [--image-size 32] [--ll-bytes 2097152] [--steps 1] [--json]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/runtime/engine.js';
import { getModel } from '../src/models/index.js';
import { Network } from '../src/models/network.js';
import { ALL_FUSION, NO_FUSION } from '../src/passes/index.js';
import { traffic } from '../src/bench/traffic.js';

const LINE = 64;

/** The child: builds the plan, runs one step (warm-up, included in both runs), then `steps` more. */
async function child(model: string, batch: number, size: number, steps: number, fused: boolean): Promise<void> {
  const engine = await createEngine({ kind: 'wasm', threads: 1 });
  try {
    const def = getModel(model);
    const shape = [batch, def.inChannels, size, size];
    const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i));
    const labels = Float32Array.from({ length: batch }, (_, i) => i % def.numClasses);
    const net = new Network(def, engine.memory, 1, engine.lowering, fused ? ALL_FUSION : NO_FUSION);
    for (let i = 0; i <= steps; i++) net.forwardBackward(x, labels, shape, { seed: 1, step: i });
  } finally {
    engine.close();
  }
}

interface Misses {
  reads: number;
  writes: number;
}

function simulate(o: Opts, steps: number, fused: boolean): Misses {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-cg-')), 'cachegrind.out');
  const args = [
    '--tool=cachegrind',
    '--cache-sim=yes',
    `--LL=${o.llBytes},16,${LINE}`,
    `--cachegrind-out-file=${out}`,
    process.execPath,
    fileURLToPath(import.meta.url),
    '--child',
    '--model',
    o.model,
    '--batch-size',
    String(o.batchSize),
    '--image-size',
    String(o.imageSize),
    '--steps',
    String(steps),
    ...(fused ? ['--fused'] : []),
  ];
  const r = spawnSync('valgrind', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`valgrind failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const m = /LL misses:\s+([\d,]+)\s+\(\s*([\d,]+) rd\s+\+\s+([\d,]+) wr\)/.exec(r.stderr);
  if (!m) throw new Error(`no "LL misses" line in cachegrind's output: ${r.stderr.slice(-2000)}`);
  const n = (s: string): number => Number(s.replace(/,/g, ''));
  return { reads: n(m[2]!), writes: n(m[3]!) };
}

interface Opts {
  model: string;
  batchSize: number;
  imageSize: number;
  llBytes: number;
  steps: number;
}

export function cachegrindCheck(o: Opts): Record<string, unknown> {
  const perStep = (fused: boolean): { bytes: number; read_bytes: number; write_bytes: number } => {
    const a = simulate(o, 0, fused);
    const b = simulate(o, o.steps, fused);
    const reads = ((b.reads - a.reads) / o.steps) * LINE;
    const writes = ((b.writes - a.writes) / o.steps) * LINE;
    return { bytes: reads + writes, read_bytes: reads, write_bytes: writes };
  };
  const unfused = perStep(false);
  const fused = perStep(true);
  const model = traffic(o.model, o.batchSize, o.imageSize);
  return {
    model: o.model,
    batch_size: o.batchSize,
    image_size: o.imageSize,
    ll_bytes: o.llBytes,
    steps: o.steps,
    valgrind: execFileSync('valgrind', ['--version'], { encoding: 'utf8' }).trim(),
    simulated: { unfused, fused, ratio: fused.bytes / unfused.bytes },
    modelled: { unfused_bytes: model.unfused_bytes, fused_bytes: model.fused_bytes, ratio: model.ratio },
    simulated_over_modelled: { unfused: unfused.bytes / model.unfused_bytes, fused: fused.bytes / model.fused_bytes },
  };
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { values: v } = parseArgs({
    options: {
      child: { type: 'boolean', default: false },
      fused: { type: 'boolean', default: false },
      model: { type: 'string', default: 'resnet8' },
      'batch-size': { type: 'string', default: '64' },
      'image-size': { type: 'string', default: '32' },
      'll-bytes': { type: 'string', default: String(2 << 20) },
      steps: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
    },
  });
  const o: Opts = {
    model: v.model!,
    batchSize: Number(v['batch-size']),
    imageSize: Number(v['image-size']),
    llBytes: Number(v['ll-bytes']),
    steps: Number(v.steps),
  };
  if (v.child) {
    await child(o.model, o.batchSize, o.imageSize, o.steps, v.fused!);
  } else {
    const r = cachegrindCheck(o) as {
      simulated: { unfused: { bytes: number }; fused: { bytes: number }; ratio: number };
      modelled: { unfused_bytes: number; fused_bytes: number; ratio: number };
    };
    if (v.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    } else {
      const mb = (b: number): string => (b / 1e6).toFixed(1).padStart(8);
      process.stdout.write(
        `${o.model}, batch ${o.batchSize}, ${o.imageSize}x${o.imageSize}, simulated LL ${o.llBytes >> 10} KiB, one training step, 1 thread\n` +
          `               unfused MB  fused MB   fused/unfused\n` +
          `  cachegrind   ${mb(r.simulated.unfused.bytes)}  ${mb(r.simulated.fused.bytes)}   ${r.simulated.ratio.toFixed(3)}\n` +
          `  model        ${mb(r.modelled.unfused_bytes)}  ${mb(r.modelled.fused_bytes)}   ${r.modelled.ratio.toFixed(3)}\n`,
      );
    }
  }
}
