/**
 * One training step of a small graph, for comparing fused with unfused and the WebAssembly
 * engine with the float64 reference: the network's output y gets a random gradient dy, and
 * loss = cross_entropy(global_avg_pool(y), labels) adds its own. Returns the loss, y, every
 * gradient (input and parameters) and the running statistics after the step, as float64.
 */
import { appendBackward, pruneDead } from '../../src/autodiff/backward.js';
import { Builder } from '../../src/graph/builder.js';
import { type Graph, type Shape, numel } from '../../src/graph/ir.js';
import { type FusionOptions, applyFusion } from '../../src/passes/index.js';
import { FAST_KERNELS } from '../../src/runtime/capabilities.js';
import { Executor, type Lowering } from '../../src/runtime/executor.js';
import type { Memory } from '../../src/runtime/memory.js';
import { Rng } from '../../src/util/random.js';

export interface StepCase {
  input: Shape;
  /** Builds the network on input x; returns its 4-D output. */
  build: (b: Builder, x: number) => number;
  /** Input values (default: standard normal, seed 6). */
  fillX?: (a: Float64Array) => void;
  /** Parameter values by name (default: BN scales 1 + 0.5 N(0,1), others 0.5 N(0,1), seed 5). */
  fillParam?: (name: string, a: Float64Array, rng: Rng) => void;
}

export type StepOutputs = Map<string, Float64Array>;

/** Runs one step; `seen` gets the executor (its fused graph, the nodes its lowering declined). */
export function trainStep(c: StepCase, fusion: FusionOptions, memory: Memory, lowering?: Lowering, seen?: (exec: Executor) => void): StepOutputs {
  const b = new Builder({ training: true });
  const N = c.input[0]!;
  const x = b.input('x', c.input);
  const labels = b.input('labels', [N]);
  const y = c.build(b, x);
  const loss = b.crossEntropy('loss', b.flatten('flat', b.globalAvgPool('pool', y)), labels);
  let g: Graph = b.g;
  const dy = g.addValue('dy', g.value(y).shape, 'input').id;
  const one = g.addValue('loss.grad_seed', [1], 'const', 1).id;
  g.outputs.set('y', y);
  g.outputs.set('loss', loss);
  const params = g.values.filter((v) => v.kind === 'param').map((v) => v.id);
  const { grads } = appendBackward(
    g,
    new Map([
      [y, dy],
      [loss, one],
    ]),
    [x, ...params],
  );
  for (const [v, d] of grads) g.outputs.set(`grad:${g.value(v).name}`, d);
  g = applyFusion(pruneDead(g), fusion, FAST_KERNELS).graph;
  const vals = new Rng(5);
  const store = new Map(
    b.specs.map((s) => {
      const a = new Float64Array(numel(s.shape));
      for (let i = 0; i < a.length; i++)
        a[i] = s.name.endsWith('running_var')
          ? 1
          : s.name.endsWith('num_batches_tracked')
            ? 0
            : s.shape.length === 1
              ? 1 + 0.5 * vals.normal()
              : 0.5 * vals.normal();
      if (s.kind === 'param') c.fillParam?.(s.name, a, vals);
      const m = memory.alloc(a.length);
      m.set(a.map(Math.fround)); // the same float32 values for every memory
      return [s.name, m] as const;
    }),
  );
  const exec = new Executor(g, memory, (n) => store.get(n), lowering);
  const inp = new Rng(6);
  const xs = Float64Array.from({ length: numel(c.input) }, () => inp.normal());
  c.fillX?.(xs);
  exec.write(x, xs.map(Math.fround));
  exec.write(
    labels,
    Float64Array.from({ length: N }, (_, i) => i % 2),
  );
  exec.write(
    dy,
    Float64Array.from({ length: numel(g.value(dy).shape) }, () => Math.fround(inp.normal())),
  );
  exec.run({ seed: 1, step: 0 });
  seen?.(exec);
  const outputs: StepOutputs = new Map();
  for (const [k, id] of g.outputs) outputs.set(k, Float64Array.from(exec.read(id)));
  for (const [k, v] of store) if (k.includes('running')) outputs.set(k, Float64Array.from(v));
  return outputs;
}

/** The largest |gradient| of a step. */
export function largestGradient(o: StepOutputs): number {
  let G = 0;
  for (const [k, v] of o) if (k.startsWith('grad:')) for (const q of v) G = Math.max(G, Math.abs(q));
  return G;
}

/**
 * Per-tensor errors of `b` against the reference `a`, relative to the tensor's largest
 * magnitude, at least `floor` and, for gradients, at least `gradFloor` times the largest
 * gradient of the step; NaN counts as Infinity.
 */
export function relErrs(a: StepOutputs, b: StepOutputs, floor = 1e-2, gradFloor = 0): Map<string, number> {
  const out = new Map<string, number>();
  const G = largestGradient(a);
  for (const [k, v] of a) {
    const u = b.get(k);
    let scale = k.startsWith('grad:') ? Math.max(floor, gradFloor * G) : floor;
    let err = u ? 0 : Infinity;
    for (let i = 0; u && i < v.length; i++) {
      scale = Math.max(scale, Math.abs(v[i]!));
      err = Math.max(err, Math.abs(v[i]! - u[i]!));
    }
    out.set(k, Number.isNaN(err) ? Infinity : err / scale);
  }
  return out;
}

/** The worst of relErrs. */
export function worstRelErr(a: StepOutputs, b: StepOutputs, floor = 1e-2): { key: string; err: number } {
  let w = { key: '', err: 0 };
  for (const [key, err] of relErrs(a, b, floor)) if (err > w.err) w = { key, err };
  return w;
}
