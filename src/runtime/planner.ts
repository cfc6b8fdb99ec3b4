/**
 * Static memory planning for a whole step: every computed value gets an offset in one
 * workspace, and values whose lifetimes do not overlap share memory (best-fit free list with
 * coalescing). A node's outputs are placed before its dead inputs are released, so no kernel
 * ever reads and writes the same memory, except an op that declares itself in place
 * (OpDef.inPlace): its output 0 takes over the buffer of that input, which must die there.
 *
 * With `views` (an engine that reads them: the WebAssembly one), the concatenations that
 * passes/concat_views.ts marked share one buffer per chain, the size of the last one: it is
 * placed when the first of them is written and freed when the last reader of any of them has
 * run; the inputs a marked concatenation does not copy (already in the buffer) are not uses.
 * Parts that their producers write into the buffer (ConcatView.inPlace) are planned inside it,
 * at their first channel.
 */
import { type Graph, type Node, numel, shapeStr } from '../graph/ir.js';
import { viewOf } from '../ops/concat.js';
import { getOp } from '../ops/index.js';

/** Where planMemory put each value in one shared workspace. */
export interface MemoryPlan {
  /** Element offset into the workspace of each planned value (undefined: not planned here). */
  offsets: (number | undefined)[];
  /** Workspace size in elements. */
  size: number;
  /** Sum of all planned value sizes, what a plan without reuse would need. */
  unsharedSize: number;
}

const ALIGN = 16; // elements: 64 bytes in f32

/**
 * Placement of large values. Activations are usually a multiple of 4 KiB long, so values placed
 * one after another start a multiple of 4 KiB apart, and a kernel that streams two of them (x
 * and dx, dy and the BN input behind it) makes every load match the low 12 address bits of a
 * store in flight: the CPU's 4K aliasing check then stalls the load. Values of at least
 * `skewMinBytes` start at a cache-line offset within a 4 KiB page that rotates with their order of
 * placement (`skewLines` distinct offsets), at the cost of up to 4 KiB per value; skewLines 0: off.
 */
export const plannerTuning = { skewMinBytes: 64 << 10, skewLines: 37 };

interface Block {
  off: number;
  size: number;
}

export { type ConcatView, viewOf } from '../ops/concat.js';

/** Plans every value whose kind is not external (params and state live with the model). */
export function planMemory(g: Graph, isExternal: (kind: string) => boolean, opts: { views?: boolean } = {}): MemoryPlan {
  const end = g.nodes.length;
  const lastUse = new Array<number>(g.values.length).fill(-1);
  // views: value id -> its buffer (the chain's last concatenation), and each buffer's members
  const bufferOf = new Map<number, number>();
  const members = new Map<number, number[]>();
  const channelAt = new Map<number, number>(); // parts written into a buffer: their first channel
  if (opts.views) {
    const add = (id: number, buffer: number): void => {
      bufferOf.set(id, buffer);
      const l = members.get(buffer);
      if (l) l.push(id);
      else members.set(buffer, [id]);
    };
    for (const n of g.nodes) {
      const v = viewOf(n);
      if (!v) continue;
      add(n.outputs[0]!, v.buffer);
      let c = 0;
      n.inputs.forEach((id, j) => {
        if (v.inPlace?.includes(j)) {
          add(id, v.buffer);
          channelAt.set(id, c);
        }
        c += g.value(id).shape[1]!;
      });
    }
  }
  // input j of n is read (a view's inputs before `from`, and those written in place, are
  // already in its buffer)
  const reads = (n: Node, j: number): boolean => {
    const v = opts.views ? viewOf(n) : undefined;
    return !v || (j >= v.from && !v.inPlace?.includes(j));
  };
  g.nodes.forEach((n, i) => {
    n.inputs.forEach((x, j) => {
      if (reads(n, j)) lastUse[x] = i;
    });
  });
  for (const id of g.outputs.values()) lastUse[id] = end;
  const released = new Set<number>();
  // a buffer lives until the last use of any of its views
  for (const [buf, ids] of members) {
    const last = Math.max(...ids.map((id) => lastUse[id]!));
    for (const id of ids) lastUse[id] = last;
    lastUse[buf] = last;
  }
  const offsets: (number | undefined)[] = new Array(g.values.length).fill(undefined);
  const free: Block[] = [];
  let size = 0;
  let unsharedSize = 0;
  // skewed values: offset -> the block reserved for it
  const blocks = new Map<number, Block>();
  let placed = 0;
  const PAGE = 4096 / 4; // elements
  const skewed = (n: number): boolean => plannerTuning.skewLines > 0 && n * 4 >= plannerTuning.skewMinBytes;

  const reserve = (n: number): number => {
    let best = -1;
    for (let i = 0; i < free.length; i++) {
      if (free[i]!.size >= n && (best < 0 || free[i]!.size < free[best]!.size)) best = i;
    }
    if (best >= 0) {
      const blk = free[best]!;
      const off = blk.off;
      if (blk.size === n) free.splice(best, 1);
      else {
        blk.off += n;
        blk.size -= n;
      }
      return off;
    }
    // Grow the workspace; if the topmost block is free, extend it instead of leaving a hole.
    const top = free.find((b) => b.off + b.size === size);
    if (top) {
      free.splice(free.indexOf(top), 1);
      size = top.off + n;
      return top.off;
    }
    const off = size;
    size += n;
    return off;
  };
  const alloc = (n: number): number => {
    n = Math.ceil(n / ALIGN) * ALIGN;
    unsharedSize += n;
    if (!skewed(n)) return reserve(n);
    // reserve a page more, start at this value's line of the page
    const blk = reserve(n + PAGE - ALIGN);
    const line = ((placed++ * 7) % plannerTuning.skewLines) * ALIGN;
    const off = blk + ((((line - blk) % PAGE) + PAGE) % PAGE);
    blocks.set(off, { off: blk, size: n + PAGE - ALIGN });
    return off;
  };
  const release = (at: number, m: number): void => {
    const blk = blocks.get(at);
    blocks.delete(at);
    const off = blk ? blk.off : at;
    const n = blk ? blk.size : Math.ceil(m / ALIGN) * ALIGN;
    free.push({ off, size: n });
    free.sort((a, b) => a.off - b.off);
    for (let i = free.length - 2; i >= 0; i--) {
      const a = free[i]!;
      const b = free[i + 1]!;
      if (a.off + a.size === b.off) {
        a.size += b.size;
        free.splice(i + 1, 1);
      }
    }
  };

  // Inputs and consts live for the whole step.
  for (const v of g.values) {
    if ((v.kind === 'input' || v.kind === 'const') && !isExternal(v.kind)) offsets[v.id] = alloc(numel(v.shape));
  }
  g.nodes.forEach((n, i) => {
    const ip = getOp(n.op).inPlace;
    let handed = -1;
    if (ip !== undefined) {
      const src = g.value(n.inputs[ip]!);
      const out = g.value(n.outputs[0]!);
      if (lastUse[src.id] !== i || offsets[src.id] === undefined || src.kind === 'input' || src.kind === 'const' || numel(src.shape) !== numel(out.shape)) {
        throw new Error(
          `layer "${n.name}" (${n.op}) updates "${src.name}" ${shapeStr(src.shape)} in place, but it is read later, not planned here or not the output's size`,
        );
      }
      offsets[out.id] = offsets[src.id];
      handed = src.id;
    }
    for (const o of n.outputs) {
      const v = g.value(o);
      if (isExternal(v.kind) || offsets[o] !== undefined) continue;
      const buf = bufferOf.get(o);
      if (buf !== undefined) {
        // the first view of a buffer (or part written into it) places it, for all of them; a
        // part starts at its first channel (NHWC: the pixel stride is the buffer's)
        const off = alloc(numel(g.value(buf).shape));
        for (const id of members.get(buf)!) offsets[id] = off + (channelAt.get(id) ?? 0);
      } else {
        offsets[o] = alloc(numel(v.shape));
      }
    }
    const dying = new Set<number>();
    for (const o of n.outputs) if (lastUse[o] <= i) dying.add(o);
    n.inputs.forEach((x, j) => {
      if (lastUse[x] === i && x !== handed && reads(n, j)) dying.add(x);
    });
    for (const id of dying) {
      const v = g.value(id);
      if (v.kind === 'input' || v.kind === 'const' || offsets[id] === undefined) continue;
      const buf = bufferOf.get(id);
      if (buf !== undefined) {
        // every view of a buffer dies at the same node: release the buffer once
        if (!released.has(buf)) release(offsets[buf]!, numel(g.value(buf).shape));
        released.add(buf);
        continue;
      }
      release(offsets[id]!, numel(v.shape));
    }
  });
  return { offsets, size, unsharedSize };
}
