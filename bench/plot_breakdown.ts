/**
 * Regenerates docs/breakdown.svg, the per-op-type time of a training step, unfused vs fused,
 * from the committed bench step results, through the chart code bnff itself uses (src/plot):
 *   node dist/bench/plot_breakdown.js                      # docs/breakdown.svg from bench/results
 *   node dist/bench/plot_breakdown.js OUT.svg RESULT.json...
 * The same chart comes from `bnff plot --bench RESULT.json... --out OUT.svg`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBreakdownPlot } from '../src/cli/plot.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The README's four models, in its table's order. */
export const DOCS_RESULTS = ['resnet20-b64-s32', 'densenet40-b64-s32', 'resnet50-b16-s224', 'densenet121-b16-s224'].map((n) =>
  path.join(root, 'bench/results', `${n}.json`),
);

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const [outFile, ...inputs] = process.argv.slice(2);
  if (outFile !== undefined && inputs.length === 0) {
    process.stderr.write('usage: node dist/bench/plot_breakdown.js [OUT.svg RESULT.json...]\n');
    process.exit(2);
  }
  const out = outFile ?? path.join(root, 'docs/breakdown.svg');
  await writeBreakdownPlot(inputs.length ? inputs : DOCS_RESULTS, out);
  process.stderr.write(`wrote ${out}\n`);
}
