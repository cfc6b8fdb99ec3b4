/**
 * Images per second of a resnet8 training step (batch 64, 1x32x32, forward + backward + SGD) in
 * one run, side by side on this machine:
 * - bnff in headless Chromium (Debian's /usr/bin/chromium, playwright-core), kernels in Web Workers;
 * - bnff on Node's WebAssembly engine (the same kernels), same threads, same model and batch;
 *   fused and unfused interleaved in each;
 * - TensorFlow.js in the same browser, the same model written in tfjs ops (bench/browser/tfjs_worker.ts).
 * Warm-up steps are not timed; each rate is the median over the timed steps, with the spread.
 *
 *   npm run build && node dist/bench/browser_step.js [--threads 2] [--steps 9] [--warmup 3] [--tfjs-steps 2] [--tfjs-backend cpu] [--json FILE]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { startServer } from '../src/cli/serve.js';
import { createEngine } from '../src/runtime/engine.js';
import { cpuModel } from '../src/util/machine.js';
import { chromiumMissing, launchChromium } from '../test/helpers/browser.js';
import { fromRoot } from '../test/helpers/paths.js';
import { bnffSteps } from './browser/bnff_steps.js';
import { type Rate, rate } from './browser/timing.js';

const { values: a } = parseArgs({
  options: {
    threads: { type: 'string', default: String(Math.min(os.availableParallelism(), 64)) },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '9' },
    warmup: { type: 'string', default: '3' },
    'tfjs-steps': { type: 'string', default: '2' },
    'tfjs-backend': { type: 'string', default: 'cpu' },
    json: { type: 'string' },
  },
});
const o = { threads: Number(a.threads), batch: Number(a.batch), steps: Number(a.steps), warmup: Number(a.warmup) };
const missing = chromiumMissing();
if (missing) {
  process.stderr.write(`browser_step: ${missing}\n`);
  process.exit(1);
}

/** The bench page: the two workers built next to bnff's kernels and kernel worker. */
async function buildPage(dir: string): Promise<void> {
  await esbuild.build({
    entryPoints: { 'bnff-worker': fromRoot('bench/browser/bnff_worker.ts'), 'tfjs-worker': fromRoot('bench/browser/tfjs_worker.ts'), 'kernel-worker': fromRoot('src/browser/kernel_worker.ts') },
    outdir: dir, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, logLevel: 'error',
  });
  fs.cpSync(fromRoot('dist/browser/kernels'), path.join(dir, 'kernels'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>bnff browser bench</title><link rel="icon" href="data:,">\n');
}

const fmt = (r: Rate): string => `${r.median.toFixed(1).padStart(8)} img/s  (${r.min.toFixed(1)}-${r.max.toFixed(1)}, ${r.steps} steps)`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-browser-bench-'));
const server = await (async () => {
  await buildPage(dir);
  return startServer({ port: 0, host: '127.0.0.1', dir });
})();
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  const userAgent = await page.evaluate(() => navigator.userAgent);
  const inWorker = (script: string, msg: unknown): Promise<Record<string, unknown>> =>
    page.evaluate(
      ([s, m]) =>
        new Promise<Record<string, unknown>>((resolve) => {
          const w = new Worker(s as string, { type: 'module' });
          w.onmessage = (e) => {
            resolve(e.data as Record<string, unknown>);
            w.terminate();
          };
          w.onerror = (e) => resolve({ ok: false, error: e.message });
          w.postMessage(m);
        }),
      [script, msg] as const,
    );

  // Node and the browser in turn, twice, so that neither always runs on a warmer or cooler machine.
  const node: { fused: Rate; unfused: Rate }[] = [];
  const web: { fused: Rate; unfused: Rate }[] = [];
  let webEngine = '';
  for (let round = 0; round < 2; round++) {
    const engine = await createEngine({ kind: 'wasm', threads: o.threads });
    node.push(bnffSteps(engine, o));
    engine.close();
    const r = await inWorker('bnff-worker.js', o);
    if (!r.ok) throw new Error(`bnff in the browser failed: ${String(r.error)}`);
    web.push(r as unknown as { fused: Rate; unfused: Rate });
    webEngine = String(r.engine);
  }
  const tf = await inWorker('tfjs-worker.js', { ...o, steps: Number(a['tfjs-steps']), warmup: 1, backend: a['tfjs-backend'] });
  if (!tf.ok) throw new Error(`tfjs failed: ${String(tf.error)}`);
  // Each side's timed steps of both rounds together.
  const pool = (rs: { fused: Rate; unfused: Rate }[]): { fused: Rate; unfused: Rate } => ({
    fused: rate(rs.flatMap((r) => r.fused.times), o.batch),
    unfused: rate(rs.flatMap((r) => r.unfused.times), o.batch),
  });
  const n = pool(node);
  const w = pool(web);
  const t = tf.tfjs as Rate;
  const result = {
    bench: 'browser_step', model: 'resnet8', input: [1, 32, 32], batch_size: o.batch, threads: o.threads, steps: o.steps, warmup: o.warmup,
    cpu: cpuModel(), node: process.version, browser: userAgent, browser_engine: webEngine,
    node_wasm: n, browser_wasm: w, rounds: { node, browser: web },
    tfjs: { ...t, version: tf.version, backend: tf.backend },
    ratios: {
      browser_vs_node_fused: w.fused.median / n.fused.median,
      browser_vs_node_unfused: w.unfused.median / n.unfused.median,
      bnff_fused_vs_tfjs: w.fused.median / t.median,
      bnff_unfused_vs_tfjs: w.unfused.median / t.median,
    },
  };
  process.stdout.write(`resnet8, batch ${o.batch}, 1x32x32, ${o.threads} thread(s); ${result.cpu}; Node ${process.version}; ${userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? userAgent}\n`);
  process.stdout.write(`  Node wasm     fused   ${fmt(n.fused)}\n  Node wasm     unfused ${fmt(n.unfused)}\n`);
  process.stdout.write(`  browser wasm  fused   ${fmt(w.fused)}\n  browser wasm  unfused ${fmt(w.unfused)}\n`);
  process.stdout.write(`  tfjs ${String(tf.version)} (${String(tf.backend)})  ${fmt(t)}\n`);
  const r = result.ratios;
  process.stdout.write(`  browser / Node: fused ${r.browser_vs_node_fused.toFixed(3)}x, unfused ${r.browser_vs_node_unfused.toFixed(3)}x; bnff in the browser / tfjs: fused ${r.bnff_fused_vs_tfjs.toFixed(0)}x, unfused ${r.bnff_unfused_vs_tfjs.toFixed(0)}x\n`);
  if (a.json) fs.writeFileSync(a.json, JSON.stringify(result, null, 2) + '\n');
} finally {
  await browser.dispose();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
