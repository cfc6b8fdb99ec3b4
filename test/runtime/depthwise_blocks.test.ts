/**
 * MobileNetV2's and EfficientNet-B0's blocks on the engine under test (BNFF_ENGINE: native where
 * built, or wasm), fused with BN work in the depthwise convolutions (the default: the fused
 * depthwise kernels), fused with the depthwise convolutions plain (ablation depthwise-unfused),
 * and unfused, each against the float64 reference: the loss, the output, every gradient and the
 * running statistics of one training step (test/helpers/step.ts), and fused no worse than about
 * twice unfused. Errors per tensor relative to its largest magnitude, for gradients at least a
 * tenth of the step's largest gradient (as the property tests measure them). The fused runs
 * lower every fused convolution to fast kernels, and the BNs whose activation (ReLU6, SiLU,
 * hardswish) comes before a 1x1 or GEMM 3x3 convolution fold into it: normalize+activation in its
 * input packing, the derivative and reductions in its backward-data epilogue.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Builder } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/ir.js';
import { mbconv } from '../../src/models/efficientnet.js';
import { convBnAct, invertedResidual } from '../../src/models/mobilenet.js';
import { ABLATIONS, ALL_FUSION, type FusionOptions, NO_FUSION } from '../../src/passes/index.js';
import { createEngine, type Engine } from '../../src/runtime/engine.js';
import { HostMemory } from '../../src/runtime/memory.js';
import { relErrs, type StepCase, trainStep } from '../helpers/step.js';

let engine: Engine | undefined;
after(() => engine?.close());

/** The dense (not depthwise) fused convolutions whose x prologue applies `act`, and the backward-data whose dx epilogue differentiates it. */
function denseWith(g: Graph, act: string): { fwd: number; dx: number } {
  const dense = (n: Graph['nodes'][number]): boolean => (n.attrs.groups ?? 1) === 1;
  const fwd = g.nodes.filter((n) => n.op === 'conv2d_fused' && dense(n) && (n.attrs.xPrologue as { act?: string } | undefined)?.act === act).length;
  const dx = g.nodes.filter(
    (n) => n.op === 'conv2d_fused_backward_data' && dense(n) && (n.attrs.dxEpilogue as { act?: string } | undefined)?.act === act,
  ).length;
  return { fwd, dx };
}

/** Per case, the activations that must fold into dense convolutions with every fusion on. */
const DENSE_ACTS: Record<string, string[]> = {};

const CASES: [string, StepCase][] = [
  [
    'MobileNetV2: stem, inverted residuals (stride 1 with the residual add, stride 2; ReLU6)',
    {
      input: [4, 3, 12, 12],
      build: (b: Builder, x: number) => {
        let h = convBnAct(b, 'stem', x, { out: 16, kernel: 3, act: 'relu6' });
        h = invertedResidual(b, 'ir1', h, 16, 1, 6);
        h = invertedResidual(b, 'ir2', h, 24, 2, 6);
        return invertedResidual(b, 'ir3', h, 24, 1, 6);
      },
    },
  ],
  [
    'ReLU6, SiLU and hardswish before 1x1 convolutions (forward, 1x1 backward-data and backward-weights) and a 3x3 GEMM one (C % 4 != 0: not Winograd)',
    {
      input: [4, 6, 7, 7],
      build: (b: Builder, x: number) => {
        let h = convBnAct(b, 'c1', x, { out: 20, kernel: 1, act: 'relu6' });
        h = convBnAct(b, 'c2', h, { out: 13, kernel: 1, act: 'silu' });
        h = b.hardswish('c3.2', b.batchNorm2d('c3.1', b.conv2d('c3.0', h, { out: 10, kernel: 3, padding: 1, bias: false })));
        h = convBnAct(b, 'c4', h, { out: 12, kernel: 3, act: 'relu6' });
        return b.conv2d('head', h, { out: 8, kernel: 1 });
      },
    },
  ],
  [
    'EfficientNet-B0: MBConv 3x3 and 5x5 with squeeze-excitation (SiLU), stride 1 and 2',
    {
      input: [4, 3, 12, 12],
      build: (b: Builder, x: number) => {
        let h = convBnAct(b, 'stem', x, { out: 16, kernel: 3, act: 'silu' });
        h = mbconv(b, 'mb1', h, { expandRatio: 6, kernel: 3, stride: 1, out: 16 }, 0);
        h = mbconv(b, 'mb2', h, { expandRatio: 6, kernel: 5, stride: 2, out: 24 }, 0);
        return mbconv(b, 'mb3', h, { expandRatio: 6, kernel: 5, stride: 1, out: 24 }, 0);
      },
    },
  ],
];

const worst = (m: Map<string, number>): { key: string; err: number } => [...m].reduce((w, [key, err]) => (err > w.err ? { key, err } : w), { key: '', err: 0 });

DENSE_ACTS[CASES[0]![0]] = ['relu6'];
DENSE_ACTS[CASES[1]![0]] = ['relu6', 'silu', 'hardswish'];

for (const [name, c] of CASES) {
  test(`depthwise blocks on the engine, fused (depthwise included, and not) and unfused, match the float64 reference: ${name}`, async () => {
    engine ??= await createEngine({ threads: 2 });
    const ref = trainStep(c, NO_FUSION, new HostMemory('f64'));
    const run = (o: FusionOptions) =>
      worst(
        relErrs(
          ref,
          trainStep(c, o, engine!.memory, engine!.lowering, (exec) => {
            if (o !== ALL_FUSION) return;
            const declined = exec.fallbacks.filter((f) => f.includes('(conv2d_fused'));
            assert.deepEqual(declined, [], 'every fused convolution on fast kernels');
            for (const act of DENSE_ACTS[name] ?? []) {
              const { fwd, dx } = denseWith(exec.graph, act);
              assert.ok(fwd > 0 && dx > 0, `${act}: folded into ${fwd} dense convolutions' x prologue, ${dx} dx epilogues`);
            }
          }),
          1e-2,
          0.1,
        ),
      );
    const unfused = run(NO_FUSION);
    assert.ok(unfused.err < 5e-3, `unfused: ${unfused.key} relative error ${unfused.err}`);
    for (const [mode, o] of [
      ['fused', ALL_FUSION],
      ['fused, depthwise unfused', ABLATIONS['depthwise-unfused']!],
    ] as const) {
      const f = run(o);
      assert.ok(f.err <= Math.max(2 * unfused.err, 1e-4), `${mode}: ${f.key} relative error ${f.err} (unfused ${unfused.err})`);
    }
  });
}
