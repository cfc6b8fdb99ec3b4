/**
 * The demo page: controls, live charts, the fused/unfused readout, what fusion did, a gallery of
 * predictions, and weights in and out. bnff itself runs in a worker (web/train_worker.ts); this
 * file only draws. URL parameters: threads=N (kernel threads), epochs=N, limit=N (batches per
 * epoch, for quick runs and tests).
 */
import type { ExplainResult } from '../src/browser/index.js';
import { drawBreakdown, LiveChart } from './charts.js';
import type { ErrorKind, FromWorker, SpeedStats, ToWorker } from './protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const intParam = (k: string): number | undefined => (params.has(k) ? Math.max(0, Math.floor(Number(params.get(k)))) : undefined);

const HELP: Record<ErrorKind, string> = {
  'no-webassembly': 'This browser cannot run bnff: it has no WebAssembly.',
  'no-simd': 'This browser cannot run bnff: its WebAssembly has no SIMD. Use Chrome or Edge 91+, Firefox 89+ or Safari 16.4+.',
  'no-workers': 'This browser cannot run bnff here: Web Workers are unavailable.',
  'out-of-memory': 'Out of memory.',
  weights: 'That weights file cannot be loaded.',
  data: 'The dataset could not be loaded.',
  other: 'Something went wrong.',
};

let classNames: string[] = [];
let running = false;
let trained = false;
const worker = new Worker(new URL('train-worker.js', import.meta.url), { type: 'module', name: 'bnff training' });
const waiters = new Map<string, ((m: FromWorker) => void)[]>();

function send(m: ToWorker, transfer: Transferable[] = []): void {
  worker.postMessage(m, transfer);
}

/** For scripts and tests: send a message and wait for the reply of type `reply`. */
function request(m: ToWorker, reply: FromWorker['type']): Promise<FromWorker> {
  return new Promise((resolve) => {
    waiters.set(reply, [...(waiters.get(reply) ?? []), resolve]);
    send(m);
  });
}
(window as unknown as { bnffDemo: unknown }).bnffDemo = { request, send };

function showError(kind: ErrorKind, message: string): void {
  const el = $('error');
  el.hidden = false;
  el.textContent = `${HELP[kind]}\n${message}`;
  $('loading').hidden = true;
}

const lossChart = new LiveChart($('loss-chart'), 'Loss', 'cross-entropy loss');
const accChart = new LiveChart($('acc-chart'), 'Accuracy', 'accuracy (%)', [0, 100]);

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
const num = (v: number, d = 1): string => v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function setBusy(busy: boolean): void {
  running = busy;
  $<HTMLButtonElement>('train').disabled = busy;
  $<HTMLButtonElement>('stop').disabled = !busy;
  $<HTMLInputElement>('upload').disabled = busy;
  $<HTMLButtonElement>('download').disabled = busy && !trained;
}

function speedRow(which: 'fused' | 'unfused', s: SpeedStats | undefined): void {
  $(`v-${which}`).textContent = s ? num(s.median) : '–';
  $(`r-${which}`).textContent = s ? `${num(s.min, 0)}–${num(s.max, 0)}` : '';
  $(`n-${which}`).textContent = s ? String(s.steps) : '';
}

function speed(f: SpeedStats | undefined, u: SpeedStats | undefined, how: string): void {
  speedRow('fused', f);
  speedRow('unfused', u);
  if (f && u) $('ratio').innerHTML = `Fused is <b>${(f.median / u.median).toFixed(2)}x</b> the speed of unfused ${how}.`;
}

/** One row per layer, one column per rule: fused, or the guard that stopped it (details on hover and in the cell). */
function renderExplain(r: ExplainResult): void {
  const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const layers = [...r.bns, ...r.others];
  const rules = [...new Set(layers.flatMap((l) => l.notes.map((n) => n.rule)))];
  const rows: string[] = [`<thead><tr><th>layer</th>${rules.map((x) => `<th><code>${esc(x)}</code></th>`).join('')}</tr></thead><tbody>`];
  for (const l of layers) {
    const cells = rules.map((rule) => {
      const n = l.notes.find((k) => k.rule === rule);
      if (!n) return '<td></td>';
      return n.fired ? `<td class="yes" title="${esc(n.detail)}">✓ fused</td>` : `<td class="no" title="${esc(n.detail)}">✗ <code>${esc(n.guard ?? '')}</code></td>`;
    });
    rows.push(`<tr><th><code>${esc(l.layer)}</code></th>${cells.join('')}</tr>`);
  }
  const c = r.counts;
  $('explain').innerHTML = rows.join('') + '</tbody>';
  $('explain-summary').textContent = `${r.model}: statistics fused or reused ${c.statsFused}/${c.bns}, normalize fused into a convolution ${c.normalizeFused}/${c.bns}, backward fused ${c.backwardFused}/${c.bns}. ✗ names the guard that stopped a rule; hover a cell for the details.`;
  const ops = [...new Set([...Object.keys(r.opCounts.unfused), ...Object.keys(r.opCounts.fused)])].sort();
  $('ops').innerHTML =
    '<thead><tr><th>kernel</th><th>unfused</th><th>fused</th></tr></thead><tbody>' +
    ops.map((op) => `<tr><td><code>${op}</code></td><td>${r.opCounts.unfused[op] ?? 0}</td><td>${r.opCounts.fused[op] ?? 0}</td></tr>`).join('') +
    '</tbody>';
}

function renderGallery(items: Extract<FromWorker, { type: 'gallery' }>['items']): void {
  const el = $('gallery');
  el.replaceChildren();
  for (const it of items) {
    const fig = document.createElement('figure');
    fig.className = it.predicted === it.label ? 'right' : 'wrong';
    const c = document.createElement('canvas');
    c.width = 28;
    c.height = 28;
    const ctx = c.getContext('2d')!;
    const img = ctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = 255 - it.pixels[i]!;
      img.data.set([v, v, v, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    const cap = document.createElement('figcaption');
    cap.innerHTML = `<b>${classNames[it.predicted]}</b> ${(100 * it.confidence).toFixed(0)}%<br><span class="hint">${it.predicted === it.label ? '✓' : `is ${classNames[it.label]}`}</span>`;
    fig.append(c, cap);
    el.append(fig);
  }
}

function download(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

worker.onerror = (e) => {
  e.preventDefault();
  showError('other', `the training worker failed: ${e.message || 'it could not be loaded'}`);
};

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  const w = waiters.get(m.type);
  if (w?.length) w.shift()!(m);
  switch (m.type) {
    case 'status':
      $('loading-text').textContent = m.text;
      break;
    case 'ready': {
      classNames = m.classNames;
      $('loading').hidden = true;
      $('engine').textContent = `${m.engine} · resnet8, ${m.params.toLocaleString('en-US')} parameters · ${m.trainCount} training / ${m.testCount} test images · ready in ${m.seconds.toFixed(1)} s`;
      if (!m.isolated) {
        const note = $('note');
        note.hidden = false;
        note.textContent = `Running on one thread: this page is not cross-origin isolated, so SharedArrayBuffer and WebAssembly threads are unavailable. Serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (npx bnff serve does).`;
      }
      for (const id of ['train', 'measure', 'download']) $<HTMLButtonElement>(id).disabled = false;
      $<HTMLInputElement>('fused').disabled = false;
      $<HTMLInputElement>('upload').disabled = false;
      renderExplain(m.explain);
      document.body.dataset.state = 'ready';
      break;
    }
    case 'step': {
      const x = m.epoch - 1 + m.step / m.stepsPerEpoch;
      lossChart.push({ kind: 'step', series: 'train, per step', x, value: m.loss });
      accChart.push({ kind: 'step', series: 'train, per step', x, value: 100 * m.accuracy }); // the epoch's running accuracy
      $('s-epoch').textContent = `${m.epoch} · ${m.step}/${m.stepsPerEpoch}`;
      $('s-loss').textContent = m.loss.toFixed(3);
      $('s-train').textContent = pct(m.accuracy);
      $('s-speed').textContent = `${num(m.imagesPerSecond, 0)} ${m.fused ? 'fused' : 'unfused'}`;
      const total = Number($<HTMLInputElement>('epochs').value) || 1;
      $('bar').style.width = `${(100 * Math.min(1, (x - epochBase) / total)).toFixed(1)}%`;
      break;
    }
    case 'epoch':
      trained = true;
      lossChart.push({ kind: 'epoch', series: 'train, epoch', x: m.epoch, value: m.trainLoss });
      lossChart.push({ kind: 'epoch', series: 'test', x: m.epoch, value: m.testLoss });
      accChart.push({ kind: 'epoch', series: 'train, epoch', x: m.epoch, value: 100 * m.trainAccuracy });
      accChart.push({ kind: 'epoch', series: 'test', x: m.epoch, value: 100 * m.testAccuracy });
      $('s-test').textContent = pct(m.testAccuracy);
      document.body.dataset.testAccuracy = String(m.testAccuracy);
      document.body.dataset.epochs = String(m.epoch);
      send({ type: 'gallery', count: 24 });
      break;
    case 'done':
      setBusy(false);
      epochBase = Number(document.body.dataset.epochs ?? 0);
      document.body.dataset.state = m.stopped ? 'stopped' : 'trained';
      break;
    case 'speed':
      speed(m.fused, m.unfused, 'in the training steps so far (median of the recent steps of each)');
      break;
    case 'compare':
      speed(m.fused, m.unfused, `measured side by side (batch ${m.batchSize}, interleaved, median of ${m.fused.steps} steps each)`);
      $<HTMLButtonElement>('measure').disabled = false;
      void drawBreakdown($('breakdown'), m.batchSize, m.unfused.breakdown, m.fused.breakdown, m.fused.median / m.unfused.median);
      break;
    case 'gallery':
      renderGallery(m.items);
      break;
    case 'weights':
      download(m.bytes, m.name);
      $('weights-msg').textContent = `Downloaded ${m.name} (${(m.bytes.length / 1024).toFixed(0)} KiB). In Node: npx bnff eval --checkpoint ${m.name}`;
      break;
    case 'loaded':
      trained = true;
      $('weights-msg').textContent = `Loaded ${m.name}: ${m.model}, test accuracy ${pct(m.testAccuracy)} on the subset.`;
      $('s-test').textContent = pct(m.testAccuracy);
      $('error').hidden = true;
      send({ type: 'gallery', count: 24 });
      break;
    case 'error':
      showError(m.kind, m.message);
      if (m.kind !== 'weights') setBusy(false);
      $<HTMLButtonElement>('measure').disabled = false;
      break;
    case 'logits':
      break;
  }
};

let epochBase = 0;
$('train').onclick = () => {
  $('error').hidden = true;
  setBusy(true);
  document.body.dataset.state = 'training';
  send({
    type: 'train',
    settings: {
      epochs: Math.max(1, Number($<HTMLInputElement>('epochs').value) || 1),
      batchSize: Number($<HTMLSelectElement>('batch').value),
      lr: Number($<HTMLInputElement>('lr').value) || 0.05,
      limit: intParam('limit') ?? 0,
    },
  });
};
$('stop').onclick = () => send({ type: 'stop' });
$<HTMLInputElement>('fused').onchange = (e) => send({ type: 'fused', on: (e.target as HTMLInputElement).checked });
$('measure').onclick = () => {
  $<HTMLButtonElement>('measure').disabled = true;
  $('ratio').textContent = 'Measuring…';
  send({ type: 'compare', steps: 5 });
};
$('download').onclick = () => send({ type: 'export' });
$<HTMLInputElement>('upload').onchange = async (e) => {
  const input = e.target as HTMLInputElement;
  const file = input.files?.[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  input.value = '';
  send({ type: 'load', bytes, name: file.name }, [bytes.buffer]);
};
if (params.has('epochs')) $<HTMLInputElement>('epochs').value = String(intParam('epochs'));
void running;

const threads = intParam('threads');
send(threads ? { type: 'init', threads } : { type: 'init' });
