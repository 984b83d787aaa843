"""Rebuilds this embedded subset from a full Fashion-MNIST copy in IDX format.

usage: python3 make_subset.py [SOURCE_DIR]   (default: ../../../../../shared/datasets/fashion-mnist)

Takes the first TRAIN_PER_CLASS training and TEST_PER_CLASS test images of each class, in
file order, and writes them in file order (interleaved classes, as in the source).
"""
import gzip
import os
import struct
import sys

TRAIN_PER_CLASS = 500
TEST_PER_CLASS = 100

here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../../../../shared/datasets/fashion-mnist")


def read(name):
    with gzip.open(os.path.join(src, name + ".gz")) as f:
        return f.read()


def subset(prefix, per_class):
    images, labels = read(f"{prefix}-images-idx3-ubyte"), read(f"{prefix}-labels-idx1-ubyte")
    n, rows, cols = struct.unpack(">III", images[4:16])
    size = rows * cols
    taken, keep = [0] * 10, []
    for i, label in enumerate(labels[8 : 8 + n]):
        if taken[label] < per_class:
            taken[label] += 1
            keep.append(i)
    out_images = struct.pack(">IIII", 0x803, len(keep), rows, cols) + b"".join(
        images[16 + i * size : 16 + (i + 1) * size] for i in keep
    )
    out_labels = struct.pack(">II", 0x801, len(keep)) + bytes(labels[8 + i] for i in keep)
    for name, data in [(f"{prefix}-images-idx3-ubyte.gz", out_images), (f"{prefix}-labels-idx1-ubyte.gz", out_labels)]:
        # mtime=0 so the files are byte-identical on every rebuild.
        with gzip.GzipFile(os.path.join(here, name), "wb", compresslevel=9, mtime=0) as f:
            f.write(data)


subset("train", TRAIN_PER_CLASS)
subset("t10k", TEST_PER_CLASS)
