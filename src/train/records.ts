/**
 * The records of a run's metrics (the lines of metrics.jsonl, src/cli/metrics.ts): a training
 * step, or the mean of every k steps, and an epoch, with snake_case fields as written. The
 * charts (src/plot) draw them; the CLI writes and reads them.
 */

/** Training steps: one step, or the mean over the steps since the previous record. */
export interface StepRecord {
  kind: 'step';
  step: number;
  epoch: number;
  step_in_epoch: number;
  steps_per_epoch: number;
  loss: number;
  lr: number;
  images_per_s: number;
}

/** One epoch's metrics (EpochMetrics as written). */
export interface EpochRecord {
  kind: 'epoch';
  epoch: number;
  train_loss: number;
  train_accuracy: number;
  test_loss: number;
  test_accuracy: number;
  lr: number;
  seconds: number;
  images_per_s: number;
}

/** A line of metrics.jsonl. */
export type MetricsRecord = StepRecord | EpochRecord;
