/**
 * Statistics reuse (DenseNet, beyond the paper). A channel's mean and variance over the batch
 * do not depend on which concatenation it sits in, so
 *   channel_moments(concat(a, b, ...)) -> concat_vec(channel_moments(a), channel_moments(b), ...)
 * and every channel_moments of the same value is computed once (the later ones read the first).
 * Each produced channel's statistics are then computed once, where the channel is produced
 * (fused into its convolution by moments_into_conv), and shared by every later BN.
 * Guard: inputIsConcat (for the split).
 */
import { type GraphWriter, type Pass, producer, rebuild } from './rewrite.js';

export const momentsReuse: Pass = {
  name: 'moments-reuse',
  run(g, report) {
    const done = new Map<number, [number, number]>(); // value -> [mean, var]
    const momentsOf = (v: number, name: string, w: GraphWriter, bn: string): [number, number] => {
      const have = done.get(v);
      if (have) return have;
      const out = w.emit('channel_moments', name, [v], { bn }) as [number, number];
      done.set(v, out);
      return out;
    };
    return rebuild(g, (n, w) => {
      if (n.op !== 'channel_moments') return w.keep(n);
      const bn = String(n.attrs.bn ?? n.name);
      const x = n.inputs[0]!;
      const [mean, v] = n.outputs as [number, number];
      const prev = done.get(x);
      if (prev) {
        w.substitute(mean, prev[0]);
        w.substitute(v, prev[1]);
        report.fired(bn, 'moments-reuse', 'statistics already computed for this tensor');
        return;
      }
      const p = producer(g, x);
      if (!p || p.op !== 'concat') {
        report.blocked(bn, 'moments-reuse', 'inputIsConcat', `input produced by ${p ? `${p.op} "${p.name}"` : 'the graph input'}`);
        w.keep(n);
        done.set(x, [mean, v]);
        return;
      }
      const before = done.size;
      const parts = p.inputs.map((a) => momentsOf(a, `${g.value(a).name}.moments`, w, bn));
      const fresh = done.size - before;
      w.node(
        'concat_vec',
        `${bn}.mean`,
        parts.map((q) => q[0]),
        [mean],
      );
      w.node(
        'concat_vec',
        `${bn}.var`,
        parts.map((q) => q[1]),
        [v],
      );
      done.set(x, [mean, v]);
      report.fired(bn, 'moments-reuse', `statistics of the concat split into its ${parts.length} inputs, each computed once (${fresh} new here)`);
    });
  },
};
