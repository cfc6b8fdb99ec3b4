/**
 * SGD with momentum, dampening, Nesterov and weight decay, exactly as torch.optim.SGD:
 *   d = g + wd*p
 *   buf = d (first step), else buf = momentum*buf + (1-dampening)*d
 *   d = nesterov ? d + momentum*buf : buf        (when momentum != 0)
 *   p -= lr*d
 */
import type { Arr } from '../ops/op.js';
import type { Memory } from '../runtime/memory.js';
import type { Backend } from '../runtime/backend.js';
import { sgdUpdate } from '../kernels/eltwise.js';

/** torch.optim.SGD's arguments. */
export interface SgdOptions {
  /** Learning rate. */
  lr: number;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** L2 penalty added to the gradient as wd * p (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (default false; needs momentum > 0 and no dampening). */
  nesterov?: boolean;
}

/** Stochastic gradient descent with PyTorch's semantics (see the formula above). */
export class SGD {
  /** The learning rate of the next step (the trainer sets it from the schedule). */
  lr: number;
  /** Momentum factor. */
  readonly momentum: number;
  /** Dampening of the momentum. */
  readonly dampening: number;
  /** L2 weight decay. */
  readonly weightDecay: number;
  /** Whether the momentum is Nesterov's. */
  readonly nesterov: boolean;
  /** Momentum buffers by parameter name; absent until the first step, as in PyTorch. */
  readonly buffers = new Map<string, Arr>();

  /**
   * @param memory where momentum buffers live (the arena for the engine)
   * @param backend run the update with the SIMD kernel on this backend (parameters in the arena)
   */
  constructor(
    /** The parameters it updates, by name (a Network's params). */
    readonly params: Map<string, Arr>,
    o: SgdOptions,
    private readonly memory?: Memory,
    readonly backend?: Backend,
  ) {
    if (backend && !memory) throw new Error('SGD on a backend needs the arena for its momentum buffers');
    for (const [k, v] of Object.entries({ lr: o.lr, momentum: o.momentum ?? 0, dampening: o.dampening ?? 0, weightDecay: o.weightDecay ?? 0 })) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`SGD ${k} must be a finite number >= 0, got ${v}`);
    }
    if (o.nesterov && (!(o.momentum! > 0) || (o.dampening ?? 0) !== 0)) throw new RangeError('Nesterov momentum requires a momentum > 0 and zero dampening');
    this.lr = o.lr;
    this.momentum = o.momentum ?? 0;
    this.dampening = o.dampening ?? 0;
    this.weightDecay = o.weightDecay ?? 0;
    this.nesterov = o.nesterov ?? false;
  }

  /** Restores momentum buffers (from a checkpoint). */
  loadBuffers(buffers: Map<string, ArrayLike<number>>): void {
    for (const [name, b] of buffers) {
      const p = this.params.get(name);
      if (!p || p.length !== b.length) throw new RangeError(`momentum buffer "${name}" does not match a parameter`);
      const buf = this.memory ? this.memory.alloc(b.length) : new Float64Array(b.length);
      buf.set(b);
      this.buffers.set(name, buf);
    }
  }

  /** One update of every parameter from its gradient in `grads` (by parameter name). */
  step(grads: Map<string, Arr>): void {
    const { lr, momentum: mu, dampening, weightDecay: wd, nesterov } = this;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      if (this.backend) {
        // The SIMD kernel computes the same f64 expression per element as the loop below.
        let buf = this.buffers.get(name);
        const first = !buf;
        if (!buf && mu !== 0) {
          buf = this.memory!.alloc(p.length);
          this.buffers.set(name, buf);
        }
        sgdUpdate(this.backend, p.byteOffset, g.byteOffset, buf?.byteOffset ?? 0, p.length, { lr, momentum: mu, dampening, weightDecay: wd, nesterov }, first);
        continue;
      }
      if (mu === 0) {
        for (let i = 0; i < p.length; i++) p[i] -= lr * (g[i]! + wd * p[i]!);
        continue;
      }
      let buf = this.buffers.get(name);
      const first = !buf;
      if (!buf) {
        buf = this.memory ? this.memory.alloc(p.length) : new Float64Array(p.length);
        this.buffers.set(name, buf);
      }
      for (let i = 0; i < p.length; i++) {
        const d = g[i]! + wd * p[i]!;
        const b = first ? d : mu * buf[i]! + (1 - dampening) * d;
        buf[i] = b;
        p[i] -= lr * (nesterov ? d + mu * b : b);
      }
    }
  }
}
