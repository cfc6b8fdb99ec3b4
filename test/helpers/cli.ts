/** Runs the bnff command (bin/bnff.js) in a child process. */
import { spawnSync } from 'node:child_process';
import { fromRoot } from './paths.js';

export function bnff(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [fromRoot('bin/bnff.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
