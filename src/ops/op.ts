/**
 * The op contract. Each op file holds the forward definition and, directly under it, the
 * backward ops that autodiff emits for it (one place of truth per op).
 *
 * `run` is the plain reference kernel: straight loops, generic over Float32Array and
 * Float64Array. Run on Float64Array it is the float64 reference that tests and gradient
 * checks compare against; run on Float32Array it is the portable engine kernel. Fast
 * kernels (WebAssembly SIMD) are separate implementations of the same signature.
 */
import { ShapeError, type Attrs, type Node, type Shape } from '../graph/ir.js';

/** A tensor's storage: float32 (engines), or float64 (the reference in tests). */
export type Arr = Float32Array | Float64Array;

/** What a run of a graph knows besides its tensors. */
export interface RunContext {
  /** Seed of the run; stochastic ops (dropout) derive their randomness from it. */
  seed: number;
  /** Training step counter, so that each step draws fresh randomness. */
  step: number;
}

/** The arguments of an op's reference kernel: one node's tensors, shapes and attributes. */
export interface KernelArgs<A> {
  /** Input tensors, in the node's input order. */
  x: Arr[];
  /** Output tensors, to be written. */
  y: Arr[];
  /** Input shapes. */
  xs: Shape[];
  /** Output shapes. */
  ys: Shape[];
  /** The node's attributes. */
  attrs: A;
  /** The node (its layer name for messages). */
  node: Node;
  /** Seed and step of the run. */
  ctx: RunContext;
}

/** Emits backward nodes into the graph under construction. */
export interface BackwardBuilder {
  /** Emits a node of `op` and returns its output value ids (kind 'grad'). */
  emit(op: string, name: string, inputs: number[], attrs?: Attrs): number[];
  /** The shape of a value of the graph. */
  shape(valueId: number): Shape;
}

/** An op: its shape rule, its reference kernel, and how to emit its backward. */
export interface OpDef<A = unknown> {
  /** Its name in graphs (snake_case: "conv2d", "batch_norm2d"). */
  readonly type: string;
  /** Output shapes from input shapes; throws ShapeError naming `layer` on mismatch. */
  infer(xs: Shape[], attrs: A, layer: string): Shape[];
  /** The reference kernel: computes the outputs from the inputs with plain loops (NCHW). */
  run(args: KernelArgs<A>): void;
  /**
   * Input index whose memory output 0 takes over (in place). The planner gives output 0 that
   * input's buffer, which must die at this node (no later reader); the reference kernel is
   * written so that it also works on separate buffers.
   */
  readonly inPlace?: number;
  /**
   * True when the reference kernel computes the same thing on NHWC-stored tensors as on NCHW
   * ones: elementwise ops, and ops that treat each sample as one block (stochastic depth). The
   * executor then runs it on the engine's NHWC arrays as they are, without NCHW copies.
   */
  readonly layoutFree?: boolean;
  /** True when the node writes persistent state (BN running statistics): never pruned. */
  mutatesState?(attrs: A): boolean;
  /**
   * Emits the backward nodes of `node` given the gradients of its outputs (undefined where
   * an output has no gradient) and returns one gradient value id per input (undefined where
   * an input is not differentiable). Absent for backward ops and non-differentiable ops.
   */
  backward?(b: BackwardBuilder, node: Node, dy: (number | undefined)[]): (number | undefined)[];
}

/** `infer` of ops whose one output has their first input's shape (elementwise ops and their backward). */
export function sameShape(xs: Shape[]): Shape[] {
  return [xs[0]!];
}

/**
 * `backward` of an elementwise op y = f(x) whose gradient op reads dy and one saved tensor:
 * `op(dy, x)` or `op(dy, y)`, named `<layer>.backward`.
 */
export function elementwiseBackward(op: string, saved: 'x' | 'y'): NonNullable<OpDef['backward']> {
  return (b, node, [dy]) => (dy === undefined ? [] : b.emit(op, `${node.name}.backward`, [dy, saved === 'x' ? node.inputs[0]! : node.outputs[0]!]));
}

/** Checks the rank of input i, naming the layer on failure. */
export function expectRank(xs: Shape[], i: number, rank: number, layer: string, op: string, what: string): void {
  const s = xs[i];
  if (s === undefined || s.length !== rank) {
    throw new ShapeErrorAt(layer, op, `${what} must have rank ${rank}, got ${s === undefined ? 'nothing' : `[${s.join(', ')}]`}`);
  }
}

export class ShapeErrorAt extends ShapeError {
  constructor(layer: string, op: string, msg: string) {
    super(`layer "${layer}" (${op}): ${msg}`);
  }
}

export function pair(v: unknown, name: string, layer: string, op: string): [number, number] {
  const p: unknown[] = Array.isArray(v) ? v : [v, v];
  if (p.length !== 2 || !p.every((e) => Number.isInteger(e) && (e as number) >= 0)) {
    throw new ShapeErrorAt(layer, op, `${name} must be a non-negative integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0] as number, p[1] as number];
}

/** Output size of a sliding window, PyTorch's formula (floor mode). */
export function windowOut(size: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;
}
