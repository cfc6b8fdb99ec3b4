/**
 * bnff's browser entry (`import ... from 'bnff'` under a bundler's "browser" condition, or
 * dist/browser/bnff.js): the API of src/index.ts where it does not touch files, the native addon
 * or worker_threads, which this entry never imports (tools/build-browser.mjs fails the build if
 * anything it reaches imports a node: module). Differences from Node:
 * - createEngine is the WebAssembly engine on Web Workers (src/browser/engine.ts);
 * - weights and datasets come as bytes and URLs, not paths: weightsToBytes / loadWeightsFromBytes,
 *   loadEmbeddedDataset(url, split);
 * - no train() loop (it prefetches batches on a worker thread): write the loop with
 *   forwardBackward and SGD, as in the README.
 *
 *   import { ALL_FUSION, Network, SGD, createEngine, getModel } from 'bnff';
 *   const engine = await createEngine(); // kernels in Web Workers where the page is cross-origin isolated
 *   const net = new Network(getModel('resnet8', { inChannels: 1 }), engine.memory, 0, engine.lowering, ALL_FUSION);
 */
export { Graph, ShapeError, numel, type Node, type Shape, type Value } from '../graph/ir.js';
export { Builder, type Init, type ParamSpec } from '../graph/builder.js';
export { dumpGraph } from '../graph/dump.js';
export { appendBackward, pruneDead } from '../autodiff/backward.js';
export { OPS, getOp, type Arr, type OpDef } from '../ops/index.js';
export { Executor, NonFiniteError } from '../runtime/executor.js';
export { Arena, HostMemory, HeapOverflowError, MAX_ARENA_BYTES, type Memory } from '../runtime/memory.js';
export type { Engine, EngineKind } from '../runtime/engine.js';
export type { Backend, BackendKind } from '../runtime/backend.js';
export type { Lowering } from '../runtime/executor.js';
export { PoolError } from '../runtime/worker_pool.js';
export { planMemory } from '../runtime/planner.js';
export { MODELS, getModel, UnknownModelError } from '../models/index.js';
export { Network, countParams, type EvalPlan, type ModelDef, type ModelOptions, type TrainPlan } from '../models/network.js';
export { torchvisionResnet } from '../models/resnet.js';
export { torchvisionDensenet, type TorchvisionDenseNetConfig } from '../models/densenet.js';
export { ALL_FUSION, NO_FUSION, ABLATIONS, applyFusion, isFused, FusionReport, type FusionOptions } from '../passes/index.js';
export type { Note as FusionNote } from '../passes/rewrite.js';
export { foldBatchNorm, bnScaleShift, derivedTensor, type FoldedGraph } from '../passes/fold_bn.js';
export { explain, formatExplain, type ExplainResult } from '../cli/explain.js';
export { readSafetensors, writeSafetensors, SafetensorsError, type SafetensorsContents, type TensorInput } from '../io/safetensors_format.js';
export { applyStateDict, loadWeightsFromBytes, stateDict, weightsToBytes } from '../io/state_dict.js';
export { SGD, type SgdOptions } from '../train/sgd.js';
export { learningRate, type Schedule } from '../train/schedule.js';
export { evaluate, argmaxCorrect } from '../train/evaluate.js';
export * from '../data/dataset.js';
export { DataError, DataSpecError } from '../data/data_error.js';
export { FASHION_MNIST_CLASS_NAMES, loadEmbeddedDataset } from './data.js';
export { createEngine, defaultThreads, isCrossOriginIsolated, NOT_ISOLATED, type BrowserEngine, type BrowserEngineOptions } from './engine.js';
export { BrowserSupportError, browserVariant, type SupportProblem } from './kernels.js';
