/**
 * One error type for everything that can be wrong with data on disk or with a dataset request,
 * so the CLI can report it as a user error (bad file, bad spec) rather than as a bug. Messages
 * start with the file or directory at fault, then say what is wrong in terms the user can check
 * (sizes, counts, magic numbers), because the fix is almost always on the user's side.
 */

import { readFileSync } from 'node:fs';

export class DataError extends Error {
  /** The file or directory at fault, when there is one. */
  readonly path: string | undefined;
  constructor(message: string, path?: string) {
    super(path === undefined ? message : `${path}: ${message}`);
    this.name = 'DataError';
    this.path = path;
  }
}

/** readFileSync that turns the usual fs failures into DataErrors naming the file. */
export function readFileOrThrow(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError('file not found', path);
    if (code === 'EISDIR') throw new DataError('is a directory, expected a file', path);
    if (code === 'EACCES') throw new DataError('permission denied', path);
    throw new DataError(`cannot read: ${(e as Error).message}`, path);
  }
}
