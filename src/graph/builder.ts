/**
 * A functional, PyTorch-flavoured builder. Layer names double as parameter prefixes, so the
 * parameters of torchvision-shaped models carry torchvision's state_dict names.
 *
 *   const b = new Builder({ training: true });
 *   const x = b.input('x', [8, 3, 32, 32]);
 *   let h = b.conv2d('conv1', x, { out: 16, kernel: 3, padding: 1, bias: false });
 *   h = b.relu('relu', b.batchNorm2d('bn1', h));
 */
import type { BatchNormAttrs } from '../ops/batch_norm2d.js';
import type { Conv2dAttrs } from '../ops/conv2d.js';
import type { Pool2dAttrs } from '../ops/pool2d.js';
import { emit } from './emit.js';
import { Graph, ShapeError, type Shape, shapeStr } from './ir.js';

/** How a parameter is initialised (torchvision's recipes). */
export type Init =
  | {
      /** Normal with std sqrt(2 / fan) (torch's kaiming_normal_, gain sqrt(2), for ReLU). */
      kind: 'kaiming_normal';
      /** The fan: input channels x kernel area (fan_in), or output channels x kernel area (fan_out). */
      mode: 'fan_in' | 'fan_out';
    }
  | {
      /** Uniform in [-bound, bound]. */
      kind: 'uniform';
      /** Half-width of the interval. */
      bound: number;
    }
  | {
      /** Every element the same. */
      kind: 'const';
      /** The value. */
      value: number;
    }
  | {
      /** Normal with mean 0 and this standard deviation. */
      kind: 'normal';
      /** The standard deviation. */
      std: number;
    };

/** A parameter or state tensor a graph declares: what Network allocates and initialises. */
export interface ParamSpec {
  /** torchvision's state_dict name ("layer1.0.conv1.weight"). */
  name: string;
  /** Dimensions (weights OIHW: K, C/groups, KH, KW). */
  shape: Shape;
  /** How it starts. */
  init: Init;
  /** 'param' is trained; 'state' is a persistent buffer (running statistics). */
  kind: 'param' | 'state';
}

/** How a Builder builds. */
export interface BuilderOptions {
  /** Training mode (BN normalises with batch statistics, dropout drops) or eval mode. */
  training: boolean;
}

/**
 * Builds a forward graph layer by layer, as PyTorch modules would compute it. Every method takes
 * the layer's name (the prefix of its parameters' names) and value ids, and returns the id of
 * its output value.
 */
export class Builder {
  /** The graph being built. */
  readonly g = new Graph();
  /** Parameters and state in creation order (the order of torchvision's state_dict). */
  readonly specs: ParamSpec[] = [];
  /** Whether the graph is a training-mode graph. */
  readonly training: boolean;

  constructor(opts: BuilderOptions) {
    this.training = opts.training;
  }

  /** The shape of value x. */
  shape(x: number): Shape {
    return this.g.value(x).shape;
  }

  /** A graph input, fed on every run (images, labels). */
  input(name: string, shape: Shape): number {
    return this.g.addValue(name, shape, 'input').id;
  }

  /** A trained parameter, or with kind 'state' a persistent buffer; each name once. */
  param(name: string, shape: Shape, init: Init, kind: 'param' | 'state' = 'param'): number {
    if (this.specs.some((s) => s.name === name)) throw new ShapeError(`parameter "${name}" is defined twice`);
    this.specs.push({ name, shape, init, kind });
    return this.g.addValue(name, shape, kind).id;
  }

  private op(op: string, name: string, inputs: number[], attrs = {}): number {
    return emit(this.g, op, name, inputs, attrs)[0]!;
  }

  /**
   * 2-D convolution of x [N, C, H, W] to [N, o.out, OH, OW] (torch.nn.Conv2d): weight
   * `name.weight` [out, C/groups, KH, KW] initialised as PyTorch does unless `o.init`, bias only
   * with `o.bias` (initialised by `o.biasInit` where given).
   */
  conv2d(name: string, x: number, o: Conv2dAttrs & { out: number; kernel: number | [number, number]; bias?: boolean; init?: Init; biasInit?: Init }): number {
    const C = this.shape(x)[1]!;
    const groups = o.groups ?? 1;
    if (C % groups !== 0) throw new ShapeError(`layer "${name}" (conv2d): groups=${groups} must divide input channels ${C} (input ${shapeStr(this.shape(x))})`);
    const [kh, kw] = Array.isArray(o.kernel) ? o.kernel : [o.kernel, o.kernel];
    const fanIn = (C / groups) * kh * kw;
    const bound = 1 / Math.sqrt(fanIn);
    // PyTorch's default: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    const w = this.param(`${name}.weight`, [o.out, C / groups, kh, kw], o.init ?? { kind: 'uniform', bound });
    const inputs = [x, w];
    if (o.bias) inputs.push(this.param(`${name}.bias`, [o.out], o.biasInit ?? { kind: 'uniform', bound }));
    const attrs: Conv2dAttrs = { stride: o.stride ?? 1, padding: o.padding ?? 0, dilation: o.dilation ?? 1, groups };
    return this.op('conv2d', name, inputs, attrs);
  }

  /**
   * BatchNorm2d over the channels of x [N, C, H, W] (eps 1e-5, momentum 0.1 unless given; null
   * momentum: a cumulative average): weight, bias and running statistics named as torch's.
   */
  batchNorm2d(name: string, x: number, o: { eps?: number; momentum?: number | null } = {}): number {
    const C = this.shape(x)[1]!;
    if (this.shape(x).length !== 4) throw new ShapeError(`layer "${name}" (batch_norm2d): input must be NCHW, got ${shapeStr(this.shape(x))}`);
    const inputs = [
      x,
      this.param(`${name}.weight`, [C], { kind: 'const', value: 1 }),
      this.param(`${name}.bias`, [C], { kind: 'const', value: 0 }),
      this.param(`${name}.running_mean`, [C], { kind: 'const', value: 0 }, 'state'),
      this.param(`${name}.running_var`, [C], { kind: 'const', value: 1 }, 'state'),
      this.param(`${name}.num_batches_tracked`, [1], { kind: 'const', value: 0 }, 'state'),
    ];
    const attrs: BatchNormAttrs = { eps: o.eps ?? 1e-5, momentum: o.momentum === undefined ? 0.1 : o.momentum, training: this.training };
    return this.op('batch_norm2d', name, inputs, attrs);
  }

  /** max(0, x). */
  relu(name: string, x: number): number {
    return this.op('relu', name, [x]);
  }

  /** x * sigmoid(x) (PyTorch's SiLU). */
  silu(name: string, x: number): number {
    return this.op('silu', name, [x]);
  }

  /** min(max(x, 0), 6) (PyTorch's ReLU6). */
  relu6(name: string, x: number): number {
    return this.op('relu6', name, [x]);
  }

  /** x * relu6(x + 3) / 6 (PyTorch's Hardswish). */
  hardswish(name: string, x: number): number {
    return this.op('hardswish', name, [x]);
  }

  /** 1 / (1 + e^-x) (PyTorch's Sigmoid). */
  sigmoid(name: string, x: number): number {
    return this.op('sigmoid', name, [x]);
  }

  /** x [N,C,H,W] times s [N,C,1,1], channel by channel (squeeze-excitation's scale * input). */
  channelScale(name: string, x: number, s: number): number {
    return this.op('channel_scale', name, [x, s]);
  }

  /** Max pooling over windows of x [N, C, H, W] (torch.nn.MaxPool2d). */
  maxPool2d(name: string, x: number, o: Pool2dAttrs): number {
    return this.op('max_pool2d', name, [x], o);
  }

  /** Average pooling over windows of x [N, C, H, W], padding counted (torch.nn.AvgPool2d's default). */
  avgPool2d(name: string, x: number, o: Pool2dAttrs): number {
    return this.op('avg_pool2d', name, [x], { count_include_pad: true, ...o });
  }

  /** The mean of each channel: [N, C, H, W] to [N, C, 1, 1]. */
  globalAvgPool(name: string, x: number): number {
    return this.op('global_avg_pool', name, [x]);
  }

  /** a + b, elementwise, same shapes. */
  add(name: string, a: number, b: number): number {
    return this.op('add', name, [a, b]);
  }

  /** The inputs [N, C_i, H, W] stacked along the channels. */
  concat(name: string, xs: number[]): number {
    return this.op('concat', name, xs);
  }

  /** [N, ...] to [N, product of the rest]. */
  flatten(name: string, x: number): number {
    return this.op('flatten', name, [x]);
  }

  /** x [N, I] times weight [out, I] transposed, plus bias [out] (torch.nn.Linear). */
  linear(name: string, x: number, o: { out: number; bias?: boolean; init?: Init; biasInit?: Init }): number {
    const I = this.shape(x)[1]!;
    if (this.shape(x).length !== 2) throw new ShapeError(`layer "${name}" (linear): input must be [N, features], got ${shapeStr(this.shape(x))}`);
    const bound = 1 / Math.sqrt(I);
    const w = this.param(`${name}.weight`, [o.out, I], o.init ?? { kind: 'uniform', bound });
    const inputs = [x, w];
    if (o.bias ?? true) inputs.push(this.param(`${name}.bias`, [o.out], o.biasInit ?? { kind: 'uniform', bound }));
    return this.op('linear', name, inputs);
  }

  /** Zeroes each element with probability p and scales the rest by 1/(1-p), in training only. */
  dropout(name: string, x: number, p: number): number {
    return this.op('dropout', name, [x], { p, training: this.training });
  }

  /**
   * torchvision's StochasticDepth(p, "row"): each sample dropped whole with probability p in
   * training. In eval, and at p = 0, it is the identity and emits no node (x is returned).
   */
  stochasticDepth(name: string, x: number, p: number): number {
    if (!this.training || p === 0) return x;
    return this.op('stochastic_depth', name, [x], { p, training: true });
  }

  /**
   * The option-A shortcut of CIFAR ResNets: x subsampled by `stride` and zero channels added,
   * `before` and `after` its own.
   */
  shortcutPad(name: string, x: number, o: { stride: number; before: number; after: number }): number {
    return this.op('shortcut_pad', name, [x], o);
  }

  /** Mean softmax cross-entropy of logits [N,K] against labels [N]; returns the loss value id. */
  crossEntropy(name: string, logits: number, labels: number): number {
    return emit(this.g, 'softmax_cross_entropy', name, [logits, labels])[0]!;
  }
}
