/**
 * The demo page in headless Chromium (Debian's, driven by playwright-core), served by `bnff
 * serve`'s server: it loads without console errors, trains, the fused/unfused switch switches,
 * its weights load in Node with the same logits, a checkpoint trained in Node loads in the page,
 * bad weights files get a clear message, and the page falls back to one thread, saying so, when
 * it is not cross-origin isolated. Takes a screenshot of the trained page: into docs/browser-demo.png
 * with BNFF_SCREENSHOT=1 (how the committed one was made), else into the temporary directory.
 * Skips without /usr/bin/chromium.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import sirv from 'sirv';
import { Network, getModel } from '../../src/index.js';
import { demoDir, startServer } from '../../src/cli/serve.js';
import { loadWeights, saveWeights } from '../../src/io/weights.js';
import { createEngine } from '../../src/runtime/engine.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { fixedInput } from '../../web/protocol.js';
import { bnff } from '../helpers/cli.js';
import { chromiumMissing, launchChromium } from '../helpers/browser.js';
import { fromRoot } from '../helpers/paths.js';

const skip = chromiumMissing();
/** Chance is 10%; one epoch of the 3,000-image subset gets well past this floor (the test checks train accuracy, which BN's running statistics do not blur after one epoch). */
const TRAIN_ACCURACY_FLOOR = 0.3;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-browser-'));
let server: Awaited<ReturnType<typeof startServer>> | undefined;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

before(async () => {
  if (skip) return;
  server = await startServer({ port: 0, host: '127.0.0.1' });
  browser = await launchChromium();
});
after(async () => {
  await browser?.dispose();
  await server?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

/** A page whose console errors and uncaught exceptions are collected. */
async function open(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-state=ready], #error:not([hidden])', { state: 'attached', timeout: 120_000 });
  assert.equal(await page.isHidden('#error'), true, `the page shows an error: ${await page.textContent('#error')}`);
  return { page, errors };
}

type Logits = { eval: number[]; train: number[]; loss: number; threads: number; variant: string };

function request(page: Page, m: unknown, reply: string): Promise<Logits> {
  return page.evaluate(
    async ([msg, r]) => {
      const demo = (window as unknown as { bnffDemo: { request(m: unknown, r: string): Promise<{ eval: Float32Array; train: Float32Array; loss: number; threads: number; variant: string }> } }).bnffDemo;
      const out = await demo.request(msg, r as string);
      return { eval: Array.from(out.eval), train: Array.from(out.train), loss: out.loss, threads: out.threads, variant: out.variant };
    },
    [m, reply] as const,
  );
}
const bits = (a: ArrayLike<number>): number[] => Array.from(new Uint32Array(Float32Array.from(a).buffer));

test('bnff serve sends the COOP/COEP headers, serves the demo, and 404s what is not there', { skip: false }, async () => {
  const s = await startServer({ port: 0, host: '127.0.0.1' });
  try {
    const res = await fetch(s.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.match(await res.text(), /<title>bnff/);
    const wasm = await fetch(new URL('kernels/gemm.simd.wasm', s.url));
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    const missing = await fetch(new URL('../../package.json', s.url));
    assert.equal(missing.status, 404);
  } finally {
    await s.close();
  }
});

test('the demo trains resnet8 in Chromium: no console errors, accuracy above the floor, the fused/unfused switch, weights that Node loads with the same logits', { skip, timeout: 600_000 }, async () => {
  const { page, errors } = await open(`${server!.url}?threads=2&epochs=1`);
  assert.match((await page.textContent('#engine'))!, /2 threads \(Web Workers\)/);
  assert.match((await page.textContent('#explain-summary'))!, /normalize fused into a convolution [1-9]/);

  await page.click('#train');
  // Part of the epoch fused, then unfused: the switch takes effect at the next step.
  await page.waitForFunction(() => /fused/.test(document.getElementById('s-speed')!.textContent ?? '') && Number(document.getElementById('s-epoch')!.textContent!.split('·')[1]?.split('/')[0]) >= 8, undefined, { timeout: 120_000 });
  await page.click('.switch');
  await page.waitForFunction(() => /unfused/.test(document.getElementById('s-speed')!.textContent ?? ''), undefined, { timeout: 60_000 });
  await page.waitForSelector('body[data-state=trained]', { state: 'attached', timeout: 300_000 });
  const testAcc = Number(await page.getAttribute('body', 'data-test-accuracy'));
  const trainAcc = Number((await page.textContent('#s-train'))!.replace('%', '')) / 100;
  assert.ok(trainAcc > TRAIN_ACCURACY_FLOOR, `train accuracy ${trainAcc} after one epoch is not above ${TRAIN_ACCURACY_FLOOR}`);
  assert.ok(Number.isFinite(testAcc) && testAcc > 0, `test accuracy ${testAcc}`);
  for (const w of ['fused', 'unfused']) assert.match((await page.textContent(`#v-${w}`))!, /^\d[\d,.]*$/, `no ${w} speed in the readout`);
  await page.waitForSelector('#gallery figure', { timeout: 60_000 });
  assert.equal(await page.locator('#gallery figure').count(), 24);

  // Measured side by side: both speeds and the breakdown chart.
  await page.click('#measure');
  await page.waitForSelector('#breakdown svg', { timeout: 120_000 });
  assert.match((await page.textContent('#ratio'))!, /Fused is [\d.]+x the speed of unfused measured side by side/);
  await page.setViewportSize({ width: 1280, height: 1500 });
  const shot = process.env.BNFF_SCREENSHOT === '1' ? fromRoot('docs/browser-demo.png') : path.join(os.tmpdir(), 'bnff-browser-demo.png');
  await page.screenshot({ path: shot, fullPage: false });

  // Download: a checkpoint bnff eval reads, whose logits in Node equal the page's bit for bit.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const file = path.join(work, download.suggestedFilename());
  await download.saveAs(file);
  const inPage = await request(page, { type: 'logits', seed: 0, batch: 8, trained: true }, 'logits');
  const engine = await createEngine({ kind: 'wasm', threads: inPage.threads });
  try {
    const net = new Network(getModel('resnet8', { numClasses: 10, inChannels: 1 }), engine.memory, 0, engine.lowering);
    loadWeights(net, file, ['optimizer.']);
    const inNode = net.predict(fixedInput(8 * 32 * 32), [8, 1, 32, 32]);
    assert.deepEqual(bits(inNode), bits(inPage.eval), 'the downloaded weights give other logits in Node');
  } finally {
    engine.close();
  }
  const ev = bnff('eval', '--checkpoint', file, '--engine', 'wasm', '--threads', String(inPage.threads), '--json');
  assert.equal(ev.code, 0, ev.stderr);
  assert.equal(JSON.parse(ev.stdout).accuracy, testAcc, 'bnff eval in Node and the page disagree on the test accuracy');
  assert.deepEqual(errors, [], 'console errors on the page');
  await page.close();
});

test('a checkpoint trained in Node loads in the page; a wrong-model or truncated weights file gets a clear message', { skip, timeout: 600_000 }, async () => {
  const run = path.join(work, 'node-run');
  const tr = bnff('train', '--limit', '256', '--epochs', '1', '--batch-size', '64', '--engine', 'wasm', '--threads', '2', '--out', run, '--json');
  assert.equal(tr.code, 0, tr.stderr);
  const ev = bnff('eval', '--checkpoint', path.join(run, 'checkpoint.safetensors'), '--engine', 'wasm', '--threads', '2', '--json');
  assert.equal(ev.code, 0, ev.stderr);
  const wrong = path.join(work, 'resnet20.safetensors');
  saveWeights(new Network(getModel('resnet20', { numClasses: 10, inChannels: 1 }), new HostMemory('f32'), 0), wrong);
  const truncated = path.join(work, 'truncated.safetensors');
  const bytes = fs.readFileSync(path.join(run, 'checkpoint.safetensors'));
  fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 1000));

  const { page, errors } = await open(`${server!.url}?threads=2`);
  await page.setInputFiles('#upload', path.join(run, 'checkpoint.safetensors'));
  await page.waitForFunction(() => /^Loaded /.test(document.getElementById('weights-msg')!.textContent ?? ''), undefined, { timeout: 120_000 });
  // bnff eval scores the full 500-image test split (it ignores the run's --limit): so does the page.
  const shown = (await page.textContent('#weights-msg'))!;
  assert.ok(shown.includes(`test accuracy ${(100 * JSON.parse(ev.stdout).accuracy).toFixed(1)}%`), `page: ${shown}; bnff eval: ${ev.stdout}`);

  await page.setInputFiles('#upload', wrong);
  await page.waitForSelector('#error:not([hidden])', { timeout: 60_000 });
  assert.match((await page.textContent('#error'))!, /cannot be loaded[\s\S]*holds the weights of resnet20; this page trains resnet8/);
  await page.setInputFiles('#upload', truncated);
  await page.waitForFunction(() => /truncated/.test(document.getElementById('error')!.textContent ?? ''), undefined, { timeout: 60_000 });
  assert.deepEqual(errors, [], 'console errors on the page');
  await page.close();
});

test('the browser\'s logits equal Node\'s wasm engine\'s bit for bit, at 1 and 2 threads (a fused training step and eval mode)', { skip, timeout: 300_000 }, async () => {
  for (const threads of [1, 2]) {
    const { page, errors } = await open(`${server!.url}?threads=${threads}`);
    const inPage = await request(page, { type: 'logits', seed: 3, batch: 4 }, 'logits');
    assert.equal(inPage.threads, threads);
    const engine = await createEngine({ kind: 'wasm', threads });
    try {
      assert.equal(engine.isa, inPage.variant === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd', 'Node and the browser run different kernel variants');
      const net = new Network(getModel('resnet8', { numClasses: 10, inChannels: 1 }), engine.memory, 3, engine.lowering, (await import('../../src/index.js')).ALL_FUSION);
      const x = fixedInput(4 * 32 * 32);
      const loss = net.forwardBackward(x, Float32Array.from([0, 1, 2, 3]), [4, 1, 32, 32], { seed: 3, step: 0 });
      assert.deepEqual(bits(net.trainPlan([4, 1, 32, 32]).logits), bits(inPage.train), `training-step logits differ at ${threads} thread(s)`);
      assert.equal(Math.fround(loss), Math.fround(inPage.loss));
      assert.deepEqual(bits(net.predict(x, [4, 1, 32, 32])), bits(inPage.eval), `eval logits differ at ${threads} thread(s)`);
    } finally {
      engine.close();
    }
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test('not cross-origin isolated (no COOP/COEP headers): the page runs on one thread and says so', { skip, timeout: 300_000 }, async () => {
  const files = sirv(demoDir(), { dev: true });
  const plain = http.createServer((req, res) => files(req, res, () => {
    res.writeHead(404).end();
  }));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  try {
    const { page, errors } = await open(`http://localhost:${(plain.address() as AddressInfo).port}/?limit=3&epochs=1`);
    assert.match((await page.textContent('#engine'))!, /1 thread \(Web Workers\), not cross-origin isolated/);
    assert.equal(await page.isVisible('#note'), true);
    assert.match((await page.textContent('#note'))!, /one thread: this page is not cross-origin isolated/i);
    await page.click('#train');
    await page.waitForSelector('body[data-state=trained]', { state: 'attached', timeout: 120_000 });
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    plain.closeAllConnections();
    await new Promise((resolve) => plain.close(resolve));
  }
});
