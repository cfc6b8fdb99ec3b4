/**
 * bnff's public API.
 *
 *   import { getModel, Network, Arena, SGD } from 'bnff';
 *   const net = new Network(getModel('resnet20'), new Arena(), 42);
 *   const loss = net.forwardBackward(images, labels, [64, 3, 32, 32], { seed: 42, step: 0 });
 *   new SGD(net.params, { lr: 0.1, momentum: 0.9 }).step(net.trainPlan([64, 3, 32, 32]).grads);
 */
export { Graph, ShapeError, numel, type Node, type Shape, type Value } from './graph/ir.js';
export { Builder, type Init, type ParamSpec } from './graph/builder.js';
export { dumpGraph } from './graph/dump.js';
export { appendBackward, pruneDead } from './autodiff/backward.js';
export { OPS, getOp, type Arr, type OpDef } from './ops/index.js';
export { Executor, NonFiniteError } from './runtime/executor.js';
export { Arena, HostMemory, HeapOverflowError, type Memory } from './runtime/memory.js';
export { planMemory } from './runtime/planner.js';
export { MODELS, getModel, UnknownModelError } from './models/index.js';
export { Network, countParams, type ModelDef, type ModelOptions } from './models/network.js';
export { torchvisionResnet } from './models/resnet.js';
export { torchvisionDensenet, type TorchvisionDenseNetConfig } from './models/densenet.js';
export { foldBatchNorm, bnScaleShift, derivedTensor, type FoldedGraph } from './passes/fold_bn.js';
export { exportOnnx, writeOnnxFile, OnnxExportError } from './export/onnx.js';
export { loadWeights, saveWeights } from './io/weights.js';
export { SGD, type SgdOptions } from './train/sgd.js';
export { learningRate, type Schedule } from './train/schedule.js';
export { train, evaluate, createNetwork, DivergedError, InterruptedError, type TrainConfig, type EpochMetrics, type PartialEpoch, type ResumeState } from './train/trainer.js';
export * from './data/index.js';
export { DataError, DataSpecError } from './data/errors.js';
