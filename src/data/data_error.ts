/**
 * The data error types, apart from the file readers in src/data/errors.ts so that code for every
 * platform (dataset.ts, the browser build) can use them.
 */

export class DataError extends Error {
  /** The file or directory at fault, when there is one. */
  readonly path: string | undefined;
  constructor(message: string, path?: string) {
    super(path === undefined ? message : `${path}: ${message}`);
    this.name = 'DataError';
    this.path = path;
  }
}

/**
 * A dataset spec that names no dataset bnff knows: a DataError (its name included) to the
 * library, which the CLI reports as a usage error (exit 2).
 */
export class DataSpecError extends DataError {}
