/**
 * A readable text dump of a graph, one node per line:
 *   %12 = conv2d "layer1.0.conv1" (%11, $layer1.0.conv1.weight) stride=1 padding=1 -> [8, 16, 32, 32]
 * %n are computed values, $name parameters and state, @name inputs and constants.
 */
import type { Graph, Value } from './ir.js';

function ref(v: Value): string {
  if (v.kind === 'param' || v.kind === 'state') return `$${v.name}`;
  if (v.kind === 'input' || v.kind === 'const') return `@${v.name}`;
  return `%${v.id}`;
}

function attrStr(attrs: Record<string, unknown>): string {
  return Object.entries(attrs)
    .filter(([k, v]) => v !== undefined && !k.endsWith('Shape'))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('x') : String(v)}`)
    .join(' ');
}

/** The graph as text: a line per input, then per node (outputs = op "layer" (inputs) attributes -> shapes). */
export function dumpGraph(g: Graph): string {
  const lines: string[] = [];
  const inputs = g.values.filter((v) => v.kind === 'input');
  for (const v of inputs) lines.push(`input @${v.name}: [${v.shape.join(', ')}]`);
  for (const n of g.nodes) {
    const outs = n.outputs.map((o) => ref(g.value(o))).join(', ');
    const ins = n.inputs.map((i) => ref(g.value(i))).join(', ');
    const shapes = n.outputs.map((o) => `[${g.value(o).shape.join(', ')}]`).join(', ');
    const a = attrStr(n.attrs);
    lines.push(`${outs} = ${n.op} "${n.name}" (${ins})${a ? ' ' + a : ''} -> ${shapes}`);
  }
  for (const [name, id] of g.outputs) lines.push(`output ${name} = ${ref(g.value(id))}`);
  return lines.join('\n');
}
