/**
 * The data options of `bnff train` and `bnff eval`: how image folders and lists are decoded
 * (decoder, workers, cache), the limits checked before allocating, and the normalisation.
 */
import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import {
  DECODER_CHOICES,
  type DecoderChoice,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_PIXELS,
  NORMALIZE_CHOICES,
  type NormalizeChoice,
  type OpenOptions,
  type OpenedData,
} from '../data/index.js';
import { byteSize, oneOf, positiveInt } from './args.js';

export interface DataOpts {
  decoder: DecoderChoice;
  decodeWorkers?: number;
  cache?: string;
  maxPixels: number;
  maxDataBytes: number;
  normalize?: NormalizeChoice;
}

export function addDataOptions(cmd: Command, o: { train: boolean }): Command {
  cmd
    .addOption(
      new Option('--decoder <name>', 'image folders and lists: auto (sharp where it loads, else js) | sharp (libvips) | js (jpeg-js, pngjs)')
        .argParser(oneOf(DECODER_CHOICES))
        .default('auto'),
    )
    .addOption(
      new Option('--decode-workers <n>', 'image folders and lists: decode threads (default: one per core beyond two, at least one, at most four)').argParser(
        positiveInt,
      ),
    )
    .addOption(new Option('--max-pixels <n>', 'refuse an image whose header gives more pixels than this').argParser(positiveInt).default(DEFAULT_MAX_PIXELS))
    .addOption(
      new Option('--max-data-bytes <size>', 'refuse an IDX or CIFAR-10 file holding (or inflating to) more than this, e.g. 4G')
        .argParser(byteSize)
        .default(DEFAULT_MAX_BYTES, '2G'),
    );
  if (o.train) {
    cmd
      .addOption(
        new Option(
          '--cache <dir>',
          'image folders and lists: keep the decoded images (8-bit, at the training resolution) in a file in DIR, read by every epoch and later runs; written before training when --threads leaves no core free, else during the first epoch',
        ),
      )
      .addOption(
        new Option(
          '--normalize <how>',
          "per-channel mean/std: auto (ImageNet's for RGB image folders and lists, else the training data's) | imagenet | data (the training split, or a sample of 256 images of a folder or list)",
        )
          .argParser(oneOf(NORMALIZE_CHOICES))
          .default('auto'),
      );
  }
  return cmd;
}

/**
 * openData's options from the command line's. A missing decoded cache is written before
 * training when the training threads leave no core free (decoding during the steps would slow
 * them), during the first epoch otherwise.
 */
export function openOptions(o: DataOpts, size: number, seed: number, limit: number | undefined, threads: number): OpenOptions {
  return {
    size,
    seed,
    limit,
    fillCache: availableParallelism() <= threads ? 'first' : 'during',
    normalize: o.normalize ?? 'auto',
    limits: { maxPixels: o.maxPixels, maxBytes: o.maxDataBytes },
    decoder: o.decoder,
    ...(o.decodeWorkers !== undefined ? { workers: o.decodeWorkers } : {}),
    ...(o.cache !== undefined ? { cache: o.cache } : {}),
  };
}

/** The train log's lines about the data: how streamed sets are read, where mean/std come from, notes. */
export function dataLog(d: OpenedData): string[] {
  const lines: string[] = [];
  if (d.streamed) {
    const s = d.streamed;
    lines.push(
      `  data: streamed, decoded by ${s.decoder.description}${s.decoder.why ? ` (${s.decoder.why})` : ''} on ${s.workers} worker thread${s.workers === 1 ? '' : 's'}, shorter side to ${s.base} px then the centre square, then the crop`,
    );
    for (const c of s.caches) lines.push(`  decoded cache: ${c}`);
  }
  lines.push(`  normalisation: mean ${d.mean.map((v) => v.toFixed(4)).join('/')}, std ${d.std.map((v) => v.toFixed(4)).join('/')}: ${d.statsFrom}`);
  for (const n of d.notes) lines.push(`  note: ${n}`);
  return lines;
}

/**
 * The evaluation batch: 250 images of 32x32, fewer of bigger ones (the same pixels), never fewer
 * than `atLeast` (bnff train: its training batch). One epoch of resnet18 at 224 px and batch 16
 * on an image folder peaked at 2,654 MiB RSS evaluating 250 at a time, 908 MiB at 16
 * (docs/data.md).
 */
export function evalBatch(d: { height: number; width: number }, atLeast = 1): number {
  return Math.max(atLeast, Math.min(250, Math.floor((250 * 32 * 32) / (d.height * d.width))));
}
