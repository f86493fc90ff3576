#!/usr/bin/env python3
"""Writes the synthetic test images' object masks as PNG files for `[data] masks`.

Source: tests/fixtures/synthetic.h5, `synth_resnet/test/mask` (16 x 224 x 224 u8, 1 = object; the
same array as `synth_vgg/test/mask`, checked). Row i belongs to the image whose bytes are
`synth_resnet/test/jpeg`[i]; the script finds that file among data/synthetic/*.jpg by content (so
the PNG is named after the right image whatever the list order) and writes
data/synthetic/masks/<stem>.png, 8-bit grey, 255 = object, 0 = background.

Run from the repository root with any Python that has h5py, numpy and Pillow (e.g. /tmp/bvenv):
    python tools/make_synthetic_masks.py
The output is deterministic; the PNGs are committed.
"""
import os
import sys

import h5py
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "synthetic.h5")
DATA = os.path.join(ROOT, "data", "synthetic")


def main():
    with h5py.File(FIX, "r") as f:
        mask = f["synth_resnet/test/mask"][:]
        if not np.array_equal(mask, f["synth_vgg/test/mask"][:]):
            sys.exit("synth_vgg and synth_resnet masks differ")
        jpegs = [bytes(b) for b in f["synth_resnet/test/jpeg"][:]]
    by_bytes = {}
    for name in sorted(os.listdir(DATA)):
        if name.endswith(".jpg"):
            with open(os.path.join(DATA, name), "rb") as fh:
                by_bytes[fh.read()] = name
    out_dir = os.path.join(DATA, "masks")
    os.makedirs(out_dir, exist_ok=True)
    for i, b in enumerate(jpegs):
        name = by_bytes.get(b)
        if name is None:
            sys.exit(f"test image {i} of {FIX} is not among {DATA}/*.jpg")
        png = os.path.join(out_dir, os.path.splitext(name)[0] + ".png")
        Image.fromarray((mask[i] != 0).astype(np.uint8) * 255, mode="L").save(png, optimize=True)
        print(f"{os.path.relpath(png, ROOT)}: {int(mask[i].sum())} object pixels")


if __name__ == "__main__":
    main()
