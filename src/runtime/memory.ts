/**
 * Where tensors live. The engine keeps every float32 tensor in one arena that the kernels address
 * by byte offset: a shared WebAssembly.Memory (the WebAssembly kernels and their worker threads;
 * at most 4 GiB, wasm32), or on the native engine a SharedArrayBuffer as large as this machine's
 * memory (pages are committed as they are first touched). The float64 reference (tests,
 * gradient checks) uses plain host arrays.
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
  /** The bytes it can hold (Infinity for host arrays). */
  readonly maxBytes: number;
  /**
   * The workspace shared by every plan on this memory (plans run one at a time, and each reads
   * its outputs before another runs), at least n elements long.
   */
  workspace(n: number): Workspace;
}

/**
 * A planned workspace, handed out as one array per tensor: on the native arena it may span more
 * elements than one typed array can (2^32).
 */
export interface Workspace {
  /** The n elements at element offset off. */
  at(off: number, n: number): Arr;
}

/** Grows one shared workspace: in place when it is the newest allocation, else anew. */
class SharedWorkspace {
  private ws: Arr | undefined;
  constructor(private readonly mem: { alloc(n: number): Arr }) {}
  get(n: number): Workspace {
    if (!this.ws || this.ws.length < n) this.ws = this.mem.alloc(n);
    const ws = this.ws;
    return { at: (off, len) => ws.subarray(off, off + len) };
  }
}

/** Plain JavaScript typed arrays: the reference kernels' memory. */
export class HostMemory implements Memory {
  usedBytes = 0;
  readonly maxBytes = Infinity;
  private readonly shared = new SharedWorkspace(this);
  constructor(
    /** Element type of its arrays. */
    readonly dtype: DType,
  ) {}
  workspace(n: number): Workspace {
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

/** Raised when a plan does not fit the arena (the 4 GiB wasm32 heap, or the native arena). */
export class HeapOverflowError extends Error {
  /** 'HeapOverflowError', the name error messages and stack traces show. */
  override name = 'HeapOverflowError';
}

/**
 * The arena holding every float32 tensor of the fast engines, which their kernels address by
 * byte offset from any thread: a shared WebAssembly.Memory (at most 4 GiB), or the native
 * engine's SharedArrayBuffer (as large as this machine's memory).
 */
export class Arena implements Memory {
  /** Always float32. */
  readonly dtype = 'f32' as const;
  /** The shared WebAssembly memory (undefined for a native arena, which WebAssembly cannot address). */
  readonly memory: WebAssembly.Memory | undefined;
  /** The bytes this arena can hold. */
  readonly maxBytes: number;
  /** Below 1 MiB: the kernel modules' static data; offset 0 can mean "none" to kernels. */
  private top = ARENA_BASE;
  private readonly fixed: SharedArrayBuffer | undefined;

  private wsOffset = -1;
  private wsBytes = 0;

  /**
   * A WebAssembly memory of initialBytes that grows to 4 GiB, or (buffer) an arena over a fixed
   * buffer: the native engine's (src/runtime/native.ts nativeArena), whose untouched pages cost
   * nothing. pageOffset: where the buffer's memory starts within a 4 KiB page (the addon says;
   * a WebAssembly memory starts on one): reservations then start on a page of memory, so that
   * every offset the arena and the planner align to 64 bytes is a cache line's start.
   */
  constructor(o: number | { buffer: SharedArrayBuffer; pageOffset?: number } = 32 * PAGE) {
    if (typeof o === 'number') {
      this.memory = new WebAssembly.Memory({ initial: Math.ceil(o / PAGE), maximum: 65536, shared: true });
      this.maxBytes = MAX_ARENA_BYTES;
    } else {
      this.fixed = o.buffer;
      this.maxBytes = o.buffer.byteLength;
      const lead = o.pageOffset ?? 0;
      if (!Number.isInteger(lead) || lead < 0 || lead >= 4096) throw new RangeError(`Arena: pageOffset must be an integer in [0, 4096), got ${lead}`);
      this.top = ARENA_BASE + ((4096 - lead) % 4096);
    }
  }

  /** What the arena's bytes are (a view of the whole can exceed what one typed array spans: use f32/f64/i32). */
  get buffer(): ArrayBufferLike {
    return this.memory ? this.memory.buffer : this.fixed!;
  }

  /** Whether WebAssembly kernels can address this arena. */
  get wasm(): boolean {
    return this.memory !== undefined;
  }

  workspace(n: number): Workspace {
    const bytes = n * 4;
    if (!(this.wsOffset >= 0 && bytes <= this.wsBytes)) {
      if (this.wsOffset >= 0 && this.wsOffset + Math.ceil(this.wsBytes / ALIGN) * ALIGN === this.top) {
        // the workspace is the newest allocation: extend it in place
        this.reserve(bytes - Math.ceil(this.wsBytes / ALIGN) * ALIGN, 'workspace');
      } else {
        this.wsOffset = this.reserve(bytes, 'workspace');
      }
      this.wsBytes = Math.max(bytes, this.top - this.wsOffset);
    }
    const base = this.wsOffset;
    return { at: (off, len) => this.f32(base + off * 4, len) };
  }

  get usedBytes(): number {
    return this.top;
  }

  /** Reserves `bytes` and returns the byte offset. */
  reserve(bytes: number, what = 'tensor'): number {
    const off = this.top;
    const end = off + Math.ceil(bytes / ALIGN) * ALIGN;
    if (end > this.maxBytes) {
      const heap = this.memory ? 'the 4 GiB wasm32 heap' : `the native arena (${(this.maxBytes / 2 ** 30).toFixed(1)} GiB, this machine's memory)`;
      throw new HeapOverflowError(
        `${what} needs ${(bytes / 2 ** 20).toFixed(1)} MiB more, but ${heap} has only ${((this.maxBytes - off) / 2 ** 20).toFixed(1)} MiB left`,
      );
    }
    if (this.memory) {
      const have = this.memory.buffer.byteLength;
      if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    }
    this.top = end;
    return off;
  }

  alloc(n: number): Float32Array {
    return this.view(this.reserve(n * 4), n);
  }

  /** A Float32Array of n elements at a byte offset into the arena. */
  view(byteOffset: number, n: number): Float32Array {
    return this.f32(byteOffset, n);
  }

  /** n float32 at byte offset p. */
  f32(p: number, n: number): Float32Array {
    return new Float32Array(this.buffer, p, n);
  }

  /** n float64 at byte offset p (8-byte aligned). */
  f64(p: number, n: number): Float64Array {
    return new Float64Array(this.buffer, p, n);
  }

  /** n int32 at byte offset p. */
  i32(p: number, n: number): Int32Array {
    return new Int32Array(this.buffer, p, n);
  }
}
