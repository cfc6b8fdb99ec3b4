/** Human-readable renderings of benchmark results (the JSON forms are the source of truth). */
import type { StepBenchResult } from './step.js';

const ms = (s: number): string => `${(s * 1000).toFixed(1)} ms`;

export function formatStepBench(r: StepBenchResult): string {
  const lines = [
    `${r.model}, batch ${r.batch_size}, ${r.image_size}x${r.image_size}, ${r.engine}`,
    `  machine: ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}`,
    `  step: median ${ms(r.unfused.step_s.median)} (min ${ms(r.unfused.step_s.min)}, max ${ms(r.unfused.step_s.max)}), ${r.unfused.img_s.toFixed(1)} images/s`,
    `  nodes on fast kernels: ${r.lowered_nodes} of ${r.total_nodes}`,
    `  breakdown per step: ${Object.entries(r.breakdown).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}`,
  ];
  if (r.pytorch) {
    if ('error' in r.pytorch) lines.push(`  PyTorch: ${r.pytorch.error}`);
    else lines.push(`  PyTorch ${r.pytorch.torch}: ${r.pytorch.img_s.toFixed(1)} images/s; bnff / PyTorch = ${r.ratio_vs_pytorch!.toFixed(2)}`);
  }
  return lines.join('\n') + '\n';
}
