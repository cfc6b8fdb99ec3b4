/**
 * The lines of a run's metrics.jsonl: one JSON object per line, either a training step
 * (every step, or the mean of every k steps) or an epoch.
 *   {"kind":"step","step":120,"epoch":3,"step_in_epoch":26,"steps_per_epoch":47,"loss":0.41,"lr":0.05,"images_per_s":812.5}
 *   {"kind":"epoch","epoch":3,"train_loss":0.43,"train_accuracy":0.84,"test_loss":0.47,"test_accuracy":0.83,"lr":0.05,"seconds":3.6,"images_per_s":806.1}
 * `step` counts optimizer steps from the start of the run (from 1); loss is the mean
 * cross-entropy over the images of the steps the line covers. Files written before step lines
 * existed hold one camelCase EpochMetrics object per line; they still read.
 */
import fs from 'node:fs';
import type { EpochRecord, MetricsRecord, StepRecord } from '../train/records.js';
import type { EpochMetrics, StepEvent } from '../train/trainer.js';

export type { EpochRecord, MetricsRecord, StepRecord } from '../train/records.js';

/** A metrics file (a run's metrics.jsonl, a bench result) is missing or malformed. */
export class MetricsError extends Error {
  override name = 'MetricsError';
}

export function epochRecord(m: EpochMetrics): EpochRecord {
  return {
    kind: 'epoch',
    epoch: m.epoch,
    train_loss: m.trainLoss,
    train_accuracy: m.trainAccuracy,
    test_loss: m.testLoss,
    test_accuracy: m.testAccuracy,
    lr: m.lr,
    seconds: m.seconds,
    images_per_s: m.imagesPerSec,
  };
}

/** Turns step events into step records, one per `every` steps of an epoch (and one for its last steps). */
export class StepLog {
  private loss = 0;
  private images = 0;
  private seconds = 0;

  constructor(private readonly every: number) {
    if (!Number.isInteger(every) || every < 1) throw new RangeError(`log interval must be a positive integer, got ${every}`);
  }

  add(e: StepEvent): StepRecord | null {
    this.loss += e.loss * e.size;
    this.images += e.size;
    this.seconds += e.stepSeconds;
    if (e.step % this.every !== 0 && e.step !== e.stepsPerEpoch) return null;
    const r: StepRecord = {
      kind: 'step',
      step: e.globalStep,
      epoch: e.epoch,
      step_in_epoch: e.step,
      steps_per_epoch: e.stepsPerEpoch,
      loss: this.loss / this.images,
      lr: e.lr,
      images_per_s: this.images / this.seconds,
    };
    this.loss = this.images = this.seconds = 0;
    return r;
  }
}

function num(o: Record<string, unknown>, k: string): boolean {
  return typeof o[k] === 'number';
}

/**
 * Parses metrics.jsonl text; `file` names it in errors. Blank lines are skipped, unknown kinds
 * ignored. A last line that is not JSON is what a run killed mid-write leaves: it is skipped and
 * `warn` is told; a bad line anywhere else is an error.
 */
export function parseMetrics(text: string, file: string, warn: (message: string) => void = () => {}): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  const lines = text.split('\n');
  let last = lines.length - 1;
  while (last >= 0 && lines[last]!.trim() === '') last--;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (i === last) {
        warn(
          `${file}:${i + 1}: skipped a torn last line (${Buffer.byteLength(line)} bytes, not complete JSON: a run that stopped mid-write); read the ${out.length} record(s) before it`,
        );
        return;
      }
      throw new MetricsError(`${file}:${i + 1}: not a JSON line`);
    }
    if (o === null || typeof o !== 'object') throw new MetricsError(`${file}:${i + 1}: not a JSON object`);
    if (o.kind === undefined && num(o, 'trainLoss')) {
      out.push(epochRecord(o as unknown as EpochMetrics)); // the format before step lines
    } else if (o.kind === 'epoch' && num(o, 'epoch') && num(o, 'train_loss')) {
      out.push(o as unknown as EpochRecord);
    } else if (o.kind === 'step' && num(o, 'step') && num(o, 'loss')) {
      out.push(o as unknown as StepRecord);
    } else if (o.kind === 'epoch' || o.kind === 'step') {
      throw new MetricsError(`${file}:${i + 1}: ${o.kind} line lacks its numbers`);
    }
  });
  return out;
}

export function readMetrics(file: string, warn?: (message: string) => void): MetricsRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MetricsError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return parseMetrics(text, file, warn);
}

/** The records a checkpoint after `epochsDone` epochs and `globalStep` steps has seen (a resumed run continues from these). */
export function metricsUpTo(records: MetricsRecord[], epochsDone: number, globalStep: number): MetricsRecord[] {
  return records.filter((r) => (r.kind === 'epoch' ? r.epoch <= epochsDone : r.step <= globalStep));
}
