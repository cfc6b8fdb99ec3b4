/** The browser side of bench/browser_step.ts for bnff: an engine on Web Workers, then bnffSteps. */
import { createEngine } from '../../src/browser/index.js';
import { bnffSteps } from './bnff_steps.js';
import type { StepOptions } from './timing.js';

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<StepOptions>) => void) | null; postMessage(m: unknown): void };
scope.onmessage = async (e: MessageEvent<StepOptions>) => {
  try {
    const engine = await createEngine({ threads: e.data.threads });
    const r = bnffSteps(engine, e.data);
    scope.postMessage({ ok: true, ...r, engine: engine.description });
    engine.close();
  } catch (err) {
    scope.postMessage({ ok: false, error: String((err as Error)?.stack ?? err) });
  }
};
