/**
 * The demo's charts, drawn by Vega-Lite (a dependency of bnff already: the CLI draws its plots
 * with it) as SVG: live loss and accuracy curves fed point by point, and the per-op-type
 * breakdown of src/plot/charts.ts, the chart `bnff plot` draws from `bnff bench step`.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { breakdownChart } from '../src/plot/charts.js';
import { CHART_CONFIG } from '../src/plot/render.js';

const LEGEND = { orient: 'top', symbolType: 'stroke', symbolStrokeWidth: 3, title: null };

function liveSpec(title: string, y: string, yTitle: string, domain?: [number, number]): TopLevelSpec {
  return {
    ...CHART_CONFIG,
    width: 'container',
    height: 200,
    autosize: { type: 'fit-x', contains: 'padding' },
    title: { text: title },
    data: { name: 'points' },
    layer: [
      {
        transform: [{ filter: "datum.kind === 'step'" }],
        mark: { type: 'line', strokeWidth: 1, clip: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 'epoch', scale: { domainMin: 0 } },
          y: { field: y, type: 'quantitative', title: yTitle, ...(domain ? { scale: { domain } } : {}) },
          color: { field: 'series', type: 'nominal', legend: LEGEND, scale: { domain: ['train, per step', 'train, epoch', 'test'], range: ['#a6c8e6', '#1f5f9e', '#e8730c'] } },
        },
      },
      {
        transform: [{ filter: "datum.kind === 'epoch'" }],
        mark: { type: 'line', point: true, strokeWidth: 2 },
        encoding: {
          x: { field: 'x', type: 'quantitative' },
          y: { field: y, type: 'quantitative' },
          color: { field: 'series', type: 'nominal' },
        },
      },
    ],
  } as TopLevelSpec;
}

export interface Point {
  kind: 'step' | 'epoch';
  series: string;
  x: number;
  value: number;
}

/** A chart that grows point by point; inserts are batched to one redraw per animation frame. */
export class LiveChart {
  private view: vega.View;
  private pending: Point[] = [];
  private scheduled = false;

  constructor(el: HTMLElement, title: string, yTitle: string, domain?: [number, number]) {
    this.view = new vega.View(vega.parse(compile(liveSpec(title, 'value', yTitle, domain)).spec), { renderer: 'svg', container: el, hover: true });
    void this.view.runAsync();
    new ResizeObserver(() => void this.view.resize().runAsync()).observe(el);
  }

  push(p: Point): void {
    this.pending.push(p);
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      const rows = this.pending;
      this.pending = [];
      void this.view.change('points', vega.changeset().insert(rows)).runAsync();
    });
  }

  clear(): void {
    this.pending = [];
    void this.view.change('points', vega.changeset().remove(() => true)).runAsync();
  }
}

/** Draws the per-op-type breakdown (seconds per type, fused and unfused) into `el`. */
export async function drawBreakdown(el: HTMLElement, batch: number, unfused: Record<string, number>, fused: Record<string, number>, speedup: number): Promise<void> {
  const spec = breakdownChart([{ model: 'resnet8', batch_size: batch, image_size: 32, breakdown: unfused, fused: { breakdown: fused }, speedup }]);
  el.replaceChildren();
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'svg', container: el, hover: true });
  await view.runAsync();
}
