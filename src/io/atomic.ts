/**
 * Atomic file writes: a temporary file in the same directory, fsync, then rename over `path`
 * (and a best-effort fsync of the directory). A crash or an error mid-write leaves `path` as it
 * was; on failure the temporary file is removed.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A file being written under a temporary name: `commit()` fsyncs and renames it to `path`, `abort()` removes it. */
export interface AtomicFile {
  readonly fd: number;
  readonly tmp: string;
  commit(): void;
  abort(): void;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already failing */
  }
}

function fsyncDir(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* some platforms cannot fsync a directory */
  }
}

/** Opens a temporary file next to `path`, for a write that becomes `path` only when complete (written with pwrite, in any order). */
export function openAtomic(path: string): AtomicFile {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // read and write: a file filled in pieces (the decoded cache) is read back before it is complete
  const fd = openSync(tmp, 'wx+', 0o644);
  let open = true;
  const abort = (): void => {
    if (open) closeQuietly(fd);
    open = false;
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or already renamed */
    }
  };
  return {
    fd,
    tmp,
    commit() {
      try {
        fsyncSync(fd);
        closeSync(fd);
        open = false;
        renameSync(tmp, path);
      } catch (e) {
        abort();
        throw e;
      }
      fsyncDir(dir);
    },
    abort,
  };
}

export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const f = openAtomic(path);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(f.fd, bytes, off, bytes.length - off);
  } catch (e) {
    f.abort();
    throw e;
  }
  f.commit();
}
