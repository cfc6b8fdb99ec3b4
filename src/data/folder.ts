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
 * The whole folder (both splits) shares one colour mode and one size, so a model trained on
 * the train split takes the test split as is: it has 3 channels if any image is colour
 * (grayscale images are then repeated into R, G and B), else 1; and every image is resized
 * (bilinear, see resizePlanes) to the size of the first train image, when it differs.
 * Hidden files and folders (names starting with ".") are skipped, and so are plain files next
 * to the class folders; any other file whose extension is not .png, .jpg or .jpeg is an error.
 */

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { DataError, readFileOrThrow, readHeadOrThrow } from './errors.js';
import { type DecodedImage, type ImageInfo, decodeImage, imageInfo, requireImageInfo } from './image.js';
import { type Dataset, resizePlanes } from './dataset.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];
/** Without train/ and test/ folders, image i of each class goes to the test split when i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1. */
export const HOLDOUT_EVERY = 5;
const MAX_CLASSES = 256;

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

const HEAD_BYTES = 65536;

/** A file's size and colour mode, from its first bytes when they hold the header. */
function probe(file: string): ImageInfo {
  const head = readHeadOrThrow(file, HEAD_BYTES);
  return imageInfo(head, file) ?? requireImageInfo(head.length < HEAD_BYTES ? head : readFileOrThrow(file), file);
}

/** Scales an image's bytes to [0, 1] into planar `dst` with `channels` channels, repeating gray into R, G and B. */
function toPlanar(img: DecodedImage, channels: number, dst: Float32Array): void {
  const plane = img.width * img.height;
  for (let c = 0; c < channels; c++) {
    const sc = img.channels === 1 ? 0 : c;
    for (let i = 0; i < plane; i++) dst[c * plane + i] = img.pixels[i * img.channels + sc]! / 255;
  }
}

/** Loads one split of an image folder (see the module comment for layout, colour mode and size). */
export function loadImageFolder(dir: string, split: 'train' | 'test'): Dataset {
  const layout = imageFolderLayout(dir);
  let channels: 1 | 3 = 1;
  for (const e of [...layout.train, ...layout.test]) {
    if (probe(e.file).channels === 3) {
      channels = 3;
      break;
    }
  }
  const { height, width } = probe(layout.train[0]!.file);
  const list = layout[split];
  const per = channels * height * width;
  const images = new Float32Array(list.length * per);
  const labels = new Uint8Array(list.length);
  list.forEach((e, n) => {
    const img = decodeImage(readFileOrThrow(e.file), e.file);
    labels[n] = e.label;
    const out = images.subarray(n * per, (n + 1) * per);
    if (img.height === height && img.width === width) {
      toPlanar(img, channels, out);
    } else {
      const full = new Float32Array(channels * img.height * img.width);
      toPlanar(img, channels, full);
      resizePlanes(full, channels, img.height, img.width, out, height, width);
    }
  });
  return {
    name: `${basename(resolve(dir))}-${split}`,
    images,
    labels,
    count: list.length,
    channels,
    height,
    width,
    numClasses: layout.classNames.length,
    classNames: layout.classNames,
  };
}
