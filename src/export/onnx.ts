/**
 * ONNX export of a network's inference graph (opset 17, IR version 8), encoded with the ONNX
 * schema of the onnx-proto package (protobufjs).
 *
 * The graph exported is Network.buildInferenceGraph's: every BatchNorm that follows a
 * convolution is folded into it (src/passes/fold_bn.ts computes the folded weights, the same
 * tensors bnff's own inference runs on), the others become Mul + Add. Input "input": float32
 * NCHW [N, C, H, W] with a dynamic batch N, already normalised as in training; output
 * "logits": [N, classes]. Ops: Conv, Relu, Add, Mul, MaxPool, AveragePool, GlobalAveragePool,
 * Concat, Flatten, Gemm, Identity, and Slice + Pad for the CIFAR ResNets' option-A shortcut.
 */
import onnxProto from 'onnx-proto';
import { WriteRefusedError, type WriteGuard, writeFileSafe } from '../io/safe_write.js';
import type { Graph, Node, Shape } from '../graph/ir.js';
import type { Network } from '../models/network.js';
import type { Conv2dAttrs } from '../ops/conv2d.js';
import type { Pool2dAttrs } from '../ops/pool2d.js';
import type { ShortcutPadAttrs } from '../ops/shortcut_pad.js';
import type { DropoutAttrs } from '../ops/dropout.js';
import { derivedTensor } from '../passes/fold_bn.js';

const { onnx } = onnxProto;

export const ONNX_OPSET = 17;
const IR_VERSION = 8;

/** An export that cannot be done (an op without an ONNX counterpart), naming the layer. */
export class OnnxExportError extends Error {
  /** 'OnnxExportError', the name error messages and stack traces show. */
  override name = 'OnnxExportError';
}

/** Options of exportOnnx and writeOnnxFile. */
export interface OnnxExportOptions {
  /** Input height and width (default: the model's own input size). */
  imageSize?: number;
  /** Extra metadata_props (string key/value pairs). */
  metadata?: Record<string, string>;
}

type Attr = onnxProto.onnx.IAttributeProto;
const ints = (name: string, v: number[]): Attr => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });

function pair(v: number | [number, number] | undefined, d: number): [number, number] {
  return v === undefined ? [d, d] : Array.isArray(v) ? v : [v, v];
}

function floatTensor(name: string, dims: Shape, data: ArrayLike<number>): onnxProto.onnx.ITensorProto {
  const raw = new Uint8Array(4 * data.length);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i]!, true);
  return { name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

function int64Tensor(name: string, data: (number | bigint)[]): onnxProto.onnx.ITensorProto {
  const raw = new Uint8Array(8 * data.length);
  const dv = new DataView(raw.buffer);
  data.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
  return { name, dims: [data.length], dataType: onnx.TensorProto.DataType.INT64, rawData: raw };
}

function valueInfo(name: string, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim } } } };
}

/** Slice's "to the end". */
const INT64_MAX = 2n ** 63n - 1n;

/** Builds the ONNX graph of a folded inference graph. */
class OnnxWriter {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly names = new Map<number, string>();
  private readonly used = new Set<string>();

  constructor(
    readonly g: Graph,
    private readonly tensor: (name: string) => ArrayLike<number>,
  ) {}

  private unique(base: string): string {
    let n = base;
    for (let i = 1; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }

  /** The ONNX name of value id (an initializer is written the first time a parameter is named). */
  name(id: number, dims?: Shape): string {
    let n = this.names.get(id);
    if (n === undefined) {
      const v = this.g.value(id);
      n = this.unique(v.name);
      this.names.set(id, n);
      if (v.kind === 'param' || v.kind === 'state') this.initializers.push(floatTensor(n, dims ?? v.shape, this.tensor(v.name)));
      else if (v.kind === 'const') throw new OnnxExportError(`value "${v.name}": constants are not exported`);
    }
    return n;
  }

  setName(id: number, name: string): void {
    this.used.add(name);
    this.names.set(id, name);
  }

  /** An int64 initializer (Slice and Pad operands). */
  int64(base: string, data: (number | bigint)[]): string {
    const n = this.unique(base);
    this.initializers.push(int64Tensor(n, data));
    return n;
  }

  /** A float32 scalar initializer (Clip's bounds). */
  scalar(base: string, v: number): string {
    const n = this.unique(base);
    this.initializers.push(floatTensor(n, [], [v]));
    return n;
  }

  node(opType: string, name: string, input: string[], output: string[], attribute: Attr[] = []): void {
    this.nodes.push({ opType, name: this.unique(`${name}/${opType}`), input, output, attribute });
  }

  /** A fresh intermediate name. */
  temp(base: string): string {
    return this.unique(base);
  }
}

type Lower = (n: Node, w: OnnxWriter, x: (i: number) => string, y: string) => void;

const SUPPORTED: Record<string, Lower> = {
  conv2d(n, w, x, y) {
    const a = n.attrs as Conv2dAttrs;
    const ws = w.g.value(n.inputs[1]!).shape;
    const [ph, pw] = pair(a.padding, 0);
    const inputs = [x(0), x(1)];
    if (n.inputs.length > 2) inputs.push(x(2));
    w.node(
      'Conv',
      n.name,
      inputs,
      [y],
      [
        ints('kernel_shape', [ws[2]!, ws[3]!]),
        ints('strides', pair(a.stride, 1)),
        ints('pads', [ph, pw, ph, pw]),
        ints('dilations', pair(a.dilation, 1)),
        int('group', a.groups ?? 1),
      ],
    );
  },
  channel_affine(n, w, x, y) {
    const C = w.g.value(n.inputs[1]!).shape[0]!;
    const scaled = w.temp(`${n.name}.scaled`);
    w.node('Mul', n.name, [x(0), w.name(n.inputs[1]!, [C, 1, 1])], [scaled]);
    w.node('Add', n.name, [scaled, w.name(n.inputs[2]!, [C, 1, 1])], [y]);
  },
  relu(n, w, x, y) {
    w.node('Relu', n.name, [x(0)], [y]);
  },
  relu6(n, w, x, y) {
    w.node('Clip', n.name, [x(0), w.scalar(`${n.name}.min`, 0), w.scalar(`${n.name}.max`, 6)], [y]);
  },
  hardswish(n, w, x, y) {
    w.node('HardSwish', n.name, [x(0)], [y]);
  },
  sigmoid(n, w, x, y) {
    w.node('Sigmoid', n.name, [x(0)], [y]);
  },
  silu(n, w, x, y) {
    const s = w.temp(`${n.name}.sigmoid`);
    w.node('Sigmoid', n.name, [x(0)], [s]);
    w.node('Mul', n.name, [x(0), s], [y]);
  },
  // x [N,C,H,W] * s [N,C,1,1]: ONNX broadcasting
  channel_scale(n, w, x, y) {
    w.node('Mul', n.name, [x(0), x(1)], [y]);
  },
  add(n, w, x, y) {
    w.node('Add', n.name, [x(0), x(1)], [y]);
  },
  concat(n, w, x, y) {
    w.node(
      'Concat',
      n.name,
      n.inputs.map((_, i) => x(i)),
      [y],
      [int('axis', 1)],
    );
  },
  max_pool2d(n, w, x, y) {
    w.node('MaxPool', n.name, [x(0)], [y], poolAttrs(n.attrs as unknown as Pool2dAttrs));
  },
  avg_pool2d(n, w, x, y) {
    const a = n.attrs as unknown as Pool2dAttrs;
    w.node('AveragePool', n.name, [x(0)], [y], [...poolAttrs(a), int('count_include_pad', a.count_include_pad === false ? 0 : 1)]);
  },
  global_avg_pool(n, w, x, y) {
    w.node('GlobalAveragePool', n.name, [x(0)], [y]);
  },
  flatten(n, w, x, y) {
    w.node('Flatten', n.name, [x(0)], [y], [int('axis', 1)]);
  },
  linear(n, w, x, y) {
    const inputs = [x(0), x(1)];
    if (n.inputs.length > 2) inputs.push(x(2));
    w.node('Gemm', n.name, inputs, [y], [int('transB', 1)]);
  },
  dropout(n, w, x, y) {
    if ((n.attrs as unknown as DropoutAttrs).training)
      throw new OnnxExportError(`layer "${n.name}" (dropout): only eval-mode dropout (the identity) is exported`);
    w.node('Identity', n.name, [x(0)], [y]);
  },
  shortcut_pad(n, w, x, y) {
    const a = n.attrs as unknown as ShortcutPadAttrs;
    let h = x(0);
    if (a.stride > 1) {
      const s = w.temp(`${n.name}.subsampled`);
      const end = w.int64(`${n.name}.ends`, [INT64_MAX, INT64_MAX]);
      w.node(
        'Slice',
        n.name,
        [h, w.int64(`${n.name}.starts`, [0, 0]), end, w.int64(`${n.name}.axes`, [2, 3]), w.int64(`${n.name}.steps`, [a.stride, a.stride])],
        [s],
      );
      h = s;
    }
    w.node('Pad', n.name, [h, w.int64(`${n.name}.pads`, [0, a.before, 0, 0, 0, a.after, 0, 0])], [y], []);
  },
};

function poolAttrs(a: Pool2dAttrs): Attr[] {
  const [kh, kw] = pair(a.kernel, 1);
  const [ph, pw] = pair(a.padding, 0);
  return [ints('kernel_shape', [kh, kw]), ints('strides', pair(a.stride ?? a.kernel, 1)), ints('pads', [ph, pw, ph, pw])];
}

/** The ONNX model of net's inference graph, as protobuf bytes. */
export function exportOnnx(net: Network, o: OnnxExportOptions = {}): Uint8Array {
  const size = o.imageSize ?? net.def.imageSize;
  const C = net.def.inChannels;
  const f = net.buildInferenceGraph([1, C, size, size]);
  const get = (name: string): ArrayLike<number> => net.params.get(name) ?? net.state.get(name)!;
  const tensor = (name: string): ArrayLike<number> => {
    const d = f.derived.get(name);
    return d ? derivedTensor(d, get) : get(name);
  };
  const g = f.graph;
  const w = new OnnxWriter(g, tensor);
  const logits = g.outputs.get('logits');
  if (logits === undefined) throw new OnnxExportError(`model ${net.def.name}: the graph has no logits output`);
  w.setName(f.x, 'input');
  w.setName(logits, 'logits');
  for (const n of g.nodes) {
    const lower = SUPPORTED[n.op];
    if (!lower)
      throw new OnnxExportError(
        `layer "${n.name}" (${n.op}): the ONNX exporter does not support op "${n.op}" (it exports ${Object.keys(SUPPORTED).join(', ')})`,
      );
    lower(n, w, (i) => w.name(n.inputs[i]!), w.name(n.outputs[0]!));
  }
  const K = g.value(logits).shape[1]!;
  const model: onnxProto.onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'bnff',
    graph: {
      name: net.def.name,
      node: w.nodes,
      initializer: w.initializers,
      input: [valueInfo('input', ['N', C, size, size])],
      output: [valueInfo('logits', ['N', K])],
      docString: `${net.def.name}, BatchNorm folded for inference (${f.folded.length} folded into convolutions, ${f.affine.length} as Mul+Add)`,
    },
    metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new OnnxExportError(`model ${net.def.name}: invalid ONNX model: ${err}`);
  return onnx.ModelProto.encode(model).finish();
}

/** Writes the ONNX file atomically (temporary file, then rename); `guard` as in src/io/safe_write.ts. */
export function writeOnnxFile(path: string, bytes: Uint8Array, guard: WriteGuard = { replace: true }): void {
  try {
    writeFileSafe(path, bytes, guard);
  } catch (e) {
    if (e instanceof WriteRefusedError) throw e;
    throw new OnnxExportError(`${path}: cannot write: ${(e as Error).message}`, { cause: e });
  }
}
