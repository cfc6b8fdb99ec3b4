import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The repository root (tests run from dist/test/..., sources live in test/...). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const fromRoot = (...p: string[]): string => path.join(ROOT, ...p);
