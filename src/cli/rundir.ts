/**
 * A run directory: config.json (what was run), metrics.jsonl (a JSON line per training step or
 * every k steps, and per epoch: see metrics.ts), checkpoint.safetensors, weights.safetensors,
 * loss.svg and accuracy.svg. Every file goes through src/io/safe_write.ts: a run replaces only
 * the files it made itself (the checkpoint after each epoch), never a file it did not make,
 * never its inputs, never anything that is not a regular file. An existing run is never
 * overwritten: pick a new directory, or continue it from its own checkpoint (RunDir.reopen).
 * Without --out, `bnff train` makes a fresh runs/<model>-<YYYYMMDD>-<n> (freshRunDir).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describeKind, ensureDirectory, type WriteGuard, WriteRefusedError, writeFileSafe } from '../io/safe_write.js';
import type { MetricsRecord } from './metrics.js';

export class RunDirError extends Error {
  override name = 'RunDirError';
}

/** The files a run writes, in the order it makes them. */
export const RUN_FILES = ['config.json', 'metrics.jsonl', 'checkpoint.safetensors', 'loss.svg', 'accuracy.svg', 'weights.safetensors'] as const;
export type RunFile = (typeof RUN_FILES)[number];

/**
 * Makes and returns a new run directory `<parent>/<model>-<YYYYMMDD>-<n>` (the UTC date; n the
 * first free number from 1). The directory is claimed by mkdir, so two runs started at once
 * get different ones.
 */
export function freshRunDir(model: string, parent = 'runs', now = new Date()): string {
  ensureDirectory(parent);
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  for (let n = 1; ; n++) {
    const dir = path.join(parent, `${model}-${day}-${n}`);
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunDirError(`cannot make run directory ${dir}: ${(e as Error).message}`);
    }
  }
}

export class RunDir {
  /** Files this run made (or, for a continued run, owns): the only ones it may replace. */
  private readonly made = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly inputs: readonly string[],
  ) {}

  /**
   * A new run in `dir` (made if needed); `metrics` are the records of the run it resumes, if
   * any. Refused when dir is not a directory, already holds a run, or holds any file a run
   * writes; `inputs` (the checkpoint resumed from) are never written.
   */
  static create(dir: string, config: Record<string, unknown>, metrics: MetricsRecord[] = [], inputs: readonly string[] = []): RunDir {
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (st && !st.isDirectory())
      throw new WriteRefusedError(`refusing to use ${dir} as a run directory: it is ${describeKind(st, dir)}; choose another --out directory`);
    if (fs.lstatSync(path.join(dir, 'config.json'), { throwIfNoEntry: false })) {
      throw new RunDirError(`${dir} already holds a run (config.json exists); choose another --out directory`);
    }
    for (const f of RUN_FILES) {
      const there = fs.lstatSync(path.join(dir, f), { throwIfNoEntry: false });
      if (there)
        throw new RunDirError(`${dir} already holds ${f} (${describeKind(there, path.join(dir, f))} this run did not make); choose another --out directory`);
    }
    ensureDirectory(dir, { strict: true });
    const run = new RunDir(dir, inputs);
    try {
      run.write('config.json', JSON.stringify({ ...config, created: new Date().toISOString(), node: process.version }, null, 2) + '\n');
    } catch (e) {
      if (e instanceof WriteRefusedError) throw e;
      throw new RunDirError(`cannot write run directory ${dir}: ${(e as Error).message}`);
    }
    run.writeMetrics(metrics);
    return run;
  }

  /**
   * The run in `dir`, continued from its checkpoint: metrics.jsonl is cut back to `metrics` (what
   * the checkpoint had seen; lines written after it are dropped) and config.json records the
   * resume. A continued run owns the run's files: it replaces them as the run goes on.
   */
  static reopen(dir: string, metrics: MetricsRecord[], resumed: Record<string, unknown>): RunDir {
    const run = new RunDir(dir, []);
    for (const f of RUN_FILES) run.made.add(f);
    const file = run.file('config.json');
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new RunDirError(`cannot continue the run in ${dir}: ${(e as Error).message}`);
    }
    const history = Array.isArray(config.resumed) ? config.resumed : [];
    run.write('config.json', JSON.stringify({ ...config, resumed: [...history, { ...resumed, at: new Date().toISOString() }] }, null, 2) + '\n');
    run.writeMetrics(metrics);
    return run;
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** What may happen to `name` when the run writes it: replaced only once the run has made it. */
  guard(name: RunFile): WriteGuard {
    return { inputs: this.inputs, replace: this.made.has(name) };
  }

  /** Records that the run has written `name` (through guard(name)). */
  wrote(name: RunFile): void {
    this.made.add(name);
  }

  write(name: RunFile, text: string): void {
    writeFileSafe(this.file(name), text, this.guard(name));
    this.wrote(name);
  }

  /** Appends a line; the file is opened without following a symlink put in its place. */
  appendMetrics(m: MetricsRecord): void {
    const fd = fs.openSync(this.file('metrics.jsonl'), fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW);
    try {
      fs.writeSync(fd, JSON.stringify(m) + '\n');
    } finally {
      fs.closeSync(fd);
    }
  }

  private writeMetrics(records: MetricsRecord[]): void {
    this.write('metrics.jsonl', records.map((r) => JSON.stringify(r) + '\n').join(''));
  }
}
