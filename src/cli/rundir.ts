/**
 * A run directory: config.json (what was run), metrics.jsonl (one JSON object per epoch) and
 * weights.safetensors. An existing run is never overwritten: pick a new directory instead.
 */
import fs from 'node:fs';
import path from 'node:path';

export class RunDirError extends Error {
  override name = 'RunDirError';
}

export class RunDir {
  private constructor(readonly dir: string) {}

  static create(dir: string, config: Record<string, unknown>): RunDir {
    if (fs.existsSync(path.join(dir, 'config.json'))) {
      throw new RunDirError(`${dir} already holds a run (config.json exists); choose another --out directory`);
    }
    try {
      fs.mkdirSync(dir, { recursive: true });
      const tmp = path.join(dir, `.config.json.${process.pid}.tmp`);
      fs.writeFileSync(tmp, JSON.stringify({ ...config, created: new Date().toISOString(), node: process.version }, null, 2) + '\n');
      fs.renameSync(tmp, path.join(dir, 'config.json'));
    } catch (e) {
      throw new RunDirError(`cannot write run directory ${dir}: ${(e as Error).message}`);
    }
    return new RunDir(dir);
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  appendMetrics(m: object): void {
    fs.appendFileSync(this.file('metrics.jsonl'), JSON.stringify(m) + '\n');
  }
}
