/**
 * The graph IR: values (tensors) and nodes (ops), in topological order.
 *
 * Shape letters used throughout bnff: N batch, C input channels, K output channels,
 * H, W input height and width, OH, OW output height and width, KH, KW kernel size.
 * Activations are NCHW and weights OIHW (K, C/groups, KH, KW) at this level.
 *
 * A training step is one Graph: the forward nodes followed by the backward nodes that
 * autodiff appended. Backward work is ordinary nodes, so a pass can rewrite it.
 */

/** A tensor's dimensions, outermost first (NCHW for activations). */
export type Shape = readonly number[];

/**
 * input: fed each step (images, labels). param: trainable, owned by the model.
 * state: non-trainable persistent buffers (BN running statistics). activation: computed.
 * grad: a computed gradient. const: filled once when the plan is built.
 */
export type ValueKind = 'input' | 'param' | 'state' | 'activation' | 'grad' | 'const';

/** A tensor of the graph: an input, a parameter, state, or the output of a node. */
export interface Value {
  /** Its index in Graph.values. */
  readonly id: number;
  /** Parameters and state use torchvision's state_dict names ("layer1.0.conv1.weight"). */
  readonly name: string;
  /** Dimensions. */
  readonly shape: Shape;
  /** What it is and who owns its storage. */
  readonly kind: ValueKind;
  /** The node that writes this value, if any. */
  producer?: number;
  /** For const values: the fill value. */
  fill?: number;
}

/** An op's attributes (stride, padding, ...; each op defines its own). */
export type Attrs = Record<string, unknown>;

/** One op applied to input values, writing output values. */
export interface Node {
  /** Its index in Graph.nodes. */
  readonly id: number;
  /** The op's type ("conv2d", "batch_norm2d", ...), a key of OPS. */
  readonly op: string;
  /** The layer name shown in errors and dumps ("layer1.0.bn1"). */
  readonly name: string;
  /** Value ids read, in the op's order. */
  readonly inputs: number[];
  /** Value ids written. */
  readonly outputs: number[];
  /** The op's attributes. */
  readonly attrs: Attrs;
}

/** Number of elements of a tensor of this shape. */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Values and the nodes that compute them, nodes in topological order. */
export class Graph {
  /** Every value, indexed by id. */
  readonly values: Value[] = [];
  /** Every node, indexed by id, in execution order. */
  readonly nodes: Node[] = [];
  /** Named graph outputs ("logits", "loss", ...). */
  readonly outputs = new Map<string, number>();
  /**
   * Provenance from autodiff: forward value id -> the value holding its total gradient (the
   * sum of its contributions). Passes that rewrite backward sums read it; value ids survive
   * rewrites, and a pass checks the producer before trusting an entry.
   */
  readonly grads = new Map<number, number>();

  /** A new value (no producer yet); `fill` is a const value's content. */
  addValue(name: string, shape: Shape, kind: ValueKind, fill?: number): Value {
    for (const d of shape) {
      if (!Number.isInteger(d) || d <= 0) {
        throw new ShapeError(`value "${name}" has invalid shape ${shapeStr(shape)}: every dimension must be a positive integer`);
      }
    }
    const v: Value = { id: this.values.length, name, shape: [...shape], kind, fill };
    this.values.push(v);
    return v;
  }

  /** The value with this id; throws if there is none. */
  value(id: number): Value {
    const v = this.values[id];
    if (v === undefined) throw new Error(`graph has no value ${id}`);
    return v;
  }

  /** The node with this id; throws if there is none. */
  node(id: number): Node {
    const n = this.nodes[id];
    if (n === undefined) throw new Error(`graph has no node ${id}`);
    return n;
  }

  /** Appends a node whose outputs already exist as values. */
  addNode(op: string, name: string, inputs: number[], outputs: number[], attrs: Attrs = {}): Node {
    const node: Node = { id: this.nodes.length, op, name, inputs: [...inputs], outputs: [...outputs], attrs };
    for (const o of outputs) {
      const v = this.value(o);
      if (v.producer !== undefined) throw new Error(`value "${v.name}" already has a producer`);
      v.producer = node.id;
    }
    this.nodes.push(node);
    return node;
  }

  /** The values of one kind, in id order. */
  valuesOfKind(kind: ValueKind): Value[] {
    return this.values.filter((v) => v.kind === kind);
  }

  /** Number of consumers of each value (graph outputs count as consumers). */
  useCounts(): number[] {
    const uses = new Array<number>(this.values.length).fill(0);
    for (const n of this.nodes) for (const i of n.inputs) uses[i]!++;
    for (const id of this.outputs.values()) uses[id]!++;
    return uses;
  }
}

/** A shape mismatch or invalid attribute, naming the layer and the shapes involved. */
export class ShapeError extends Error {
  /** 'ShapeError', the name error messages and stack traces show. */
  override name = 'ShapeError';
}
