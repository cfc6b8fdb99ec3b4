/**
 * `bnff eval`: test accuracy and loss of a checkpoint. The model comes from the checkpoint
 * (name in its metadata, classes and input channels from its weights), the normalisation
 * mean/std and the data spec from the run's configuration (--data overrides the spec). The test
 * split is prepared as `bnff train` prepares it (openTestData: brought to the model's input
 * size, image folders streamed with the centre crop). Inference runs the BN-folded graph
 * (src/passes/fold_bn.ts).
 */
import os from 'node:os';
import { type Command, Option } from 'commander';
import { DataError, type DataSource, openTestData } from '../data/index.js';
import { addDataOptions, type DataOpts, evalBatch } from './data-options.js';
import { createEngine, type EngineChoice } from '../runtime/engine.js';
import { engineOption } from './info.js';
import { Network } from '../models/network.js';
import { type SavedModel, inspectSavedModel, loadCheckpoint } from '../train/checkpoint.js';
import { evaluate } from '../train/trainer.js';
import { SafetensorsError } from '../io/safetensors.js';
import { loadWeights } from '../io/weights.js';
import { positiveInt, threadCount } from './args.js';

export interface EvalOptions extends Partial<DataOpts> {
  checkpoint: string;
  model?: string;
  data?: string;
  /** Default: evalBatch() of the images (250 of 32x32, fewer of bigger ones). */
  batchSize?: number;
  threads: number;
  engine: EngineChoice;
  limit?: number;
  json: boolean;
}

export interface EvalResult {
  checkpoint: string;
  model: string;
  /** Epochs the checkpoint had trained (absent for a plain weights file). */
  epoch?: number;
  data: string;
  images: number;
  accuracy: number;
  loss: number;
  seconds: number;
}

function numbers(v: unknown): number[] | undefined {
  return Array.isArray(v) && v.every((e) => typeof e === 'number') ? v : undefined;
}

/** The mean/std the run normalised with, from its configuration. */
export function normalisation(saved: SavedModel): { mean: number[]; std: number[] } {
  const mean = numbers(saved.config.mean);
  const std = numbers(saved.config.std);
  if (!mean || !std) throw new SafetensorsError(`${saved.path}: no normalisation statistics (mean/std) in the checkpoint or a config.json beside it`);
  return { mean, std };
}

/** The test split of spec, prepared as the run prepared it, checked against the model. */
async function testSet(saved: SavedModel, spec: string, o: EvalOptions): Promise<{ test: DataSource; close(): void }> {
  const { def } = saved;
  const { mean, std } = normalisation(saved);
  const from = `checkpoint ${saved.path} (${def.name})`;
  if (mean.length !== def.inChannels) throw new DataError(`${from} takes ${def.inChannels}-channel images, but its run normalised ${mean.length} channel(s)`);
  const t = await openTestData(spec, {
    size: def.imageSize,
    seed: typeof saved.config.seed === 'number' ? saved.config.seed : 0,
    limit: o.limit,
    mean,
    std,
    model: from,
    ...(o.maxPixels !== undefined && o.maxDataBytes !== undefined ? { limits: { maxPixels: o.maxPixels, maxBytes: o.maxDataBytes } } : {}),
    ...(o.decoder ? { decoder: o.decoder } : {}),
    ...(o.decodeWorkers !== undefined ? { workers: o.decodeWorkers } : {}),
  });
  const ds = t.test;
  if (ds.numClasses !== def.numClasses) {
    t.close();
    throw new DataError(`dataset ${ds.name} has ${ds.numClasses} classes, but ${from} has ${def.numClasses} outputs`);
  }
  return t;
}

export async function runEval(o: EvalOptions): Promise<EvalResult> {
  const saved = inspectSavedModel(o.checkpoint, o.model);
  const spec = o.data ?? (typeof saved.config.data === 'string' ? saved.config.data : undefined);
  if (spec === undefined) throw new SafetensorsError(`${o.checkpoint}: the run's data spec is not recorded; pass --data`);
  const data = await testSet(saved, spec, o);
  const te = data.test;
  const engine = await createEngine({ kind: o.engine, threads: o.threads });
  try {
    const net = new Network(saved.def, engine.memory, 0, engine.lowering);
    if (saved.meta) loadCheckpoint(o.checkpoint, net);
    else loadWeights(net, o.checkpoint);
    const t0 = performance.now();
    const r = evaluate(net, te, o.batchSize ?? evalBatch(te));
    const seconds = (performance.now() - t0) / 1000;
    return { checkpoint: o.checkpoint, model: saved.def.name, epoch: saved.meta?.epoch, data: te.name, images: te.count, ...r, seconds };
  } finally {
    engine.close();
    data.close();
  }
}

function formatEval(r: EvalResult): string {
  const epoch = r.epoch === undefined ? '' : ` after ${r.epoch} epoch(s)`;
  return `${r.model}${epoch} on ${r.data} (${r.images} images): test accuracy ${(100 * r.accuracy).toFixed(2)}%, loss ${r.loss.toFixed(4)}\n`;
}

export function registerEval(program: Command, setCode: (c: number) => void): void {
  const cmd = program
    .command('eval')
    .description('test accuracy and loss of a checkpoint (BN folded into the convolutions)')
    .requiredOption('-c, --checkpoint <path>', 'a checkpoint.safetensors written by bnff train --out (or its weights.safetensors)')
    .addOption(new Option('-d, --data <spec>', 'dataset (default: the one the run trained on)'))
    .addOption(new Option('-m, --model <name>', 'check that the checkpoint is of this model'))
    .addOption(new Option('-b, --batch-size <n>', 'batch size (default: 250 images of 32x32, proportionally fewer of bigger ones)').argParser(positiveInt))
    .addOption(new Option('-t, --threads <n>', 'worker threads').argParser(threadCount).default(os.availableParallelism()))
    .addOption(engineOption())
    .addOption(new Option('--limit <n>', "evaluate n test images (the same ones as train --limit n with the run's seed)").argParser(positiveInt))
    .addOption(new Option('--json', 'print one JSON object').default(false));
  addDataOptions(cmd, { train: false })
    .addHelpText(
      'after',
      '\nExamples:\n  bnff eval --checkpoint runs/fm/checkpoint.safetensors\n  bnff eval --checkpoint runs/fm/checkpoint.safetensors --data fashion-mnist:/data/fm --json',
    )
    .action(async (o: EvalOptions) => {
      const r = await runEval(o);
      process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatEval(r));
      setCode(0);
    });
}
