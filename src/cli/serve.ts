/**
 * `bnff serve`: the browser demo (dist/demo, built by tools/build-browser.mjs) on a small static
 * server that sends the two headers WebAssembly threads need (Cross-Origin-Opener-Policy:
 * same-origin, Cross-Origin-Embedder-Policy: require-corp). It listens on 127.0.0.1 unless --host
 * says otherwise, and runs until Ctrl-C (exit 0). Files are served by sirv.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Command, Option } from 'commander';
import sirv from 'sirv';
import { nonNegativeInt, UsageError } from './args.js';

/** The headers of every response: cross-origin isolation, and no stale demo after a rebuild. */
export const ISOLATION_HEADERS: Record<string, string> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-cache',
};

/** dist/demo of this package (this file is dist/src/cli/serve.js). */
export function demoDir(): string {
  return fileURLToPath(new URL('../../demo/', import.meta.url));
}

export interface ServeOptions {
  port: number;
  host: string;
  dir?: string;
}

/** Starts the server; resolves once it listens, with its URL and a close function. */
export async function startServer(o: ServeOptions): Promise<{ url: string; dir: string; close(): Promise<void> }> {
  const dir = o.dir ?? demoDir();
  if (!fs.existsSync(`${dir}/index.html`)) {
    throw new UsageError(o.dir ? `${dir}: no index.html to serve` : `the demo is not built (${dir}index.html is missing): run \`npm run build\``);
  }
  const files = sirv(dir, { dev: true, etag: true, dotfiles: false, setHeaders: (res) => { for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v); } });
  const server = http.createServer((req, res) => {
    files(req, res, () => {
      for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
      res.statusCode = 404;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end('not found\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new UsageError(`port ${o.port} on ${o.host} is in use: pick another with --port`) : e));
    server.listen(o.port, o.host, resolve);
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host === '127.0.0.1' ? 'localhost' : host}:${addr.port}/`,
    dir,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export function registerServe(program: Command, setCode: (c: number) => void): void {
  program
    .command('serve')
    .description('serve the browser demo (train resnet8 in a browser tab) with the COOP/COEP headers WebAssembly threads need')
    .addOption(new Option('-p, --port <n>', 'port (0: any free port)').argParser(nonNegativeInt).default(8080))
    .addOption(new Option('--host <address>', 'address to listen on (0.0.0.0: every interface, reachable from other machines)').default('127.0.0.1'))
    .addOption(new Option('--dir <path>', 'serve this directory instead of the built demo (e.g. a copy of dist/demo)'))
    .addHelpText('after', '\nExamples:\n  bnff serve\n  bnff serve --port 9000\n\nThen open the printed address in Chrome, Edge or Firefox. Ctrl-C stops the server.')
    .action(async (o: ServeOptions) => {
      const s = await startServer(o);
      process.stdout.write(`bnff serve: ${s.url} (${s.dir}; COOP/COEP set; Ctrl-C stops)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => void s.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      setCode(0);
    });
}
