#!/usr/bin/env python3
"""make_sanity_fixtures.py: goldens for the cascading-randomisation sanity check (BASELINES.md B7),
written to tests/fixtures/sanity_similarity.h5.

1. Similarity measures, computed as Adebayo et al.'s notebook
   (adebayoj/sanity_checks_saliency, notebooks/inceptionv3_cascading_randomization.ipynb) does,
   with the pinned scipy 1.10 / scikit-image 0.19.3:
     spearman_abs = spearmanr(abs_grayscale_norm(a).flatten(), abs_grayscale_norm(b).flatten())[0]
     spearman     = spearmanr(diverging_norm(a).flatten(), diverging_norm(b).flatten())[0]
     ssim         = structural_similarity(normalize_image(a), normalize_image(b), gaussian_weights=True)
                    (the notebook's compare_ssim cast to float64 and used data_range 2 for floats: the
                    normalised float32 maps are passed as float64 here to reproduce that; their
                    multichannel=True applied to (299, 299, 3) masks, ours are single-channel)
     hog          = spearmanr(hog(normalize_image(a), pixels_per_cell=(16, 16)),
                              hog(normalize_image(b), pixels_per_cell=(16, 16)))[0]
   on fixed map pairs (smooth, CAM-like with large tied regions, signed, quantised, identical,
   constant) -> /pairs/<case>/{a, b, expected}; plus raw calls: /raw/spearman (vectors with ties),
   /raw/hog (the feature vector of one map), /raw/ssim (two float64 images).
2. PyTorch's reset_parameters() bounds per layer of the synthetic VGG and ResNet in the cascading
   order (output layer first): /reset/<model>/{names, fan_in, weight_bound, bias_bound, torch_max_w}
   (torch_max_w: the largest |w| of 20 real reset_parameters() draws, <= the bound).
3. End to end: synth_vgg and synth_resnet with their first K layers of the cascading order re-initialised from
   polycam-eval's Philox stream 6 (weights and biases uniform in +-1/sqrt(fan_in), BN reset as
   reset_parameters() + reset_running_stats() do) -> logits of a fixed input:
   /reinit/x, /reinit/<model>/{steps, logits}.

Usage: /tmp/bvenv/bin/python tools/make_sanity_fixtures.py
"""
import math
import os
import sys

import h5py
import numpy as np
from scipy.stats import spearmanr
from skimage.feature import hog
from skimage.metrics import structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import philox  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "sanity_similarity.h5")
STREAM_SANITY = 6


# ---- the notebook's normalisations and measures -----------------------------------------------

def abs_grayscale_norm(img):
    img = np.absolute(img)
    return img / float(img.max())


def diverging_norm(img):
    return img / float(np.absolute(img).max())


def normalize_image(x):
    x = np.array(x).astype(np.float32)
    return (x - x.min()) / (x.max() - x.min())


def measures(a, b):
    with np.errstate(all="ignore"):
        r_abs = spearmanr(abs_grayscale_norm(a).flatten(), abs_grayscale_norm(b).flatten())[0]
        r = spearmanr(diverging_norm(a).flatten(), diverging_norm(b).flatten())[0]
        na, nb = normalize_image(a), normalize_image(b)
        if np.isnan(na).any() or np.isnan(nb).any():
            return [r_abs, r, np.nan, np.nan]
        ss = structural_similarity(na.astype(np.float64), nb.astype(np.float64), gaussian_weights=True)
        h = spearmanr(hog(na, pixels_per_cell=(16, 16)), hog(nb, pixels_per_cell=(16, 16)))[0]
    return [r_abs, r, ss, h]


def cam_like(rng, s=224):
    """A 7x7 ReLU'd map brought to s x s by nearest-block repetition then a box blur: large exactly
    tied zero regions and plateaus."""
    m = np.maximum(rng.standard_normal((7, 7)), 0)
    m = np.kron(m, np.ones((s // 7, s // 7)))
    return m.astype(np.float32)


def smooth(rng, s=224):
    m = rng.standard_normal((s // 8, s // 8))
    m = np.kron(m, np.ones((8, 8)))
    k = np.ones(5) / 5
    m = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 0, m)
    m = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, m)
    return (m + 0.1 * rng.standard_normal((s, s))).astype(np.float32)


def pairs(s=112):
    rng = np.random.default_rng(20260101)
    a = smooth(rng, s)
    out = {
        "smooth": (np.abs(a), np.abs(0.6 * a + 0.4 * smooth(rng, s))),
        "signed": (a, 0.5 * a + smooth(rng, s)),
        "cam_ties": (cam_like(rng, s), cam_like(rng, s)),
        "quantised": (np.round(np.abs(a) * 4) / 4, np.round(np.abs(smooth(rng, s)) * 4) / 4),
        "identical": (np.abs(a), np.abs(a)),
        "uncorrelated": (rng.random((s, s), dtype=np.float32), rng.random((s, s), dtype=np.float32)),
        "constant": (np.full((s, s), 0.5, np.float32), np.abs(a)),
    }
    b = smooth(rng, 224)
    out["smooth224"] = (np.abs(b), np.abs(0.7 * b + 0.3 * smooth(rng, 224)))
    return {k: (x.astype(np.float32), y.astype(np.float32)) for k, (x, y) in out.items()}


# ---- reset_parameters ---------------------------------------------------------------------------

def cascade(model):
    """(name, module) of the Conv2d / Linear layers, output layer first, and the BatchNorm2d that
    follows each (or None): the reverse of torchvision's module registration order."""
    import torch.nn as nn
    mods = dict(model.named_modules())
    out = []
    for name, m in model.named_modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        bn = None
        if name.endswith("downsample.0"):
            bn = name[:-1] + "1"
        elif ".conv" in name or name == "conv1":
            bn = name.replace("conv", "bn")
        out.append((name, m, mods.get(bn) if bn else None))
    return out[::-1]


def torch_bounds(m):
    import torch.nn as nn
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
    gain = nn.init.calculate_gain("leaky_relu", math.sqrt(5))   # kaiming_uniform_(a=sqrt(5))
    wb = math.sqrt(3.0) * gain / math.sqrt(fan_in)
    bb = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return fan_in, wb, bb


def philox_reinit(m, bn, layer, seed):
    """polycam-eval's draw: element i of the weights, then n_w + o of the bias, of Philox stream 6
    (sample (6 << 16) | layer, image 0): w = (2u - 1) / sqrt(fan_in), rounded once to float32."""
    import torch
    fan_in, _, _ = torch_bounds(m)
    bound = 1.0 / math.sqrt(fan_in)
    nw = m.weight.numel()
    nb = m.weight.shape[0]
    u = philox.uniform(seed, 0, (STREAM_SANITY << 16) | layer, nw + nb).astype(np.float64)
    v = ((2.0 * u - 1.0) * bound).astype(np.float32)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(v[:nw].reshape(m.weight.shape)))
        if m.bias is not None:
            m.bias.copy_(torch.from_numpy(v[nw:]))
        if bn is not None:
            bn.reset_parameters()    # weight 1, bias 0, running mean 0, var 1


def main():
    import torch
    from make_baseline_fixtures import build
    torch.manual_seed(0)    # torch_max_w: torch's own draws, reproducible
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with h5py.File(OUT, "w") as f:
        f.attrs["source"] = "tools/make_sanity_fixtures.py (scipy %s, scikit-image %s, torch %s)" % (
            __import__("scipy").__version__, __import__("skimage").__version__, torch.__version__)
        for name, (a, b) in pairs().items():
            g = f.create_group("pairs/" + name)
            g.create_dataset("a", data=a, compression="gzip", shuffle=True)
            g.create_dataset("b", data=b, compression="gzip", shuffle=True)
            g["expected"] = np.array(measures(a, b), dtype=np.float64)
        x = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3], np.float64)
        y = np.array([2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5, 9, 0, 4, 5], np.float64)
        f["raw/spearman_x"], f["raw/spearman_y"] = x, y
        f["raw/spearman"] = np.float64(spearmanr(x, y)[0])
        na = normalize_image(pairs()["cam_ties"][0])
        f.create_dataset("raw/hog_in", data=na, compression="gzip", shuffle=True)
        f["raw/hog"] = hog(na, pixels_per_cell=(16, 16)).astype(np.float64)
        rng = np.random.default_rng(7)
        p, q = rng.random((40, 56)), rng.random((40, 56))
        q = 0.5 * p + 0.5 * q
        f["raw/ssim_a"], f["raw/ssim_b"] = p, q
        f["raw/ssim"] = np.float64(structural_similarity(p, q, gaussian_weights=True, data_range=2.0))
        for model_name in ("synth_vgg", "synth_resnet"):
            model = build(model_name)
            rows = cascade(model)
            g = f.create_group("reset/" + model_name)
            g["names"] = np.array([n.encode() for n, _, _ in rows], dtype=h5py.string_dtype())
            b = [torch_bounds(m) for _, m, _ in rows]
            g["fan_in"] = np.array([t[0] for t in b], np.int64)
            g["weight_bound"] = np.array([t[1] for t in b], np.float64)
            g["bias_bound"] = np.array([t[2] for t in b], np.float64)
            mx = []
            for _, m, _ in rows:
                w = 0.0
                for _ in range(20):
                    m.reset_parameters()
                    w = max(w, float(m.weight.abs().max()))
                mx.append(w)
            g["torch_max_w"] = np.array(mx, np.float64)
        # end to end: steps 0..K of each synthetic net, logits of a fixed input
        seed, ks = 0, [0, 1, 3, 8]
        x = np.random.default_rng(11).standard_normal((1, 3, 224, 224)).astype(np.float32)
        f.create_dataset("reinit/x", data=x[0], compression="gzip", shuffle=True)
        for model_name in ("synth_vgg", "synth_resnet"):
            g = f.create_group("reinit/" + model_name)
            g["steps"], g.attrs["seed"] = np.array(ks, np.int64), seed
            logits = []
            for k in ks:
                model = build(model_name)
                rows = cascade(model)
                fwd = [n for n, _, _ in rows][::-1]     # forward order = the layer index of the draw
                for name, m, bn in rows[:k]:
                    philox_reinit(m, bn, fwd.index(name), seed)
                with torch.no_grad():
                    logits.append(model(torch.from_numpy(x))[0].numpy().astype(np.float64))
            g["logits"] = np.array(logits)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
