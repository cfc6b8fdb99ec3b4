/**
 * The BN fission-and-fusion pipeline, applied to a training step's graph (forward and
 * backward). Each optimisation can be switched on alone (ablation); `none` is the unfused
 * baseline. The passes select layers by graph structure only, never by name.
 */
import { pruneDead } from '../autodiff/backward.js';
import type { Graph } from '../graph/ir.js';
import type { Activation } from '../ops/activation.js';
import { verify } from '../graph/verify.js';
import { actWithReduce } from './act_reduce.js';
import { bnGradIntoConvBackwardWith, reduceIntoConvBackwardWith } from './backward_into_conv.js';
import { concatGradWith } from './concat_grad.js';
import { concatRecompute } from './concat_recompute.js';
import type { KernelCapabilities } from './capabilities.js';
import { depthwiseGate } from './conv_parts.js';
import { concatViewsWith } from './concat_views.js';
import { fissionWith } from './fission.js';
import { momentsIntoConvWith } from './moments_into_conv.js';
import { momentsReuse } from './moments_reuse.js';
import { normalizeIntoConvWith } from './normalize_into_conv.js';
import { residualAddRelu } from './residual.js';
import { FusionReport, type Pass } from './rewrite.js';

/** Which BN fission and fusion passes run on a training step's graph. */
export interface FusionOptions {
  /** Split every training BN into statistics and normalize halves. */
  fission: boolean;
  /** (a) statistics into the producing convolution's epilogue. */
  statsEpilogue: boolean;
  /** (b) normalize+activation into the consuming convolution's input packing. */
  normalizePrologue: boolean;
  /**
   * (c) backward: reductions into backward-data epilogues, BN dx into backward prologues; where a
   * reduction stays a pass, the activation's backward done in it (act_reduce.ts).
   */
  backward: boolean;
  /** (e) a channel's statistics computed once and reused across concatenations. */
  statsReuse: boolean;
  /** (d) ResNet: BN + shortcut + add + ReLU in one elementwise kernel, forward and backward. */
  residual: boolean;
  /**
   * (e) DenseNet: the gradients of a block's concatenations accumulated in place in one buffer
   * by the BN backwards (no slices, no sums). Concatenation in forward still copies.
   */
  concatGrad: boolean;
  /**
   * With concatGrad and backward: each BN's dx split, A*dy added into the gradient buffer by the
   * epilogue of the convolution backward-data that computed dy, B*x + C0 summed per channel and
   * applied when a part's gradient is sliced out (src/passes/concat_grad.ts, epilogue rule),
   * instead of a BN dx pass over dy, x and the buffer per BN. On in ALL_FUSION.
   */
  concatGradEpilogue?: boolean;
  /**
   * (e) DenseNet: a block's concatenations are views of one buffer, each copying only its new
   * channels (src/passes/concat_views.ts); needs readers that read views (the fused 1x1
   * convolutions and the in-place BN backward of the two options above). Not with
   * recomputeConcat (which copies them again in backward).
   */
  concatViews?: boolean;
  /**
   * With concatViews: the fraction of the block buffer's channels from which a concatenation is
   * a view (guard denseView; default 0.5, concat_views.ts VIEW_MIN_FRACTION; 0: all of them).
   */
  concatViewMinFraction?: number;
  /**
   * With normalizePrologue: write the normalized input once in forward and let the convolution
   * and its backward-weights read it (store), instead of recomputing it from x and the statistics
   * in both (the default, recompute). See docs/design/2026-11-26-bn-fusion.md.
   */
  storeNormalized?: boolean;
  /**
   * Memory (DenseNet): concatenations are not kept for backward but concatenated again there
   * (src/passes/concat_recompute.ts): saved activations grow with a block's depth L instead of
   * L^2, for one more copy per concatenation. Off by default.
   */
  recomputeConcat?: boolean;
  /**
   * Cost guard cacheResident: a BN of at most 64 channels whose input tensor is at most this many
   * bytes is not split,
   * so nothing is fused into its neighbours (default 0: every BN). The CLI sets it per engine
   * (src/runtime/engine.ts fusionCosts): on the native engine, tensors that stay in cache make
   * the standalone passes cheaper than the work fused kernels add.
   */
  minFissionBytes?: number;
  /**
   * BN work into depthwise convolutions as into the others (default on: undefined or true), where
   * the kernels have fused depthwise kernels (KernelCapabilities.convFusedDepthwise; guard
   * depthwiseFused otherwise). false keeps every depthwise convolution plain, for measurements:
   * the ablation 'depthwise-unfused'.
   */
  depthwiseFusion?: boolean;
  /**
   * Cost guard activationCost: the activations after a BN that a fused convolution may apply in
   * its prologue and differentiate in its dx epilogue (default: every one its kernels can,
   * guard activationInConv). The CLI sets it per engine (src/runtime/engine_factory.ts
   * fusionCosts): the native engine keeps SiLU and hardswish in the standalone passes.
   */
  fusedActivations?: readonly Activation[];
}

/** No pass: the unfused baseline, every BN a node of its own. */
export const NO_FUSION: FusionOptions = {
  fission: false,
  statsEpilogue: false,
  normalizePrologue: false,
  backward: false,
  statsReuse: false,
  residual: false,
  concatGrad: false,
};
/** Every pass (views of concatenations included; no cost guard): the paper's full restructuring. */
export const ALL_FUSION: FusionOptions = {
  fission: true,
  statsEpilogue: true,
  normalizePrologue: true,
  backward: true,
  statsReuse: true,
  residual: true,
  concatGrad: true,
  concatGradEpilogue: true,
  concatViews: true,
};

/** The ablation settings: each optimisation alone (on top of fission, which they all need). */
export const ABLATIONS: Record<string, FusionOptions> = {
  fission: { ...NO_FUSION, fission: true },
  'stats-epilogue': { ...NO_FUSION, fission: true, statsEpilogue: true },
  'normalize-prologue': { ...NO_FUSION, fission: true, normalizePrologue: true },
  'backward-fusion': { ...NO_FUSION, fission: true, normalizePrologue: true, backward: true },
  'stats-reuse': { ...NO_FUSION, fission: true, statsReuse: true, statsEpilogue: true },
  residual: { ...NO_FUSION, fission: true, residual: true },
  'concat-grad': { ...NO_FUSION, fission: true, concatGrad: true },
  /**
   * concatenations as views, with the fusions its readers need (statistics from the producers,
   * prologues, backward, concat-grad): everything but the residual rule, which has nothing to do
   * in a DenseNet
   */
  'concat-views': { ...ALL_FUSION, residual: false },
  /** everything, but the normalized input stored for backward-weights instead of recomputed */
  'store-normalized': { ...ALL_FUSION, storeNormalized: true },
  /** everything, but each BN's dx added whole into the gradient buffer (no epilogue rule) */
  'dx-added-whole': { ...ALL_FUSION, concatGradEpilogue: false },
  /** everything, with the native engine's cost guard (thin BNs on tensors of at most 4 MiB stay whole) */
  'cache-guard': { ...ALL_FUSION, minFissionBytes: 4 << 20 },
  /** everything but BN work in depthwise convolutions (their statistics, normalize and BN dx as passes of their own) */
  'depthwise-unfused': { ...ALL_FUSION, depthwiseFusion: false },
  /** everything in forward (statistics epilogues, normalize prologues); backward as passes */
  'forward-only': { ...ALL_FUSION, backward: false },
  /** everything, and concatenations concatenated again in backward instead of kept as views */
  'recompute-concat': { ...ALL_FUSION, concatViews: false, recomputeConcat: true },
};

/** Whether any pass is on. */
export function isFused(o: FusionOptions): boolean {
  return Object.values(o).some(Boolean);
}

/**
 * Runs the passes `o` switches on, in their order, over a training graph; `caps` answers what
 * the kernels that will run it can do, and notes go to `report`. With `verify` (default: the
 * environment variable BNFF_VERIFY=1, which `npm test` sets) the graph's invariants are
 * checked before the first pass and after each (src/graph/verify.ts), naming the pass that
 * broke one.
 */
export function applyFusion(
  g: Graph,
  o: FusionOptions,
  caps: KernelCapabilities,
  report = new FusionReport(),
  check = typeof process !== 'undefined' && process.env?.BNFF_VERIFY === '1',
): {
  /** The rewritten graph. */
  graph: Graph;
  /** What each rule did at each BN. */
  report: FusionReport;
} {
  if (!isFused(o)) {
    if (check) verify(g, 'the graph before fusion');
    return { graph: g, report };
  }
  const passes: Pass[] = o.fission ? [fissionWith(o.minFissionBytes ?? 0)] : [];
  if (o.statsReuse) passes.push(momentsReuse);
  const dw = depthwiseGate(o.depthwiseFusion !== false, caps);
  if (o.statsEpilogue) passes.push(momentsIntoConvWith(dw));
  if (o.normalizePrologue) passes.push(normalizeIntoConvWith(o.storeNormalized === true, dw, caps, o.fusedActivations));
  if (o.residual) passes.push(residualAddRelu);
  if (o.backward) passes.push(reduceIntoConvBackwardWith(caps, dw, o.fusedActivations), actWithReduce, bnGradIntoConvBackwardWith(dw));
  if (o.concatGrad) passes.push(concatGradWith(o.concatGradEpilogue === true, caps));
  if (o.recomputeConcat) passes.push(concatRecompute);
  else if (o.concatViews) passes.push(concatViewsWith(caps, o.concatViewMinFraction));
  return { graph: runPasses(g, passes, report, check), report };
}

/**
 * Runs `passes` in order, pruning what each leaves dead; with `check`, verifies the graph before
 * the first and after each, and a GraphError names the pass that broke it.
 */
export function runPasses(g: Graph, passes: readonly Pass[], report: FusionReport, check: boolean): Graph {
  if (check) verify(g, 'the graph before fusion');
  let graph = g;
  for (const p of passes) {
    graph = pruneDead(p.run(graph, report));
    if (check) verify(graph, `after pass ${p.name}`);
  }
  return graph;
}

export { FusionReport } from './rewrite.js';
