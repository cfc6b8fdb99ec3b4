/**
 * Fusion (c0), where c1 (backward_into_conv.ts) leaves a BN's reductions alone: the activation's
 * backward and the BN's backward reduce in one op, so that the fast kernels read dy and x once
 * for both instead of writing dz and reading it back (src/ops/bn_act_reduce.ts):
 *   dz = bn_relu_mask{act}(dy, x, mean, rstd, gamma, beta); [dbeta, dgamma] = bn_backward_reduce(dz, x, mean, rstd)
 *     -> [dz, dbeta, dgamma] = bn_act_reduce{act, from: 'input'}(dy, x, mean, rstd, gamma, beta)
 *   y = bn_apply{relu | relu6}(x, mean, rstd, ...); dz = relu_backward | relu6_backward(dy, y); bn_backward_reduce(dz, x, mean, rstd)
 *     -> [dz, dbeta, dgamma] = bn_act_reduce{act, from: 'output'}(dy, x, mean, rstd, y)
 * dz is still written: BN's dx (bn_backward_data, or the dy prologue of the convolution that
 * takes it) reads it. This is where the gradient at the activation is a sum (squeeze-excitation's
 * two readers, a residual branch) or where its convolution's backward cannot take the reductions
 * (a depthwise convolution with depthwise fusion off, an activation the kernels cannot
 * differentiate). Run after c1, whose epilogue reads dy and x once already.
 */
import type { Attrs, Node } from '../graph/ir.js';
import type { BnReluMaskAttrs } from '../ops/conv2d_fused.js';
import { type Activation, activationOf } from '../ops/activation.js';
import { type Pass, bnLayerOf, producer, rebuild } from './rewrite.js';

const BACKWARD_OF: Record<string, Activation> = { relu_backward: 'relu', relu6_backward: 'relu6' };

export const actWithReduce: Pass = {
  name: 'act-with-reduce',
  run(g, report) {
    const plan = new Map<number, { reduce: Node; node: [string, string, number[], number[], Attrs] }>(); // mask node id -> the fused node, written in its place
    for (const r of g.nodes) {
      if (r.op !== 'bn_backward_reduce') continue;
      const bn = bnLayerOf(r);
      if (report.whole.has(bn)) continue; // kept whole by a cost guard (fission says which)
      const [dzIn, x, mean, rstd] = r.inputs as [number, number, number, number];
      const m = producer(g, dzIn);
      if (m && plan.has(m.id)) {
        report.blocked(bn, 'act-with-reduce', 'oneReducePerMask', `the gradient "${g.value(dzIn).name}" is reduced for another BN too`);
        continue;
      }
      if (m?.op === 'bn_relu_mask' && m.inputs[1] === x && m.inputs[2] === mean && m.inputs[3] === rstd) {
        const act = (m.attrs as BnReluMaskAttrs).act ?? 'relu';
        plan.set(m.id, { reduce: r, node: ['bn_act_reduce', `${bn}.act_reduce`, [...m.inputs], [m.outputs[0]!, ...r.outputs], { act, from: 'input' }] });
        report.fired(bn, 'act-with-reduce', `the ${act} derivative (recomputed from the BN input) and the BN's reductions in one pass`);
        continue;
      }
      const act = m ? BACKWARD_OF[m.op] : undefined;
      const a = m && act ? producer(g, m.inputs[1]!) : undefined;
      const applied = a?.op === 'bn_apply' ? activationOf(a.attrs as { act?: Activation; relu?: boolean }) : undefined;
      if (m && act && a && applied === act && a.inputs[0] === x && a.inputs[1] === mean && a.inputs[2] === rstd) {
        plan.set(m.id, {
          reduce: r,
          node: ['bn_act_reduce', `${bn}.act_reduce`, [m.inputs[0]!, x, mean, rstd, m.inputs[1]!], [m.outputs[0]!, ...r.outputs], { act, from: 'output' }],
        });
        report.fired(bn, 'act-with-reduce', `the ${act} mask (from its output) and the BN's reductions in one pass`);
        continue;
      }
      report.blocked(bn, 'act-with-reduce', 'activationBeforeReduce', `the gradient at the BN output comes from ${m ? `${m.op} "${m.name}"` : 'nowhere'}`);
    }
    // the fused node goes where the activation's backward was: its inputs exist there, and every
    // reader of dz and of the reductions comes later
    const reduces = new Set([...plan.values()].map((p) => p.reduce.id));
    return rebuild(g, (n, w) => {
      if (reduces.has(n.id)) return w.drop(n);
      const f = plan.get(n.id);
      if (!f) return w.keep(n);
      w.node(...f.node);
    });
  },
};
