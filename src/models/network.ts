/**
 * A model instance: a definition (how to build its graph) plus storage for its parameters and
 * state, and the compiled plans (train step, eval) for the input shapes it has seen.
 */
import { appendBackward, pruneDead } from '../autodiff/backward.js';
import { ALL_FUSION, type FusionOptions, FusionReport, NO_FUSION, applyFusion } from '../passes/index.js';
import { type Derivation, type FoldedGraph, derivedTensor, foldBatchNorm } from '../passes/fold_bn.js';
import { Builder, type Init, type ParamSpec } from '../graph/builder.js';
import { type Graph, ShapeError, type Shape, numel, shapeStr } from '../graph/ir.js';
import type { Arr, RunContext } from '../ops/op.js';
import type { Backend } from '../runtime/backend.js';
import { FAST_KERNELS } from '../runtime/capabilities.js';
import type { Engine, EngineChoice } from '../runtime/engine.js';
import { defaultEngine, fusionCosts } from '../runtime/engine_factory.js';
import { Executor, type Lowering } from '../runtime/executor.js';
import { HeapOverflowError, MAX_ARENA_BYTES, type Memory } from '../runtime/memory.js';
import { planMemory } from '../runtime/planner.js';
import { Rng } from '../util/random.js';
import { LabelError } from '../ops/softmax_cross_entropy.js';

function isNumeric(a: unknown): a is ArrayLike<number> {
  return (
    a instanceof Float32Array ||
    a instanceof Float64Array ||
    a instanceof Uint8Array ||
    a instanceof Int32Array ||
    a instanceof Uint16Array ||
    a instanceof Int16Array ||
    a instanceof Int8Array ||
    a instanceof Uint32Array ||
    a instanceof Uint8ClampedArray ||
    (Array.isArray(a) && a.every((v) => typeof v === 'number'))
  );
}

function describe(a: unknown): string {
  if (a === null || a === undefined) return String(a);
  if (ArrayBuffer.isView(a)) return a.constructor.name;
  if (Array.isArray(a)) return `an array holding ${typeof a.find((v) => typeof v !== 'number')}`;
  return typeof a;
}

/** A model: its name, its input and output sizes, and how to build its graph. */
export interface ModelDef {
  /** Its name ("resnet20"). */
  readonly name: string;
  /** C of its input images [N, C, H, W]. */
  readonly inChannels: number;
  /** Width of its logits [N, numClasses]. */
  readonly numClasses: number;
  /** The input size the model was designed for (square). */
  readonly imageSize: number;
  /** Builds the forward graph from image input x; returns the logits value id. */
  build(b: Builder, x: number): number;
}

/** What `getModel` may change in a model: its outputs and its input channels. */
export interface ModelOptions {
  /** Classes, the width of the last linear layer (default: the model's own, 10 or 1000). */
  numClasses?: number;
  /** Channels of the input images (default: the model's own, 3). */
  inChannels?: number;
}

/** How `Network.create` places a network; every field has the default `bnff train` uses. */
export interface NetworkOptions {
  /**
   * The engine: one made by `createEngine` (its owner closes it), or the kind to create, which
   * the network then owns and `close()` closes: 'auto' (default: the native addon where it is
   * built, else WebAssembly SIMD; BNFF_ENGINE overrides), 'native', 'wasm', or 'reference'
   * (plain loops, one thread: asked for explicitly, never a fallback).
   */
  engine?: Engine | EngineChoice;
  /** Threads of an engine created here (default: every core). */
  threads?: number;
  /** Seed of the parameter initialisation (default 0). */
  seed?: number;
  /**
   * BN fission and fusion of the training step (default `ALL_FUSION` with the engine's cost
   * guard, as `bnff train`; `NO_FUSION` is the unfused baseline).
   */
  fusion?: FusionOptions;
}

export function paramSpecs(def: ModelDef, imageSize = def.imageSize): ParamSpec[] {
  const b = new Builder({ training: false });
  def.build(b, b.input('x', [1, def.inChannels, imageSize, imageSize]));
  return b.specs;
}

/** Number of trainable parameters (as torchvision counts them: running statistics excluded). */
export function countParams(def: ModelDef): number {
  return paramSpecs(def)
    .filter((s) => s.kind === 'param')
    .reduce((a, s) => a + numel(s.shape), 0);
}

function initialise(a: Arr, spec: ParamSpec, rng: Rng): void {
  const init: Init = spec.init;
  if (init.kind === 'const') {
    a.fill(init.value);
  } else if (init.kind === 'uniform') {
    for (let i = 0; i < a.length; i++) a[i] = (2 * rng.next() - 1) * init.bound;
  } else if (init.kind === 'normal') {
    for (let i = 0; i < a.length; i++) a[i] = rng.normal() * init.std;
  } else {
    // kaiming_normal_ with a ReLU gain: std = sqrt(2 / fan), fan over OIHW dims as torch computes it.
    const [o, i, ...rest] = spec.shape as number[];
    const field = rest.reduce((p, d) => p * d, 1);
    const fan = init.mode === 'fan_out' ? o! * field : i! * field;
    const std = Math.sqrt(2 / fan);
    for (let k = 0; k < a.length; k++) a[k] = rng.normal() * std;
  }
}

/** The compiled training step for one input shape. */
export interface TrainPlan {
  /** Runs the step. */
  readonly exec: Executor;
  /** Value id of the images input x [N, C, H, W]. */
  readonly xId: number;
  /** The labels input [N] (class indices as floats). */
  readonly labels: Arr;
  /** The mean cross-entropy loss [1] after a run. */
  readonly loss: Arr;
  /** Logits [N, numClasses] after a run. */
  readonly logits: Arr;
  /** Gradient storage by parameter name. */
  readonly grads: Map<string, Arr>;
  /** The (fused) training graph it runs. */
  readonly graph: Graph;
}

/** The compiled eval-mode forward for one input shape. */
export interface EvalPlan {
  /** Runs the forward. */
  readonly exec: Executor;
  /** Value id of the images input x [N, C, H, W]. */
  readonly xId: number;
  /** Logits [N, numClasses] after a run. */
  readonly logits: Arr;
  /** The graph it runs (BN-folded by default). */
  readonly graph: Graph;
}

/**
 * A model's parameters and state, and its compiled training and eval steps. `Network.create`
 * places it on the fast engine with the fused graph; the constructor is the explicit form, which
 * chooses nothing: the reference kernels unless given a lowering, the unfused graph unless given
 * fusion options.
 */
export class Network {
  /** Parameter and state layouts (names, shapes, initialisers), in the model's order. */
  readonly specs: ParamSpec[];
  /** Trainable parameters by PyTorch state_dict name. */
  readonly params = new Map<string, Arr>();
  /** Non-trainable state (BN running statistics) by state_dict name. */
  readonly state = new Map<string, Arr>();
  /** The engine `Network.create` placed the network on (absent for the explicit constructor). */
  engine?: Engine;
  /** Whether close() closes the engine (one `Network.create` created). */
  private ownsEngine = false;
  private readonly trainPlans = new Map<string, TrainPlan>();
  private readonly evalPlans = new Map<string, EvalPlan>();
  private readonly statsPlans = new Map<string, EvalPlan>();
  /** Storage of the folded graphs' derived tensors (shared by every input shape). */
  private readonly derived = new Map<string, { d: Derivation; a: Arr }>();
  /** What the fusion passes did to the last training graph built (for `bnff explain`). */
  lastReport?: FusionReport;

  /**
   * The network on the fast engine (auto: native, else WebAssembly) with the fused training
   * graph, as `bnff train` runs it; `o` asks for anything else.
   */
  static async create(def: ModelDef, o: NetworkOptions = {}): Promise<Network> {
    const given = typeof o.engine === 'object' ? o.engine : undefined;
    const engine = given ?? (await defaultEngine({ kind: o.engine as EngineChoice | undefined, threads: o.threads }));
    try {
      const net = new Network(def, engine.memory, o.seed ?? 0, engine.lowering, o.fusion ?? { ...ALL_FUSION, ...fusionCosts(engine.kind) });
      net.engine = engine;
      net.ownsEngine = given === undefined;
      return net;
    } catch (e) {
      if (given === undefined) engine.close();
      throw e;
    }
  }

  /**
   * @param memory where parameters, state and activations live (an engine's arena, or a
   *   HostMemory for the reference kernels)
   * @param seed seed of the parameter initialisation
   * @param lowering the fast kernels (an engine's lowering); absent: the reference kernels
   * @param fusion BN fission and fusion passes applied to the training step (default: none,
   *   the unfused baseline)
   */
  constructor(
    /** The model it instantiates. */
    readonly def: ModelDef,
    /** Where its tensors live. */
    readonly memory: Memory,
    seed = 0,
    /** The fast kernels its plans run; absent: the reference kernels. */
    readonly lowering?: Lowering,
    /** The fusion passes of its training step. */
    readonly fusion: FusionOptions = NO_FUSION,
  ) {
    this.specs = paramSpecs(def);
    const rng = new Rng(seed);
    for (const s of this.specs) {
      const a = memory.alloc(numel(s.shape));
      initialise(a, s, rng);
      (s.kind === 'param' ? this.params : this.state).set(s.name, a);
    }
  }

  /** The backend of the engine's kernels, for `SGD` (absent on the reference kernels). */
  get backend(): Backend | undefined {
    return this.engine?.backend;
  }

  /** Closes the engine `Network.create` created (its worker threads); a given engine stays open. */
  close(): void {
    if (this.ownsEngine) this.engine?.close();
    this.ownsEngine = false;
  }

  /** Number of trainable parameter values. */
  get paramCount(): number {
    let n = 0;
    for (const a of this.params.values()) n += a.length;
    return n;
  }

  private bind = (name: string, kind: string): Arr | undefined => (kind === 'param' ? this.params.get(name) : this.state.get(name));

  private checkInput(shape: Shape): void {
    if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1) || shape[1] !== this.def.inChannels) {
      throw new ShapeError(
        `model ${this.def.name} expects input [N, ${this.def.inChannels}, H, W] of positive integers, got ${Array.isArray(shape) ? shapeStr(shape) : String(shape)}`,
      );
    }
  }

  /**
   * The arguments of a step or a prediction, checked before anything runs: x a numeric array of
   * exactly N*C*H*W elements, labels (when given) N integers in [0, numClasses). A shorter array
   * would otherwise leave the previous call's values in place.
   */
  private checkBatch(what: string, x: ArrayLike<number>, shape: Shape, labels?: ArrayLike<number>): void {
    this.checkInput(shape);
    const want = numel(shape);
    if (!isNumeric(x)) throw new TypeError(`${this.def.name}.${what}: x must be a Float32Array, Float64Array or number array, got ${describe(x)}`);
    if (x.length !== want) throw new ShapeError(`${this.def.name}.${what}: x holds ${x.length} values but shape ${shapeStr(shape)} needs ${want}`);
    if (labels === undefined) return;
    if (!isNumeric(labels)) throw new TypeError(`${this.def.name}.${what}: labels must be a typed or number array of class indices, got ${describe(labels)}`);
    if (labels.length !== shape[0])
      throw new ShapeError(
        `${this.def.name}.${what}: ${labels.length} labels for a batch of ${shape[0]} (shape ${shapeStr(shape)}): one label per image expected`,
      );
    const K = this.def.numClasses;
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i]!;
      if (!Number.isInteger(l) || l < 0 || l >= K)
        throw new LabelError(`${this.def.name}.${what}: label ${l} at batch position ${i} is out of range [0, ${K})`);
    }
  }

  /** Forward graph in training mode, plus loss and backward; outputs "loss", "logits", "grad:<param>". */
  buildTrainGraph(
    shape: Shape,
    fusion: FusionOptions = this.fusion,
  ): {
    /** The graph, fused as asked. */
    graph: Graph;
    /** Value id of the images input. */
    x: number;
    /** Value id of the labels input. */
    labels: number;
    /** Gradient value id by parameter name. */
    grads: Map<string, number>;
  } {
    this.checkInput(shape);
    const b = new Builder({ training: true });
    const x = b.input('x', shape);
    const labels = b.input('labels', [shape[0]!]);
    const logits = this.def.build(b, x);
    const loss = b.crossEntropy('loss', logits, labels);
    const g = b.g;
    g.outputs.set('logits', logits);
    g.outputs.set('loss', loss);
    const seed = g.addValue('loss.grad_seed', [1], 'const', 1).id;
    const paramIds = g.values.filter((v) => v.kind === 'param').map((v) => v.id);
    const { grads } = appendBackward(g, new Map([[loss, seed]]), paramIds);
    const byName = new Map<string, number>();
    for (const [p, d] of grads) {
      const name = g.value(p).name;
      g.outputs.set(`grad:${name}`, d);
      byName.set(name, d);
    }
    const fused = applyFusion(pruneDead(g), fusion, FAST_KERNELS);
    this.lastReport = fused.report;
    return { graph: fused.graph, x, labels, grads: byName };
  }

  /**
   * The largest batch whose training step fits the arena (the 4 GiB wasm32 heap, or the native
   * engine's) next to what is already allocated (parameters, optimizer state, other plans), from
   * the planned workspace per image.
   */
  maxTrainBatch(imageShape: Shape, fusion: FusionOptions = this.fusion, views = this.lowering?.views === true): number {
    const bytes = (n: number): number =>
      planMemory(this.buildTrainGraph([n, ...imageShape], fusion).graph, (k) => k === 'param' || k === 'state', { views }).size * 4;
    const room = (Number.isFinite(this.memory.maxBytes) ? this.memory.maxBytes : MAX_ARENA_BYTES) - this.memory.usedBytes;
    const b1 = bytes(1);
    if (b1 > room) return 0;
    const slope = Math.max(1, bytes(2) - b1);
    // linear in the batch to first order; the planner's packing is not exactly linear, so the
    // estimate is checked by planning it, then moved one image at a time to the boundary
    let n = Math.max(1, Math.floor((room - Math.max(0, b1 - slope)) / slope));
    const b = bytes(n);
    if (b > room) {
      n = Math.max(1, n - Math.ceil((b - room) / slope));
      while (n > 1 && bytes(n) > room) n--;
    }
    while (bytes(n + 1) <= room) n++;
    return n;
  }

  /** The compiled training step for input shape [N, C, H, W], built on first use and kept. */
  trainPlan(shape: Shape): TrainPlan {
    const key = shape.join('x');
    let p = this.trainPlans.get(key);
    if (!p) {
      const { graph, x, labels, grads } = this.buildTrainGraph(shape);
      let exec: Executor;
      try {
        exec = new Executor(graph, this.memory, this.bind, this.lowering);
      } catch (e) {
        if (!(e instanceof HeapOverflowError)) throw e;
        const fits = this.maxTrainBatch(shape.slice(1));
        let hint = '';
        if (!this.fusion.recomputeConcat && graph.nodes.some((n) => n.op === 'concat')) {
          const more = this.maxTrainBatch(shape.slice(1), { ...this.fusion, recomputeConcat: true });
          if (more > fits) hint = ` (${more} with the concatenations recomputed in backward: --recompute-concat)`;
        }
        throw new HeapOverflowError(`${this.def.name} at batch ${shape[0]} (${shapeStr(shape)}): ${e.message}; the largest batch that fits is ${fits}${hint}`);
      }
      p = {
        exec,
        graph,
        xId: x,
        labels: exec.get(labels),
        loss: exec.output('loss'),
        logits: exec.output('logits'),
        grads: new Map([...grads].map(([n, id]) => [n, exec.get(id)])),
      };
      this.trainPlans.set(key, p);
    }
    return p;
  }

  /** The eval-mode forward graph (BatchNorms normalise with their running statistics). */
  buildEvalGraph(shape: Shape): {
    /** The graph. */
    graph: Graph;
    /** Value id of the images input. */
    x: number;
  } {
    this.checkInput(shape);
    const b = new Builder({ training: false });
    const x = b.input('x', shape);
    b.g.outputs.set('logits', this.def.build(b, x));
    return { graph: pruneDead(b.g), x };
  }

  /** The inference graph: the eval graph with its BatchNorms folded (src/passes/fold_bn.ts). */
  buildInferenceGraph(shape: Shape): FoldedGraph {
    return foldBatchNorm(this.buildEvalGraph(shape).graph);
  }

  /**
   * The compiled eval forward for one input shape: BN-folded (the default), or the plain
   * eval-mode graph with fold false (the reference the folding is tested against).
   */
  evalPlan(shape: Shape, fold = true): EvalPlan {
    const key = `${fold ? 'folded' : 'eval'}:${shape.join('x')}`;
    let p = this.evalPlans.get(key);
    if (!p) {
      let graph: Graph;
      let x: number;
      let bind = this.bind;
      if (fold) {
        const f = this.buildInferenceGraph(shape);
        ({ graph, x } = f);
        for (const [name, d] of f.derived) {
          if (!this.derived.has(name)) this.derived.set(name, { d, a: this.memory.alloc(numel(graph.values.find((v) => v.name === name)!.shape)) });
        }
        bind = (name, kind) => this.derived.get(name)?.a ?? this.bind(name, kind);
      } else {
        ({ graph, x } = this.buildEvalGraph(shape));
      }
      const exec = new Executor(graph, this.memory, bind, this.lowering);
      p = { exec, graph, xId: x, logits: exec.output('logits') };
      this.evalPlans.set(key, p);
    }
    return p;
  }

  /**
   * The training-mode forward whose BNs average their batch statistics into the running ones
   * (PyTorch's momentum=None: running = the mean over the batches since num_batches_tracked was
   * 0), for recomputeBnStatistics. Unfused: it has no backward to fuse with.
   */
  private statsPlan(shape: Shape): EvalPlan {
    const key = shape.join('x');
    let p = this.statsPlans.get(key);
    if (!p) {
      this.checkInput(shape);
      const b = new Builder({ training: true });
      const x = b.input('x', shape);
      b.g.outputs.set('logits', this.def.build(b, x));
      for (const n of b.g.nodes) if (n.op === 'batch_norm2d') (n as { attrs: object }).attrs = { ...n.attrs, momentum: null };
      const graph = pruneDead(b.g);
      const exec = new Executor(graph, this.memory, this.bind, this.lowering);
      p = { exec, graph, xId: x, logits: exec.output('logits') };
      this.statsPlans.set(key, p);
    }
    return p;
  }

  /**
   * Sets every BN's running statistics to those of the current weights: the mean, over the
   * images of `batches` (NCHW, each of shape [size, ...imageShape]), of the batch means and of
   * the unbiased batch variances, computed by training-mode forward passes. The running
   * averages that training keeps (momentum 0.1: about the last 10 steps) lag weights that move
   * fast; evaluated with them, a network can score far below what its weights do (precise BN,
   * Wu and Johnson 2021, "Rethinking 'Batch' in BatchNorm"). num_batches_tracked keeps its
   * count of training steps. Returns the number of batches used.
   */
  recomputeBnStatistics(batches: Iterable<{ x: ArrayLike<number>; size: number }>, imageShape: Shape): number {
    const tracked = [...this.state].filter(([name]) => name.endsWith('.num_batches_tracked'));
    const saved = tracked.map(([, a]) => a[0]!);
    for (const [, a] of tracked) a[0] = 0;
    let n = 0;
    try {
      for (const b of batches) {
        const shape = [b.size, ...imageShape];
        this.checkBatch('recomputeBnStatistics', b.x, shape);
        const p = this.statsPlan(shape);
        p.exec.write(p.xId, b.x);
        p.exec.run({ seed: 0, step: n });
        n++;
      }
    } finally {
      tracked.forEach(([, a], i) => (a[0] = saved[i]!));
    }
    return n;
  }

  /** Recomputes the folded tensors from the current parameters and running statistics. */
  private refold(): void {
    const get = (name: string): Arr => this.params.get(name) ?? this.state.get(name)!;
    for (const { d, a } of this.derived.values()) a.set(derivedTensor(d, get));
  }

  /** One forward + backward pass; gradients land in plan.grads. Returns the loss. */
  forwardBackward(x: ArrayLike<number>, labels: ArrayLike<number>, shape: Shape, ctx: RunContext): number {
    this.checkBatch('forwardBackward', x, shape, labels);
    const p = this.trainPlan(shape);
    p.exec.write(p.xId, x);
    p.labels.set(labels);
    p.exec.run(ctx);
    return p.loss[0]!;
  }

  /**
   * Logits [N, numClasses] in eval mode, on the BN-folded graph (folded afresh from the
   * current weights on every call), or on the plain eval graph with `fold: false`.
   */
  predict(x: ArrayLike<number>, shape: Shape, o: { fold?: boolean } = {}): Arr {
    this.checkBatch('predict', x, shape);
    const fold = o.fold ?? true;
    const p = this.evalPlan(shape, fold);
    if (fold) this.refold();
    p.exec.write(p.xId, x);
    p.exec.run({ seed: 0, step: 0 });
    return p.logits;
  }
}
