/**
 * Messages between the demo page (web/app.ts) and its training worker (web/train_worker.ts),
 * where bnff runs: the page never blocks, the worker owns the engine.
 */
import type { ExplainResult } from '../src/browser/index.js';

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  lr: number;
  /** Stop each epoch after this many batches (tests; 0: the whole epoch). */
  limit: number;
}

export type ToWorker =
  | { type: 'init'; threads?: number }
  | { type: 'train'; settings: TrainSettings }
  | { type: 'stop' }
  | { type: 'fused'; on: boolean }
  | { type: 'compare'; steps: number }
  | { type: 'gallery'; count: number }
  | { type: 'export' }
  | { type: 'load'; bytes: Uint8Array; name: string }
  /** Logits of a fixed input: of a fresh resnet8 of `seed`, or (trained) of the page's trained model, eval mode only. */
  | { type: 'logits'; seed: number; batch: number; trained?: boolean };

/** A failure the page explains: what kind, and the message. */
export type ErrorKind = 'no-simd' | 'no-webassembly' | 'no-workers' | 'out-of-memory' | 'weights' | 'data' | 'other';

export interface SpeedStats {
  /** Images per second of a training step: median, and the spread (min, max) of the timed steps. */
  median: number;
  min: number;
  max: number;
  steps: number;
}

export interface GalleryItem {
  /** 28x28 pixels, 0..255. */
  pixels: Uint8Array;
  label: number;
  predicted: number;
  confidence: number;
}

export type FromWorker =
  | { type: 'status'; text: string }
  | {
      type: 'ready';
      engine: string;
      reason: string;
      threads: number;
      isolated: boolean;
      isa: string;
      params: number;
      trainCount: number;
      testCount: number;
      classNames: string[];
      explain: ExplainResult;
      seconds: number;
    }
  | { type: 'step'; epoch: number; step: number; stepsPerEpoch: number; globalStep: number; loss: number; accuracy: number; imagesPerSecond: number; fused: boolean }
  | { type: 'epoch'; epoch: number; trainLoss: number; trainAccuracy: number; testLoss: number; testAccuracy: number; seconds: number; imagesPerSecond: number }
  | { type: 'done'; stopped: boolean; testAccuracy: number }
  | { type: 'speed'; fused: SpeedStats | undefined; unfused: SpeedStats | undefined }
  | { type: 'compare'; fused: SpeedStats & { breakdown: Record<string, number> }; unfused: SpeedStats & { breakdown: Record<string, number> }; batchSize: number }
  | { type: 'gallery'; items: GalleryItem[] }
  | { type: 'weights'; bytes: Uint8Array; name: string }
  | { type: 'loaded'; name: string; testAccuracy: number; model: string }
  | { type: 'logits'; eval: Float32Array; train: Float32Array; loss: number; threads: number; variant: string }
  | { type: 'error'; kind: ErrorKind; message: string };

/** A fixed input in [-1, 1), the same bits on every platform (integer hashing, no Math.sin). */
export function fixedInput(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = ((Math.imul(i + 1, 2654435761) >>> 0) / 2 ** 32) * 2 - 1;
  return x;
}
