/**
 * `bnff traffic`: a model of the main-memory bytes one training step moves, per layer and in
 * total, for the unfused and the fused graph, plus the peak planned memory of each.
 *
 * The model: every node reads each tensor-sized input once and writes each tensor-sized output
 * once (per-channel vectors and weights are ignored: they stay in cache). A convolution's own
 * operands are the same in both graphs; what fusion changes is attributed to the BN: a dy
 * prologue reads two tensors (dbn, xbn) instead of one (dy), a dx epilogue reads the BN input
 * once more. This is the paper's accounting (its table of tensor-sized passes per BN).
 */
import { type Graph, numel } from '../graph/ir.js';
import { type Category, OP_TYPES } from './op_types.js';
import { getModel } from '../models/index.js';
import { Network } from '../models/network.js';
import { isDepthwise } from '../passes/conv_parts.js';
import { ALL_FUSION, type FusionOptions, NO_FUSION } from '../passes/index.js';
import { Arena, HostMemory } from '../runtime/memory.js';
import { defaultArenaBytes } from '../runtime/native.js';
import { planMemory, viewOf } from '../runtime/planner.js';

export interface LayerTraffic {
  layer: string;
  op: string;
  category: Category;
  bytes: number;
}

/** The modelled traffic of every node of a graph. */
export function graphTraffic(g: Graph): LayerTraffic[] {
  return g.nodes.flatMap((_, i) => nodeTraffic(g, i));
}

/** A fused variant of the step: its bytes, BN + ReLU + concatenation bytes, peak planned memory and the largest batch that fits, each with its ratio to unfused. */
export interface VariantTraffic {
  bytes: number;
  ratio: number;
  bn_relu_concat: number;
  bn_relu_concat_ratio: number;
  peak_bytes: number;
  peak_ratio: number;
  max_batch: number;
}

/** Bytes of the tensors (rank >= 2 activations, not weights) a node reads and writes. */
function nodeTraffic(g: Graph, i: number): LayerTraffic[] {
  const n = g.nodes[i]!;
  const tensor = (id: number): number => {
    const v = g.value(id);
    return v.shape.length === 4 && v.kind !== 'param' && v.kind !== 'state' ? 4 * numel(v.shape) : 0;
  };
  const cat = OP_TYPES[n.op] ?? 'other';
  // A channel slice reads only its own channels of the input (as many bytes as it writes).
  if (n.op === 'slice_channels') return [{ layer: n.name, op: n.op, category: cat, bytes: 2 * tensor(n.outputs[0]!) }];
  // BN dx added in place into the leading channels of a gradient buffer: reads dy, x and those
  // channels of the buffer, writes them back
  if (n.op === 'bn_backward_data_acc') return [{ layer: n.name, op: n.op, category: cat, bytes: 4 * tensor(n.inputs[1]!) }];
  // A gradient slice with the affine half of BN dx: reads its channels of the buffer and of x
  if (n.op === 'slice_channels_affine') return [{ layer: n.name, op: n.op, category: cat, bytes: 3 * tensor(n.outputs[0]!) }];
  // A concatenation planned as a view of its block's buffer copies only its new parts (not
  // those their producers wrote into the buffer)
  const view = viewOf(n);
  if (view)
    return [
      {
        layer: n.name,
        op: n.op,
        category: cat,
        bytes: 2 * n.inputs.reduce((s, id, j) => s + (j >= view.from && !view.inPlace?.includes(j) ? tensor(id) : 0), 0),
      },
    ];
  if (cat !== 'conv') return [{ layer: n.name, op: n.op, category: cat, bytes: [...n.inputs, ...n.outputs].reduce((s, id) => s + tensor(id), 0) }];
  // A convolution: its own operands count as conv; BN work folded into it counts as BN.
  const a = n.attrs as { xPrologue?: unknown; dyPrologue?: boolean; dxEpilogue?: unknown; bias?: boolean; xShape?: number[]; wShape?: number[] };
  const out: LayerTraffic[] = [];
  // accumulating into a gradient buffer (input 0): the operands are those of the plain node
  const acc = n.op === 'conv2d_fused_backward_data_acc' ? 1 : 0;
  const ins = n.inputs.slice(acc);
  const main =
    n.op === 'conv2d_fused' ? [ins[0]!] : [ins[0]!, ...(n.op === 'conv2d_backward_weight' || n.op === 'conv2d_fused_backward_weight' ? [ins[1]!] : [])];
  const dxBytes = acc ? 4 * numel(a.xShape!) : tensor(n.outputs[0]!); // dx's channels of the buffer, or dx
  let bytes = main.reduce((s, id) => s + tensor(id), 0) + dxBytes;
  let bn = 0;
  if (a.dyPrologue) bn += tensor(ins[3]!); // xbn read besides dbn (which takes dy's place)
  if (a.dxEpilogue) bn += tensor(ins[ins.length - 5]!); // the BN input read by the mask and reductions
  if (acc) bn += dxBytes; // the buffer read back before A*dy is added (its write took dx's place)
  if (n.op === 'conv2d_backward_weight' && n.inputs.length > 1) bytes = tensor(n.inputs[0]!) + tensor(n.inputs[1]!);
  out.push({ layer: n.name, op: n.op, category: 'conv', bytes });
  if (bn) out.push({ layer: n.name, op: `${n.op} (BN work)`, category: 'bn', bytes: bn });
  return out;
}

export interface TrafficResult {
  model: string;
  batch_size: number;
  image_size: number;
  unfused_bytes: number;
  fused_bytes: number;
  ratio: number;
  by_category: Record<string, { unfused: number; fused: number }>;
  bn_relu_concat: { unfused: number; fused: number; ratio: number };
  unfused_peak_bytes: number;
  fused_peak_bytes: number;
  peak_ratio: number;
  /** The largest batch whose step fits the 4 GiB wasm32 heap (the WebAssembly engine). */
  max_batch: { unfused: number; fused: number };
  /** The largest batch whose step fits the native engine's arena (this machine's memory, arena_bytes). */
  max_batch_native: { unfused: number; fused: number; arena_bytes: number };
  /**
   * The fused graph with the normalized input stored for backward-weights instead of recomputed
   * (FusionOptions.storeNormalized): total bytes, BN+ReLU+concat bytes and peak, each also as a
   * ratio to unfused.
   */
  store_normalized: VariantTraffic;
  /** The fused graph with concatenations concatenated again in backward (FusionOptions.recomputeConcat). */
  recompute_concat: VariantTraffic;
  /**
   * Models with depthwise convolutions: the fused graph with the depthwise convolutions kept
   * plain (FusionOptions.depthwiseFusion false, ablation 'depthwise-unfused'), their BNs' passes
   * standalone: what the fused depthwise kernels save is its bytes minus the fused graph's.
   */
  depthwise_unfused?: VariantTraffic;
  layers: { unfused: LayerTraffic[]; fused: LayerTraffic[] };
}

function stepGraph(model: string, shape: number[], fusion: FusionOptions): Graph {
  return new Network(getModel(model), new HostMemory('f32'), 0, undefined, fusion).buildTrainGraph(shape).graph;
}

export function traffic(model: string, batchSize: number, imageSize: number): TrafficResult {
  const def = getModel(model);
  const shape = [batchSize, def.inChannels, imageSize, imageSize];
  const graphs = { unfused: stepGraph(model, shape, NO_FUSION), fused: stepGraph(model, shape, ALL_FUSION) };
  const layers = {
    unfused: graphTraffic(graphs.unfused),
    fused: graphTraffic(graphs.fused),
  };
  const total = (l: LayerTraffic[], f: (x: LayerTraffic) => boolean = () => true): number => l.filter(f).reduce((s, x) => s + x.bytes, 0);
  const by: Record<string, { unfused: number; fused: number }> = {};
  for (const c of ['conv', 'bn', 'relu', 'concat', 'add', 'pool', 'other'])
    by[c] = { unfused: total(layers.unfused, (x) => x.category === c), fused: total(layers.fused, (x) => x.category === c) };
  const brc = (m: 'unfused' | 'fused'): number => by.bn![m] + by.relu![m] + by.concat![m];
  // as the WebAssembly engine plans them (concatenations marked as views share their buffer)
  const peak = (g: Graph): number => planMemory(g, (k) => k === 'param' || k === 'state', { views: true }).size * 4;
  const fits = (fusion: FusionOptions, arena: Arena = new Arena()): number =>
    new Network(def, arena, 0, undefined, fusion).maxTrainBatch(shape.slice(1), fusion, true);
  const nativeBytes = defaultArenaBytes();
  // a SharedArrayBuffer the size of this machine's memory, as the native engine's (untouched pages cost nothing)
  const fitsNative = (fusion: FusionOptions): number => fits(fusion, new Arena({ buffer: new SharedArrayBuffer(nativeBytes) }));
  const u = total(layers.unfused);
  const f = total(layers.fused);
  const variant = (fusion: FusionOptions): VariantTraffic => {
    const gv = stepGraph(model, shape, fusion);
    const lv = graphTraffic(gv);
    const b = total(lv, (x) => x.category === 'bn' || x.category === 'relu' || x.category === 'concat');
    return {
      bytes: total(lv),
      ratio: total(lv) / u,
      bn_relu_concat: b,
      bn_relu_concat_ratio: b / brc('unfused'),
      peak_bytes: peak(gv),
      peak_ratio: peak(gv) / peak(graphs.unfused),
      max_batch: fits(fusion),
    };
  };
  return {
    model,
    batch_size: batchSize,
    image_size: imageSize,
    unfused_bytes: u,
    fused_bytes: f,
    ratio: f / u,
    by_category: by,
    bn_relu_concat: { unfused: brc('unfused'), fused: brc('fused'), ratio: brc('fused') / brc('unfused') },
    unfused_peak_bytes: peak(graphs.unfused),
    fused_peak_bytes: peak(graphs.fused),
    peak_ratio: peak(graphs.fused) / peak(graphs.unfused),
    max_batch: { unfused: fits(NO_FUSION), fused: fits(ALL_FUSION) },
    max_batch_native: { unfused: fitsNative(NO_FUSION), fused: fitsNative(ALL_FUSION), arena_bytes: nativeBytes },
    store_normalized: variant({ ...ALL_FUSION, storeNormalized: true }),
    recompute_concat: variant({ ...ALL_FUSION, recomputeConcat: true }),
    ...(graphs.unfused.nodes.some((n) => n.op === 'conv2d' && isDepthwise(graphs.unfused, n))
      ? { depthwise_unfused: variant({ ...ALL_FUSION, depthwiseFusion: false }) }
      : {}),
    layers,
  };
}

export function formatTraffic(r: TrafficResult): string {
  const gb = (b: number): string => `${(b / 1e9).toFixed(2)} GB`;
  const lines = [`${r.model}, batch ${r.batch_size}, ${r.image_size}x${r.image_size}: modelled main-memory traffic of one training step`];
  lines.push(`  total: unfused ${gb(r.unfused_bytes)}, fused ${gb(r.fused_bytes)}, ratio ${r.ratio.toFixed(3)}`);
  for (const [c, v] of Object.entries(r.by_category))
    if (v.unfused || v.fused) lines.push(`  ${c.padEnd(7)} unfused ${gb(v.unfused).padStart(9)}  fused ${gb(v.fused).padStart(9)}`);
  lines.push(`  BN + ReLU + concat: ratio ${r.bn_relu_concat.ratio.toFixed(3)}`);
  lines.push(`  peak planned memory: unfused ${gb(r.unfused_peak_bytes)}, fused ${gb(r.fused_peak_bytes)}, ratio ${r.peak_ratio.toFixed(3)}`);
  lines.push(`  largest batch in the 4 GiB heap (wasm engine): unfused ${r.max_batch.unfused}, fused ${r.max_batch.fused}`);
  const nb = r.max_batch_native;
  lines.push(
    `  largest batch in the native arena (${(nb.arena_bytes / 2 ** 30).toFixed(0)} GiB, this machine's memory): unfused ${nb.unfused}, fused ${nb.fused}`,
  );
  const st = r.store_normalized;
  lines.push(
    `  fused, normalized input stored (not recomputed): ratio ${st.ratio.toFixed(3)}, BN + ReLU + concat ${st.bn_relu_concat_ratio.toFixed(3)}, peak ${st.peak_ratio.toFixed(3)}, largest batch ${st.max_batch}`,
  );
  const rc = r.recompute_concat;
  lines.push(
    `  fused, concatenations recomputed in backward (--recompute-concat): ratio ${rc.ratio.toFixed(3)}, BN + ReLU + concat ${rc.bn_relu_concat_ratio.toFixed(3)}, peak ${rc.peak_ratio.toFixed(3)}, largest batch ${rc.max_batch}`,
  );
  const dw = r.depthwise_unfused;
  if (dw)
    lines.push(
      `  fused, but no BN work in the depthwise convolutions (ablation depthwise-unfused): ratio ${dw.ratio.toFixed(3)}, BN + ReLU + concat ${dw.bn_relu_concat_ratio.toFixed(3)}, peak ${dw.peak_ratio.toFixed(3)}, largest batch ${dw.max_batch}`,
    );
  return lines.join('\n') + '\n';
}
