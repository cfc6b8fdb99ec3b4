/**
 * What `Network.create` needs of the engines without importing them: the engine's cost guard
 * and the platform's engine factory. The Node engine (src/runtime/engine.ts) registers
 * `createEngine` here when it loads, so that src/models stays free of Node-only code and the
 * browser build (src/browser/) never reaches it.
 */
import type { FusionOptions } from '../passes/index.js';
import type { Engine, EngineChoice, EngineKind } from './engine.js';

/**
 * The cost guards of each engine. cacheResident (FusionOptions.minFissionBytes): on the native
 * engine a BN whose input tensor is at most 4 MiB stays whole. Such tensors stay in the caches
 * (L2 + L3 here), where its standalone passes cost less than the work the fused convolutions
 * add: measured on resnet20 at batch 64 (every BN input 4 MiB or less), fused was 0.86-0.95x of
 * unfused on native (docs/design/native-engine.md). Depthwise fusion stays on: with the native
 * depthwise kernels at the full vector width the fused step beats the one with depthwise fusion
 * off (mobilenet_v2 at 224 px, batch 32: 1.05-1.07x of unfused against 0.96-1.01x;
 * docs/design/2026-12-07-lean-cnns.md). activationCost (FusionOptions.fusedActivations): SiLU
 * and hardswish stay out of the convolutions on both engines, and the WebAssembly engine keeps
 * depthwise fusion off (docs/design/native-engine.md, "The cost guard on activations").
 */
export function fusionCosts(kind: EngineKind): Pick<FusionOptions, 'minFissionBytes' | 'depthwiseFusion' | 'fusedActivations'> {
  // with SiLU in the native depthwise kernels efficientnet_b0_cifar's fused step ran at 0.85x of
  // unfused (convolutions 746 against 488 ms per step); the WebAssembly fused depthwise kernels
  // apply their prologue at every tap: depthwise fusion made mobilenet_v2 (224 px, batch 32)
  // 0.83x of unfused there, and SiLU in the convolutions efficientnet_b0 (batch 16) 0.43x
  return kind === 'native'
    ? { minFissionBytes: 4 << 20, fusedActivations: ['none', 'relu', 'relu6'] }
    : kind === 'wasm'
      ? { minFissionBytes: 0, depthwiseFusion: false, fusedActivations: ['none', 'relu', 'relu6'] }
      : { minFissionBytes: 0 };
}

/** Creates an engine of the kind asked for (the platform's createEngine). */
export type EngineFactory = (o: { kind?: EngineChoice; threads?: number }) => Promise<Engine>;

let factory: EngineFactory | undefined;

/** Registers the platform's engine factory (src/runtime/engine.ts does, when it loads). */
export function setEngineFactory(f: EngineFactory): void {
  factory = f;
}

/** An engine from the registered factory; without one, an error saying what to import. */
export function defaultEngine(o: { kind?: EngineChoice; threads?: number }): Promise<Engine> {
  if (!factory) throw new Error('no engine to create: import createEngine from bnff (Node.js), or pass an engine to Network.create');
  return factory(o);
}
