#!/usr/bin/env python3
"""make_ext_fixtures.py: maps made elsewhere, for the ext:NAME method (docs/external-maps.md),
written to tests/fixtures/ext_maps/.

Oracles (pinned, the same environment as tools/make_baseline_fixtures.py, whose docstring says how
to make it): torch 1.13 (Debian's python3-torch through --system-site-packages), numpy 1.24
(Debian's), h5py, safetensors, and torchcam at commit c85232b (frgfm/torch-cam), not on PyPI at
that commit and not committed here:
    git clone https://github.com/frgfm/torch-cam /tmp/torch-cam-src
    mkdir -p /tmp/torchcam && git -C /tmp/torch-cam-src archive c85232b | tar -x -C /tmp/torchcam

Usage:
    /tmp/bvenv/bin/python tools/make_ext_fixtures.py --torchcam /tmp/torchcam

Writes:
  * synth_vgg_gradcam.npz, synth_resnet_gradcam.npz: torchcam's GradCAM of every image of
    data/synthetic/images.txt on the bundled synth_vgg / synth_resnet (data/models), at
    polycam-eval's default [cam] layer (make_baseline_fixtures.layers_of), for the top-1 class of
    torch's logits, saved as the reference implementation saves its explanations
    (aenglebert/polycam @8003dc6, generate_explanations.py): key = the image list's line as
    written (with its extension), value = the map viewed as (1, 1, h, w) float32; np.savez for
    synth_vgg (stored members), np.savez_compressed for synth_resnet (deflated members). Both
    carry numpy's zip64 local headers (np.savez opens every member with force_zip64=True).
  * npy_variants.npz and npy_variants.h5: arrays written by numpy itself in every form the reader
    accepts (dtypes <f2 / <f4 / <f8, C and Fortran order, format versions 1.0 / 2.0 / 3.0, shapes
    (h, w), (1, h, w), (1, 1, h, w), a map larger than 64 that shrinks) and in forms it refuses
    (int64, big-endian, rank 1, three maps, size zero, a NaN, an Inf, a bool, a structured dtype).
    npy_variants.h5 holds, for each accepted key, `decoded/<key>` (the 2-D float32 values numpy
    reads) and `up64/<key>` (torch's F.interpolate(mode="bilinear", align_corners=False) of it to
    64 x 64, SPEC section 2: up and down), and the attribute `refused` (the keys a reader must
    refuse).
None of the values comes from polycam-eval.
"""
import argparse
import io
import os
import sys
import zipfile

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_baseline_fixtures as mb  # noqa: E402  (the networks, layers_of, torchcam_map)

OUT = os.path.join(ROOT, "tests", "fixtures", "ext_maps")
UP = 64   # the side npy_variants.h5 resamples to


def synthetic_inputs():
    """(list names, tensors X): every synthetic image, decoded with Pillow, SPEC section 1 (the
    images are 224 x 224 already, so no resize)."""
    from PIL import Image
    names = [l.strip() for l in open(os.path.join(ROOT, "data", "synthetic", "images.txt")) if l.strip()]
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    xs = []
    for f in names:
        rgb = np.asarray(Image.open(os.path.join(ROOT, "data", "synthetic", f)).convert("RGB"))
        assert rgb.shape == (224, 224, 3), rgb.shape
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
        xs.append((x - mean) / std)
    return names, xs


def gradcam_maps(tc, model_name):
    """{list name: (1, 1, h, w) float32}: generate_explanations.py's torchcam branch."""
    model = mb.build(model_name)
    cam_layer = mb.layers_of(model_name, model)[0]
    names, xs = synthetic_inputs()
    out = {}
    for name, x in zip(names, xs):
        with torch.no_grad():
            cls = int(model(x[None]).squeeze(0).argmax().item())
        m = mb.torchcam_map(tc.GradCAM, model, cam_layer, x, cls)
        out[name] = m.view(1, 1, *m.shape).cpu().detach().numpy()
        print(f"{model_name} {name}: class {cls}, map {out[name].shape} at {cam_layer}", flush=True)
    return out, cam_layer


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


def variants():
    """(accepted {key: (array, version)}, refused {key: array}), from a fixed numpy generator."""
    rng = np.random.default_rng(20)
    base = rng.standard_normal((13, 9)).astype(np.float32)
    ok = {
        "f4_c": (base, None),
        "f8_rank3": (rng.standard_normal((1, 13, 9)), None),
        "f2_rank4": (rng.standard_normal((1, 1, 13, 9)).astype(np.float16), None),
        "f4_fortran": (np.asfortranarray(rng.standard_normal((13, 9)).astype(np.float32)), None),
        "f8_fortran_rank4": (np.asfortranarray(rng.standard_normal((1, 1, 5, 7))), None),
        "f4_v2": (rng.standard_normal((7, 11)).astype(np.float32), (2, 0)),
        "f4_v3": (rng.standard_normal((6, 6)).astype(np.float32), (3, 0)),
        "f4_big": (rng.standard_normal((96, 80)).astype(np.float32), None),
        "f4_one": (np.full((1, 1), 0.5, np.float32), None),
    }
    nan = base.copy()
    nan[3, 4] = np.nan
    inf = base.copy()
    inf[2, 5] = -np.inf
    bad = {
        "i8": np.arange(12, dtype=np.int64).reshape(3, 4),
        "f4_big_endian": base.astype(">f4"),
        "rank1": np.ones(5, np.float32),
        "three_maps": np.ones((3, 4, 4), np.float32),
        "empty": np.zeros((0, 5), np.float32),
        "nan": nan,
        "inf": inf,
        "bool": np.ones((4, 4), bool),
        "structured": np.zeros((4, 4), dtype=[("a", "<f4"), ("b", "<f4")]),
    }
    return ok, bad


def write_variants():
    ok, bad = variants()
    npz = os.path.join(OUT, "npy_variants.npz")
    with zipfile.ZipFile(npz, "w", zipfile.ZIP_STORED) as z:
        for k, (a, ver) in ok.items():
            with z.open(k + ".npy", "w", force_zip64=True) as f:   # as np.savez
                f.write(npy_bytes(a, ver))
        for k, a in bad.items():
            with z.open(k + ".npy", "w", force_zip64=True) as f:
                f.write(npy_bytes(a))
        z.writestr("README.txt", "not an array: left out of the keys")
    with np.load(npz) as check:   # numpy reads back what it wrote
        for k, (a, _) in ok.items():
            assert np.array_equal(check[k], a), k
    with h5py.File(os.path.join(OUT, "npy_variants.h5"), "w") as h:
        h.attrs["torch"] = str(torch.__version__)
        h.attrs["numpy"] = np.__version__
        h.attrs["refused"] = ",".join(bad)
        for k, (a, ver) in ok.items():
            m = np.asarray(a, dtype=np.float32).reshape(a.shape[-2:])
            h.create_dataset("decoded/" + k, data=m)
            up = F.interpolate(torch.from_numpy(m)[None, None], size=(UP, UP), mode="bilinear",
                               align_corners=False)[0, 0]
            h.create_dataset("up%d/%s" % (UP, k), data=up.numpy())
            h["decoded/" + k].attrs["version"] = "%d.%d" % (ver or (1, 0))
    print("wrote", npz)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--torchcam", required=True, help="torchcam checkout at c85232b")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    sys.path.insert(0, args.torchcam)
    import torchcam.cams as tc
    os.makedirs(OUT, exist_ok=True)
    vgg, _ = gradcam_maps(tc, "synth_vgg")
    np.savez(os.path.join(OUT, "synth_vgg_gradcam.npz"), **vgg)
    resnet, _ = gradcam_maps(tc, "synth_resnet")
    np.savez_compressed(os.path.join(OUT, "synth_resnet_gradcam.npz"), **resnet)
    write_variants()


if __name__ == "__main__":
    main()
