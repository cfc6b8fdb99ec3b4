/**
 * Renders a Vega-Lite chart to a standalone SVG string, headless: Vega's scenegraph is drawn
 * to SVG text with no canvas, no DOM, no native module and no network (charts carry their data
 * inline). Vega is imported on first use, so commands that draw nothing do not pay for it.
 * The files render alike in browsers and librsvg (rsvg-convert); ImageMagick's own SVG renderer
 * (MSVG) mirrors rotated text and paints some unfilled paths, so rasterise with rsvg-convert.
 */
import type { TopLevelSpec } from 'vega-lite';

/** Settings shared by every bnff chart: white background, one font, room for the labels. */
export const CHART_CONFIG = {
  background: 'white',
  padding: 12,
  config: {
    font: 'sans-serif',
    title: { fontSize: 14, anchor: 'start', subtitleColor: '#555' },
    axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#e6e6e6' },
    legend: { labelFontSize: 11, titleFontSize: 12 },
    view: { stroke: '#bbb' },
  },
} as const;

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return (await view.toSVG()) + '\n';
  } finally {
    view.finalize();
  }
}
