/**
 * Learning-rate schedules, per epoch, with torch.optim.lr_scheduler's values:
 *   step:   lr = base * gamma^floor(epoch / stepSize)                      (StepLR)
 *   cosine: lr = etaMin + (base - etaMin) * (1 + cos(pi * epoch / tMax)) / 2 (CosineAnnealingLR)
 */
/** How the learning rate changes from epoch to epoch. */
export type Schedule =
  | {
      /** The base rate throughout. */
      kind: 'constant';
    }
  | {
      /** StepLR: multiplied by gamma every stepSize epochs. */
      kind: 'step';
      /** Epochs between two decays. */
      stepSize: number;
      /** Factor of each decay (e.g. 0.1). */
      gamma: number;
    }
  | {
      /** CosineAnnealingLR: half a cosine from the base rate down to etaMin at epoch tMax. */
      kind: 'cosine';
      /** Epochs to reach etaMin. */
      tMax: number;
      /** The rate at epoch tMax (default 0). */
      etaMin?: number;
    };

/** The learning rate of epoch `epoch` (from 0) under schedule `s`, from base rate `base`. */
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
