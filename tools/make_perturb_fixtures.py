#!/usr/bin/env python3
"""make_perturb_fixtures.py: goldens for the perturbation baselines (BASELINES.md B5), computed the
way the libraries the Poly-CAM reference used compute them, written to
tests/fixtures/perturb_baselines.h5.

Oracles (pinned):
  * captum 0.6.0 Occlusion (sliding_window_shapes (3, 64, 64), strides (3, 8, 8), baselines 0,
    target = the class, on the logits), torch 1.13 (Debian's python3-torch);
  * RISE, eclique/RISE at d91ea00 (explanations.py). Not on PyPI and not committed here; its
    generate_masks and forward are re-expressed below line for line (the model wrapped with a
    softmax, as BASELINES.md B5 says), calling skimage.transform.resize (scikit-image 0.19.3,
    Debian) exactly as it does. Obtain the repository with
        git clone https://github.com/eclique/RISE /tmp/rise && git -C /tmp/rise checkout d91ea00

The models, images, preprocessing and the insertion / deletion protocol (SPEC §8's stable order,
the reference's scoring) come from tools/make_baseline_fixtures.py.

RISE, per model and image:
  (a) `rise/map`: RISE's forward fed the masks polycam-eval draws (tools/philox.py: image word
      0xFFFFFFFF, sample (4 << 16) | i; cells u < p, offsets floor(u * cell)), resized by RISE's own
      skimage call: our map must agree to 1e-4;
  (b) `rise_masks/grid`, `rise_masks/offsets`, `rise_masks/masks` (the first 16 of those masks,
      resized and cropped by RISE's own skimage call) to test our resize op bit for bit;
  (c) `rise/spread_*`: RISE with its own np.random draws (seeds 0..R-1): the run-to-run spread of
      the map, the bound for our own draws against RISE's.
Usage: /tmp/bvenv/bin/python tools/make_perturb_fixtures.py [--masks 200]
"""
import argparse
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
from skimage.transform import resize

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import philox  # noqa: E402
import make_baseline_fixtures as mbf  # noqa: E402

STREAM_RISE = 4
RISE_IMAGE = 0xFFFFFFFF
SEED = 0


# ---- RISE (eclique/RISE d91ea00 explanations.py, re-expressed) ---------------------------------


def rise_resize(grid, offsets, s, p_size):
    """generate_masks' loop body for given grids (N, s, s) float32 and offsets (N, 2)."""
    cell_size = np.ceil(np.array(p_size) / s)
    up_size = (s + 1) * cell_size
    masks = np.empty((len(grid), *p_size))
    for i in range(len(grid)):
        x, y = offsets[i]
        masks[i, :, :] = resize(grid[i], up_size, order=1, mode='reflect',
                                anti_aliasing=False)[x:x + p_size[0], y:y + p_size[1]]
    return masks.reshape(-1, 1, *p_size)


def rise_generate_masks_own(N, s, p1, p_size):
    """generate_masks with its own np.random draws (the caller seeds np.random)."""
    cell_size = np.ceil(np.array(p_size) / s)
    grid = np.random.rand(N, s, s) < p1
    grid = grid.astype('float32')
    offsets = []
    for i in range(N):
        x = np.random.randint(0, cell_size[0])
        y = np.random.randint(0, cell_size[1])
        offsets.append((x, y))
    return rise_resize(grid, offsets, s, p_size)


def rise_forward(model, masks_np, x, N, p1, gpu_batch=100):
    """RISE.forward: stack = masks * x; p = softmax(model(stack)) in batches; sal = p^T masks / N / p1."""
    masks = torch.from_numpy(masks_np).float()
    _, _, H, W = x.size()
    stack = torch.mul(masks, x.data)
    p = []
    with torch.no_grad():
        for i in range(0, N, gpu_batch):
            p.append(model(stack[i:min(i + gpu_batch, N)]))
    p = torch.cat(p)
    CL = p.size(1)
    sal = torch.matmul(p.data.transpose(0, 1), masks.view(N, H * W))
    sal = sal.view((CL, H, W))
    sal = sal / N / p1
    return sal


def our_draws(N, s, p1, size, seed=SEED):
    """polycam-eval's grids (N, s, s) u8 and offsets (N, 2) (host/methods/methods_perturb.c pc_rise_draw)."""
    cell = math.ceil(size / s)
    grid = np.zeros((N, s, s), np.uint8)
    offsets = np.zeros((N, 2), np.int32)
    for i in range(N):
        u = philox.uniform(seed, RISE_IMAGE, (STREAM_RISE << 16) | i, s * s + 2)
        grid[i] = (u[:s * s].astype(np.float64) < p1).reshape(s, s)
        offsets[i] = [int(math.floor(float(u[s * s]) * cell)), int(math.floor(float(u[s * s + 1]) * cell))]
    return grid, offsets


# ---- Occlusion (captum 0.6.0) -----------------------------------------------------------------


def occlusion_map(model, x, cls, window, stride):
    from captum.attr import Occlusion
    att = Occlusion(model).attribute(x[None], sliding_window_shapes=(3, window, window),
                                     strides=(3, stride, stride), baselines=0, target=cls)
    return att[0].sum(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "perturb_baselines.h5"))
    ap.add_argument("--masks", type=int, default=200, help="RISE masks N (the paper: 6000)")
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--p", type=float, default=0.1)
    ap.add_argument("--spread-runs", type=int, default=4)
    ap.add_argument("--auc-steps", type=int, default=224)
    ap.add_argument("--auc-images", type=int, default=1)
    ap.add_argument("--models", default=",".join(mbf.MODELS))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    import captum
    assert captum.__version__ == "0.6.0", captum.__version__
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    ref = h5py.File(os.path.join(ROOT, "tests", "fixtures", "reference_golden.h5"), "r")
    N, s, p1, S = args.masks, args.cells, args.p, 224
    grid, offsets = our_draws(N, s, p1, S)
    masks = rise_resize(grid.astype(np.float32), offsets, s, (S, S))
    with h5py.File(args.out, "w") as out:
        out.attrs["torch"] = str(torch.__version__)
        out.attrs["captum"] = "0.6.0"
        out.attrs["rise"] = "eclique/RISE d91ea00 (re-expressed), scikit-image " + __import__("skimage").__version__
        out.attrs["seed"] = SEED
        out.attrs["rise_masks"], out.attrs["rise_cells"], out.attrs["rise_p"] = N, s, p1
        out.attrs["occ_window"], out.attrs["occ_stride"] = 64, 8
        gr = out.create_group("rise_masks")
        gr.create_dataset("grid", data=grid)
        gr.create_dataset("offsets", data=offsets)
        # the first 16 masks only (file size): enough to test the resize op bit for bit
        gr.create_dataset("masks", data=masks[:16, 0].astype(np.float32), compression="gzip", compression_opts=9,
                          shuffle=True)
        for name in args.models.split(","):
            model = mbf.build(name)
            soft = nn.Sequential(model, nn.Softmax(dim=1)).eval()
            g = out.create_group(name)
            names, positions, xs = mbf.images_for(name, ref)
            for img, pos, x in zip(names, positions, xs):
                want_auc = not name.startswith("tiny") and pos < args.auc_images
                gi = g.create_group(img)
                with torch.no_grad():
                    cls = int(model(x[None])[0].argmax())
                # the input tensor X is baselines.h5's <model>/<image>/input (same images, same code)
                gi.attrs["class"], gi.attrs["image_index"] = cls, pos
                occ = occlusion_map(model, x, cls, 64, 8).float()
                rise = rise_forward(soft, masks, x[None], N, p1)[cls].float()
                for meth, m in (("occlusion", occ), ("rise", rise)):
                    gm = gi.create_group(meth)
                    gm.create_dataset("map", data=m.numpy(), compression="gzip", compression_opts=9, shuffle=True)
                    if want_auc:
                        ins, dele = mbf.insdel(model, x, m, cls, args.auc_steps)
                        gm.attrs["auc_steps"], gm.attrs["ins_auc"], gm.attrs["del_auc"] = args.auc_steps, ins, dele
                if want_auc and args.spread_runs > 1:
                    runs = []
                    for r in range(args.spread_runs):
                        np.random.seed(r)
                        own = rise_generate_masks_own(N, s, p1, (S, S))
                        runs.append(rise_forward(soft, own, x[None], N, p1)[cls].float())
                    spread = max(float((a - b).abs().max()) for i, a in enumerate(runs) for b in runs[i + 1:])
                    gm = gi["rise"]
                    gm.attrs["library_spread_max_abs"] = spread
                    gm.attrs["library_spread_scale"] = float(runs[0].abs().max())
                    gm.create_dataset("library_own_draws", data=runs[0].numpy(), compression="gzip",
                                      compression_opts=9, shuffle=True)
                print(f"{name} {img}: cls {cls} occlusion max {float(occ.abs().max()):.4g} "
                      f"rise max {float(rise.max()):.4g}", flush=True)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
