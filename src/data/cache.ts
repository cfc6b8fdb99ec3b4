/**
 * The decoded cache: every base image of one split (transform.ts: R x R x C bytes, the form
 * decoders return), in one file, so that epochs after the first read bytes instead of decoding
 * JPEGs. 2,000 images at R = 256 take 393 MB; ImageNet's 1.28 million, 252 GB.
 *
 * Layout: a 4096-byte header (a first line "bnff decoded cache 1", then JSON: count, base size,
 * channels, decoder, fingerprint), then record i at 4096 + i * R * R * C. The file's name holds
 * the split's name, R, C and the start of the fingerprint: a SHA-256 of every file's path,
 * label, size and modification time, the base size, the channels and the decoder, so a changed
 * folder, size or decoder makes a new file rather than reading a stale one.
 *
 * Writing is atomic: the decode workers write each record at its offset into a temporary file
 * as they decode it during the first epoch (whatever the order), and the file is renamed to
 * its name only once every record is there (fsynced first). A run stopped before that leaves
 * no cache (the temporary file is removed on close; after a crash, a ".*.tmp" file in the cache
 * folder that can be deleted).
 */

import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type AtomicFile, openAtomic } from '../io/atomic.js';
import { ensureDirectory } from '../io/safe_write.js';
import { DataError } from './errors.js';
import { formatBytes } from './limits.js';

export const CACHE_HEADER_BYTES = 4096;
const MAGIC = 'bnff decoded cache 1\n';

export interface CacheKey {
  /** The split's name ("photos-train"): the start of the file name. */
  name: string;
  files: readonly string[];
  labels: Uint8Array;
  base: number;
  channels: number;
  /** The decoder's description (decoders resize differently). */
  decoder: string;
}

/** What the decode workers need: the file descriptor, where records go, and which are written. */
export interface CacheHandle {
  fd: number;
  mode: 'read' | 'fill';
  recordBytes: number;
  /** Fill mode: 1 for every record written (shared with the workers). */
  written?: Uint8Array;
}

function fingerprint(k: CacheKey): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: 1, base: k.base, channels: k.channels, decoder: k.decoder }));
  k.files.forEach((f, i) => {
    let st: { size: number; mtimeMs: number };
    try {
      st = statSync(f);
    } catch {
      throw new DataError('file not found', f);
    }
    h.update(`\n${f}\t${k.labels[i]}\t${st.size}\t${st.mtimeMs}`);
  });
  return h.digest('hex');
}

function headerOf(k: CacheKey, fp: string): Buffer {
  const json = JSON.stringify({ count: k.files.length, base: k.base, channels: k.channels, decoder: k.decoder, fingerprint: fp });
  const b = Buffer.alloc(CACHE_HEADER_BYTES, 0x20);
  b.write(MAGIC + json + '\n', 'utf8');
  return b;
}

/**
 * One split's decoded cache in `dir`: an existing complete file to read, or a temporary one to
 * fill during the first epoch and commit() when every record is written.
 */
export class DecodedCache {
  readonly path: string;
  readonly recordBytes: number;
  readonly count: number;
  private readonly header: Buffer;
  private file: AtomicFile | undefined;
  private fd: number | undefined;
  private written: Uint8Array | undefined;

  constructor(dir: string, key: CacheKey) {
    ensureDirectory(dir);
    const fp = fingerprint(key);
    this.recordBytes = key.base * key.base * key.channels;
    this.count = key.files.length;
    this.path = join(dir, `${basename(key.name).replace(/[^\w.-]/g, '_')}-${key.base}px-${key.channels}ch-${fp.slice(0, 16)}.bnffcache`);
    this.header = headerOf(key, fp);
    if (existsSync(this.path) && this.valid()) {
      this.fd = openSync(this.path, 'r');
    } else {
      // a missing cache, or one cut short or from another version: written anew, then renamed over it
      this.file = openAtomic(this.path);
      this.written = new Uint8Array(new SharedArrayBuffer(this.count));
    }
  }

  private valid(): boolean {
    const fd = openSync(this.path, 'r');
    try {
      const head = Buffer.alloc(CACHE_HEADER_BYTES);
      readSync(fd, head, 0, CACHE_HEADER_BYTES, 0);
      return head.equals(this.header) && fstatSync(fd).size === CACHE_HEADER_BYTES + this.count * this.recordBytes;
    } finally {
      closeSync(fd);
    }
  }

  /** Whether the cache is complete on disk (read mode). */
  get complete(): boolean {
    return this.file === undefined;
  }

  /** The workers' view; undefined once closed. */
  handle(): CacheHandle | undefined {
    if (this.file) return { fd: this.file.fd, mode: 'fill', recordBytes: this.recordBytes, written: this.written! };
    if (this.fd !== undefined) return { fd: this.fd, mode: 'read', recordBytes: this.recordBytes };
    return undefined;
  }

  /** Records written so far (fill mode), or all of them. */
  get filled(): number {
    if (!this.written) return this.count;
    let n = 0;
    for (let i = 0; i < this.written.length; i++) n += this.written[i]!;
    return n;
  }

  /**
   * In fill mode with every record written: writes the header, renames the file into place
   * and switches to reading it; returns whether that happened now.
   */
  commitIfComplete(): boolean {
    if (!this.file || this.filled < this.count) return false;
    const f = this.file;
    let off = 0;
    while (off < CACHE_HEADER_BYTES) off += writeSync(f.fd, this.header, off, CACHE_HEADER_BYTES - off, off);
    f.commit();
    this.file = undefined;
    this.written = undefined;
    this.fd = openSync(this.path, 'r');
    return true;
  }

  /** Closes the file; an unfinished cache is removed. */
  close(): void {
    this.file?.abort();
    this.file = undefined;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** The file's size once complete. */
  get bytes(): number {
    return CACHE_HEADER_BYTES + this.count * this.recordBytes;
  }

  /** "PATH (393.2 MiB, read)" or "(..., written during the first epoch)" for the log. */
  describe(): string {
    return `${this.path} (${formatBytes(this.bytes)}, ${this.complete ? 'read' : 'written during the first epoch'})`;
  }
}

/** Reads record `i` of a cache into `out` (the workers' path). */
export function readRecord(h: CacheHandle, i: number, out: Uint8Array, path: string): void {
  const pos = CACHE_HEADER_BYTES + i * h.recordBytes;
  let off = 0;
  while (off < h.recordBytes) {
    const n = readSync(h.fd, out, off, h.recordBytes - off, pos + off);
    if (n === 0) throw new DataError(`decoded cache ends inside record ${i}: delete it and it is written again`, path);
    off += n;
  }
}

/** Writes record `i` of a cache being filled (the workers' path). */
export function writeRecord(h: CacheHandle, i: number, rec: Uint8Array): void {
  const pos = CACHE_HEADER_BYTES + i * h.recordBytes;
  let off = 0;
  while (off < rec.length) off += writeSync(h.fd, rec, off, rec.length - off, pos + off);
  Atomics.store(h.written!, i, 1);
}
