/**
 * Limits before allocation: decompression and pixel bombs are refused from their headers (or
 * while inflating), naming the file and the limit. The bombs: PNGs of 100000x100000 and
 * 20000x20000 whose IDAT is a few bytes, and gzip IDX files that inflate to gigabytes. Each is
 * refused in a child process whose peak RSS is asserted loosely (under 200 MB; time is not
 * asserted: it is printed, and docs/data.md gives it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeIdx, readIdxImages, readIdxLabels } from '../../src/data/idx.js';
import { decodeImage } from '../../src/data/image.js';
import { loadImageFolder } from '../../src/data/folder.js';
import { DEFAULT_MAX_PIXELS } from '../../src/data/limits.js';
import { bombIdx, bombPng, DECODERS, tempDir, throwsDataError, writePng } from './helpers.js';

const MB = 2 ** 20;
const here = fileURLToPath(new URL('.', import.meta.url));

/** Runs `code` (an ES module body with `dist/src/data/index.js` imported as d) in a child; returns its JSON line. */
function child(code: string): { message: string; ms: number; rssMB: number } {
  const data = JSON.stringify(join(here, '..', '..', 'src', 'data', 'index.js'));
  const script = `const d = await import(${data}); const t0 = performance.now(); let message = 'no error';
try { ${code} } catch (e) { message = e.name + ': ' + e.message; }
console.log(JSON.stringify({ message, ms: performance.now() - t0, rssMB: process.resourceUsage().maxRSS / 1024 }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { message: string; ms: number; rssMB: number };
}

test('PNG bombs (100000x100000 and 20000x20000, tiny IDAT) are refused from the header, naming the file and the limit', () => {
  const t = tempDir();
  try {
    for (const [w, h] of [[100000, 100000], [20000, 20000]] as const) {
      const dir = join(t.dir, `f${w}`);
      mkdirSync(join(dir, 'a'), { recursive: true });
      mkdirSync(join(dir, 'b'), { recursive: true });
      for (let i = 0; i < 5; i++) writePng(join(dir, 'a', `${i}.png`), 4, 4, 3, new Array(48).fill(i * 9));
      for (let i = 0; i < 4; i++) writePng(join(dir, 'b', `${i}.png`), 4, 4, 3, new Array(48).fill(200));
      const bomb = join(dir, 'b', '4.png');
      const bytes = bombPng(w, h);
      assert.ok(bytes.length < 1000, `${bytes.length} bytes`);
      writeFileSync(bomb, bytes);
      const msg = `${bomb}: image of ${w}x${h} = ${(w * h).toLocaleString('en-US')} pixels is over the limit of 50,000,000 pixels per image (--max-pixels raises it)`;
      throwsDataError(() => decodeImage(bytes, bomb), msg);
      for (const decoder of DECODERS) throwsDataError(() => loadImageFolder(dir, 'test', { size: 4, decoder }), msg);
      // a child process: the refusal holds little memory (and takes well under a second; printed)
      const r = child(`d.loadImageFolder(${JSON.stringify(dir)}, 'test', { size: 32 });`);
      assert.equal(r.message, `DataError: ${msg}`);
      assert.ok(r.rssMB < 200, `peak RSS ${r.rssMB.toFixed(0)} MB`);
      console.log(`# ${w}x${h} PNG bomb (${bytes.length} bytes) refused in ${r.ms.toFixed(0)} ms, peak RSS ${r.rssMB.toFixed(0)} MB`);
    }
  } finally {
    t.cleanup();
  }
});

test('--max-pixels: the pixel limit is an option; an image at the limit decodes, one pixel more is refused', () => {
  const t = tempDir();
  try {
    const f = join(t.dir, 'x.png');
    writePng(f, 10, 10, 1, new Array(100).fill(7));
    assert.equal(decodeImage(new Uint8Array(readFileSync(f)), f, { maxPixels: 100, maxBytes: 1 }).width, 10);
    throwsDataError(() => decodeImage(new Uint8Array(readFileSync(f)), f, { maxPixels: 99, maxBytes: 1 }), `${f}: image of 10x10 = 100 pixels is over the limit of 99 pixels per image`);
    assert.equal(DEFAULT_MAX_PIXELS, 50_000_000);
  } finally {
    t.cleanup();
  }
});

test('gzip IDX bombs are refused while inflating or from the header, naming the file and the limit', () => {
  const t = tempDir();
  try {
    // the header declares 1000 images (784,016 bytes); the stream inflates to 4 GiB
    const f = join(t.dir, 'train-images-idx3-ubyte.gz');
    const bytes = bombIdx(1000, 4 * 2 ** 30);
    assert.ok(bytes.length < 8 * MB, `${bytes.length} bytes`);
    writeFileSync(f, bytes);
    const msg = `${f}: gzip stream inflates to more than 1,832,592 bytes (1.7 MiB), more than the 784,016 bytes its IDX header declares (1000 images of 28x28): a gzip bomb or trailing data; inflating stopped there`;
    throwsDataError(() => readIdxImages(f), msg);
    const r = child(`d.readIdxImages(${JSON.stringify(f)});`);
    assert.equal(r.message, `DataError: ${msg}`);
    assert.ok(r.rssMB < 200, `peak RSS ${r.rssMB.toFixed(0)} MB`);
    console.log(`# gzip IDX bomb (${(bytes.length / MB).toFixed(1)} MB, inflates to 4 GiB) refused in ${r.ms.toFixed(0)} ms, peak RSS ${r.rssMB.toFixed(0)} MB`);
    // the header itself declares gigabytes: refused before inflating the data
    const g = join(t.dir, 'big-idx3.gz');
    writeFileSync(g, bombIdx(5_000_000, 32 * MB));
    const msg2 = `${g}: IDX header declares 5000000 images of 28x28: 3,920,000,016 bytes (3.65 GiB), over the limit of 2.00 GiB per data file (--max-data-bytes raises it)`;
    throwsDataError(() => readIdxImages(g), msg2);
    const r2 = child(`d.readIdxImages(${JSON.stringify(g)});`);
    assert.equal(r2.message, `DataError: ${msg2}`);
    assert.ok(r2.rssMB < 200, `peak RSS ${r2.rssMB.toFixed(0)} MB`);
    // a labels file, and the limit as an option (raw files by their size on disk)
    const l = join(t.dir, 'labels');
    writeFileSync(l, encodeIdx([3000], new Uint8Array(3000)));
    throwsDataError(() => readIdxLabels(l, 10, { maxPixels: 1, maxBytes: 1000 }), `${l}: holds 3,008 bytes (2.9 KiB), over the limit of 1000 bytes per data file (--max-data-bytes raises it)`);
    assert.equal(readIdxLabels(l, 10, { maxPixels: 1, maxBytes: 4000 }).length, 3000);
  } finally {
    t.cleanup();
  }
});
