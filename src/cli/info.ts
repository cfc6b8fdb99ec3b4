/**
 * `bnff info`: which engine bnff picks here and why, the CPU, the threads, how many kernels run
 * natively; with --measure, this machine's FMA peak and triad bandwidth on that engine.
 */
import os from 'node:os';
import { type Command, Option } from 'commander';
import { type Engine, ENGINE_CHOICES, type EngineChoice, createEngine, engineChoice } from '../runtime/engine.js';
import { splitRange } from '../runtime/backend.js';
import { NativeBackend } from '../runtime/native.js';
import { cpuModel } from '../util/machine.js';
import { decoderStatus } from '../data/decode.js';
import { oneOf, positiveInt } from './args.js';

/** The --engine option every command that runs kernels takes (default: BNFF_ENGINE, else auto). */
export function engineOption(): Option {
  return new Option(
    '--engine <kind>',
    'auto (native where built, else wasm) | native (C++ kernels for this CPU) | wasm (WebAssembly SIMD) | reference (plain loops, 1 thread); default: $BNFF_ENGINE or auto',
  )
    .argParser(oneOf(ENGINE_CHOICES))
    .default(process.env.BNFF_ENGINE && (ENGINE_CHOICES as readonly string[]).includes(process.env.BNFF_ENGINE) ? process.env.BNFF_ENGINE : 'auto');
}

export interface Peaks {
  /** GFLOP/s of independent FMA chains (native) or of the in-cache GEMM micro-kernel (wasm). */
  fma_gflops: number;
  fma_probe: string;
  /** GB/s of a[i] = b[i] + s*c[i] over arrays far larger than the caches. */
  triad_gbs: number;
}

function best(reps: number, f: () => void): number {
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    f();
    b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return b;
}

/** This machine's FMA peak and triad bandwidth on the engine's backend, every thread busy. */
export function measurePeaks(engine: Engine): Peaks {
  const be = engine.backend;
  if (!be) throw new RangeError('the reference engine has no SIMD peak to measure');
  const T = be.threads;
  let fma: number, probe: string;
  if (be instanceof NativeBackend && be.isNative('fma_peak')) {
    const reps = 2_000_000,
      lanes = be.isa === 'avx512' ? 16 : 8;
    const s = best(5, () => be.run('fma_peak', [reps], splitRange(T, T)));
    fma = (T * reps * 24 * lanes) / s / 1e9;
    probe = `12 independent ${lanes * 32}-bit FMA chains per thread`;
  } else {
    const kc = 256,
      reps = 20000;
    const s = best(5, () => be.run('gemm_bench_mk', [kc, reps], splitRange(T, T)));
    fma = (T * reps * kc * 64) / s / 1e9;
    probe = 'the 4x8 WebAssembly micro-kernel on L1-resident panels';
  }
  const n = 16 << 20; // 3 x 64 MiB
  const a = engine.memory.alloc(n) as Float32Array,
    b = engine.memory.alloc(n) as Float32Array,
    c = engine.memory.alloc(n) as Float32Array;
  b.fill(1);
  c.fill(2);
  const ranges = splitRange(n, T, 16);
  const s = best(7, () => be.run('triad', [a.byteOffset, b.byteOffset, c.byteOffset, 0.5], ranges));
  return { fma_gflops: fma, fma_probe: probe, triad_gbs: (12 * n) / s / 1e9 };
}

export interface InfoReport {
  engine: string;
  isa: string;
  reason: string;
  description: string;
  threads: number;
  cpu: string;
  cores: number;
  node: string;
  native_kernels?: { native: number; total: number };
  /** What decodes image folders and lists: "sharp 0.35.6 (libvips 8.18.8)", or the pure-JS decoders and why. */
  image_decoder: string;
  peaks?: Peaks;
}

export async function info(o: { engine: EngineChoice; threads: number; measure: boolean }): Promise<InfoReport> {
  const engine = await createEngine({ kind: engineChoice(o.engine), threads: o.threads });
  try {
    const r: InfoReport = {
      engine: engine.kind,
      isa: engine.isa,
      reason: engine.reason,
      description: engine.description,
      threads: engine.threads,
      cpu: cpuModel(),
      cores: os.availableParallelism(),
      node: process.version,
      image_decoder: await decoderStatus().then((d) => `${d.description}${d.why ? `: ${d.why}` : ''}`),
    };
    if (engine.backend instanceof NativeBackend) r.native_kernels = engine.backend.coverage;
    if (o.measure) r.peaks = measurePeaks(engine);
    return r;
  } finally {
    engine.close();
  }
}

export function formatInfo(r: InfoReport): string {
  const lines = [
    `engine:  ${r.reason}`,
    `         ${r.description}`,
    `cpu:     ${r.cpu} (${r.cores} logical cores)`,
    `node:    ${r.node}`,
    `images:  ${r.image_decoder}`,
  ];
  if (r.native_kernels) lines.push(`kernels: ${r.native_kernels.native} of ${r.native_kernels.total} native`);
  if (r.peaks) {
    lines.push(`peak:    ${r.peaks.fma_gflops.toFixed(1)} GFLOP/s (${r.peaks.fma_probe}, ${r.threads} threads)`);
    lines.push(`triad:   ${r.peaks.triad_gbs.toFixed(1)} GB/s (a = b + s*c over 3 x 64 MiB, ${r.threads} threads)`);
  }
  return lines.join('\n') + '\n';
}

export function registerInfo(program: Command, setCode: (c: number) => void): void {
  program
    .command('info')
    .description('the engine bnff picks here and why, the CPU and threads; --measure adds the FMA peak and triad bandwidth')
    .addOption(engineOption())
    .addOption(new Option('-t, --threads <n>', 'threads').argParser(positiveInt).default(os.availableParallelism()))
    .addOption(new Option('--measure', 'measure the FMA peak and the triad bandwidth (a few seconds)').default(false))
    .addOption(new Option('--json', 'print JSON').default(false))
    .addHelpText('after', '\nExamples:\n  bnff info\n  bnff info --measure\n  BNFF_ENGINE=wasm bnff info --measure --json')
    .action(async (o: { engine: EngineChoice; threads: number; measure: boolean; json: boolean }) => {
      const r = await info(o);
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : formatInfo(r));
      setCode(0);
    });
}
