/**
 * A run directory: config.json (what was run), metrics.jsonl (a JSON line per training step or
 * every k steps, and per epoch: see metrics.ts), checkpoint.safetensors, weights.safetensors,
 * loss.svg and accuracy.svg. An existing run is never overwritten: pick a new directory, or
 * continue it from its own checkpoint (RunDir.reopen).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { MetricsRecord } from './metrics.js';

export class RunDirError extends Error {
  override name = 'RunDirError';
}

/** Writes through a temporary file and a rename: readers see the old file or the new one, never half. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export class RunDir {
  private constructor(readonly dir: string) {}

  /** A new run; `metrics` are the records of the run it resumes, if any. */
  static create(dir: string, config: Record<string, unknown>, metrics: MetricsRecord[] = []): RunDir {
    if (fs.existsSync(path.join(dir, 'config.json'))) {
      throw new RunDirError(`${dir} already holds a run (config.json exists); choose another --out directory`);
    }
    try {
      fs.mkdirSync(dir, { recursive: true });
      writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ ...config, created: new Date().toISOString(), node: process.version }, null, 2) + '\n');
    } catch (e) {
      throw new RunDirError(`cannot write run directory ${dir}: ${(e as Error).message}`);
    }
    const run = new RunDir(dir);
    run.writeMetrics(metrics);
    return run;
  }

  /**
   * The run in `dir`, continued from its checkpoint: metrics.jsonl is cut back to `metrics` (what
   * the checkpoint had seen; lines written after it are dropped) and config.json records the resume.
   */
  static reopen(dir: string, metrics: MetricsRecord[], resumed: Record<string, unknown>): RunDir {
    const file = path.join(dir, 'config.json');
    try {
      const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      const history = Array.isArray(config.resumed) ? config.resumed : [];
      writeFileAtomic(file, JSON.stringify({ ...config, resumed: [...history, { ...resumed, at: new Date().toISOString() }] }, null, 2) + '\n');
    } catch (e) {
      throw new RunDirError(`cannot continue the run in ${dir}: ${(e as Error).message}`);
    }
    const run = new RunDir(dir);
    run.writeMetrics(metrics);
    return run;
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  appendMetrics(m: MetricsRecord): void {
    fs.appendFileSync(this.file('metrics.jsonl'), JSON.stringify(m) + '\n');
  }

  private writeMetrics(records: MetricsRecord[]): void {
    writeFileAtomic(this.file('metrics.jsonl'), records.map((r) => JSON.stringify(r) + '\n').join(''));
  }
}
