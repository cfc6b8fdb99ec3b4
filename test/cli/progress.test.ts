import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { TrainProgress } from '../../src/cli/progress.js';

test("tools: on a terminal, the progress bar's first frame shows numbers, not its raw template", () => {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(out, { isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  const p = new TrainProgress(3, out);
  p.step({ epoch: 1, step: 1, stepsPerEpoch: 10, globalStep: 1, loss: 2.5, lr: 0.05, size: 16, imagesPerSec: 100, stepSeconds: 0.16, etaSec: 42 } as never);
  p.stop();
  assert.ok(text.length > 0, 'something was drawn');
  assert.doesNotMatch(text, /\{\w+\}/, text);
  assert.match(text, /epoch 1\/3 /);
});
