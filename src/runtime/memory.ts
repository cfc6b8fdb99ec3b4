/**
 * Where tensors live. The engine keeps every float32 tensor in one shared WebAssembly.Memory,
 * the arena that WebAssembly kernels and worker threads address by offset. The float64
 * reference (tests, gradient checks) uses plain host arrays.
 */
import type { Arr } from '../ops/op.js';

/** Element type of a memory's arrays: float32, or float64 (the reference in tests). */
export type DType = 'f32' | 'f64';

/** Where a network's tensors are allocated. */
export interface Memory {
  /** Element type of every array it hands out. */
  readonly dtype: DType;
  /** A zeroed array of n elements that stays valid for the life of the memory. */
  alloc(n: number): Arr;
  /** Bytes handed out so far. */
  readonly usedBytes: number;
  /**
   * The workspace shared by every plan on this memory (plans run one at a time, and each reads
   * its outputs before another runs), at least n elements long.
   */
  workspace(n: number): Arr;
}

/** Grows one shared workspace: in place when it is the newest allocation, else anew. */
class SharedWorkspace {
  private ws: Arr | undefined;
  constructor(private readonly mem: { alloc(n: number): Arr }) {}
  get(n: number): Arr {
    if (this.ws && this.ws.length >= n) return this.ws.subarray(0, n);
    this.ws = this.mem.alloc(n);
    return this.ws;
  }
}

/** Plain JavaScript typed arrays: the reference kernels' memory. */
export class HostMemory implements Memory {
  usedBytes = 0;
  private readonly shared = new SharedWorkspace(this);
  constructor(
    /** Element type of its arrays. */
    readonly dtype: DType,
  ) {}
  workspace(n: number): Arr {
    return this.shared.get(n);
  }
  alloc(n: number): Arr {
    this.usedBytes += n * (this.dtype === 'f64' ? 8 : 4);
    return this.dtype === 'f64' ? new Float64Array(n) : new Float32Array(n);
  }
}

const PAGE = 65536;
/** wasm32 addresses 4 GiB at most. */
export const MAX_ARENA_BYTES = 65536 * PAGE;
const ALIGN = 64;
export const ARENA_BASE = 1 << 20;

/** Raised when a plan does not fit the 4 GiB wasm32 heap. */
export class HeapOverflowError extends Error {
  /** 'HeapOverflowError', the name error messages and stack traces show. */
  override name = 'HeapOverflowError';
}

/**
 * One shared WebAssembly.Memory (at most 4 GiB) holding every float32 tensor of the fast
 * engines: their kernels address it by byte offset from any thread.
 */
export class Arena implements Memory {
  /** Always float32. */
  readonly dtype = 'f32' as const;
  /** The memory itself. */
  readonly memory: WebAssembly.Memory;
  /** Below 1 MiB: the kernel modules' static data; offset 0 can mean "none" to kernels. */
  private top = ARENA_BASE;

  private wsOffset = -1;
  private wsBytes = 0;

  constructor(initialBytes = 32 * PAGE) {
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(initialBytes / PAGE), maximum: 65536, shared: true });
  }

  workspace(n: number): Float32Array {
    const bytes = n * 4;
    if (this.wsOffset >= 0 && bytes <= this.wsBytes) return this.view(this.wsOffset, n);
    if (this.wsOffset >= 0 && this.wsOffset + Math.ceil(this.wsBytes / ALIGN) * ALIGN === this.top) {
      // the workspace is the newest allocation: extend it in place
      this.reserve(bytes - Math.ceil(this.wsBytes / ALIGN) * ALIGN, 'workspace');
    } else {
      this.wsOffset = this.reserve(bytes, 'workspace');
    }
    this.wsBytes = Math.max(bytes, this.top - this.wsOffset);
    return this.view(this.wsOffset, n);
  }

  get usedBytes(): number {
    return this.top;
  }

  /** Reserves `bytes` and returns the byte offset. */
  reserve(bytes: number, what = 'tensor'): number {
    const off = this.top;
    const end = off + Math.ceil(bytes / ALIGN) * ALIGN;
    if (end > MAX_ARENA_BYTES) {
      throw new HeapOverflowError(`${what} needs ${(bytes / 2 ** 20).toFixed(1)} MiB more, but the 4 GiB wasm32 heap has only ${((MAX_ARENA_BYTES - off) / 2 ** 20).toFixed(1)} MiB left`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return off;
  }

  alloc(n: number): Float32Array {
    return this.view(this.reserve(n * 4), n);
  }

  /** A Float32Array of n elements at a byte offset into the arena. */
  view(byteOffset: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, byteOffset, n);
  }
}
