/**
 * Concatenation without copies (DenseNet, the forward half of concat elimination).
 *
 * A dense block concatenates a growing list of tensors: P1 = concat(x0, f1), P2 = concat(x0, f1,
 * f2), ..., PL = concat(x0, ..., fL). Run as written, each concatenation copies every channel
 * of the one before, O(L^2) copies per block, and each P is a buffer of its own that backward
 * keeps. With this rule the block has one buffer, PL's: every Pl is a view of its leading
 * channels (pixel stride C(PL)), and the concatenation Pl only copies its new part fl into its
 * slice of the buffer (P1 copies x0 and f1). The graph keeps its concat nodes (the reference
 * engine still runs them as copies); the rule marks them, and the WebAssembly engine plans and
 * lowers the marked ones as views (src/runtime/planner.ts groups, lower_wasm.ts).
 *
 * Every reader of a view must read it at the buffer's pixel stride, so the rule fires only where
 * all of them can: fused convolutions that normalise it on load (forward and backward-weights x
 * prologue, the backward-data dx epilogue's x2) on paths that read views (1x1 GEMM, Winograd
 * 3x3: src/kernels/conv.ts convStridedInput; also with their dx epilogue accumulating into the
 * gradient buffer), the BN backward that adds into a concatenation-gradient buffer
 * (bn_backward_data_acc) and the gradient slices that apply the affine half of BN dx
 * (slice_channels_affine, concat_grad.ts). The last
 * concatenation, PL, is the buffer itself, so its readers are not restricted.
 *
 * A view's new parts are then copied into the buffer, unless their producer writes them there
 * itself: a fused convolution on the Winograd path writes its output at the buffer's pixel
 * stride (attrs.view.inPlace lists those inputs; the planner places them in the buffer).
 *
 * Guards (reported at the concatenation that fails them; the views are then the members after
 * the last such one, which keeps a buffer of its own):
 *   prefixChain     the concatenations extend one another by one input (concat_grad.ts);
 *   stridedReaders  every reader of a view reads it at a pixel stride (see above);
 *   notAnOutput     no view is an output of the graph;
 *   denseView       a view holds at least minFraction of the buffer's channels (default
 *                   VIEW_MIN_FRACTION, FusionOptions.concatViewMinFraction): a thinner one keeps
 *                   its own dense buffer, since its readers would gather a few channels of every
 *                   pixel at the buffer's stride;
 *   producerWrites  (per part, only deciding copy or not) its producer is a fused convolution
 *                   that writes at a pixel stride and nothing else reads it.
 */
import type { Graph, Node } from '../graph/ir.js';
import { convGeomOf, convStridedInput, convStridedOutput } from '../kernels/conv.js';
import { type FusedConvAttrs, fusedOperands } from '../ops/conv2d_fused.js';
import type { ConcatView } from '../runtime/planner.js';
import { concatChains } from './concat_grad.js';
import { type Pass, consumers, rebuild } from './rewrite.js';

const RULE = 'concat-views';
/**
 * The default of FusionOptions.concatViewMinFraction: a concatenation becomes a view only if it
 * holds at least this fraction of each pixel's channels in the buffer. Its readers (forward,
 * backward-weights, the dx epilogue) gather its channels of every pixel at the buffer's stride,
 * and a thin gather streams slower than a dense copy: measured on the Winograd forward of
 * 52->12 @32 (batch 64, 2 threads, cold), the input read as a view of a buffer of 2x, 3.2x and
 * 5x its channels took +8%, +30% and +40%; densenet40's step with every concatenation a view was
 * no faster than with none (the copies saved, the gathers lost), and 1.5-2% faster with views
 * from half the block's width on.
 */
export const VIEW_MIN_FRACTION = 0.5;

/** Whether the fused convolution `n` reads its input at position `at` at any pixel stride. */
function convReadsStrided(g: Graph, n: Node, at: number): boolean {
  const a = n.attrs as unknown as FusedConvAttrs;
  // the forward node's shapes are its operands'; the backward nodes carry them as attributes
  const xShape = a.xShape ?? (n.op === 'conv2d_fused' ? g.value(n.inputs[0]!).shape : undefined);
  const wShape = a.wShape ?? (n.op === 'conv2d_fused' ? g.value(n.inputs[1]!).shape : undefined);
  if (!xShape || !wShape || !convStridedInput(convGeomOf(xShape, wShape, a))) return false;
  if (n.op === 'conv2d_fused') return at === 0 && a.xPrologue !== undefined;
  if (n.op === 'conv2d_fused_backward_weight') return at === 1 && a.xPrologue !== undefined;
  const dxe = fusedOperands('conv2d_fused_backward_data', a).dxe;
  if (n.op === 'conv2d_fused_backward_data') return dxe !== undefined && at === dxe;
  // the same with the gradient buffer in front (concat_grad.ts)
  if (n.op === 'conv2d_fused_backward_data_acc') return dxe !== undefined && at === 1 + dxe;
  return false;
}

/** The non-convolution readers of views and the input they read them at. */
const VIEW_READERS: Record<string, number> = { bn_backward_data_acc: 2, slice_channels_affine: 1 };

/** Why `reader` cannot read value v as a view, or undefined if it can. */
function whyNot(g: Graph, reader: Node, v: number): string | undefined {
  const at = reader.inputs.map((x, i) => (x === v ? i : -1)).filter((i) => i >= 0);
  const ok = at.every((i) => (reader.op in VIEW_READERS ? i === VIEW_READERS[reader.op] : reader.op.startsWith('conv2d_fused') && convReadsStrided(g, reader, i)));
  return ok ? undefined : `${reader.op} "${reader.name}" reads it as input ${at.join(', ')}, which needs the channels contiguous`;
}

/**
 * Why the new part v of view member m must be copied into the buffer, or undefined when its
 * producer can write it there itself: a fused forward convolution on a path that writes y at a
 * pixel stride (Winograd, convStridedOutput), whose output nothing but m reads.
 */
function whyCopied(g: Graph, v: number, m: Node, views: Node[], uses: Map<number, Node[]>, outputs: Set<number>): string | undefined {
  const p = g.value(v).producer === undefined ? undefined : g.node(g.value(v).producer!);
  if (!p || p.op !== 'conv2d_fused' || p.outputs[0] !== v) return `it comes from ${p ? `${p.op} "${p.name}"` : 'outside the graph'}, which writes only its own buffer`;
  const a = p.attrs as unknown as FusedConvAttrs;
  const geom = convGeomOf(g.value(p.inputs[0]!).shape, g.value(p.inputs[1]!).shape, a);
  if (!convStridedOutput(geom)) return `"${p.name}" (${geom.KH}x${geom.KW}, ${geom.C}->${geom.K}) cannot write at a pixel stride (convStridedOutput)`;
  // the later views hold it already (they copy only their own new part): not readers
  const others = (uses.get(v) ?? []).filter((r) => r !== m && !views.includes(r));
  if (outputs.has(v) || others.length) return `it is also read by ${others.map((r) => `"${r.name}"`).join(', ') || 'the graph outputs'}`;
  return undefined;
}

/** The rule, with views from minFraction of the buffer's channels on (0: every member). */
export const concatViewsWith = (minFraction = VIEW_MIN_FRACTION): Pass => ({
  name: RULE,
  run(g: Graph, report) {
    const uses = consumers(g);
    const outputs = new Set(g.outputs.values());
    const marks = new Map<number, { view: ConcatView }>(); // concat node id -> attrs to add
    for (const c of concatChains(g, report, RULE)) {
      const top = c.members[c.members.length - 1]!;
      // the views: the members after the last one that cannot be a view (which keeps its own
      // buffer; the first view then copies all its parts)
      let first = 0;
      const width = g.value(top.outputs[0]!).shape[1]!;
      c.members.slice(0, -1).forEach((m, i) => {
        const v = m.outputs[0]!;
        const C = g.value(v).shape[1]!;
        if (C < minFraction * width) {
          report.blocked(m.name, RULE, 'denseView', `"${g.value(v).name}" would hold ${C} of each pixel's ${width} channels (under ${minFraction}): its readers stream it faster dense, so it keeps its own buffer`);
          first = i + 1;
          return;
        }
        if (outputs.has(v)) {
          report.blocked(m.name, RULE, 'notAnOutput', `"${g.value(v).name}" is an output of the graph; it keeps its own buffer`);
          first = i + 1;
          return;
        }
        for (const r of uses.get(v) ?? []) {
          const why = whyNot(g, r, v);
          if (why) {
            report.blocked(m.name, RULE, 'stridedReaders', `"${g.value(v).name}": ${why}; it keeps its own buffer and copies`);
            first = i + 1;
            return;
          }
        }
      });
      const views = c.members.slice(first);
      if (views.length < 2) continue; // only the last one: nothing to share
      const buffer = top.outputs[0]!;
      // the new parts whose producers write them straight into their channels of the buffer
      let written = 0;
      views.forEach((m, i) => {
        const from = i === 0 ? 0 : m.inputs.length - 1;
        const inPlace: number[] = [];
        for (let j = from; j < m.inputs.length; j++) {
          const why = whyCopied(g, m.inputs[j]!, m, views, uses, outputs);
          if (why) report.blocked(m.name, RULE, 'producerWrites', `"${g.value(m.inputs[j]!).name}" is copied into the buffer: ${why}`);
          else inPlace.push(j);
        }
        written += inPlace.length;
        marks.set(m.id, { view: { buffer, from, ...(inPlace.length ? { inPlace } : {}) } });
      });
      report.fired(top.name, RULE, `${views.length} of ${c.members.length} concatenations are views of one buffer of ${g.value(buffer).shape[1]} channels: each copies only its new channels, and ${written} of those are written into the buffer by the convolutions that compute them`);
    }
    if (marks.size === 0) return g;
    return rebuild(g, (n, w) => {
      const m = marks.get(n.id);
      w.keep(m ? { ...n, attrs: { ...n.attrs, ...m } } : n);
    });
  },
});
