/**
 * Image folders (the layout of torchvision's ImageFolder): one subfolder per class, holding
 * that class's PNG and JPEG images (nested folders allowed). Class names are the sorted
 * subfolder names, and labels their indices.
 *
 *   DIR/train/<class>/... and DIR/test/<class>/... (or DIR/val/) give the two splits; both
 *   must have the same class folders.
 *   DIR/<class>/... without train/ and test/: every 5th image of each class (in sorted order)
 *   is held out as the test split, the rest is the train split, so the two never overlap.
 *
 * The whole folder (both splits) shares one colour mode, so a model trained on the train split
 * takes the test split as is: 3 channels if any image of a sample of the headers is colour
 * (grayscale images are then repeated into R, G and B), else 1. Images are brought to the
 * size asked for as they are decoded (the shorter side resized, then the centre square;
 * stream.ts, transform.ts), never to another image's size.
 * Hidden files and folders (names starting with ".") are skipped, and so are plain files next
 * to the class folders; any other file whose extension is not .png, .jpg or .jpeg is an error.
 */

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { DataError } from './errors.js';
import type { Dataset } from './dataset.js';
import { type DecoderChoice, headerOf } from './decode.js';
import { type DataLimits, DEFAULT_LIMITS, resolveLimits } from './limits.js';
import { readAll, StreamSource } from './stream.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];
/** Without train/ and test/ folders, image i of each class goes to the test split when i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1. */
export const HOLDOUT_EVERY = 5;
export const MAX_CLASSES = 256;

export interface FolderEntry {
  file: string;
  label: number;
}

export interface FolderLayout {
  classNames: string[];
  train: FolderEntry[];
  test: FolderEntry[];
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function hidden(name: string): boolean {
  return name.startsWith('.');
}

/** Sorted names of the (non-hidden) subfolders of `dir`, which must be at least one. */
function classFolders(dir: string): string[] {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((d) => !hidden(d.name) && isDir(join(dir, d.name)))
    .map((d) => d.name)
    .sort();
  if (names.length === 0) {
    throw new DataError('no class folders: an image folder holds one subfolder of images per class (or train/ and test/ folders holding those)', dir);
  }
  if (names.length > MAX_CLASSES) throw new DataError(`${names.length} class folders; at most ${MAX_CLASSES} classes are supported`, dir);
  return names;
}

/** The image files under one class folder, recursively, in sorted order. */
function classImages(classDir: string): string[] {
  const files: string[] = [];
  for (const rel of (readdirSync(classDir, { recursive: true }) as string[]).sort()) {
    if (rel.split(/[\\/]/).some(hidden)) continue;
    const file = join(classDir, rel);
    if (isDir(file)) continue;
    const ext = extname(rel).toLowerCase();
    if (!IMAGE_EXTENSIONS.includes(ext)) {
      throw new DataError(`unsupported file type "${ext || '(no extension)'}"; image folders hold ${IMAGE_EXTENSIONS.join(', ')} files`, file);
    }
    files.push(file);
  }
  if (files.length === 0) throw new DataError(`class folder holds no images (${IMAGE_EXTENSIONS.join(', ')})`, classDir);
  return files;
}

function entries(dir: string, classNames: string[]): FolderEntry[] {
  return classNames.flatMap((c, label) => classImages(join(dir, c)).map((file) => ({ file, label })));
}

/** The classes and the files of each split of an image folder (see the module comment). */
export function imageFolderLayout(dir: string): FolderLayout {
  if (!existsSync(dir)) throw new DataError('image folder not found', dir);
  if (!isDir(dir)) throw new DataError('expected a directory of class folders', dir);
  const trainDir = join(dir, 'train');
  const testDir = ['test', 'val'].map((s) => join(dir, s)).find(isDir);
  if (isDir(trainDir) || testDir !== undefined) {
    if (!isDir(trainDir)) throw new DataError(`has ${basename(testDir!)}/ but no train/ folder: a split folder needs both`, dir);
    if (testDir === undefined) throw new DataError('has train/ but no test/ (or val/) folder: a split folder needs both', dir);
    const classNames = classFolders(trainDir);
    const testClasses = classFolders(testDir);
    const extra = testClasses.filter((c) => !classNames.includes(c));
    const missing = classNames.filter((c) => !testClasses.includes(c));
    if (extra.length > 0 || missing.length > 0) {
      throw new DataError(
        `class folders differ between train/ and ${basename(testDir)}/:` +
          (missing.length > 0 ? ` missing from ${basename(testDir)}/: ${missing.join(', ')};` : '') +
          (extra.length > 0 ? ` missing from train/: ${extra.join(', ')};` : '') +
          ' both splits need the same classes',
        dir,
      );
    }
    return { classNames, train: entries(trainDir, classNames), test: entries(testDir, classNames) };
  }
  const classNames = classFolders(dir);
  const layout: FolderLayout = { classNames, train: [], test: [] };
  classNames.forEach((c, label) => {
    classImages(join(dir, c)).forEach((file, i) => (i % HOLDOUT_EVERY === HOLDOUT_EVERY - 1 ? layout.test : layout.train).push({ file, label }));
  });
  if (layout.test.length === 0) {
    throw new DataError(
      `too few images to hold out a test split: without train/ and test/ folders every ${HOLDOUT_EVERY}th image of a class is a test image, ` +
        `and no class has ${HOLDOUT_EVERY}`,
      dir,
    );
  }
  return layout;
}

/** Files whose headers decide the colour mode (evenly spread over the list). */
export const COLOUR_SAMPLE = 512;

/**
 * 3 if any of up to COLOUR_SAMPLE files, spread evenly over `files`, is colour (RGB, RGBA,
 * palette PNG; 3- or 4-component JPEG), else 1. Only headers are read (64 KiB per file).
 */
export function colourChannels(files: readonly string[], limits: DataLimits = DEFAULT_LIMITS, sample = COLOUR_SAMPLE): 1 | 3 {
  const n = files.length;
  const k = Math.min(n, sample);
  for (let i = 0; i < k; i++) {
    if (headerOf(files[Math.floor((i * n) / k)]!, limits).channels === 3) return 3;
  }
  return 1;
}

export interface ImageLoadOptions {
  /** Images are loaded at size x size: the shorter side resized to it, then the centre square. */
  size: number;
  decoder?: DecoderChoice;
  limits?: Partial<DataLimits>;
}

/**
 * One split of a folder or list layout, decoded into memory at o.size (values v / 255): the
 * streaming pipeline's decode, read to the end.
 */
export function loadImageLayout(layout: FolderLayout, name: string, split: 'train' | 'test', o: ImageLoadOptions): Dataset {
  if (!Number.isInteger(o.size) || o.size < 1) throw new DataError(`image size must be a positive integer, got ${o.size}`);
  const limits = resolveLimits(o.limits);
  const channels = colourChannels([...layout.train, ...layout.test].map((e) => e.file), limits);
  const src = new StreamSource(name, layout[split], layout.classNames.length, layout.classNames, {
    size: o.size, base: o.size, channels, mean: new Array(channels).fill(0), std: new Array(channels).fill(1),
    decoder: o.decoder ?? 'auto', workers: 1, inflight: 2, ahead: 1, limits,
  });
  return readAll(src);
}

/** Loads one split of an image folder at o.size x o.size (see the module comment for layout and colour mode). */
export function loadImageFolder(dir: string, split: 'train' | 'test', o: ImageLoadOptions): Dataset {
  return loadImageLayout(imageFolderLayout(dir), `${basename(resolve(dir))}-${split}`, split, o);
}
