/**
 * One error type for everything that can be wrong with data on disk or with a dataset request,
 * so the CLI can report it as a user error (bad file, bad spec) rather than as a bug. Messages
 * start with the file or directory at fault, then say what is wrong in terms the user can check
 * (sizes, counts, magic numbers), because the fix is almost always on the user's side.
 */

import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { DataError } from './data_error.js';

export { DataError, DataSpecError } from './data_error.js';

/** The usual fs failures (missing, a directory, no permission) as DataErrors naming the path. */
function fsError(e: unknown, path: string): DataError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new DataError('file not found', path);
  if (code === 'EISDIR') return new DataError('is a directory, expected a file', path);
  if (code === 'EACCES') return new DataError('permission denied', path);
  return new DataError(`cannot read: ${(e as Error).message}`, path);
}

/** readFileSync that turns the usual fs failures into DataErrors naming the file. */
export function readFileOrThrow(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw fsError(e, path);
  }
}

/** The first `bytes` bytes of a file (fewer if it is shorter), with readFileOrThrow's errors. */
export function readHeadOrThrow(path: string, bytes: number): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0));
  } catch (e) {
    throw fsError(e, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A file's size in bytes, with readFileOrThrow's errors; a directory is refused here too. */
export function fileSizeOrThrow(path: string): number {
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return st.size;
  } catch (e) {
    throw fsError(e, path);
  }
}
