/**
 * Image lists: a CSV or JSON file naming each image and its label, the form torchvision users
 * keep next to an image collection that is not laid out one folder per class.
 *
 *   CSV   a header row, then one row per image; the columns `path` (or file, filename, image)
 *         and `label` (or class, target) are required, `split` (train, test or val) optional.
 *         Fields may be quoted ("a, b.jpg"; "" is a quote), lines end in LF or CRLF.
 *   JSON  an array of {"path": ..., "label": ..., "split"?: ...} objects or [path, label]
 *         pairs, or {"train": [...], "test": [...]} (or "val") of those.
 *
 * Paths are relative to the list file's folder (or absolute). Labels are class names (classes
 * are the sorted distinct names, as folders are) or, when every label is a whole number,
 * class indices (0..max, named by their digits). Without a split column every 5th image of a
 * class, in list order, is a test image (HOLDOUT_EVERY, as for folders). Every listed file
 * must exist; a missing one is named with its line.
 */

import { statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { DataError, readFileOrThrow } from './errors.js';
import { type FolderEntry, type FolderLayout, HOLDOUT_EVERY, MAX_CLASSES } from './folder.js';

/** One listed image before labels become indices; `where` names its line or entry for messages. */
interface Row {
  path: string;
  label: string;
  split: 'train' | 'test' | undefined;
  where: string;
}

/** RFC 4180 fields of a CSV text: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string, file: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field.length === 0) quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      line++;
    } else field += ch;
  }
  if (quoted) throw new DataError(`line ${line}: a quoted field is not closed`, file);
  if (field.length > 0 || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

const PATH_COLUMNS = ['path', 'file', 'filename', 'image'];
const LABEL_COLUMNS = ['label', 'class', 'target'];

function splitOf(v: string | undefined, where: string, file: string): 'train' | 'test' | undefined {
  if (v === undefined || v === '') return undefined;
  const s = v.trim().toLowerCase();
  if (s === 'train') return 'train';
  if (s === 'test' || s === 'val') return 'test';
  throw new DataError(`${where}: split "${v}" is not train, test or val`, file);
}

function csvRows(file: string, text: string): Row[] {
  const rows = parseCsv(text, file).filter((r) => !(r.length === 1 && r[0]!.trim() === ''));
  if (rows.length === 0) throw new DataError('empty list: expected a header row (path,label) and one row per image', file);
  const header = rows[0]!.map((h) => h.trim().toLowerCase());
  const pi = header.findIndex((h) => PATH_COLUMNS.includes(h));
  const li = header.findIndex((h) => LABEL_COLUMNS.includes(h));
  const si = header.indexOf('split');
  if (pi < 0 || li < 0) {
    throw new DataError(`the header row "${rows[0]!.join(',')}" lacks a ${pi < 0 ? `path column (${PATH_COLUMNS.join(', ')})` : `label column (${LABEL_COLUMNS.join(', ')})`}`, file);
  }
  return rows.slice(1).map((r, i) => {
    const where = `line ${i + 2}`;
    if (r.length !== header.length) throw new DataError(`${where}: ${r.length} fields where the header has ${header.length}`, file);
    return { path: r[pi]!, label: r[li]!.trim(), split: splitOf(si < 0 ? undefined : r[si], where, file), where };
  });
}

function jsonRow(v: unknown, where: string, file: string, split?: 'train' | 'test'): Row {
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && (typeof v[1] === 'string' || typeof v[1] === 'number')) {
    return { path: v[0], label: String(v[1]), split, where };
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const p = PATH_COLUMNS.map((k) => o[k]).find((x) => x !== undefined);
    const l = LABEL_COLUMNS.map((k) => o[k]).find((x) => x !== undefined);
    if (typeof p === 'string' && (typeof l === 'string' || typeof l === 'number')) {
      return { path: p, label: String(l), split: split ?? splitOf(typeof o.split === 'string' ? o.split : undefined, where, file), where };
    }
  }
  throw new DataError(`${where}: expected {"path": "...", "label": ...} or ["path", label], got ${JSON.stringify(v)?.slice(0, 80)}`, file);
}

function jsonRows(file: string, text: string): Row[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new DataError(`not valid JSON (${(e as Error).message})`, file);
  }
  if (Array.isArray(doc)) return doc.map((v, i) => jsonRow(v, `entry ${i}`, file));
  if (doc !== null && typeof doc === 'object') {
    const o = doc as Record<string, unknown>;
    const test = o.test ?? o.val;
    if (Array.isArray(o.train) && Array.isArray(test)) {
      return [
        ...o.train.map((v, i) => jsonRow(v, `train entry ${i}`, file, 'train')),
        ...test.map((v, i) => jsonRow(v, `${o.test ? 'test' : 'val'} entry ${i}`, file, 'test')),
      ];
    }
  }
  throw new DataError('expected a JSON array of {"path", "label"} entries, or {"train": [...], "test": [...]}', file);
}

/** The classes and the files of each split of a CSV or JSON image list (see the module comment). */
export function imageListLayout(file: string): FolderLayout {
  const text = readFileOrThrow(file).toString('utf8');
  const rows = file.toLowerCase().endsWith('.json') ? jsonRows(file, text) : csvRows(file, text);
  if (rows.length === 0) throw new DataError('the list names no images', file);
  const base = dirname(file);
  const numeric = rows.every((r) => /^\d+$/.test(r.label));
  let classNames: string[];
  let labelOf: (r: Row) => number;
  if (numeric) {
    const max = Math.max(...rows.map((r) => Number(r.label)));
    if (max >= MAX_CLASSES) throw new DataError(`label ${max}: at most ${MAX_CLASSES} classes are supported (labels 0..${MAX_CLASSES - 1})`, file);
    classNames = Array.from({ length: max + 1 }, (_, i) => String(i));
    labelOf = (r) => Number(r.label);
  } else {
    classNames = [...new Set(rows.map((r) => r.label))].sort();
    if (classNames.length > MAX_CLASSES) throw new DataError(`${classNames.length} classes; at most ${MAX_CLASSES} are supported`, file);
    const index = new Map(classNames.map((c, i) => [c, i]));
    labelOf = (r) => index.get(r.label)!;
  }
  for (const r of rows) if (r.label === '') throw new DataError(`${r.where}: empty label`, file);
  const layout: FolderLayout = { classNames, train: [], test: [] };
  const seen = new Array<number>(classNames.length).fill(0);
  const split = rows.some((r) => r.split !== undefined);
  for (const r of rows) {
    if (r.path.trim() === '') throw new DataError(`${r.where}: empty path`, file);
    const path = isAbsolute(r.path) ? r.path : join(base, r.path);
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      throw new DataError(`${r.where}: ${path}: file not found`, file);
    }
    if (!isFile) throw new DataError(`${r.where}: ${path}: not a file`, file);
    const e: FolderEntry = { file: path, label: labelOf(r) };
    if (split) {
      if (r.split === undefined) throw new DataError(`${r.where}: no split, where other rows have one: give every row train, test or val`, file);
      layout[r.split].push(e);
    } else {
      (seen[e.label]++ % HOLDOUT_EVERY === HOLDOUT_EVERY - 1 ? layout.test : layout.train).push(e);
    }
  }
  if (layout.train.length === 0) throw new DataError('no training images in the list', file);
  if (layout.test.length === 0) {
    throw new DataError(split ? 'no test (or val) images in the list' : `too few images to hold out a test split: every ${HOLDOUT_EVERY}th image of a class is a test image, and no class has ${HOLDOUT_EVERY}`, file);
  }
  return layout;
}
