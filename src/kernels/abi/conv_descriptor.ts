/**
 * The convolution descriptor: the geometry and blocking of one convolution call, i32 fields at the
 * descriptor pointer `d` that every kernel of the conv families takes first. This file is the one
 * source of the field indices: the WebAssembly kernels import it (src/kernels/wasm/common/conv.ts),
 * the host writes through it (src/kernels/conv.ts), and tools/gen-abi.mjs generates the native
 * kernels' header from it (src/kernels/native/core/abi.h). It is valid TypeScript and
 * AssemblyScript alike: constants only.
 */

export const D_N = 0;
export const D_C = 1;
export const D_H = 2;
export const D_W = 3;
export const D_K = 4;
export const D_KH = 5;
export const D_KW = 6;
export const D_SH = 7;
export const D_SW = 8;
export const D_PH = 9;
export const D_PW = 10;
export const D_DH = 11;
export const D_DW = 12;
export const D_G = 13;
export const D_OH = 14;
export const D_OW = 15;
export const D_CG = 16;
export const D_KG = 17;
export const D_KDIM = 18; // KH*KW*Cg
export const D_KG8 = 19; // Kg rounded up to 8
export const D_CG8 = 20; // Cg rounded up to 8
export const D_KC = 21; // forward: reduction block (multiple of 4)
export const D_MC = 22; // forward: rows per A block (multiple of 4, <= MAX_ROWS)
export const D_KCD = 23; // backward-data: reduction block over Kg
export const D_MCD = 24; // backward-data: rows per A block
export const D_MCH = 25; // backward-weights: M chunk (reduction block)
export const D_RBP = 26; // backward-weights: row panels (of 4) per A^T block
export const D_ROWS = 27; // backward-weights: rows of acc per group, NSEG * SEG4
export const D_MERGE = 28; // 1: a reduction segment is one kernel row (G == 1, DW == 1), else one tap
export const D_SEG = 29; // floats per segment: KW*Cg (merge) or Cg
export const D_SEG4 = 30; // SEG rounded up to 4 (acc rows per segment)
export const D_DMERGE = 31; // backward-data columns: 1 = segments are kernel rows (G == 1, DW == 1, Cg % 8 != 0), 0 = taps
export const D_DSEG = 32; // backward-data: columns per segment, KW*Cg (merge) or Cg
export const D_DSEG8 = 33; // DSEG rounded up to 8
export const D_DNP = 34; // backward-data: panels of 8 columns per group, (segments) * DSEG8 / 8
export const D_WCOLS = 35; // backward-weights: 1 = units are column panels (g, j), 0 = row panels (g, p)
// Fused calls only (BN prologues / epilogues): byte offsets in the thread scratch of the fusion
// region, which the host places at the top of the scratch, above every packed block.
export const D_FPART = 36; // f64 partials S[P] then Q[P] (read back by the host, in thread order)
export const D_FCOEF = 37; // expanded x-prologue coefficients aE[NE] then bE[NE] (aE[o] = a[o % C])
export const D_FNE = 38; // NE
export const D_FP = 39; // P: channels of the partials (K for the moments, C for the dx epilogue)
export const D_FZ = 40; // x prologue: normalised-window region (0: none, normalise while packing)
export const D_FZCAP = 41; // its bytes

// Short merged segments packed without padding (conv.ts derive: merge, SEG <= 32, e.g. the 7x7
// stem's kernel rows of 21 floats, which padding would take to 24 rows or columns):
export const D_WTIGHT = 46; // backward-weights: 1 = acc rows are (kh, kw, c) in a row, ROWS = up(KH*SEG, 4), SEG4 = SEG
export const D_DTIGHT = 47; // backward-data: 1 = one segment of KH*KW*Cg columns (D_DSEG), through a column buffer
// conv_bwd_w: M (the reduction) cut into this many slices of whole chunks, each summed into its
// own accumulator (G*ROWS*Kg8 floats apart) and added in order by conv_bwd_w_out. Units are
// (slice, panel): with as many slices as threads, no thread packs what another packs.
export const D_WSL = 48;
// Pixel strides (floats) of the kernel's input x and of the dx epilogue's x2: C unless x (x2) is
// a view of the leading channels of a wider buffer (DenseNet's concatenations without copies;
// conv.ts stridedInput says which paths read them: 1x1 layers).
export const D_XS = 49;
export const D_X2S = 50;
// Backward-data dx epilogue accumulating into a gradient buffer (DenseNet, passes/concat_grad.ts):
// D_GACC = the buffer's address (0: off, dx is stored), D_GS = its pixel stride (floats). The
// epilogue then adds a2[c]*dx (dx masked, a2 = gamma2*rstd2, the mask's own coefficient) into the
// buffer's leading channels instead of storing dx: conv_bwd_data_1x1 (one reduction block) and
// the Winograd dx pass (dx staged in a ring of tile rows in the thread scratch, then added).
export const D_GACC = 51;
export const D_GS = 52;
// Pixel stride (floats) of the Winograd forward's output y: K unless y is a slice of a wider
// buffer (a DenseNet layer writing its new channels straight into its block's buffer).
export const D_YS = 53;
// The Winograd dx pass (any dx epilogue): the byte offset in the thread scratch of its ring of dx
// tile rows (each 2 output rows of OW pixels, K floats apart), and the ring's slots (at least the
// tile rows one block of D_WTB tiles spans plus one; 0: no ring, dx staged in y itself). The
// output transform writes there, the epilogue reads it back from cache and writes y (or adds
// into the gradient buffer) once.
export const D_GRING = 54;
export const D_GRT = 55;
// The high 32 bits of D_GACC's address (the native arena may exceed 4 GiB; 0 in WebAssembly,
// whose kernels read D_GACC alone).
export const D_GACCH = 56;
// Winograd (gemm.ts, "Winograd F(2x2, 3x3)"): tiles per block (even), output channels per pass
// (multiple of 4), 1 = a BN prologue normalises input rows into a ring (wRing), backward-weights chunk.
export const D_WTB = 42;
export const D_WKB = 43;
export const D_WWIN = 44; // 1: a BN prologue normalises input rows once per thread into a zero-padded ring (wRing)
export const D_WTC = 45;

/** Fields in use (the descriptor is DESC_FIELDS i32 long, DESC_BYTES with room to grow). */
export const DESC_FIELDS = 57;
export const DESC_BYTES = 256;

// Activation codes (src/ops/activation.ts): the activation a fused normalize applies, and whose
// derivative its backward recomputes from the stored BN input; kernel arguments and descriptor
// fields that carry an activation carry one of these.
export const ACT_NONE = 0;
export const ACT_RELU = 1;
export const ACT_RELU6 = 2;
export const ACT_SILU = 3;
export const ACT_HARDSWISH = 4;
