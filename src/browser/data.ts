/**
 * The embedded Fashion-MNIST subset in a browser: its four gzipped IDX files fetched as static
 * assets, gunzipped by the browser's DecompressionStream, and parsed into the same Dataset
 * (pixels scaled to [0, 1], 1x28x28) that loadDataset('embedded') gives on Node.
 */
import { DataError } from '../data/data_error.js';
import type { Dataset } from '../data/dataset.js';

/** Fashion-MNIST's ten classes, in label order. */
export const FASHION_MNIST_CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/**
 * The bytes of a file, gunzipped if they start with the gzip magic: a server may send a .gz file
 * as it is, or with Content-Encoding: gzip (which the browser has already undone).
 */
async function fetchBytes(url: URL): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new DataError(`HTTP ${res.status} ${res.statusText}`, url.href);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new DataError(`corrupt gzip stream (${(e as Error).message})`, url.href);
  }
}

/** The payload of a ubyte IDX file of `dims` dimensions, and those dimensions; checks magic and size. */
function idxPayload(bytes: Uint8Array, dims: number, where: string): { shape: number[]; data: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = 4 + 4 * dims;
  if (bytes.length < header || view.getUint32(0) !== (0x0800 | dims)) throw new DataError(`not a ubyte IDX file of ${dims} dimension(s)`, where);
  const shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
  const size = shape.reduce((a, d) => a * d, 1);
  if (bytes.length - header !== size) throw new DataError(`header says ${size} bytes of data, the file holds ${bytes.length - header}`, where);
  return { shape, data: bytes.subarray(header) };
}

/** One split of the embedded subset from `baseUrl`, the folder holding its IDX files (URL ending in /). */
export async function loadEmbeddedDataset(baseUrl: string | URL, split: 'train' | 'test'): Promise<Dataset> {
  const stem = split === 'train' ? 'train' : 't10k';
  const imgUrl = new URL(`${stem}-images-idx3-ubyte.gz`, baseUrl);
  const lblUrl = new URL(`${stem}-labels-idx1-ubyte.gz`, baseUrl);
  const [imgBytes, lblBytes] = await Promise.all([fetchBytes(imgUrl), fetchBytes(lblUrl)]);
  const img = idxPayload(imgBytes, 3, imgUrl.href);
  const lbl = idxPayload(lblBytes, 1, lblUrl.href);
  const [count, height, width] = img.shape as [number, number, number];
  if (lbl.shape[0] !== count) throw new DataError(`${count} images but ${lbl.shape[0]} labels`, baseUrl.toString());
  const images = new Float32Array(img.data.length);
  for (let i = 0; i < images.length; i++) images[i] = img.data[i]! / 255;
  return { name: `fashion-mnist-subset-${split}`, images, labels: Uint8Array.from(lbl.data), count, channels: 1, height, width, numClasses: 10, classNames: FASHION_MNIST_CLASS_NAMES };
}
