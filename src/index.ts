/**
 * bnff's public API: everything the README and docs/ use is exported here, with its types.
 *
 *   import { Network, SGD, getModel } from 'bnff';
 *   const net = await Network.create(getModel('resnet20')); // fast engine, fused graph
 *   const opt = new SGD(net.params, { lr: 0.1, momentum: 0.9 }, net.memory, net.backend);
 *   const loss = net.forwardBackward(images, labels, [64, 3, 32, 32], { seed: 42, step: 0 });
 *   opt.step(net.trainPlan([64, 3, 32, 32]).grads);
 *   net.close();
 *
 * `Network.create` uses the defaults of `bnff train`: the engine 'auto' (native C++ kernels
 * where the addon is built, else WebAssembly SIMD) and ALL_FUSION with the engine's cost guard.
 * The reference kernels and the unfused graph are asked for: `{ engine: 'reference' }`,
 * `{ fusion: NO_FUSION }`, or the explicit constructor.
 *
 * @packageDocumentation
 */
export { Graph, ShapeError, numel, type Attrs, type Node, type Shape, type Value, type ValueKind } from './graph/ir.js';
export { Builder, type BuilderOptions, type Init, type ParamSpec } from './graph/builder.js';
export { dumpGraph } from './graph/dump.js';
export { appendBackward, pruneDead, type BackwardResult } from './autodiff/backward.js';
export { OPS, getOp } from './ops/index.js';
export type { Arr, BackwardBuilder, KernelArgs, OpDef, RunContext } from './ops/op.js';
export type { Conv2dAttrs } from './ops/conv2d.js';
export type { Activation } from './ops/activation.js';
export type { Pool2dAttrs } from './ops/pool2d.js';
export { Executor, NonFiniteError, type LoweringContext, type PlanStats } from './runtime/executor.js';
export { Arena, HostMemory, HeapOverflowError, MAX_ARENA_BYTES, type DType, type Memory, type Workspace } from './runtime/memory.js';
export { createEngine, defaultThreads, engineChoice, ENGINE_CHOICES, type Engine, type EngineChoice, type EngineKind } from './runtime/engine.js';
export type { Backend, BackendKind, ChunkPartials } from './runtime/backend.js';
export type { Lowering } from './runtime/executor.js';
export { planMemory, type MemoryPlan } from './runtime/planner.js';
export { MODELS, getModel, UnknownModelError, type ModelEntry } from './models/index.js';
export { Network, countParams, type EvalPlan, type ModelDef, type ModelOptions, type NetworkOptions, type TrainPlan } from './models/network.js';
export { torchvisionResnet } from './models/resnet.js';
export { torchvisionDensenet, type TorchvisionDenseNetConfig } from './models/densenet.js';
export {
  torchvisionMobilenetV2,
  mobilenetV2Cifar,
  type MobileNetV2Config,
  type MobileNetV2CifarOptions,
  type InvertedResidualRow,
} from './models/mobilenet.js';
export { torchvisionEfficientnet, efficientnetB0Cifar, type EfficientNetConfig, type MBConvRow } from './models/efficientnet.js';
export { ALL_FUSION, NO_FUSION, ABLATIONS, applyFusion, isFused, FusionReport, type FusionOptions } from './passes/index.js';
export type { ConvSpec, KernelCapabilities } from './passes/capabilities.js';
export type { Note as FusionNote } from './passes/rewrite.js';
export { FAST_KERNELS } from './runtime/capabilities.js';
export { foldBatchNorm, bnScaleShift, derivedTensor, type BnSource, type Derivation, type FoldedGraph } from './passes/fold_bn.js';
export { exportOnnx, writeOnnxFile, OnnxExportError, type OnnxExportOptions } from './export/onnx.js';
export { loadWeights, saveWeights } from './io/weights.js';
export { loadWeightsFromBytes, weightsToBytes } from './io/state_dict.js';
export type { SafeTensor, SafetensorsContents, SafetensorsDType, TensorData } from './io/safetensors.js';
export type { WriteGuard } from './io/safe_write.js';
export { SGD, type SgdOptions } from './train/sgd.js';
export { learningRate, type Schedule } from './train/schedule.js';
export {
  train,
  evaluate,
  DivergedError,
  InterruptedError,
  type TrainConfig,
  type EpochMetrics,
  type PartialEpoch,
  type ResumeState,
  type StepEvent,
  type TrainHooks,
} from './train/trainer.js';
export { DATASET_SPECS, loadDataset, type LoadOptions } from './data/index.js';
export type { DataSource, BatchIterator, EpochOptions } from './data/source.js';
export type { DataLimits } from './data/limits.js';
export {
  batchCount,
  batches,
  channelStats,
  fitTo,
  normalize,
  padTo,
  parseAugment,
  resizeTo,
  take,
  type Augment,
  type Batch,
  type BatchOptions,
  type Dataset,
} from './data/dataset.js';
export { encodeIdx, writeIdx } from './data/idx.js';
export { PrefetchError, PrefetchedBatches, prefetchBatches } from './data/prefetch.js';
export { CIFAR10_CLASS_NAMES } from './data/cifar10.js';
export { FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES } from './data/mnist.js';
export { DataError, DataSpecError } from './data/errors.js';
