"""Writes the corrupt data files of this corpus (run from this folder: python3 make.py).

Each file is listed in EXPECT with the role it plays in a data set and the text its
error must contain; tests/bad_inputs.rs feeds each one to the real `gen` binary.
Standard library only, so the corpus can be rebuilt anywhere."""
import gzip, struct


def idx(dims, data, kind=0x08):
    return bytes([0, 0, kind, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def npy(descr, shape, body, version=1, fortran=False):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    header = header.encode() + b" " * ((64 - (len(header) + 11) % 64) % 64) + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H", len(header)) + header + body


def f8(*values):
    return struct.pack("<%dd" % len(values), *values)


files = {
    # IDX (MNIST's format), in the role of one of the four files.
    "idx-bad-magic": b"GIF89a\x01\x00\x01\x00\x00\x00",
    "idx-empty": b"",
    "idx-truncated-header": bytes([0, 0, 8, 3]) + struct.pack(">I", 2),
    "idx-truncated-data": idx([2, 28, 28], [0] * 100),
    "idx-trailing-bytes": idx([2, 28, 28], [0] * (2 * 784 + 5)),
    "idx-float-type": idx([2, 28, 28], [0] * (4 * 2 * 784), kind=0x0D),
    "idx-images-are-labels": idx([2], [1, 2]),
    "idx-labels-are-images": idx([2, 28, 28], [0] * 2 * 784),
    "idx-label-count-mismatch": idx([3], [1, 2, 3]),
    "idx-label-out-of-range": idx([2], [1, 12]),
    "idx-zero-images": idx([0, 28, 28], []),
    "idx-test-wrong-size": idx([1, 14, 14], [0] * 196),
    "idx-broken-gzip.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + b"not deflate data",
    "idx-truncated-gzip.gz": gzip.compress(idx([2, 28, 28], list(range(256)) * 6 + [0] * 32))[:200],
    # .npy points.
    "npy-bad-magic.npy": b"PK\x03\x04 this is a zip, not an array",
    "npy-version-9.npy": npy("<f8", "(2, 2)", f8(1, 2, 3, 4), version=9),
    "npy-int64.npy": npy("<i8", "(2, 2)", struct.pack("<4q", 1, 2, 3, 4)),
    "npy-big-endian.npy": npy(">f8", "(2, 2)", struct.pack(">4d", 1, 2, 3, 4)),
    "npy-one-dimensional.npy": npy("<f8", "(4,)", f8(1, 2, 3, 4)),
    "npy-truncated.npy": npy("<f8", "(100, 2)", f8(*range(20))),
    "npy-header-cut.npy": npy("<f8", "(2, 2)", f8(1, 2, 3, 4))[:30],
    "npy-nan-row.npy": npy("<f8", "(3, 2)", f8(0, 1, 2, 3, 4, float("nan"))),
    "npy-inf-value.npy": npy("<f8", "(3, 2)", f8(0, float("inf"), 2, 3, 4, 5)),
    "npy-no-rows.npy": npy("<f8", "(0, 2)", b""),
    # .csv points.
    "csv-text-cell.csv": b"x,y\n1,2\n3,abc\n",
    "csv-ragged.csv": b"x,y\n1,2\n3,4,5\n",
    "csv-nan-row.csv": b"x,y\n1,2\nnan,4\n5,6\n",
    "csv-empty.csv": b"",
    "csv-header-only.csv": b"x,y\n",
    "csv-test-three-columns.csv": b"1,2,3\n4,5,6\n",
    "points-unknown-type.json": b"[[1, 2], [3, 4]]",
}

for name, data in files.items():
    with open(name, "wb") as f:
        f.write(data)
print(f"wrote {len(files)} files")
