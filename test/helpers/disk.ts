/**
 * Pre-existing files of every kind in a temporary directory, and snapshots of a tree that say
 * whether anything changed: a regular file's bytes, a symlink's target, the kind of everything
 * else (FIFO, socket, character device).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export type Snapshot = Map<string, string>;

/** Every path under dir (not following symlinks) with its kind and, for files and links, contents. */
export function snapshot(dir: string, into: Snapshot = new Map(), prefix = ''): Snapshot {
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const rel = prefix + name;
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      into.set(rel, 'dir');
      snapshot(p, into, rel + '/');
    } else if (st.isFile()) into.set(rel, `file:${fs.readFileSync(p).toString('base64')}`);
    else if (st.isSymbolicLink()) into.set(rel, `link:${fs.readlinkSync(p)}`);
    else if (st.isFIFO()) into.set(rel, 'fifo');
    else if (st.isSocket()) into.set(rel, 'socket');
    else if (st.isCharacterDevice()) into.set(rel, `chardev:${st.rdev}`);
    else into.set(rel, 'other');
  }
  return into;
}

export interface Specials {
  dir: string;
  /** A regular file, a FIFO, a socket, a device-like node (a character device where mknod works, else a socket), symlinks to a file and to a directory. */
  file: string;
  fifo: string;
  socket: string;
  device: string;
  link: string;
  dirLink: string;
  close(): Promise<void>;
}

/** Makes dir holding one node of every kind; close() stops the socket's listener. */
export async function specials(dir: string): Promise<Specials> {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'precious.txt');
  fs.writeFileSync(file, 'a file someone cares about\n');
  const fifo = path.join(dir, 'pipe');
  const mk = spawnSync('mkfifo', [fifo]);
  if (mk.status !== 0) throw new Error(`mkfifo failed: ${mk.stderr}`);
  const socket = path.join(dir, 'sock');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  // a character device like /dev/full (1, 7), made inside the temporary directory where allowed (root)
  let device = path.join(dir, 'full');
  if (spawnSync('mknod', [device, 'c', '1', '7']).status !== 0) {
    device = path.join(dir, 'sock2');
    await new Promise<void>((resolve) => net.createServer().listen(device, resolve).unref());
  }
  const elsewhere = path.join(dir, 'elsewhere');
  fs.mkdirSync(elsewhere);
  fs.writeFileSync(path.join(elsewhere, 'target.bin'), 'the file a link points to\n');
  const link = path.join(dir, 'link');
  fs.symlinkSync(path.join(elsewhere, 'target.bin'), link);
  const dirLink = path.join(dir, 'dirlink');
  fs.symlinkSync(elsewhere, dirLink);
  server.unref();
  return { dir, file, fifo, socket, device, link, dirLink, close: () => new Promise((r) => server.close(() => r())) };
}
