/**
 * The fused convolution ops carry optional operand groups (src/ops/conv2d_fused.ts). These
 * helpers read a node into named parts and write parts back into an input list, so rules can
 * add a prologue or an epilogue without knowing what other rules already added.
 */
import type { Attrs, Graph, Node, Shape } from '../graph/ir.js';
import { FUSED_GROUP, type FusedConvAttrs, fusedOperands } from '../ops/conv2d_fused.js';
import type { ConvSpec, KernelCapabilities } from './capabilities.js';

export interface ConvParts {
  op: 'conv2d_fused' | 'conv2d_fused_backward_data' | 'conv2d_fused_backward_weight';
  name: string;
  attrs: FusedConvAttrs;
  /** forward: x, w, b?; backward-data: dy, w; backward-weight: dy, x. */
  main: number[];
  /** dbn, xbn, mean, rstd, gamma, dbeta, dgamma */
  dyp?: number[];
  /** forward / backward-weight x prologue: mean, rstd, gamma, beta */
  xp?: number[];
  /** backward-data epilogue: x2, mean2, rstd2, gamma2, beta2 */
  dxe?: number[];
  outputs: number[];
}

const FUSED: Record<string, ConvParts['op']> = {
  conv2d: 'conv2d_fused',
  conv2d_backward_data: 'conv2d_fused_backward_data',
  conv2d_backward_weight: 'conv2d_fused_backward_weight',
  conv2d_fused: 'conv2d_fused',
  conv2d_fused_backward_data: 'conv2d_fused_backward_data',
  conv2d_fused_backward_weight: 'conv2d_fused_backward_weight',
};

export function isConv(n: Node): boolean {
  return n.op in FUSED;
}

export function readConv(n: Node): ConvParts {
  const op = FUSED[n.op];
  if (!op) throw new Error(`node "${n.name}" (${n.op}) is not a convolution`);
  const a = { ...(n.attrs as unknown as FusedConvAttrs) };
  if (n.op === 'conv2d') a.bias = n.inputs.length > 2;
  const o = fusedOperands(op, a);
  const group = (at: number | undefined, len: number): number[] | undefined => (at === undefined ? undefined : n.inputs.slice(at, at + len));
  const p: ConvParts = { op, name: n.name, attrs: a, main: n.inputs.slice(0, o.main), outputs: [...n.outputs] };
  const [dyp, xp, dxe] = [group(o.dyp, FUSED_GROUP.dyp), group(o.xp, FUSED_GROUP.xp), group(o.dxe, FUSED_GROUP.dxe)];
  if (dyp) p.dyp = dyp;
  if (xp) p.xp = xp;
  if (dxe) p.dxe = dxe;
  return p;
}

export function convInputs(p: ConvParts): number[] {
  return [...p.main, ...(p.dyp ?? []), ...(p.xp ?? []), ...(p.dxe ?? [])];
}

export function convAttrs(p: ConvParts): Attrs {
  return p.attrs as unknown as Attrs;
}

/** True for a depthwise convolution (groups = C = K > 1), forward or backward. */
export function isDepthwise(g: Graph, n: Node): boolean {
  const a = n.attrs as { groups?: number; wShape?: Shape };
  const G = a.groups ?? 1;
  const w = a.wShape ?? g.value(n.inputs[1]!).shape;
  return G > 1 && w[1] === 1 && w[0] === G;
}

/** x, w shapes and attributes of a convolution node, forward (its operands) or backward (its attributes). */
export function convSpecOf(g: Graph, n: Node): ConvSpec {
  const a = n.attrs as unknown as FusedConvAttrs;
  return { xShape: a.xShape ?? g.value(n.inputs[0]!).shape, wShape: a.wShape ?? g.value(n.inputs[1]!).shape, attrs: a };
}

/** Guard depthwiseFused, shared by the rules that put BN work into a convolution. */
export const DEPTHWISE_GUARD = 'depthwiseFused';

/** Why no BN work may go into convolution n (guard depthwiseFused), or undefined where it may. */
export type DepthwiseGate = (g: Graph, n: Node) => string | undefined;

/**
 * The depthwiseFused guard: BN work goes into a depthwise convolution where depthwise fusion is
 * on (FusionOptions.depthwiseFusion, the default; off for measurements) and the kernels have
 * fused depthwise kernels for it (KernelCapabilities.convFusedDepthwise); other convolutions
 * always pass.
 */
export function depthwiseGate(on: boolean, caps?: KernelCapabilities): DepthwiseGate {
  return (g, n) => {
    if (!isDepthwise(g, n)) return undefined;
    if (!on) return `"${n.name}" is a depthwise convolution and depthwise fusion is off (FusionOptions.depthwiseFusion)`;
    if (!caps?.convFusedDepthwise(convSpecOf(g, n)))
      return `"${n.name}" is a depthwise convolution, for which the kernels have no fused variant (KernelCapabilities.convFusedDepthwise)`;
    return undefined;
  };
}

/** The cost guard on the activations fused convolutions apply (FusionOptions.fusedActivations). */
export const ACTIVATION_COST_GUARD = 'activationCost';

/** Why activationCost keeps `act` out of the convolutions. */
export function activationCost(act: string): string {
  return `${act} stays in its standalone normalize and derivative passes on this engine (FusionOptions.fusedActivations), which cost less than in the convolutions' kernels`;
}
