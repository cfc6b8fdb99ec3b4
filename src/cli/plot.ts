/**
 * `bnff plot`: a run directory's loss.svg and accuracy.svg from its metrics.jsonl, or the
 * per-op-type breakdown of `bnff bench step --json` results. The train command draws the run
 * plots through writeRunPlots when it ends.
 * Plot (re)draws SVGs: it replaces an existing regular file whose name ends in .svg; any other
 * existing file only with --force, never its inputs (metrics.jsonl, config.json, the bench
 * JSON files) and never what is not a regular file (src/io/safe_write.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { accuracyChart, type BreakdownInput, breakdownChart, compareChart, lossChart } from '../plot/charts.js';
import { renderSvg } from '../plot/render.js';
import { checkWriteTarget, ensureDirectory, type WriteGuard, writeFileSafe } from '../io/safe_write.js';
import { MetricsError, readMetrics } from './metrics.js';

/** What plot may replace at `file` (see the top of this file). */
function plotGuard(file: string, inputs: string[], force = false): WriteGuard {
  return { inputs, replace: /\.svg$/i.test(file), force };
}

const note = (message: string): void => void process.stderr.write(`bnff: note: ${message}\n`);

/** "resnet20 on fashion-mnist, batch 128, seed 0 (runs/fm)" from the run's config.json, or the directory alone. */
function runTitle(dir: string): string {
  try {
    const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    return `${String(c.model)} on ${String(c.dataset ?? c.data)}, batch ${String(c.batchSize)}, seed ${String(c.seed)} (${dir})`;
  } catch {
    return dir;
  }
}

export type RunPlot = 'loss.svg' | 'accuracy.svg';

/**
 * Draws loss.svg (and accuracy.svg once an epoch has finished) into outDir from dir/metrics.jsonl;
 * returns the files written. `guard` says what may be replaced (default: plot's own rule).
 */
export async function writeRunPlots(
  dir: string,
  outDir = dir,
  o: { guard?: (name: RunPlot) => WriteGuard; force?: boolean; wrote?: (name: RunPlot) => void; warn?: (message: string) => void } = {},
): Promise<string[]> {
  const metrics = path.join(dir, 'metrics.jsonl');
  const records = readMetrics(metrics, o.warn);
  if (records.length === 0) throw new MetricsError(`${metrics} holds no step or epoch yet: nothing to plot`);
  const title = runTitle(dir);
  ensureDirectory(outDir);
  const written: string[] = [];
  const draw = async (name: RunPlot, spec: Parameters<typeof renderSvg>[0]): Promise<void> => {
    const file = path.join(outDir, name);
    writeFileSafe(file, await renderSvg(spec), o.guard?.(name) ?? plotGuard(file, [metrics, path.join(dir, 'config.json')], o.force));
    o.wrote?.(name);
    written.push(file);
  };
  await draw('loss.svg', lossChart(records, title));
  if (records.some((r) => r.kind === 'epoch')) await draw('accuracy.svg', accuracyChart(records, title));
  return written;
}

export function readBenchResult(file: string): BreakdownInput {
  let r: Partial<BreakdownInput>;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<BreakdownInput>;
  } catch (e) {
    throw new MetricsError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (!r || typeof r.model !== 'string' || typeof r.breakdown !== 'object' || r.breakdown === null) {
    throw new MetricsError(`${file} is not the JSON of \`bnff bench step --json\` (no model or breakdown)`);
  }
  return r as BreakdownInput;
}

/** Draws the breakdown of the given bench results into `out`. */
export async function writeBreakdownPlot(files: string[], out: string, force = false): Promise<void> {
  const results = files.map(readBenchResult);
  const guard = plotGuard(out, files, force);
  checkWriteTarget(out, guard);
  ensureDirectory(path.dirname(path.resolve(out)));
  writeFileSafe(out, await renderSvg(breakdownChart(results)), guard);
}

/**
 * Draws the runs' test accuracy and loss per epoch on shared axes: `<out>-accuracy.svg` and
 * `<out>-loss.svg`. Each run is labelled with its directory's name.
 */
export async function writeComparePlots(dirs: string[], out: string, force = false, warn?: (message: string) => void): Promise<string[]> {
  const runs = dirs.map((d) => ({ label: path.basename(path.resolve(d)), records: readMetrics(path.join(d, 'metrics.jsonl'), warn) }));
  const inputs = dirs.flatMap((d) => [path.join(d, 'metrics.jsonl'), path.join(d, 'config.json')]);
  for (const [i, r] of runs.entries()) {
    if (!r.records.some((m) => m.kind === 'epoch'))
      throw new MetricsError(`${path.join(dirs[i]!, 'metrics.jsonl')} holds no finished epoch: nothing to compare`);
  }
  const stem = out.replace(/\.svg$/i, '');
  const files = (['accuracy', 'loss'] as const).map((metric) => [metric, `${stem}-${metric}.svg`] as const);
  for (const [, file] of files) checkWriteTarget(file, plotGuard(file, inputs, force)); // both checked before either is written
  ensureDirectory(path.dirname(path.resolve(stem)));
  const written: string[] = [];
  for (const [metric, file] of files) {
    writeFileSafe(file, await renderSvg(compareChart(runs, metric)), plotGuard(file, inputs, force));
    written.push(file);
  }
  return written;
}

interface PlotOpts {
  bench?: string[];
  compare?: string[];
  out?: string;
  force: boolean;
}

export function registerPlot(program: Command, setCode: (c: number) => void): void {
  program
    .command('plot')
    .description("draw a run's loss.svg and accuracy.svg from its metrics.jsonl, or the per-op-type time breakdown of bench results")
    .argument('[run-dir]', 'a run directory (bnff train --out)')
    .addOption(new Option('--bench <files...>', 'JSON of `bnff bench step --json` instead: unfused vs fused time per op type, one pair of bars per file'))
    .addOption(
      new Option(
        '--compare <run-dirs...>',
        'several run directories on shared axes: test accuracy and loss per epoch (needs --out STEM: writes STEM-accuracy.svg and STEM-loss.svg)',
      ),
    )
    .addOption(
      new Option(
        '-o, --out <path>',
        'where to write: a directory for a run (default: the run directory), a file for --bench (default: the JSON file with .svg for one file)',
      ),
    )
    .addOption(
      new Option(
        '--force',
        'replace an existing file at an output path that is not an .svg (plot always redraws .svg files; it never writes its inputs or over anything but a regular file)',
      ).default(false),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  bnff plot runs/fm                       # rewrites runs/fm/loss.svg and runs/fm/accuracy.svg\n' +
        '  bnff plot runs/fm --out /tmp/fm-plots\n' +
        '  bnff bench step --model resnet20 --json > r20.json && bnff plot --bench r20.json   # writes r20.svg\n' +
        '  bnff plot --bench bench/results/resnet20-b64-s32.json bench/results/resnet50-b16-s224.json --out breakdown.svg\n' +
        '  bnff plot --compare runs/fm-fused runs/fm-unfused --out runs/fm-compare   # fm-compare-accuracy.svg, fm-compare-loss.svg',
    )
    .action(async (runDir: string | undefined, o: PlotOpts, cmd: Command) => {
      if (o.compare) {
        if (runDir || o.bench) cmd.error('error: give --compare run directories alone (no run directory, no --bench)', { exitCode: 2 });
        if (!o.out) cmd.error('error: --compare needs --out STEM (writes STEM-accuracy.svg and STEM-loss.svg)', { exitCode: 2 });
        for (const f of await writeComparePlots(o.compare!, o.out!, o.force, note)) process.stderr.write(`wrote ${f}\n`);
      } else if (o.bench) {
        if (runDir) cmd.error('error: give a run directory or --bench files, not both', { exitCode: 2 });
        const out = o.out ?? (o.bench.length === 1 ? o.bench[0]!.replace(/(\.json)?$/i, '.svg') : undefined);
        if (!out) cmd.error('error: --bench with several files needs --out FILE.svg', { exitCode: 2 });
        await writeBreakdownPlot(o.bench, out!, o.force);
        process.stderr.write(`wrote ${out!}\n`);
      } else {
        if (!runDir) cmd.error('error: give a run directory (bnff train --out DIR) or --bench FILE.json', { exitCode: 2 });
        for (const f of await writeRunPlots(runDir!, o.out, { force: o.force, warn: note })) process.stderr.write(`wrote ${f}\n`);
      }
      setCode(0);
    });
}
