/**
 * Shared code of the golden tests: loading the reference files of tools/make_goldens.py,
 * running a Builder graph (forward + appended backward) on golden inputs, and comparing
 * with a report of the worst element.
 */
import assert from 'node:assert/strict';
import { appendBackward, pruneDead } from '../../src/autodiff/backward.js';
import { Builder } from '../../src/graph/builder.js';
import { type Shape, numel } from '../../src/graph/ir.js';
import { type SafeTensor, readSafetensorsFile } from '../../src/io/safetensors.js';
import type { Arr } from '../../src/ops/op.js';
import { Executor } from '../../src/runtime/executor.js';
import { HostMemory, type Memory } from '../../src/runtime/memory.js';

export const DATA_DIR = new URL('../../../test/golden/data/', import.meta.url).pathname;

export class Golden {
  readonly tensors: Map<string, SafeTensor>;
  readonly metadata: Record<string, string>;

  constructor(readonly file: string) {
    const r = readSafetensorsFile(DATA_DIR + file);
    this.tensors = r.tensors;
    this.metadata = r.metadata;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): SafeTensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.file} has no tensor "${name}"`);
    return t;
  }

  /** The values as float64 numbers (I64 converted). */
  values(name: string): Float64Array {
    const d = this.get(name).data;
    return d instanceof BigInt64Array ? Float64Array.from(d, (v) => Number(v)) : Float64Array.from(d);
  }

  shape(name: string): number[] {
    return this.get(name).shape;
  }

  /** Names after `prefix` of the tensors that start with it, in file order. */
  suffixes(prefix: string): string[] {
    return [...this.tensors.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  meta<T = any>(key: string): T {
    const m = this.metadata[key];
    if (m === undefined) throw new Error(`${this.file} has no metadata "${key}"`);
    return JSON.parse(m) as T;
  }

  /** Case names: metadata keys whose value is {"op": ..., "attrs": ...}. */
  cases(): string[] {
    return Object.keys(this.metadata).filter((k) => {
      try {
        const v = JSON.parse(this.metadata[k]!) as unknown;
        return typeof v === 'object' && v !== null && 'op' in v;
      } catch {
        return false;
      }
    });
  }
}

export interface Tol {
  /** Relative tolerance. */
  rtol: number;
  /** Absolute tolerance; multiplied by max|expected| of the tensor when `scaled`. */
  atol: number;
  scaled?: boolean;
}

export interface CompareResult {
  maxAbs: number;
  /** max |a-e| / max|e| over the tensor. */
  maxRelToMax: number;
  /** max |a-e| / (atol + rtol |e|): passes when <= 1. */
  worstRatio: number;
}

function unravel(i: number, shape: Shape): string {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(i % shape[d]!);
    i = Math.floor(i / shape[d]!);
  }
  return `[${idx.join(', ')}]`;
}

/** Asserts |actual - expected| <= atol + rtol*|expected| elementwise, naming the worst element. */
export function compare(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, shape: Shape, tol: Tol): CompareResult {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} elements, expected ${expected.length}`);
  assert.equal(numel(shape), expected.length, `${what}: shape [${shape.join(', ')}] does not match ${expected.length} elements`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  const atol = tol.scaled ? tol.atol * scale : tol.atol;
  let worst = -1;
  let worstRatio = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const d = Math.abs(a - e);
    const ratio = Number.isNaN(d) ? Infinity : d / (atol + tol.rtol * Math.abs(e));
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
    if (ratio > worstRatio || worst < 0) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    const a = actual[worst]!;
    const e = expected[worst]!;
    assert.fail(
      `${what}: worst element ${worst} ${unravel(worst, shape)} of [${shape.join(', ')}] is ${a}, expected ${e} ` +
        `(|diff| ${Math.abs(a - e).toExponential(3)} > atol ${atol.toExponential(2)} + rtol ${tol.rtol} * |expected|; ` +
        `max|expected| ${scale.toExponential(3)})`,
    );
  }
  return { maxAbs, maxRelToMax: scale > 0 ? maxAbs / scale : maxAbs, worstRatio };
}

/** Accumulates the largest errors seen by a test, for its diagnostic line. */
export class ErrorLog {
  maxAbs = 0;
  maxRelToMax = 0;
  worstRatio = 0;
  worstWhat = '';
  count = 0;

  add(what: string, r: CompareResult): void {
    this.count++;
    this.maxAbs = Math.max(this.maxAbs, r.maxAbs);
    this.maxRelToMax = Math.max(this.maxRelToMax, r.maxRelToMax);
    if (r.worstRatio >= this.worstRatio) {
      this.worstRatio = r.worstRatio;
      this.worstWhat = what;
    }
  }

  toString(): string {
    return (
      `${this.count} tensors: max|diff| ${this.maxAbs.toExponential(2)}, max|diff|/max|ref| ${this.maxRelToMax.toExponential(2)}, ` +
      `worst diff/tolerance ${this.worstRatio.toFixed(3)} (${this.worstWhat})`
    );
  }
}

export type DType = 'f32' | 'f64';

export interface CaseGraph {
  /** The output compared with C.out (and seeded with C.dy). */
  out: number;
}

/**
 * Runs golden case `c` of `gold`: inputs C.in.*, parameters and buffers C.param.<p> bound to
 * the graph's parameter "C.<p>", upstream gradient C.dy; checks C.out, C.grad.* (inputs and
 * parameters) and C.after.* (buffers after the step).
 */
export function checkCase(
  gold: Golden,
  c: string,
  dtype: DType,
  tol: Tol,
  build: (b: Builder, inputs: Record<string, number>, attrs: any) => number,
  log: ErrorLog,
  memory: Memory = new HostMemory(dtype),
): void {
  const { attrs } = gold.meta<{ op: string; attrs: any }>(c);
  const b = new Builder({ training: attrs.training ?? true });
  const inputs: Record<string, number> = {};
  for (const k of gold.suffixes(`${c}.in.`)) inputs[k] = b.input(`${c}.in.${k}`, gold.shape(`${c}.in.${k}`));
  const out = build(b, inputs, attrs);
  const g = b.g;
  assert.deepEqual(g.value(out).shape, gold.shape(`${c}.out`), `${c}: output shape`);
  g.outputs.set('out', out);

  // Parameters and buffers: every one the graph declares must come from the golden file, and back.
  const store = new Map<string, Arr>();
  const goldParams = new Set(gold.suffixes(`${c}.param.`));
  for (const s of b.specs) {
    const p = s.name.slice(c.length + 1);
    assert.ok(s.name.startsWith(`${c}.`) && goldParams.has(p), `${c}: parameter "${s.name}" has no golden value ${c}.param.${p}`);
    goldParams.delete(p);
    const a = memory.alloc(numel(s.shape));
    a.set(gold.values(`${c}.param.${p}`));
    store.set(s.name, a);
  }
  assert.deepEqual([...goldParams], [], `${c}: golden parameters unused by the graph`);

  const gradNames = gold.suffixes(`${c}.grad.`);
  let dyId: number | undefined;
  if (gold.has(`${c}.dy`)) {
    dyId = g.addValue(`${c}.dy`, gold.shape(`${c}.dy`), 'input').id;
    const wrt = gradNames.map((k) => {
      if (k in inputs) return inputs[k]!;
      const v = g.values.find((x) => x.name === `${c}.${k}` && x.kind === 'param');
      assert.ok(v, `${c}: golden gradient "${k}" names neither an input nor a parameter`);
      return v.id;
    });
    const { grads } = appendBackward(g, new Map([[out, dyId]]), wrt);
    gradNames.forEach((k, i) => {
      const d = grads.get(wrt[i]!);
      assert.ok(d !== undefined, `${c}: bnff computed no gradient for "${k}"`);
      g.outputs.set(`grad:${k}`, d);
    });
  }
  const exec = new Executor(pruneDead(g), memory, (name) => store.get(name));
  for (const [k, id] of Object.entries(inputs)) exec.get(id).set(gold.values(`${c}.in.${k}`));
  if (dyId !== undefined) exec.get(dyId).set(gold.values(`${c}.dy`));
  exec.run({ seed: 0, step: 0 });

  const check = (what: string, actual: ArrayLike<number>, ref: string): void => {
    log.add(what, compare(`${c} (${dtype}) ${what}`, actual, gold.values(ref), gold.shape(ref), tol));
  };
  check('out', exec.output('out'), `${c}.out`);
  for (const k of gradNames) check(`grad ${k}`, exec.output(`grad:${k}`), `${c}.grad.${k}`);
  for (const k of gold.suffixes(`${c}.after.`)) {
    const a = store.get(`${c}.${k}`);
    assert.ok(a, `${c}: no bnff buffer for golden ${c}.after.${k}`);
    check(`after ${k}`, a, `${c}.after.${k}`);
  }
}

/** Tolerances stated once for all golden tests. */
export const TOL_F64: Tol = { rtol: 1e-9, atol: 1e-9 };
export const TOL_F32: Tol = { rtol: 1e-4, atol: 1e-5 };
