/**
 * Kernel names follow one grammar (docs/contributing.md, "Kernel names"), and every kernel of the
 * ABI but the bench module's probes has a native twin of that name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KERNELS } from '../../src/kernels/abi/kernels.js';
import { NativeBackend, nativeStatus } from '../../src/runtime/native.js';

const OPS = 'bn|bnf|relu|relu6|silu|hardswish|sigmoid|channel_scale|stochastic_depth|add|mul|pool_max|pool_avg|pool_gap|shortcut_pad|copy|slice|layout|sgd';
const WHAT = 'forward|backward|backward_data|backward_reduce|backward_scale|stats|normalize|update|convert|fill|channels|concat|affine|add_relu|relu_mask|mask';
const MEMORY_BOUND = new RegExp(`^(${OPS})_(${WHAT})(_acc|_act)?$`);
const CONV_PASSES = [
  'pack_w(_fwd|_bwd_data)?(_t|_dot|_flip)?',
  'fwd(_t|_dot)?(_f|_dx_f|_dy_f)?',
  'bwd_data(_1x1)?(_f)?',
  'bwd_w(_t|_dot)?(_out|_f)?',
  'bias_grad(_f)?',
];
const CONV = new RegExp(`^conv(_dw|_wino)?_(${CONV_PASSES.join('|')})$`);

const production = Object.keys(KERNELS).filter((k) => KERNELS[k]!.module !== 'bench');

test('every kernel name follows the grammar', () => {
  const off = production.filter((k) => !MEMORY_BOUND.test(k) && !CONV.test(k));
  assert.deepEqual(off, [], 'names outside the grammar');
  assert.ok(production.length > 60, `${production.length} kernels`);
});

test('every kernel but the bench probes has a native twin of the same name', async (t) => {
  const st = await nativeStatus();
  if (!st.ok || !st.addon || !st.isa) return t.skip(`native engine unavailable: ${st.reason}`);
  assert.deepEqual(NativeBackend.missing(st.addon, st.isa), []);
});
