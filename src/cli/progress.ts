/**
 * Progress display for training: a live bar on a terminal, one line per epoch otherwise
 * (logs and CI stay readable).
 */
import cliProgress from 'cli-progress';
import type { EpochMetrics, StepEvent } from '../train/trainer.js';

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

export class TrainProgress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly tty: boolean;

  constructor(
    private readonly epochs: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  step(e: StepEvent): void {
    if (!this.tty) return;
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.out,
          format: 'epoch {epoch}/{epochs} [{bar}] {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_run}',
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(e.stepsPerEpoch, 0, this.payload(e)); // the payload: else the first frame shows the raw template
    }
    this.bar.update(e.step, this.payload(e));
  }

  private payload(e: StepEvent): Record<string, string | number> {
    return { epoch: e.epoch, epochs: this.epochs, loss: e.loss.toFixed(4), ips: e.imagesPerSec.toFixed(1), eta_run: fmtTime(e.etaSec) };
  }

  /** Takes the live bar off the terminal (and gives the cursor back) before other output. */
  stop(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }

  epoch(m: EpochMetrics): void {
    this.stop();
    this.out.write(
      `epoch ${m.epoch}/${this.epochs}  loss ${m.trainLoss.toFixed(4)}  train acc ${(100 * m.trainAccuracy).toFixed(2)}%  ` +
        `test acc ${(100 * m.testAccuracy).toFixed(2)}%  ${m.imagesPerSec.toFixed(1)} img/s  ${m.seconds.toFixed(1)} s  lr ${m.lr.toPrecision(3)}\n`,
    );
  }
}
