/** Human-readable renderings of benchmark results (the JSON forms are the source of truth). */
import type { StepBenchResult } from './step.js';

const ms = (s: number): string => `${(s * 1000).toFixed(1)} ms`;

export function formatStepBench(r: StepBenchResult): string {
  const lines = [
    `${r.model}, batch ${r.batch_size}, ${r.image_size}x${r.image_size}, ${r.engine}`,
    `  machine: ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}`,
    `  step: median ${ms(r.unfused.step_s.median)} (min ${ms(r.unfused.step_s.min)}, max ${ms(r.unfused.step_s.max)}), ${r.unfused.img_s.toFixed(1)} images/s`,
    `  nodes on fast kernels: ${r.lowered_nodes} of ${r.total_nodes}`,
    `  breakdown per step: ${Object.entries(r.breakdown)
      .map(([k, v]) => `${k} ${ms(v)}`)
      .join(', ')}`,
  ];
  if (r.fused) {
    lines.push(
      `  fused: median ${ms(r.fused.step_s.median)} (min ${ms(r.fused.step_s.min)}, max ${ms(r.fused.step_s.max)}), ${r.fused.img_s.toFixed(1)} images/s; speedup ${r.speedup!.toFixed(3)}x (per round: median ${r.speedup_paired!.median.toFixed(3)}, ${r.speedup_paired!.min.toFixed(3)}-${r.speedup_paired!.max.toFixed(3)})`,
    );
    lines.push(
      `  fused breakdown per step: ${Object.entries(r.fused.breakdown)
        .map(([k, v]) => `${k} ${ms(v)}`)
        .join(', ')}`,
    );
  }
  if (r.ablation)
    for (const [k, v] of Object.entries(r.ablation))
      lines.push(`  ablation ${k}: ${v.img_s.toFixed(1)} images/s, speedup ${v.speedup.toFixed(3)}x (per round ${v.speedup_paired.median.toFixed(3)})`);
  if (r.pytorch) {
    if ('error' in r.pytorch) lines.push(`  PyTorch: ${r.pytorch.error}`);
    else
      lines.push(
        `  PyTorch ${r.pytorch.torch}: ${r.pytorch.img_s.toFixed(1)} images/s; bnff / PyTorch = ${r.ratio_vs_pytorch!.toFixed(2)} unfused${r.fused_ratio_vs_pytorch ? `, ${r.fused_ratio_vs_pytorch.toFixed(2)} fused` : ''}`,
      );
  }
  return lines.join('\n') + '\n';
}
