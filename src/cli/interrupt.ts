/**
 * Ctrl-C during training. The first SIGINT aborts `signal`: the training loop, which yields to
 * the event loop between steps, finishes the step in flight, writes a checkpoint and stops
 * (exit 130). A second SIGINT exits at once with 130; the checkpoint on disk is then the last
 * one completed, since checkpoints are written atomically.
 */
export const INTERRUPTED_EXIT = 130;

export class Interrupt {
  private readonly controller = new AbortController();
  private readonly handler = (): void => {
    if (!this.controller.signal.aborted) {
      this.controller.abort();
      this.onFirst();
    } else {
      this.onSecond();
      process.exit(INTERRUPTED_EXIT);
    }
  };

  constructor(
    private readonly onFirst: () => void,
    private readonly onSecond: () => void,
  ) {
    process.on('SIGINT', this.handler);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Gives SIGINT back its default action (end the process). */
  dispose(): void {
    process.removeListener('SIGINT', this.handler);
  }
}
