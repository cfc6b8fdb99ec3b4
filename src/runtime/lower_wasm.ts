/**
 * Lowers graph nodes to the WebAssembly kernels (src/kernels/*.ts hosts, NHWC activations).
 * One entry per op type; ops without an entry run their reference kernel (see Executor).
 */
import type { Node } from '../graph/ir.js';
import type { Lowering, LoweringContext } from './executor.js';
import type { Arena } from './memory.js';
import type { ThreadPool } from './pool.js';

type Rule = (node: Node, lc: LoweringContext, e: WasmLowering) => (() => void) | undefined;

const RULES: Record<string, Rule> = {};

export class WasmLowering implements Lowering {
  readonly name = 'wasm';
  constructor(readonly pool: ThreadPool, readonly arena: Arena) {}

  lower(node: Node, lc: LoweringContext): (() => void) | undefined {
    return RULES[node.op]?.(node, lc, this);
  }
}
