/**
 * Runs a graph: binds every value to memory (params and state from the network, everything
 * else from a planned workspace), then runs the nodes in order.
 *
 * Two ways to run a node:
 * - reference: the op's plain kernel on NCHW typed arrays (float64 in tests, float32 engine);
 * - lowered: a Lowering (the WebAssembly engine) turns the node into a call of fast kernels.
 *   Lowered graphs keep every 4-D activation and gradient in NHWC; nodes the lowering does
 *   not handle fall back to the reference kernel through NCHW copies, so a missing fast
 *   kernel costs speed, never correctness.
 */
import { type Graph, type Node, type Value, numel, shapeStr } from '../graph/ir.js';
import { nchwToNhwc, nhwcToNchw } from '../kernels/eltwise_scalar.js';
import { getOp } from '../ops/index.js';
import type { Arr, KernelArgs, RunContext } from '../ops/op.js';
import { HeapOverflowError, MAX_ARENA_BYTES, type Memory } from './memory.js';
import { planMemory, viewOf } from './planner.js';

/** A value that is not finite, with the first node that produced one. */
export class NonFiniteError extends Error {
  /** 'NonFiniteError', the name error messages and stack traces show. */
  override name = 'NonFiniteError';
  constructor(
    /** The first node whose output is not finite. */
    readonly node: Node,
    /** The name of that output. */
    readonly valueName: string,
    /** The index of the first non-finite element in it. */
    readonly index: number,
    /** That element (NaN or an infinity). */
    readonly value: number,
  ) {
    super(`layer "${node.name}" (${node.op}) produced ${value} in "${valueName}" at element ${index}`);
  }
}

/** The memory a plan takes. */
export interface PlanStats {
  /** Bytes of the workspace that holds every computed value, storage shared where lifetimes allow. */
  workspaceBytes: number;
  /** Bytes those values would take without sharing. */
  unsharedBytes: number;
}

/** What a lowering sees of the plan. */
export interface LoweringContext {
  /** The graph being run. */
  graph: Graph;
  /** The storage of every value, by id. */
  arrays: Arr[];
  /** True when value id is stored NHWC. */
  nhwc: (id: number) => boolean;
  /**
   * Floats between the pixels of value id: its channels C, or more for a view of the leading
   * channels of a wider buffer (a concatenation planned as a view, passes/concat_views.ts).
   */
  stride: (id: number) => number;
  /** Seed and step of the current run (updated before every run). */
  ctx: RunContext;
}

/** Turns graph nodes into calls of fast kernels: what an engine adds to the reference path. */
export interface Lowering {
  /** Its name in logs. */
  readonly name: string;
  /** Plans the concatenations marked as views as views (every reader of one must read it strided). */
  readonly views?: boolean;
  /** A closure running `node` with fast kernels, or undefined to use the reference kernel. */
  lower(node: Node, lc: LoweringContext): (() => void) | undefined;
}

/**
 * Under a lowering, 4-D activations and their gradients are NHWC; parameters, state and the
 * gradients of parameters keep their PyTorch layout (OIHW).
 */
function nhwcValues(g: Graph): boolean[] {
  const weightLike = g.values.map((v) => v.kind === 'param' || v.kind === 'state');
  for (const n of g.nodes) {
    const w = n.op === 'conv2d_backward_weight' || n.op === 'conv2d_fused_backward_weight' || (n.op === 'add' && weightLike[n.inputs[0]!] === true);
    if (w) for (const o of n.outputs) weightLike[o] = true;
  }
  return g.values.map((v: Value) => v.shape.length === 4 && !weightLike[v.id]);
}

/** N, H, W, C of a tensor of logical (NCHW) shape [N, C, H, W]. */
const nhwc = (s: readonly number[]): [number, number, number, number] => [s[0]!, s[2]!, s[3]!, s[1]!];

interface Step {
  node: Node;
  run: () => void;
  outputs: Arr[];
}

/**
 * A graph compiled for one set of shapes: every value bound to storage, every node to a kernel
 * (fast where the lowering takes it, the op's reference kernel otherwise).
 */
export class Executor {
  /** The storage of every value, by id (4-D activations NHWC under a lowering). */
  readonly arrays: Arr[];
  /** The memory its workspace takes. */
  readonly stats: PlanStats;
  private readonly steps: Step[];
  private readonly ctx: RunContext = { seed: 0, step: 0 };
  private readonly nhwcIds: boolean[];
  /** Constants are refilled before each run: another plan may have used the shared workspace. */
  private readonly consts: number[];
  /** Seconds per op type, accumulated while `profiling` is on. */
  readonly profile = new Map<string, number>();
  /** Seconds per node (by layer name and op), accumulated while `profiling` is on. */
  readonly nodeProfile = new Map<string, number>();
  /** Time every node into `profile` and `nodeProfile` (slower). */
  profiling = false;
  /** Nodes run by fast kernels, and by the reference fallback. */
  readonly lowered: number;
  /** The nodes the lowering declined (run by their op's reference kernel), as "layer (op)". */
  readonly fallbacks: readonly string[];

  /**
   * @param bind arrays for param and state values, by value name
   */
  constructor(
    /** The graph it runs. */
    readonly graph: Graph,
    memory: Memory,
    bind: (name: string, kind: string) => Arr | undefined,
    lowering?: Lowering,
  ) {
    const external = (kind: string): boolean => kind === 'param' || kind === 'state';
    const views = lowering?.views === true;
    const plan = planMemory(graph, external, { views });
    // pixel strides of views: the channels of their buffer
    const strides = graph.values.map((v) => v.shape[1] ?? 1);
    const view = graph.values.map(() => false);
    if (views) {
      for (const n of graph.nodes) {
        const vw = viewOf(n);
        if (vw && n.outputs[0] !== vw.buffer) {
          strides[n.outputs[0]!] = graph.value(vw.buffer).shape[1]!;
          view[n.outputs[0]!] = true;
        }
        // parts written into the buffer by their producers
        for (const j of vw?.inPlace ?? []) {
          strides[n.inputs[j]!] = graph.value(vw!.buffer).shape[1]!;
          view[n.inputs[j]!] = true;
        }
      }
    }
    const bytesPer = memory.dtype === 'f64' ? 8 : 4;
    this.stats = { workspaceBytes: plan.size * bytesPer, unsharedBytes: plan.unsharedSize * bytesPer };
    if (memory.dtype === 'f32' && this.stats.workspaceBytes > memory.maxBytes) {
      const heap =
        memory.maxBytes === MAX_ARENA_BYTES ? 'the 4 GiB wasm32 heap holds' : `the native arena holds (${(memory.maxBytes / 2 ** 30).toFixed(1)} GiB)`;
      throw new HeapOverflowError(`this step needs ${(this.stats.workspaceBytes / 2 ** 30).toFixed(2)} GiB of workspace, more than ${heap}`);
    }
    // Plans share one workspace: they run one at a time and their outputs are read in between.
    const workspace = memory.workspace(plan.size);
    this.nhwcIds = lowering ? nhwcValues(graph) : graph.values.map(() => false);
    this.consts = graph.values.filter((v) => v.kind === 'const' && plan.offsets[v.id] !== undefined).map((v) => v.id);
    this.arrays = graph.values.map((v) => {
      if (external(v.kind)) {
        const a = bind(v.name, v.kind);
        if (!a) throw new Error(`no storage bound for ${v.kind} "${v.name}"`);
        if (a.length !== numel(v.shape)) throw new Error(`storage for "${v.name}" has ${a.length} elements, expected ${shapeStr(v.shape)}`);
        return a;
      }
      const off = plan.offsets[v.id];
      if (off === undefined) return workspace.at(0, 0); // never read nor written
      const a = workspace.at(off, numel(v.shape));
      if (v.kind === 'const') a.fill(v.fill ?? 0);
      return a;
    });
    const lc: LoweringContext = { graph, arrays: this.arrays, nhwc: (id) => this.nhwcIds[id]!, stride: (id) => strides[id]!, ctx: this.ctx };
    let lowered = 0;
    const fallbacks: string[] = [];
    this.steps = graph.nodes.map((node) => {
      const fast = lowering?.lower(node, lc);
      if (fast) lowered++;
      else fallbacks.push(`${node.name} (${node.op})`);
      const strided = node.inputs.find((id) => view[id]);
      if (views && !fast && (strided !== undefined || viewOf(node))) {
        throw new Error(
          `layer "${node.name}" (${node.op}) reads "${graph.value(strided ?? node.outputs[0]!).name}" as a view of a concatenation buffer, but has no kernel that does`,
        );
      }
      const into = node.outputs.find((id) => view[id]);
      if (views && !fast && into !== undefined) {
        throw new Error(`layer "${node.name}" (${node.op}) writes "${graph.value(into).name}" into a concatenation buffer, but has no kernel that does`);
      }
      // a view's array is not its data (channels of other pixels): checkFinite looks at the buffer
      return { node, run: fast ?? this.referenceStep(node), outputs: node.outputs.filter((o) => !view[o]).map((o) => this.arrays[o]!) };
    });
    this.lowered = lowered;
    this.fallbacks = fallbacks;
  }

  /** The reference kernel, through NCHW copies for values stored NHWC. */
  private referenceStep(node: Node): () => void {
    const g = this.graph;
    const def = getOp(node.op);
    const conv = (id: number): boolean => this.nhwcIds[id]!;
    const temp = (id: number): Arr => (conv(id) ? new Float32Array(numel(g.value(id).shape)) : this.arrays[id]!);
    const args: KernelArgs<unknown> = {
      x: node.inputs.map(temp),
      y: node.outputs.map(temp),
      xs: node.inputs.map((i) => g.value(i).shape),
      ys: node.outputs.map((o) => g.value(o).shape),
      attrs: node.attrs,
      node,
      ctx: this.ctx,
    };
    if (!node.inputs.some(conv) && !node.outputs.some(conv)) return () => def.run(args);
    // an op that does not care about the layout runs on NHWC arrays as they are, provided every
    // 4-D operand is NHWC (an operand of another rank has a single layout)
    const operands = [...node.inputs, ...node.outputs];
    if (def.layoutFree && operands.every((id) => conv(id) || g.value(id).shape.length !== 4)) {
      const direct = { ...args, x: node.inputs.map((id) => this.arrays[id]!), y: node.outputs.map((id) => this.arrays[id]!) };
      return () => def.run(direct);
    }
    return () => {
      node.inputs.forEach((id, i) => {
        if (conv(id)) nhwcToNchw(this.arrays[id]!, args.x[i]!, ...nhwc(g.value(id).shape));
      });
      def.run(args);
      node.outputs.forEach((id, i) => {
        if (conv(id)) nchwToNhwc(args.y[i]!, this.arrays[id]!, ...nhwc(g.value(id).shape));
      });
    };
  }

  /** The storage of a value, in its stored layout. */
  get(valueId: number): Arr {
    return this.arrays[valueId]!;
  }

  /** Writes an NCHW tensor into value id, converting to its stored layout. */
  write(valueId: number, data: ArrayLike<number>): void {
    const a = this.arrays[valueId]!;
    if (data.length !== a.length) throw new Error(`"${this.graph.value(valueId).name}" holds ${a.length} elements, got ${data.length}`);
    if (this.nhwcIds[valueId]) nchwToNhwc(data, a, ...nhwc(this.graph.value(valueId).shape));
    else a.set(data);
  }

  /** Reads value id as an NCHW array (a copy when it is stored NHWC). */
  read(valueId: number): Arr {
    const a = this.arrays[valueId]!;
    if (!this.nhwcIds[valueId]) return a;
    const out = new Float32Array(a.length);
    nhwcToNchw(a, out, ...nhwc(this.graph.value(valueId).shape));
    return out;
  }

  /** The storage of a named graph output ("loss", "logits"). */
  output(name: string): Arr {
    const id = this.graph.outputs.get(name);
    if (id === undefined) throw new Error(`graph has no output "${name}"`);
    return this.arrays[id]!;
  }

  /**
   * Runs every node once. With checkFinite, stops at the first node whose output is not
   * finite (slower; used to diagnose a non-finite loss).
   */
  run(ctx: RunContext, opts: { checkFinite?: boolean } = {}): void {
    this.ctx.seed = ctx.seed;
    this.ctx.step = ctx.step;
    for (const id of this.consts) this.arrays[id]!.fill(this.graph.value(id).fill ?? 0);
    for (const s of this.steps) {
      const t0 = this.profiling ? performance.now() : 0;
      try {
        s.run();
      } catch (e) {
        // Name the layer: a failure deep in a kernel or on a worker thread must say where it happened.
        if (e instanceof Error && !e.message.startsWith('layer "')) e.message = `layer "${s.node.name}" (${s.node.op}): ${e.message}`;
        throw e;
      }
      if (this.profiling) {
        const dt = (performance.now() - t0) / 1000;
        this.profile.set(s.node.op, (this.profile.get(s.node.op) ?? 0) + dt);
        const key = `${s.node.name} (${s.node.op})`;
        this.nodeProfile.set(key, (this.nodeProfile.get(key) ?? 0) + dt);
      }
      if (opts.checkFinite) {
        s.outputs.forEach((y, j) => {
          for (let i = 0; i < y.length; i++) {
            if (!Number.isFinite(y[i]!)) throw new NonFiniteError(s.node, this.graph.value(s.node.outputs[j]!).name, i, y[i]!);
          }
        });
      }
    }
  }
}
