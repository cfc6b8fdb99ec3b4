/**
 * BatchNorm folding for inference: the eval-mode graph rewritten so that every batch_norm2d
 * that directly follows a convolution disappears into that convolution's weight and bias,
 *
 *   s = gamma / sqrt(running_var + eps)
 *   w'[k, ...] = w[k, ...] * s[k]
 *   b'[k] = beta[k] + (b[k] - running_mean[k]) * s[k]        (b = 0 for a conv without bias)
 *
 * and every other BN (DenseNet's pre-activation BNs read a concatenation, not a convolution)
 * becomes a channel_affine op: y = s*x + (beta - running_mean*s).
 *
 * This file is the one place of truth for that math: bnff's own inference (Network.predict)
 * and the ONNX exporter both take the folded graph and the tensors `derivedTensor` computes.
 * The folded graph names its new tensors after the layers they belong to: a folded conv's
 * weight and bias keep the conv's names ("layer1.0.conv1.weight", "layer1.0.conv1.bias"), an
 * affine's are "<bn>.scale" and "<bn>.shift"; every other parameter keeps its own name.
 */
import { emit } from '../graph/emit.js';
import { Graph, type Node } from '../graph/ir.js';
import type { BatchNormAttrs } from '../ops/batch_norm2d.js';
import { consumers } from './rewrite.js';

/** The BN a derived tensor is computed from, by parameter and buffer names. */
export interface BnSource {
  /** The BN layer's name. */
  layer: string;
  /** Name of its weight (gamma). */
  gamma: string;
  /** Name of its bias (beta). */
  beta: string;
  /** Name of its running mean. */
  mean: string;
  /** Name of its running variance. */
  variance: string;
  /** Its eps. */
  eps: number;
}

/** How a tensor of the folded graph is computed from the network's parameters and buffers. */
export type Derivation =
  | {
      /** w'[k, ...] = w[k, ...] * s[k]: a convolution's weight with the BN folded in. */
      kind: 'folded_weight';
      /** Name of the convolution's weight. */
      weight: string;
      /** The BN folded in. */
      bn: BnSource;
    }
  | {
      /** b'[k] = beta[k] + (b[k] - mean[k]) * s[k]: the folded convolution's bias. */
      kind: 'folded_bias';
      /** Name of the convolution's own bias (absent: b = 0). */
      bias?: string;
      /** The BN folded in. */
      bn: BnSource;
    }
  | {
      /** s = gamma / sqrt(var + eps) of a BN kept as channel_affine. */
      kind: 'scale';
      /** That BN. */
      bn: BnSource;
    }
  | {
      /** beta - mean * s of a BN kept as channel_affine. */
      kind: 'shift';
      /** That BN. */
      bn: BnSource;
    };

/** The eval graph with its BNs folded, and how to compute the tensors it adds. */
export interface FoldedGraph {
  /** The folded inference graph. */
  graph: Graph;
  /** The image input's value id. */
  x: number;
  /** Tensors of the folded graph that are not parameters of the network, by name. */
  derived: Map<string, Derivation>;
  /** BN layers folded into a convolution, and those kept as channel_affine. */
  folded: string[];
  /** BN layers kept as channel_affine (their input is not a convolution's output). */
  affine: string[];
}

/** Per-channel s = gamma / sqrt(var + eps) and t = beta - mean * s (float64). */
export function bnScaleShift(
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  eps: number,
): {
  /** s per channel. */
  scale: Float64Array;
  /** t per channel. */
  shift: Float64Array;
} {
  const C = gamma.length;
  const scale = new Float64Array(C);
  const shift = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    scale[c] = gamma[c]! / Math.sqrt(variance[c]! + eps);
    shift[c] = beta[c]! - mean[c]! * scale[c]!;
  }
  return { scale, shift };
}

/** Computes a derived tensor (float64) from the network's tensors, looked up by name. */
export function derivedTensor(d: Derivation, get: (name: string) => ArrayLike<number>): Float64Array {
  const bn = d.bn;
  const mean = get(bn.mean);
  const { scale, shift } = bnScaleShift(get(bn.gamma), get(bn.beta), mean, get(bn.variance), bn.eps);
  switch (d.kind) {
    case 'scale':
      return scale;
    case 'shift':
      return shift;
    case 'folded_weight': {
      const w = get(d.weight);
      const K = scale.length;
      const per = w.length / K;
      const out = new Float64Array(w.length);
      for (let k = 0; k < K; k++) for (let i = 0; i < per; i++) out[k * per + i] = w[k * per + i]! * scale[k]!;
      return out;
    }
    case 'folded_bias': {
      const b = d.bias === undefined ? undefined : get(d.bias);
      const beta = get(bn.beta);
      return Float64Array.from(scale, (s, k) => beta[k]! + ((b ? b[k]! : 0) - mean[k]!) * s);
    }
  }
}

function bnSource(bn: Node, g: Graph): BnSource {
  const [, gamma, beta, mean, variance] = bn.inputs.map((i) => g.value(i).name) as [string, string, string, string, string];
  return { layer: bn.name, gamma, beta, mean, variance, eps: (bn.attrs as BatchNormAttrs).eps ?? 1e-5 };
}

/**
 * The folded inference graph of an eval-mode forward graph (Network.buildEvalGraph). A BN is
 * folded when it reads a conv2d's output that nothing else reads and whose weight (and bias)
 * no other node reads; the result holds only the values its nodes use.
 */
export function foldBatchNorm(src: Graph): FoldedGraph {
  const uses = consumers(src);
  const useCount = src.useCounts();
  const only = (v: number, n: Node): boolean => useCount[v] === 1 && uses.get(v)?.[0] === n;
  const g = new Graph();
  const map = new Map<number, number>();
  const ref = (id: number): number => {
    let m = map.get(id);
    if (m === undefined) {
      const v = src.value(id);
      m = g.addValue(v.name, v.shape, v.kind, v.fill).id;
      map.set(id, m);
    }
    return m;
  };
  const derived = new Map<string, Derivation>();
  const derive = (name: string, shape: readonly number[], d: Derivation): number => {
    derived.set(name, d);
    return g.addValue(name, shape, 'param').id;
  };
  const folded: string[] = [];
  const affine: string[] = [];
  const absorbed = new Set<Node>();
  const bnOf = (conv: Node): Node | undefined => {
    const y = conv.outputs[0]!;
    const next = uses.get(y)?.[0];
    if (!next || next.op !== 'batch_norm2d' || next.inputs[0] !== y || !only(y, next) || (next.attrs as BatchNormAttrs).training) return undefined;
    if (!conv.inputs.slice(1).every((p) => only(p, conv))) return undefined;
    if (next.outputs.slice(1).some((o) => useCount[o]! > 0)) return undefined;
    return next;
  };

  for (const n of src.nodes) {
    if (absorbed.has(n)) continue;
    const bn = n.op === 'conv2d' ? bnOf(n) : undefined;
    if (bn) {
      const bs = bnSource(bn, src);
      const w = src.value(n.inputs[1]!);
      const K = w.shape[0]!;
      const b = n.inputs[2] === undefined ? undefined : src.value(n.inputs[2]).name;
      const wId = derive(`${n.name}.weight`, w.shape, { kind: 'folded_weight', weight: w.name, bn: bs });
      const bId = derive(`${n.name}.bias`, [K], { kind: 'folded_bias', bias: b, bn: bs });
      const [y] = emit(g, 'conv2d', n.name, [ref(n.inputs[0]!), wId, bId], n.attrs);
      map.set(bn.outputs[0]!, y!);
      absorbed.add(bn);
      folded.push(bn.name);
      continue;
    }
    if (n.op === 'batch_norm2d') {
      if ((n.attrs as BatchNormAttrs).training) throw new Error(`layer "${n.name}" (batch_norm2d): BN folding needs an eval-mode graph`);
      const bs = bnSource(n, src);
      const C = src.value(n.inputs[1]!).shape[0]!;
      const scale = derive(`${n.name}.scale`, [C], { kind: 'scale', bn: bs });
      const shift = derive(`${n.name}.shift`, [C], { kind: 'shift', bn: bs });
      const [y] = emit(g, 'channel_affine', n.name, [ref(n.inputs[0]!), scale, shift]);
      map.set(n.outputs[0]!, y!);
      affine.push(n.name);
      continue;
    }
    const outs = emit(g, n.op, n.name, n.inputs.map(ref), n.attrs);
    n.outputs.forEach((o, i) => map.set(o, outs[i]!));
  }
  for (const [k, v] of src.outputs) g.outputs.set(k, ref(v));
  const x = src.values.find((v) => v.kind === 'input');
  if (!x) throw new Error('BN folding: the graph has no input');
  return { graph: g, x: ref(x.id), derived, folded, affine };
}
