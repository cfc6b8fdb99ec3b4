/**
 * Writes an SVG of the per-op-type time of a training step, unfused vs fused, for the bench step
 * results given (JSON files of `bnff bench step --json`), like the paper's breakdown figures.
 *   node dist/bench/plot_breakdown.js OUT.svg results/*.json
 */
import fs from 'node:fs';
import path from 'node:path';
import type { StepBenchResult } from './step.js';

const TYPES = ['conv', 'bn', 'relu', 'pool', 'concat', 'add', 'other'] as const;
const COLORS: Record<string, string> = { conv: '#4e79a7', bn: '#e15759', relu: '#f28e2b', pool: '#76b7b2', concat: '#59a14f', add: '#edc948', other: '#bab0ac' };

export function breakdownSvg(results: StepBenchResult[]): string {
  const barW = 46;
  const gap = 34;
  const top = 40;
  const h = 260;
  const left = 60;
  const width = left + results.length * (2 * barW + gap) + 150;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + h + 70}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${left}" y="20" font-size="14">Training step time per op type, unfused (U) vs fused (F), normalised to unfused = 100%</text>`);
  results.forEach((r, i) => {
    const x0 = left + i * (2 * barW + gap);
    const total = Object.values(r.breakdown).reduce((a, b) => a + b, 0);
    const bars: [string, Record<string, number>][] = [['U', r.breakdown], ['F', r.fused?.breakdown ?? r.breakdown]];
    bars.forEach(([label, b], j) => {
      let y = top + h;
      const x = x0 + j * barW;
      for (const t of TYPES) {
        const v = ((b[t] ?? 0) / total) * h;
        if (v <= 0) continue;
        y -= v;
        out.push(`<rect x="${x}" y="${y.toFixed(1)}" width="${barW - 6}" height="${v.toFixed(1)}" fill="${COLORS[t]}"><title>${t}: ${((b[t] ?? 0) * 1000).toFixed(1)} ms</title></rect>`);
      }
      out.push(`<text x="${x + (barW - 6) / 2}" y="${top + h + 15}" text-anchor="middle">${label}</text>`);
    });
    out.push(`<text x="${x0 + barW - 3}" y="${top + h + 32}" text-anchor="middle">${r.model}</text>`);
    out.push(`<text x="${x0 + barW - 3}" y="${top + h + 47}" text-anchor="middle" fill="#555">b${r.batch_size} ${r.image_size}px, ${r.speedup ? r.speedup.toFixed(3) + 'x' : ''}</text>`);
  });
  for (let k = 0; k <= 4; k++) {
    const y = top + h - (k / 4) * h;
    out.push(`<line x1="${left - 5}" x2="${left - 10}" y1="${y}" y2="${y}" stroke="black"/><text x="${left - 14}" y="${y + 4}" text-anchor="end">${k * 25}%</text>`);
  }
  const lx = width - 130;
  TYPES.forEach((t, k) => {
    out.push(`<rect x="${lx}" y="${top + k * 20}" width="12" height="12" fill="${COLORS[t]}"/><text x="${lx + 18}" y="${top + k * 20 + 10}">${t}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (isMain) {
  const [outFile, ...inputs] = process.argv.slice(2);
  if (!outFile || inputs.length === 0) {
    process.stderr.write('usage: node dist/bench/plot_breakdown.js OUT.svg RESULT.json...\n');
    process.exit(2);
  }
  const results = inputs.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as StepBenchResult);
  fs.writeFileSync(outFile, breakdownSvg(results));
}
