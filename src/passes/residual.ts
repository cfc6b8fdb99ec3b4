/**
 * Fusion (d), ResNet: the BN that feeds a residual add (and the projection shortcut's BN) is
 * fused with the add and the ReLU into one elementwise kernel, forward and backward.
 *   z1 = bn_apply(x1); [z2 = bn_apply(x2)]; s = add(z1, o | z2); y = relu(s)
 *     -> y = bn_add_relu(x1, ..., o | x2, ...)
 *   ds = relu_backward(dy, y); bn_backward_reduce(ds, x1, ...) [; bn_backward_reduce(ds, x2, ...)]
 *     -> [ds, dbeta1, dgamma1, (dbeta2, dgamma2)] = bn_add_relu_backward(dy, y, x1, mean1, rstd1, ...)
 * Guards: addAfterBn (a bn_apply without activation feeds an add), bnSoleReader (nothing else
 * reads the normalized tensor). Where the add is not read by one ReLU alone (MobileNetV2's and
 * EfficientNet's residual end), the forward fuses without the ReLU,
 *   z1 = bn_apply(x1); y = add(z1, o)  ->  y = bn_add_relu{relu: false}(x1, ..., o)
 * and the backward stays as it is (the add passes its gradient to the BN reductions unmasked).
 */
import type { Node } from '../graph/ir.js';
import { type Activation, activationOf } from '../ops/activation.js';
import { type Pass, consumers, producer, rebuild } from './rewrite.js';

interface Match {
  add: Node;
  /** The ReLU after the add; absent: the residual end without one (bn_add_relu{relu: false}). */
  relu?: Node;
  bn1: Node;
  bn2?: Node;
  other?: number;
  reluBackward?: Node;
  reduce1?: Node;
  reduce2?: Node;
}

export const residualAddRelu: Pass = {
  name: 'residual-add-relu',
  run(g, report) {
    const uses = consumers(g);
    const soleBnReader = (z: number, add: Node): Node | undefined => {
      const p = producer(g, z);
      if (!p || p.op !== 'bn_apply' || activationOf(p.attrs as { act?: Activation; relu?: boolean }) !== 'none') return undefined;
      const r = uses.get(z) ?? [];
      return r.length === 1 && r[0] === add ? p : undefined;
    };
    const matches: Match[] = [];
    for (const add of g.nodes) {
      if (add.op !== 'add') continue;
      const [a, b] = add.inputs as [number, number];
      const bnA = soleBnReader(a, add);
      const bnB = soleBnReader(b, add);
      const bn1 = bnA ?? bnB;
      if (!bn1) continue; // not a BN-fed add (gradient sums are adds too): nothing to report
      const layer = String(bn1.attrs.bn ?? bn1.name);
      const readers = uses.get(add.outputs[0]!) ?? [];
      const bn2 = bnA && bnB ? bnB : undefined;
      const other = bn2 ? undefined : bn1 === bnA ? b : a;
      if (readers.length !== 1 || readers[0]!.op !== 'relu') {
        // the residual end without a ReLU (MobileNetV2, EfficientNet): forward only, the add's
        // gradient reaches the BN reductions unmasked
        matches.push({ add, bn1, bn2, other });
        report.fired(
          layer,
          'residual-add-relu',
          `normalize + ${bn2 ? `normalize of "${String(bn2.attrs.bn)}"` : 'identity'} + add "${add.name}" in one kernel (no ReLU after the add: read by ${readers.map((r) => `${r.op} "${r.name}"`).join(', ') || 'nothing'})`,
        );
        if (bn2) report.fired(String(bn2.attrs.bn ?? bn2.name), 'residual-add-relu', `normalized inside the residual kernel of "${add.name}"`);
        continue;
      }
      const relu = readers[0]!;
      const m: Match = { add, relu, bn1, bn2, other };
      const rb = (uses.get(relu.outputs[0]!) ?? []).find((n) => n.op === 'relu_backward' && n.inputs[1] === relu.outputs[0]);
      if (rb) {
        m.reluBackward = rb;
        const ds = rb.outputs[0]!;
        const reduceOf = (bn: Node): Node | undefined => (uses.get(ds) ?? []).find((n) => n.op === 'bn_backward_reduce' && n.inputs[1] === bn.inputs[0]);
        m.reduce1 = reduceOf(bn1);
        m.reduce2 = bn2 ? reduceOf(bn2) : undefined;
        if (!m.reduce1 || (bn2 && !m.reduce2)) m.reluBackward = undefined;
      }
      matches.push(m);
      report.fired(
        layer,
        'residual-add-relu',
        `normalize + ${bn2 ? `normalize of "${String(bn2.attrs.bn)}"` : 'identity'} + add "${add.name}" + ReLU "${relu.name}" in one kernel${m.reluBackward ? ', and its backward' : ''}`,
      );
      if (bn2) report.fired(String(bn2.attrs.bn ?? bn2.name), 'residual-add-relu', `normalized inside the residual kernel of "${add.name}"`);
    }
    const at = new Map<number, Match>();
    for (const m of matches) {
      at.set((m.relu ?? m.add).id, m);
      if (m.reluBackward) at.set(m.reluBackward.id, m);
    }
    return rebuild(g, (n, w) => {
      const m = at.get(n.id);
      if (!m) return w.keep(n);
      const shortcut = m.bn2 ? 'bn' : 'identity';
      if (n === (m.relu ?? m.add)) {
        const ins = [...m.bn1.inputs, ...(m.bn2 ? m.bn2.inputs : [m.other!])];
        w.node('bn_add_relu', `${m.add.name}.bn_add_relu`, ins, n.outputs, m.relu ? { shortcut } : { shortcut, relu: false });
        return;
      }
      const [dy, y] = n.inputs as [number, number];
      const ins = [dy, y, m.bn1.inputs[0]!, m.bn1.inputs[1]!, m.bn1.inputs[2]!];
      if (m.bn2) ins.push(m.bn2.inputs[0]!, m.bn2.inputs[1]!, m.bn2.inputs[2]!);
      const outs = [n.outputs[0]!, ...m.reduce1!.outputs, ...(m.reduce2 ? m.reduce2.outputs : [])];
      w.node('bn_add_relu_backward', `${m.add.name}.bn_add_relu.backward`, ins, outs, { shortcut });
      w.drop(m.reduce1!);
      if (m.reduce2) w.drop(m.reduce2);
    });
  },
};
