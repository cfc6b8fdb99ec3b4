"""The safetensors format written by hand (torch 1.13 has no safetensors package), for the
scripts that make bnff's PyTorch-derived test data (make_goldens.py, make_torchvision_fixture.py).

    [8 bytes] little-endian u64 header length N
    [N bytes] JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}
    [rest]    the tensors' raw little-endian bytes, row-major, in header order
"""
import json
import os
import struct

import numpy as np

NP_DTYPES = {'F64': '<f8', 'F32': '<f4', 'F16': '<f2', 'I64': '<i8'}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype, torch tensor). Data in list order, header padded to 8.
    Written atomically (temporary file, fsync, rename). Returns the file size."""
    header = {}
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name, dtype, t in tensors:
        assert name not in header, name
        arr = np.ascontiguousarray(t.detach().cpu().numpy().astype(NP_DTYPES[dtype]))
        b = arr.tobytes()
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - (8 + len(h)) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return 8 + len(h) + off
