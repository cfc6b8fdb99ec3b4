/**
 * Fusion (a): the statistics half of a BN goes into the epilogue of the convolution that
 * produces its input: per-channel moments accumulated while the output tile is in registers.
 *   y = conv(x); [m, v] = channel_moments(y)   ->   [y, m, v] = conv2d_fused{epilogue: moments}(x)
 * Guards: producerIsConv (the BN input comes straight from a convolution), producerFree (that
 * convolution has no epilogue yet), depthwiseFused (a depthwise convolution only where the
 * kernels have fused depthwise kernels and depthwise fusion is on: conv_parts.ts depthwiseGate).
 */
import { type ConvParts, DEPTHWISE_GUARD, type DepthwiseGate, convAttrs, convInputs, depthwiseGate, readConv } from './conv_parts.js';
import { type Pass, producer, rebuild } from './rewrite.js';

export const momentsIntoConv: Pass = momentsIntoConvWith(depthwiseGate(false));

/** The rule; dw: the depthwiseFused guard. */
export function momentsIntoConvWith(dw: DepthwiseGate): Pass {
  return {
    name: 'moments-into-conv',
    run(g, report) {
      const epilogueFor = new Map<number, { conv: number; moments: number }>();
      for (const n of g.nodes) {
        if (n.op !== 'channel_moments') continue;
        const bn = String(n.attrs.bn ?? n.name);
        const p = producer(g, n.inputs[0]!);
        if (!p || (p.op !== 'conv2d_fused' && p.op !== 'conv2d')) {
          report.blocked(bn, 'moments-into-conv', 'producerIsConv', `input produced by ${p ? `${p.op} "${p.name}"` : 'the graph input'}`);
          continue;
        }
        const why = dw(g, p);
        if (why) {
          report.blocked(bn, 'moments-into-conv', DEPTHWISE_GUARD, why);
          continue;
        }
        if (readConv(p).attrs.epilogue || [...epilogueFor.values()].some((e) => e.conv === p.id)) {
          report.blocked(bn, 'moments-into-conv', 'producerFree', `convolution "${p.name}" already has an epilogue`);
          continue;
        }
        epilogueFor.set(p.id, { conv: p.id, moments: n.id });
        report.fired(bn, 'moments-into-conv', `statistics in the epilogue of "${p.name}"`);
      }
      return rebuild(g, (n, w) => {
        const e = epilogueFor.get(n.id);
        if (e) {
          const m = g.node(e.moments);
          const p: ConvParts = readConv(n);
          p.attrs.epilogue = 'moments';
          w.node('conv2d_fused', n.name, convInputs(p), [...p.outputs, ...m.outputs], convAttrs(p));
          w.drop(m);
          return;
        }
        w.keep(n);
      });
    },
  };
}
