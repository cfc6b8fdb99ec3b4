/**
 * Runs the bnff command (bin/bnff.js) in a child process, in a scratch working directory of
 * its own (`bnff train` without --out writes runs/ under the working directory).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromRoot } from './paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

let scratch: string | undefined;

/** This test process's scratch working directory for bnff (removed when the process exits). */
export function scratchCwd(): string {
  if (scratch === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-cwd-'));
    scratch = dir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return scratch;
}

/** `bnff ...args` in `cwd`. */
export function bnffIn(cwd: string, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [fromRoot('bin/bnff.js'), ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function bnff(...args: string[]): CliResult {
  return bnffIn(scratchCwd(), ...args);
}
