/**
 * The kernel modules on any platform: the feature probes that pick a variant (relaxed SIMD with
 * FMA, or plain SIMD) and the instantiation of every module on the shared memory. Loading the
 * bytes is the platform's part: src/kernels/load.ts (files, Node) and src/browser/kernels.ts (fetch).
 */

export type Variant = 'relaxed' | 'simd';

/**
 * A module with one function `() -> v128` whose body is `code` (instructions, without the final
 * `end`): the magic and version, then the type, function and code sections. Every size here is
 * below 128, so each LEB128 length is one byte.
 */
function probeModule(code: number[]): Uint8Array<ArrayBuffer> {
  const body = [0x00, ...code, 0x0b]; // no locals, the instructions, end
  const section = [0x01, body.length, ...body]; // one function body
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b], // type section: () -> v128
    ...[0x03, 0x02, 0x01, 0x00], // function section: one function of type 0
    ...[0x0a, section.length, ...section], // code section
  ]);
}

/** v128.const 0 */
const V128_ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];

/** A minimal module using f32x4.relaxed_madd, to probe support. */
export const RELAXED_PROBE = probeModule([...V128_ZERO, ...V128_ZERO, ...V128_ZERO, 0xfd, 0x85, 0x02]);

/** A minimal module returning a v128 constant (fixed-width SIMD), to probe support. */
export const SIMD_PROBE = probeModule(V128_ZERO);

export type KernelModules = { name: string; module: WebAssembly.Module }[];

/** Instantiates every module on `memory`; returns all exported functions by name. */
export function instantiate(modules: KernelModules, memory: WebAssembly.Memory): Map<string, (...a: number[]) => number> {
  const fns = new Map<string, (...a: number[]) => number>();
  for (const { name, module } of modules) {
    const inst = new WebAssembly.Instance(module, {
      env: {
        memory,
        abort: () => {
          throw new Error(`kernel module ${name} aborted`);
        },
      },
    });
    for (const [k, v] of Object.entries(inst.exports)) {
      if (typeof v !== 'function') continue;
      if (fns.has(k)) throw new Error(`kernel function "${k}" is exported by two modules`);
      fns.set(k, v as (...a: number[]) => number);
    }
  }
  return fns;
}
