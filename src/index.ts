/**
 * bnff's public API: everything the README and docs/ use is exported here, with its types.
 *
 *   import { ALL_FUSION, Network, SGD, createEngine, getModel } from 'bnff';
 *   const engine = await createEngine(); // auto: native C++ kernels where built, else WebAssembly
 *   const net = new Network(getModel('resnet20'), engine.memory, 42, engine.lowering, ALL_FUSION);
 *   const opt = new SGD(net.params, { lr: 0.1, momentum: 0.9 }, engine.memory, engine.backend);
 *   const loss = net.forwardBackward(images, labels, [64, 3, 32, 32], { seed: 42, step: 0 });
 *   opt.step(net.trainPlan([64, 3, 32, 32]).grads);
 *   engine.close();
 *
 * A Network given no lowering runs the plain reference kernels, and one given no fusion options
 * the unfused graph (NO_FUSION): pass the engine's memory and lowering, and ALL_FUSION, as above.
 */
export { Graph, ShapeError, numel, type Node, type Shape, type Value } from './graph/ir.js';
export { Builder, type Init, type ParamSpec } from './graph/builder.js';
export { dumpGraph } from './graph/dump.js';
export { appendBackward, pruneDead } from './autodiff/backward.js';
export { OPS, getOp, type Arr, type OpDef } from './ops/index.js';
export { Executor, NonFiniteError } from './runtime/executor.js';
export { Arena, HostMemory, HeapOverflowError, MAX_ARENA_BYTES, type Memory } from './runtime/memory.js';
export { createEngine, defaultThreads, engineChoice, ENGINE_CHOICES, type Engine, type EngineChoice, type EngineKind } from './runtime/engine.js';
export type { Backend, BackendKind } from './runtime/backend.js';
export type { Lowering } from './runtime/executor.js';
export { planMemory } from './runtime/planner.js';
export { MODELS, getModel, UnknownModelError } from './models/index.js';
export { Network, countParams, type EvalPlan, type ModelDef, type ModelOptions, type TrainPlan } from './models/network.js';
export { torchvisionResnet } from './models/resnet.js';
export { torchvisionDensenet, type TorchvisionDenseNetConfig } from './models/densenet.js';
export { torchvisionMobilenetV2, mobilenetV2Cifar, type MobileNetV2Config, type MobileNetV2CifarOptions, type InvertedResidualRow } from './models/mobilenet.js';
export { torchvisionEfficientnet, efficientnetB0Cifar, type EfficientNetConfig, type MBConvRow } from './models/efficientnet.js';
export { ALL_FUSION, NO_FUSION, ABLATIONS, applyFusion, isFused, FusionReport, type FusionOptions } from './passes/index.js';
export type { Note as FusionNote } from './passes/rewrite.js';
export { foldBatchNorm, bnScaleShift, derivedTensor, type FoldedGraph } from './passes/fold_bn.js';
export { exportOnnx, writeOnnxFile, OnnxExportError } from './export/onnx.js';
export { loadWeights, saveWeights } from './io/weights.js';
export { SGD, type SgdOptions } from './train/sgd.js';
export { learningRate, type Schedule } from './train/schedule.js';
export { train, evaluate, createNetwork, DivergedError, InterruptedError, type TrainConfig, type EpochMetrics, type PartialEpoch, type ResumeState } from './train/trainer.js';
export * from './data/index.js';
export { DataError, DataSpecError } from './data/errors.js';
