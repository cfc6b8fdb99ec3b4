/**
 * Fission: every training-mode batch_norm2d becomes
 *   [mean, var] = channel_moments(x); rstd = bn_finalize(mean, var, running...);
 *   y = bn_apply(x, mean, rstd, gamma, beta)
 * and an activation (ReLU, ReLU6, SiLU, hardswish: src/ops/activation.ts) that is the BN
 * output's only consumer is folded into bn_apply (guard reluIsSoleConsumer; the activation's own
 * backward may read the BN output too). The backward is already split (bn_backward_reduce,
 * bn_backward_data); ReLU's and ReLU6's backward read bn_apply's output and need no change,
 * SiLU's and hardswish's read the BN output, which is gone: they become
 * bn_relu_mask{act}(dy, x, mean, rstd, gamma, beta), the derivative recomputed from the BN input.
 * Guard cacheResident (fissionWith(minBytes), FusionOptions.minFissionBytes): a BN of at most
 * 64 channels whose input tensor is at most minBytes stays whole, and so unfused: its standalone
 * passes run from cache and cost less than the work the fused thin convolutions add (the cost
 * guard of the native engine, docs/design/native-engine.md).
 */
import { type Activation, activationName, activationOfOp } from '../ops/activation.js';
import type { BatchNormAttrs } from '../ops/batch_norm2d.js';
import { type Pass, consumers, rebuild } from './rewrite.js';

export const fission: Pass = fissionWith(0);

/** cacheResident applies to BNs of at most this many channels (thin convolutions' GEMMs are short). */
const THIN_CHANNELS = 64;

/** Fission that leaves whole every BN whose input tensor is at most minBytes (guard cacheResident). */
export function fissionWith(minBytes: number): Pass {
  return {
    name: 'fission',
    run(g, report) {
      const uses = consumers(g);
      // backward nodes of a folded activation that read the BN output, which no longer exists:
      // the derivative is recomputed from the BN input (bn_relu_mask{act})
      const derivative = new Map<number, { inputs: number[]; act: Activation; bn: string }>();
      return rebuild(g, (n, w) => {
        const d = derivative.get(n.id);
        if (d) {
          w.node('bn_relu_mask', `${d.bn}.act_grad`, [n.inputs[0]!, ...d.inputs], n.outputs, { act: d.act, bn: d.bn });
          return;
        }
        if (n.op !== 'batch_norm2d' || n.attrs.training !== true) return w.keep(n);
        const a = n.attrs as unknown as BatchNormAttrs;
        const [x, gamma, beta, rm, rv, nbt] = n.inputs as [number, number, number, number, number, number];
        const [y, mean, rstd] = n.outputs as [number, number, number];
        const [N, C, H, W] = g.value(x).shape as number[];
        const bytes = 4 * N! * C! * H! * W!;
        if (minBytes > 0 && bytes <= minBytes && C! <= THIN_CHANNELS) {
          report.whole.add(n.name);
          report.blocked(
            n.name,
            'fission',
            'cacheResident',
            `${C} channels (at most ${THIN_CHANNELS}) in ${(bytes / 2 ** 20).toFixed(2)} MiB (at most ${(minBytes / 2 ** 20).toFixed(2)} MiB): its standalone passes run from cache, cheaper than the work fusing adds to such thin convolutions on this engine`,
          );
          return w.keep(n);
        }
        const v = w.value(`${n.name}.var`, [C!], 'activation');
        w.node('channel_moments', `${n.name}.moments`, [x], [mean, v], { bn: n.name });
        w.node('bn_finalize', `${n.name}.finalize`, [mean, v, rm, rv, nbt], [rstd], { eps: a.eps, momentum: a.momentum, count: N! * H! * W!, bn: n.name });
        const users = uses.get(y) ?? [];
        const f = users.find((u) => activationOfOp(u.op) !== undefined);
        // the activation's backward reading the BN output (SiLU, hardswish: their x) comes along
        const backs = f ? users.filter((u) => u.op === `${f.op}_backward` && u.inputs[1] === y && u.inputs[0] !== y) : [];
        const relu = f && users.length === 1 + backs.length ? f : undefined;
        const act = relu ? activationOfOp(relu.op)! : 'none';
        const attrs = act === 'relu' || act === 'none' ? { relu: act === 'relu', bn: n.name } : { relu: false, act, bn: n.name };
        w.node('bn_apply', `${n.name}.apply`, [x, mean, rstd, gamma, beta], [relu ? relu.outputs[0]! : y], attrs);
        if (relu) {
          w.drop(relu);
          for (const b of backs) derivative.set(b.id, { inputs: [x, mean, rstd, gamma, beta], act, bn: n.name });
          report.fired(n.name, 'fission', `split into moments, finalize and normalize; ${activationName(act)} "${relu.name}" folded into normalize`);
        } else {
          report.fired(n.name, 'fission', 'split into moments, finalize and normalize');
          report.blocked(
            n.name,
            'fold-relu',
            'reluIsSoleConsumer',
            `output has ${users.length} consumer(s): ${users.map((u) => `${u.op} "${u.name}"`).join(', ') || 'none'}`,
          );
        }
      });
    },
  };
}
