/**
 * Runs a graph: binds every value to memory (params and state from the network, everything
 * else from a planned workspace), then runs the nodes in order with their kernels.
 */
import { type Graph, type Node, numel, shapeStr } from '../graph/ir.js';
import { getOp } from '../ops/index.js';
import type { Arr, KernelArgs, OpDef, RunContext } from '../ops/op.js';
import { Arena, HeapOverflowError, MAX_ARENA_BYTES, type Memory } from './memory.js';
import { planMemory } from './planner.js';

/** A value that is not finite, with the first node that produced one. */
export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
  constructor(readonly node: Node, readonly valueName: string, readonly index: number, readonly value: number) {
    super(`layer "${node.name}" (${node.op}) produced ${value} in "${valueName}" at element ${index}`);
  }
}

interface Step {
  node: Node;
  def: OpDef;
  args: KernelArgs<unknown>;
}

export interface PlanStats {
  workspaceBytes: number;
  unsharedBytes: number;
}

export class Executor {
  readonly arrays: Arr[];
  readonly stats: PlanStats;
  private readonly steps: Step[];
  private readonly ctx: RunContext = { seed: 0, step: 0 };
  /** Seconds per op type, accumulated while `profile` is on. */
  readonly profile = new Map<string, number>();
  profiling = false;

  /**
   * @param bind arrays for param and state values, by value name
   */
  constructor(readonly graph: Graph, memory: Memory, bind: (name: string, kind: string) => Arr | undefined) {
    const external = (kind: string): boolean => kind === 'param' || kind === 'state';
    const plan = planMemory(graph, external);
    const bytesPer = memory.dtype === 'f64' ? 8 : 4;
    this.stats = { workspaceBytes: plan.size * bytesPer, unsharedBytes: plan.unsharedSize * bytesPer };
    if (memory instanceof Arena && memory.usedBytes + this.stats.workspaceBytes > MAX_ARENA_BYTES) {
      throw new HeapOverflowError(`this step needs ${(this.stats.workspaceBytes / 2 ** 30).toFixed(2)} GiB of workspace, more than the 4 GiB wasm32 heap allows`);
    }
    const workspace = memory.alloc(plan.size);
    this.arrays = graph.values.map((v) => {
      if (external(v.kind)) {
        const a = bind(v.name, v.kind);
        if (!a) throw new Error(`no storage bound for ${v.kind} "${v.name}"`);
        if (a.length !== numel(v.shape)) throw new Error(`storage for "${v.name}" has ${a.length} elements, expected ${shapeStr(v.shape)}`);
        return a;
      }
      const off = plan.offsets[v.id];
      if (off === undefined) return workspace.subarray(0, 0); // never read nor written
      const a = workspace.subarray(off, off + numel(v.shape));
      if (v.kind === 'const') a.fill(v.fill ?? 0);
      return a;
    });
    this.steps = graph.nodes.map((node) => ({
      node,
      def: getOp(node.op),
      args: {
        x: node.inputs.map((i) => this.arrays[i]!),
        y: node.outputs.map((o) => this.arrays[o]!),
        xs: node.inputs.map((i) => graph.value(i).shape),
        ys: node.outputs.map((o) => graph.value(o).shape),
        attrs: node.attrs,
        node,
        ctx: this.ctx,
      },
    }));
  }

  get(valueId: number): Arr {
    return this.arrays[valueId]!;
  }

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
    for (const s of this.steps) {
      const t0 = this.profiling ? performance.now() : 0;
      s.def.run(s.args);
      if (this.profiling) this.profile.set(s.node.op, (this.profile.get(s.node.op) ?? 0) + (performance.now() - t0) / 1000);
      if (opts.checkFinite) {
        s.args.y.forEach((y, j) => {
          for (let i = 0; i < y.length; i++) {
            if (!Number.isFinite(y[i]!)) throw new NonFiniteError(s.node, this.graph.value(s.node.outputs[j]!).name, i, y[i]!);
          }
        });
      }
    }
  }
}
