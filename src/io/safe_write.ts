/**
 * The one way bnff writes a file (checkpoints, weights, run files, plots, ONNX models). Before
 * anything is written the target is lstat()ed, and the write is refused when the target
 *   - exists and is not a regular file (a directory, symlink, FIFO, socket, device): renaming
 *     over it would replace the node itself, and writing through it would feed a pipe or device;
 *   - is one of the command's own inputs (same device and inode, or same real path): the
 *     checkpoint being read, the run directory's files the command did not make;
 *   - exists as a regular file, unless the caller says the command replaces it (a run's own
 *     checkpoint, plot redrawing its SVGs) or the user gave --force.
 * Otherwise the bytes go to a temporary file in the same directory, are fsynced and renamed
 * over the target (src/io/atomic.ts): readers see the old file or the new one, never half.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';

/** A write refused to protect what is on disk; the message names the path and why. */
export class WriteRefusedError extends Error {
  override name = 'WriteRefusedError';
}

/** What a write may replace: the command's inputs never, an existing file only when said. */
export interface WriteGuard {
  /** Files the command reads: never written, whatever else is said. */
  inputs?: readonly string[];
  /** The command's semantics replace an existing regular file at the target. */
  replace?: boolean;
  /** --force: an existing regular file may be replaced (never an input, never a non-regular file). */
  force?: boolean;
}

/** "a directory", "a symbolic link (to X)", "a FIFO (named pipe)", ... for an lstat result. */
export function describeKind(st: fs.Stats, file?: string): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) {
    let to = '';
    try {
      if (file) to = ` to ${fs.readlinkSync(file)}`;
    } catch {
      /* unreadable link: the kind alone */
    }
    return `a symbolic link${to}`;
  }
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new WriteRefusedError(`cannot write ${file}: ${(e as Error).message}`);
  }
}

function realOrResolved(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    // not there (yet): the real path of its directory, and its name
    try {
      return path.join(fs.realpathSync(path.dirname(path.resolve(file))), path.basename(file));
    } catch {
      return path.resolve(file);
    }
  }
}

/** Whether `file` is `input`: the same inode when both exist, else the same real path. */
export function sameFile(file: string, input: string): boolean {
  try {
    const a = fs.statSync(file);
    const b = fs.statSync(input);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return realOrResolved(file) === realOrResolved(input);
  }
}

/**
 * Throws a WriteRefusedError unless `file` may be written under `guard`; returns whether a
 * regular file is there now (and would be replaced).
 */
export function checkWriteTarget(file: string, guard: WriteGuard = {}): boolean {
  for (const input of guard.inputs ?? []) {
    if (sameFile(file, input))
      throw new WriteRefusedError(
        `refusing to write ${file}: it is ${path.resolve(file) === path.resolve(input) ? 'an input of this command' : `the input ${input}`}; choose another output path`,
      );
  }
  const st = lstatOrNull(file);
  if (st === null) return false;
  if (!st.isFile()) throw new WriteRefusedError(`refusing to replace ${file}: it is ${describeKind(st, file)}, not a regular file`);
  if (!guard.replace && !guard.force) throw new WriteRefusedError(`refusing to overwrite ${file}: the file exists (--force replaces it)`);
  return true;
}

/** Writes `data` to `file` atomically, after checkWriteTarget. */
export function writeFileSafe(file: string, data: Uint8Array | string, guard: WriteGuard = {}): void {
  checkWriteTarget(file, guard);
  writeFileAtomic(file, typeof data === 'string' ? new TextEncoder().encode(data) : data);
}

/**
 * Makes the directory `dir` (and its parents) for output, refusing when `dir` or a parent that
 * exists is not a directory. A symlink to a directory is followed for parents the user named,
 * but `dir` itself must not be a symlink when `strict` (a run directory).
 */
export function ensureDirectory(dir: string, o: { strict?: boolean } = {}): void {
  const st = lstatOrNull(dir);
  if (st !== null) {
    if (st.isDirectory()) return;
    if (st.isSymbolicLink() && !o.strict) {
      const target = fs.statSync(dir, { throwIfNoEntry: false });
      if (target?.isDirectory()) return;
    }
    throw new WriteRefusedError(`refusing to use ${dir} as a directory: it is ${describeKind(st, dir)}`);
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new WriteRefusedError(`cannot make directory ${dir}: ${(e as Error).message}`);
  }
}
