/**
 * Learning-rate schedules, per epoch, with torch.optim.lr_scheduler's values:
 *   step:   lr = base * gamma^floor(epoch / stepSize)                      (StepLR)
 *   cosine: lr = etaMin + (base - etaMin) * (1 + cos(pi * epoch / tMax)) / 2 (CosineAnnealingLR)
 */
export type Schedule =
  | { kind: 'constant' }
  | { kind: 'step'; stepSize: number; gamma: number }
  | { kind: 'cosine'; tMax: number; etaMin?: number };

export function learningRate(base: number, epoch: number, s: Schedule): number {
  switch (s.kind) {
    case 'constant':
      return base;
    case 'step':
      return base * s.gamma ** Math.floor(epoch / s.stepSize);
    case 'cosine': {
      const etaMin = s.etaMin ?? 0;
      return etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * epoch) / s.tMax))) / 2;
    }
  }
}
