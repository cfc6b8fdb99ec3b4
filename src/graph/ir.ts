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

export type Shape = readonly number[];

/**
 * input: fed each step (images, labels). param: trainable, owned by the model.
 * state: non-trainable persistent buffers (BN running statistics). activation: computed.
 * grad: a computed gradient. const: filled once when the plan is built.
 */
export type ValueKind = 'input' | 'param' | 'state' | 'activation' | 'grad' | 'const';

export interface Value {
  readonly id: number;
  /** Parameters and state use torchvision's state_dict names ("layer1.0.conv1.weight"). */
  readonly name: string;
  readonly shape: Shape;
  readonly kind: ValueKind;
  /** The node that writes this value, if any. */
  producer?: number;
  /** For const values: the fill value. */
  fill?: number;
}

export type Attrs = Record<string, unknown>;

export interface Node {
  readonly id: number;
  readonly op: string;
  /** The layer name shown in errors and dumps ("layer1.0.bn1"). */
  readonly name: string;
  readonly inputs: number[];
  readonly outputs: number[];
  readonly attrs: Attrs;
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export class Graph {
  readonly values: Value[] = [];
  readonly nodes: Node[] = [];
  /** Named graph outputs ("logits", "loss", ...). */
  readonly outputs = new Map<string, number>();
  /**
   * Provenance from autodiff: forward value id -> the value holding its total gradient (the
   * sum of its contributions). Passes that rewrite backward sums read it; value ids survive
   * rewrites, and a pass checks the producer before trusting an entry.
   */
  readonly grads = new Map<number, number>();

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

  value(id: number): Value {
    const v = this.values[id];
    if (v === undefined) throw new Error(`graph has no value ${id}`);
    return v;
  }

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
  override name = 'ShapeError';
}
