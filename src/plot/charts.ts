/**
 * Every chart bnff draws, as Vega-Lite specifications: a run's loss and accuracy curves, and
 * the per-op-type time breakdown of `bnff bench step` results (fused vs unfused). The CLI, the
 * run directory and bench/plot_breakdown.ts all draw through here.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { EpochRecord, MetricsRecord, StepRecord } from '../train/records.js';
import { CHART_CONFIG } from './render.js';

/** Per-step curves longer than this are drawn as means over equal runs of steps. */
export const MAX_STEP_POINTS = 2000;

const SIZE = { width: 560, height: 300 };
/** Curves are told apart by line colour; the legend sits right of the plot, clear of the data. */
const LEGEND = { orient: 'right', symbolType: 'stroke', symbolStrokeWidth: 3, symbolSize: 200, labelLimit: 400 };

/** Fractional epochs at the end of a step: step 10 of 40 in epoch 3 is 2.25. */
function stepX(r: StepRecord): number {
  return r.epoch - 1 + r.step_in_epoch / r.steps_per_epoch;
}

/** Means over consecutive runs of points, so that at most `max` remain. */
export function downsample(points: { x: number; y: number }[], max: number): { x: number; y: number }[] {
  if (points.length <= max) return points;
  const k = Math.ceil(points.length / max);
  const out: { x: number; y: number }[] = [];
  for (let i = 0; i < points.length; i += k) {
    const run = points.slice(i, i + k);
    out.push({ x: run[run.length - 1]!.x, y: run.reduce((s, p) => s + p.y, 0) / run.length });
  }
  return out;
}

function epochsOf(records: MetricsRecord[]): EpochRecord[] {
  return records.filter((r): r is EpochRecord => r.kind === 'epoch');
}

function epochAxis(maxX: number, whole = false): Record<string, unknown> {
  return { title: 'epoch', ...(whole || maxX >= 2 ? { tickMinStep: 1, format: 'd' } : {}) };
}

interface Series {
  name: string;
  color: string;
}

/** Fixed colours per series; the legend lists only the series that have data. */
function colorScale(series: Series[], rows: { series: string }[]): Record<string, unknown> {
  const present = series.filter((s) => rows.some((r) => r.series === s.name));
  return { domain: present.map((s) => s.name), range: present.map((s) => s.color) };
}

/**
 * Training loss per step (or per k steps) and per epoch, with the test loss after each epoch,
 * against epochs (fractional for steps).
 */
export function lossChart(records: MetricsRecord[], title: string): TopLevelSpec {
  const steps = records.filter((r): r is StepRecord => r.kind === 'step');
  const epochs = epochsOf(records);
  const series: Series[] = [
    { name: 'train, per step', color: '#a6c8e6' },
    { name: 'train, epoch mean', color: '#1f5f9e' },
    { name: 'test', color: '#e8730c' },
  ];
  const stepRows = downsample(
    steps.map((r) => ({ x: stepX(r), y: r.loss })),
    MAX_STEP_POINTS,
  ).map((p) => ({ epoch: p.x, loss: p.y, series: series[0]!.name }));
  const epochRows = epochs.flatMap((r) => [
    { epoch: r.epoch, loss: r.train_loss, series: series[1]!.name },
    { epoch: r.epoch, loss: r.test_loss, series: series[2]!.name },
  ]);
  const maxX = Math.max(0, ...stepRows.map((r) => r.epoch), ...epochRows.map((r) => r.epoch));
  const encoding = {
    x: { field: 'epoch', type: 'quantitative', axis: epochAxis(maxX), scale: { domainMin: 0 } },
    y: { field: 'loss', type: 'quantitative', title: 'cross-entropy loss' },
    color: { field: 'series', type: 'nominal', title: null, scale: colorScale(series, [...stepRows, ...epochRows]), legend: LEGEND },
  };
  return {
    ...CHART_CONFIG,
    ...SIZE,
    title: { text: 'Loss', subtitle: title },
    encoding,
    layer: [
      { data: { values: stepRows }, mark: { type: 'line', strokeWidth: 1, interpolate: 'linear' } },
      { data: { values: epochRows }, mark: { type: 'line', point: true, strokeWidth: 2 } },
    ],
  } as TopLevelSpec;
}

/** Train and test accuracy (%) after each epoch. */
export function accuracyChart(records: MetricsRecord[], title: string): TopLevelSpec {
  const epochs = epochsOf(records);
  const series: Series[] = [
    { name: 'train', color: '#1f5f9e' },
    { name: 'test', color: '#e8730c' },
  ];
  const rows = epochs.flatMap((r) => [
    { epoch: r.epoch, accuracy: 100 * r.train_accuracy, series: 'train' },
    { epoch: r.epoch, accuracy: 100 * r.test_accuracy, series: 'test' },
  ]);
  const maxX = Math.max(0, ...epochs.map((r) => r.epoch));
  // A few points of margin, out to whole tens within [0, 100]; one epoch sits mid-axis.
  const lo = Math.max(0, 10 * Math.floor((Math.min(...rows.map((r) => r.accuracy)) - 2) / 10));
  const hi = Math.min(100, 10 * Math.ceil((Math.max(...rows.map((r) => r.accuracy)) + 2) / 10));
  return {
    ...CHART_CONFIG,
    ...SIZE,
    title: { text: 'Accuracy', subtitle: title },
    data: { values: rows },
    mark: { type: 'line', point: true, strokeWidth: 2 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', axis: epochAxis(maxX, true), scale: { domain: maxX >= 2 ? [1, maxX] : [maxX - 0.5, maxX + 0.5] } },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)', scale: { domain: rows.length ? [lo, hi] : [0, 100] } },
      color: { field: 'series', type: 'nominal', title: null, scale: colorScale(series, rows), legend: LEGEND },
    },
  } as TopLevelSpec;
}

const RUN_COLORS = ['#1f5f9e', '#e8730c', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/**
 * Several runs on one chart, per epoch: test accuracy (%) or train and test loss, one colour
 * per run (train dashed, test solid) - to see whether two runs (fused and unfused, two seeds)
 * follow the same curve.
 */
export function compareChart(runs: { label: string; records: MetricsRecord[] }[], metric: 'accuracy' | 'loss'): TopLevelSpec {
  const rows = runs.flatMap((run) =>
    epochsOf(run.records).flatMap((r) =>
      metric === 'accuracy'
        ? [{ epoch: r.epoch, value: 100 * r.test_accuracy, run: run.label, split: 'test' }]
        : [
            { epoch: r.epoch, value: r.train_loss, run: run.label, split: 'train' },
            { epoch: r.epoch, value: r.test_loss, run: run.label, split: 'test' },
          ],
    ),
  );
  const maxX = Math.max(1, ...rows.map((r) => r.epoch));
  const values = rows.map((r) => r.value);
  const y =
    metric === 'accuracy'
      ? {
          title: 'test accuracy (%)',
          scale: { domain: [Math.max(0, 5 * Math.floor((Math.min(...values) - 1) / 5)), Math.min(100, 5 * Math.ceil((Math.max(...values) + 1) / 5))] },
        }
      : { title: 'cross-entropy loss (train dashed, test solid)', scale: { domainMin: 0 } };
  return {
    ...CHART_CONFIG,
    ...SIZE,
    title: { text: metric === 'accuracy' ? 'Test accuracy per epoch' : 'Loss per epoch', subtitle: runs.map((r) => r.label).join(' vs ') },
    data: { values: rows },
    mark: { type: 'line', point: true, strokeWidth: 2 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', axis: epochAxis(maxX, true), scale: { domain: maxX >= 2 ? [1, maxX] : [0.5, 1.5] } },
      y: { field: 'value', type: 'quantitative', ...y },
      color: {
        field: 'run',
        type: 'nominal',
        title: null,
        sort: null,
        scale: { domain: runs.map((r) => r.label), range: runs.map((_, i) => RUN_COLORS[i % RUN_COLORS.length]!) },
        legend: LEGEND,
      },
      strokeDash: {
        field: 'split',
        type: 'nominal',
        scale: {
          domain: ['test', 'train'],
          range: [
            [1, 0],
            [5, 4],
          ],
        },
        legend: null,
      },
      detail: { field: 'split', type: 'nominal' },
    },
  } as TopLevelSpec;
}

/** The fields of a `bnff bench step --json` result the breakdown chart reads. */
export interface BreakdownInput {
  model: string;
  batch_size: number;
  image_size: number;
  threads?: number;
  breakdown: Record<string, number>;
  fused?: { breakdown: Record<string, number> };
  speedup?: number;
}

export const OP_TYPES = ['conv', 'bn', 'relu', 'pool', 'concat', 'add', 'other'] as const;
const OP_COLORS = ['#4e79a7', '#e15759', '#f28e2b', '#76b7b2', '#59a14f', '#edc948', '#bab0ac'];

/**
 * Time of a training step per op type, unfused and fused side by side for each result,
 * normalised to the unfused step = 100%, like the breakdown figures of Jung et al.
 */
export function breakdownChart(results: BreakdownInput[]): TopLevelSpec {
  const rows: { run: string; variant: string; type: string; order: number; percent: number; ms: number }[] = [];
  let highest = 100;
  results.forEach((r, i) => {
    const total = Object.values(r.breakdown).reduce((a, b) => a + b, 0);
    const speedup = r.speedup === undefined ? '' : `|speedup ${r.speedup.toFixed(3)}x`;
    // Label lines split at "|"; the leading index keeps two results of one model apart and is dropped.
    const run = `${i}|${r.model}|batch ${r.batch_size}, ${r.image_size}px${speedup}`;
    const variants: [string, Record<string, number>][] = [['unfused', r.breakdown]];
    if (r.fused) variants.push(['fused', r.fused.breakdown]);
    for (const [variant, b] of variants) {
      OP_TYPES.forEach((type, order) => {
        const s = b[type] ?? 0;
        if (s > 0) rows.push({ run, variant, type, order, percent: (100 * s) / total, ms: 1000 * s });
      });
      highest = Math.max(highest, (100 * Object.values(b).reduce((a, v) => a + v, 0)) / total);
    }
  });
  return {
    ...CHART_CONFIG,
    title: {
      text: 'Training step time per op type',
      subtitle: ['unfused vs BN fission + fusion, as % of the unfused step', 'speedups are of the measured step times'],
    },
    data: { values: rows },
    facet: {
      column: {
        field: 'run',
        type: 'nominal',
        title: null,
        sort: null,
        header: { labelExpr: 'slice(split(datum.value, "|"), 1)', labelFontSize: 11, labelOrient: 'bottom', labelPadding: 8 },
      },
    },
    spacing: 14,
    spec: {
      width: 110,
      height: 280,
      layer: [
        {
          mark: { type: 'bar', width: 30 },
          encoding: {
            x: { field: 'variant', type: 'nominal', sort: ['unfused', 'fused'], title: null, axis: { labelAngle: 0 } },
            y: {
              field: 'percent',
              type: 'quantitative',
              aggregate: 'sum',
              stack: 'zero',
              title: 'time per step (% of unfused)',
              scale: { domain: [0, 10 * Math.ceil((highest + 8) / 10)] },
            },
            color: { field: 'type', type: 'nominal', title: 'op type', scale: { domain: [...OP_TYPES], range: OP_COLORS } },
            order: { field: 'order', type: 'quantitative' },
          },
        },
        {
          transform: [{ aggregate: [{ op: 'sum', field: 'percent', as: 'total' }], groupby: ['variant'] }],
          mark: { type: 'text', dy: -6, fontSize: 10 },
          encoding: {
            x: { field: 'variant', type: 'nominal', sort: ['unfused', 'fused'] },
            y: { field: 'total', type: 'quantitative' },
            text: { field: 'total', type: 'quantitative', format: '.1f' },
          },
        },
      ],
    },
  } as TopLevelSpec;
}
