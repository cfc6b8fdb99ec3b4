/**
 * `bnff export`: a checkpoint (or weights file) as an ONNX model (src/export/onnx.ts), written
 * atomically. The file's metadata records the model, the epoch and the normalisation the
 * input must have (mean/std per channel, images zero-padded to the input size).
 * Export never replaces its inputs (the checkpoint, the run's config.json) or anything that is
 * not a regular file, and an existing regular file only with --force (src/io/safe_write.ts).
 */
import path from 'node:path';
import { type Command, Option } from 'commander';
import { exportOnnx, ONNX_OPSET, writeOnnxFile } from '../export/onnx.js';
import { loadWeights } from '../io/weights.js';
import { Network } from '../models/network.js';
import { HostMemory } from '../runtime/memory.js';
import { inspectSavedModel } from '../train/checkpoint.js';
import { checkWriteTarget, type WriteGuard } from '../io/safe_write.js';
import { oneOf, positiveInt } from './args.js';
import { checkImageSize } from './sizes.js';

export interface ExportOptions {
  checkpoint: string;
  format: 'onnx';
  out: string;
  model?: string;
  imageSize?: number;
  force?: boolean;
  json: boolean;
}

export function runExport(o: ExportOptions): { out: string; model: string; bytes: number; opset: number; input: number[] } {
  const guard: WriteGuard = { inputs: [o.checkpoint, path.join(path.dirname(o.checkpoint), 'config.json')], force: o.force };
  checkWriteTarget(o.out, guard);
  const saved = inspectSavedModel(o.checkpoint, o.model);
  const imageSize = o.imageSize ?? saved.def.imageSize;
  // an ONNX runtime runs batch 1 at least: its activations must fit where ours would
  checkImageSize(saved.def, imageSize, { option: '--image-size', training: false, batch: 1 });
  const net = new Network(saved.def, new HostMemory('f32'), 0);
  loadWeights(net, o.checkpoint, ['optimizer.']);
  const metadata: Record<string, string> = { model: saved.def.name, source: o.checkpoint };
  if (saved.meta) metadata.epoch = String(saved.meta.epoch);
  for (const k of ['data', 'mean', 'std'] as const) if (saved.config[k] !== undefined) metadata[k] = JSON.stringify(saved.config[k]);
  metadata.input = `float32 NCHW [N, ${saved.def.inChannels}, ${imageSize}, ${imageSize}]: images in [0, 1], zero-padded to ${imageSize}x${imageSize}, then (x - mean[c]) / std[c]`;
  const bytes = exportOnnx(net, { imageSize, metadata });
  writeOnnxFile(o.out, bytes, guard);
  return { out: o.out, model: saved.def.name, bytes: bytes.length, opset: ONNX_OPSET, input: [saved.def.inChannels, imageSize, imageSize] };
}

export function registerExport(program: Command, setCode: (c: number) => void): void {
  program
    .command('export')
    .description('write a checkpoint as an ONNX model (opset 17, BN folded into the convolutions; input "input", output "logits")')
    .requiredOption('-c, --checkpoint <path>', 'a checkpoint.safetensors written by bnff train --out (or its weights.safetensors)')
    .requiredOption('-o, --out <file>', 'the .onnx file to write')
    .addOption(new Option('-f, --format <format>', 'output format').argParser(oneOf(['onnx'] as const)).default('onnx'))
    .addOption(new Option('-m, --model <name>', 'check that the checkpoint is of this model'))
    .addOption(new Option('--image-size <n>', "input height and width (default: the model's own)").argParser(positiveInt))
    .addOption(
      new Option(
        '--force',
        'replace an existing regular file at --out (never the checkpoint or its config.json, never a directory, symlink, FIFO or device)',
      ).default(false),
    )
    .addOption(new Option('--json', 'print one JSON object').default(false))
    .addHelpText('after', '\nExamples:\n  bnff export --checkpoint runs/fm/checkpoint.safetensors --format onnx --out fm.onnx')
    .action((o: ExportOptions) => {
      const r = runExport(o);
      process.stdout.write(
        o.json ? JSON.stringify(r) + '\n' : `wrote ${r.out}: ${r.model}, ONNX opset ${r.opset}, input [N, ${r.input.join(', ')}], ${r.bytes} bytes\n`,
      );
      setCode(0);
    });
}
