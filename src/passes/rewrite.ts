/**
 * Tools every pass uses: a writer that rebuilds a graph node by node (value ids are kept, so
 * rewrites can reuse the values they replace), consumer lookup, and the report that
 * `bnff explain` prints (what fired where, and which named guard stopped a rule).
 */
import { emit } from '../graph/emit.js';
import { type Attrs, Graph, type Node, type Shape, type ValueKind } from '../graph/ir.js';

export class GraphWriter {
  readonly g = new Graph();
  private readonly dropped = new Set<number>();
  /** Value substitutions applied to the inputs of every later node and to graph outputs. */
  private readonly subst = new Map<number, number>();

  constructor(readonly src: Graph) {
    for (const v of src.values) this.g.values.push({ ...v, producer: undefined });
    for (const [k, v] of src.outputs) this.g.outputs.set(k, v);
    for (const [k, v] of src.grads) this.g.grads.set(k, v);
  }

  private map(ids: number[]): number[] {
    return ids.map((i) => this.subst.get(i) ?? i);
  }

  keep(n: Node): void {
    if (!this.dropped.has(n.id)) this.g.addNode(n.op, n.name, this.map(n.inputs), n.outputs, n.attrs);
  }

  /** A node writing existing values. */
  node(op: string, name: string, inputs: number[], outputs: number[], attrs: Attrs = {}): void {
    this.g.addNode(op, name, this.map(inputs), outputs, attrs);
  }

  /** A node writing new values (shapes inferred). */
  emit(op: string, name: string, inputs: number[], attrs: Attrs = {}, kind: ValueKind = 'activation'): number[] {
    return emit(this.g, op, name, this.map(inputs), attrs, kind);
  }

  /** From now on, read `to` wherever `from` was read. */
  substitute(from: number, to: number): void {
    this.subst.set(from, to);
    for (const [k, v] of this.g.outputs) if (v === from) this.g.outputs.set(k, to);
  }

  isDropped(n: Node): boolean {
    return this.dropped.has(n.id);
  }

  value(name: string, shape: Shape, kind: ValueKind): number {
    return this.g.addValue(name, shape, kind).id;
  }

  /** Drops a later source node (it was absorbed by an earlier rewrite). */
  drop(n: Node): void {
    this.dropped.add(n.id);
  }
}

/** Rebuilds g, calling edit on every node in order; edit must keep, replace or drop it. */
export function rebuild(g: Graph, edit: (n: Node, w: GraphWriter) => void): Graph {
  const w = new GraphWriter(g);
  for (const n of g.nodes) edit(n, w);
  return w.g;
}

export function consumers(g: Graph): Map<number, Node[]> {
  const m = new Map<number, Node[]>();
  for (const n of g.nodes) {
    for (const i of new Set(n.inputs)) {
      const l = m.get(i);
      if (l) l.push(n);
      else m.set(i, [n]);
    }
  }
  return m;
}

/** The BN layer a BN backward node belongs to, for reports ("l1.bn.backward_data" -> "l1.bn"). */
export function bnLayerOf(n: Node): string {
  return n.name.replace(/\.backward_(data|reduce)$/, '');
}

export function producer(g: Graph, v: number): Node | undefined {
  const p = g.value(v).producer;
  return p === undefined ? undefined : g.node(p);
}

/** What one fusion rule did, or why it did not, at one BN. */
export interface Note {
  /** The BN layer the note is about. */
  layer: string;
  /** The rule ("moments-into-conv", "normalize-into-conv", ...). */
  rule: string;
  /** Whether it fused there. */
  fired: boolean;
  /** For a rule that did not fire: the guard that stopped it. */
  guard?: string;
  /** What was fused into what, or what the guard saw (the lines of `bnff explain`). */
  detail: string;
}

/** What the fusion passes did to a graph, BN by BN: what `bnff explain` prints. */
export class FusionReport {
  /** Every note, in the order the passes wrote them. */
  readonly notes: Note[] = [];
  /** BNs a cost guard keeps whole (fission's cacheResident): no later rule fuses them. */
  readonly whole = new Set<string>();
  /** Notes that `rule` fused at BN `layer`. */
  fired(layer: string, rule: string, detail: string): void {
    this.notes.push({ layer, rule, fired: true, detail });
  }
  /** Notes that `guard` stopped `rule` at BN `layer`. */
  blocked(layer: string, rule: string, guard: string, detail: string): void {
    this.notes.push({ layer, rule, fired: false, guard, detail });
  }
  /** Notes grouped by BN layer, in graph order. */
  byLayer(): Map<string, Note[]> {
    const m = new Map<string, Note[]>();
    for (const n of this.notes) {
      const l = m.get(n.layer);
      if (l) l.push(n);
      else m.set(n.layer, [n]);
    }
    return m;
  }
}

/** A graph pass: one rewrite rule with named guards. */
export interface Pass {
  readonly name: string;
  run(g: Graph, report: FusionReport): Graph;
}
