#!/usr/bin/env python3
"""make_metric_fixtures.py: goldens for the perturbation metrics of docs/metrics.md (ROAD, pixel
flipping, region perturbation, Average Drop / Increase in Confidence / Average Gain) computed by
the libraries researchers use, written to tests/fixtures/metrics_perturb.h5.

Oracles (pinned):
  * pytorch-grad-cam 1.5.7 (PyPI `grad-cam`): ROADMostRelevantFirst / ROADLeastRelevantFirst (their
    NoisyLinearImputer and PerturbationConfidenceMetric), ROADCombined, DropInConfidence,
    IncreaseInConfidence;
  * Quantus 0.6.0 (PyPI `quantus`): ROAD (noisy_linear_imputation), PixelFlipping, RegionPerturbation;
  * torchcam 0.4.0 (PyPI `torchcam`): metrics.ClassificationMetric (Average Drop, Increase in Confidence);
  * torch 1.13 / torchvision 0.14 / numpy 1.24 / scipy 1.10 / scikit-image 0.19.3 / OpenCV 4.6 from
    Debian 12 (python3-torch, python3-torchvision, python3-opencv, python3-skimage, python3-sklearn,
    python3-pandas, python3-tqdm, python3-cachetools), reused through --system-site-packages.

Environment (run from the repository root):
    apt-get install python3-torch python3-torchvision python3-opencv python3-skimage python3-sklearn \
        python3-pandas python3-tqdm python3-cachetools
    /usr/bin/python3 -m venv --system-site-packages /tmp/mvenv
    /tmp/mvenv/bin/pip install --no-deps grad-cam==1.5.7 quantus==0.6.0 torchcam==0.4.0 ttach==0.0.3 \
        h5py==3.16.0 safetensors==0.8.0
    /tmp/mvenv/bin/python tools/make_metric_fixtures.py
(--no-deps: the wheels declare torch >= 2 / opencv-python from PyPI; the Debian builds above are what
ran. The run takes a few minutes on 2 cores.)

Maps: each image's Grad-CAM map of tests/fixtures/baselines.h5 plus 1e-3 * a Philox uniform
(seed 0, the image's list position, sample 0xFFFF), values still equal moved up by one float32 ulp
until none is (the map is stored): the libraries break ties in their own ways
(numpy's unstable argsort, percentile thresholds), polycam-eval by ascending index; a map without
ties makes every order the same, so the comparison is about the metrics, not the tie rule.

Where a library departs from the paper that defined the metric, the fixture holds the paper's value
computed with the library's own machinery (its imputer, its perturbation loop, its scoring) fed the
paper's inputs, and beside it the library's own value (`lib_*`), see docs/metrics.md:
  * ROAD (Rong et al. 2022; tleemann/road_evaluation): k = int(HW * p / 100) pixels removed, MoRF the
    k most relevant, LeRF the k least relevant. pytorch-grad-cam thresholds at np.percentile (one
    pixel more or less); Quantus 0.6.0 orders the channel-broadcast map (3HW entries) and takes
    int(HW p / 100) of them, so it removes about a third of the pixels it names (recorded).
    The imputation noise (0.01 N(0,1) per imputed value) is polycam-eval's: Philox normals of
    (seed 0, image, sample (16 << 16) | (order << 8) | j), element c * HW + pixel, order 0 = MoRF,
    1 = LeRF, j = the percentage's index; the libraries' torch.randn_like / np.random.randn are
    replaced for the call. `lib_spread_max_abs`: the libraries' own run-to-run spread of the
    per-percentage scores (3 runs with their own generators).
  * Pixel flipping / region perturbation (Bach et al. 2015, Samek et al. 2017): baselines as
    polycam-eval defines them (black = min of X, mean = mean of X, both over every value of the
    unperturbed image; blur = SPEC §8; uniform = per value (u - mean_c) / std_c, u the Philox uniforms
    of (seed 0, image, (17 << 16), element c * HW + pixel), i.e. uniform over the pixel range).
    Quantus's "mean" is re-taken from the already perturbed array at every step and its batched
    "uniform" draws one value per image per step; `lib_*` hold those.
  * Average Drop / Increase in Confidence (Chattopadhay et al. 2018): drop = max(0, Y - O) / Y,
    increase = [O > Y] with Y = f_c(X), O = f_c(X * E), E the map min-max normalised. pytorch-grad-cam's
    DropInConfidence returns max(0, Y - O) without the division (recorded); torchcam divides by
    Y + 1e-7. Average Gain (Zhang et al. 2023, Opti-CAM): max(0, O - Y) / (1 - Y), no library has it:
    computed here from the library's O and Y.
None of the values comes from polycam-eval.
"""
import argparse
import contextlib
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import philox  # noqa: E402
import make_baseline_fixtures as mb  # noqa: E402  (networks, images, blur)

SEED = 0
STREAM_ROAD, STREAM_PERTURB = 16, 17
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
PERCENTAGES = [10, 20, 30, 40, 50, 60, 70, 80, 90]
ROAD_NOISE = 0.01


def fixture_map(gradcam, image):
    u = philox.uniform(SEED, image, 0xFFFF, gradcam.size).reshape(gradcam.shape)
    m = (gradcam.astype(np.float32) + np.float32(1e-3) * u).astype(np.float32).reshape(-1)
    while True:   # the few values still equal: the later one (in value order) one float up
        o = np.argsort(m, kind="stable")
        dup = o[1:][m[o[1:]] == m[o[:-1]]]
        if dup.size == 0:
            return m.reshape(gradcam.shape)
        m[dup] = np.nextafter(m[dup], np.float32(np.inf))


def road_noise(image, order, j, hw):
    return philox.normal(SEED, image, (STREAM_ROAD << 16) | (order << 8) | j, 3 * hw).reshape(3, hw)


def road_keep(m, p, lerf):
    """1 = kept, 0 = imputed: the paper's k = int(HW p / 100) most (MoRF) / least (LeRF) relevant."""
    hw = m.size
    order = np.argsort(-m.reshape(-1).astype(np.float64), kind="stable")
    k = int(hw * p / 100)
    keep = np.ones(hw, np.float32)
    keep[order[hw - k:] if lerf else order[:k]] = 0
    return keep.reshape(m.shape)


@contextlib.contextmanager
def patched(obj, name, fn):
    old = getattr(obj, name)
    setattr(obj, name, fn)
    try:
        yield
    finally:
        setattr(obj, name, old)


def scores_of(model, xs, cls):
    with torch.no_grad():
        p = F.softmax(model(xs), 1)
    return p[:, cls].numpy().astype(np.float32), (p.argmax(1) == cls).numpy().astype(np.int8)


def road_gradcam(model, x, m, cls, image):
    """Paper's removal sets, pytorch-grad-cam's NoisyLinearImputer and scoring, our noise."""
    from pytorch_grad_cam.metrics.perturbation_confidence import PerturbationConfidenceMetric
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
    hw = m.size
    out = {}
    for order, name in ((0, "morf"), (1, "lerf")):
        sc, ok = [], []
        for j, p in enumerate(PERCENTAGES):
            keep = torch.from_numpy(road_keep(m, p, order == 1))
            z = torch.from_numpy(road_noise(image, order, j, hw))
            idx = torch.from_numpy(np.argwhere(keep.numpy().reshape(-1) == 0).flatten())
            imputer = NoisyLinearImputer(noise=ROAD_NOISE)
            metric = PerturbationConfidenceMetric(lambda t, cam, keep=keep: imputer(t, keep))
            with patched(torch, "randn_like", lambda r, z=z, idx=idx: z[:, idx]):
                s, xs = metric(x[None], m[None], [ClassifierOutputSoftmaxTarget(cls)], model,
                               return_visualization=True, return_diff=False)
            s2, c = scores_of(model, xs, cls)
            assert abs(float(s[0]) - float(s2[0])) < 1e-6
            sc.append(float(s[0]))
            ok.append(int(c[0]))
        out[name + "_scores"] = np.array(sc, np.float32)
        out[name + "_correct"] = np.array(ok, np.int8)
    return out


def road_quantus(model, x, m, cls, image):
    """Paper's removal sets, Quantus's noisy_linear_imputation, our noise, softmax scoring."""
    from quantus.functions import perturb_func as qp
    hw = m.size
    out = {}
    for order, name in ((0, "morf"), (1, "lerf")):
        xs = []
        for j, p in enumerate(PERCENTAGES):
            keep = road_keep(m, p, order == 1).reshape(-1)
            idx = np.argwhere(keep == 0).flatten()
            z = road_noise(image, order, j, hw)[:, idx].astype(np.float64)
            with patched(qp.np.random, "randn", lambda *shape, z=z: z):
                xs.append(torch.from_numpy(qp.noisy_linear_imputation(x.numpy(), idx, noise=ROAD_NOISE)).float())
        out[name + "_scores"], out[name + "_correct"] = scores_of(model, torch.stack(xs), cls)
    return out


def road_libraries(model, x, m, cls, label, runs):
    """The libraries as they are: pytorch-grad-cam's averaged MoRF / LeRF confidence changes and
    ROADCombined, Quantus's ROAD accuracies, each with its own random generator (runs seeds)."""
    from pytorch_grad_cam.metrics.road import ROADLeastRelevantFirstAverage, ROADMostRelevantFirstAverage
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
    import quantus
    res = {"gc_morf": [], "gc_lerf": [], "q": []}
    for r in range(runs):
        torch.manual_seed(r)
        np.random.seed(r)
        t = [ClassifierOutputSoftmaxTarget(cls)]
        res["gc_morf"].append(float(ROADMostRelevantFirstAverage(PERCENTAGES)(x[None], m[None], t, model)[0]))
        res["gc_lerf"].append(float(ROADLeastRelevantFirstAverage(PERCENTAGES)(x[None], m[None], t, model)[0]))
        try:
            q = quantus.ROAD(percentages=PERCENTAGES, noise=ROAD_NOISE, abs=False, normalise=False,
                             disable_warnings=True)(model=model, x_batch=x[None].numpy(), y_batch=np.array([label]),
                                                     a_batch=m[None, None], channel_first=True, device="cpu")
            res["q"].append([float(q[p]) for p in PERCENTAGES])
        except Exception as e:  # noqa: BLE001  (recorded: the library's failure is part of the record)
            res["q_error"] = "%s: %s" % (type(e).__name__, e)
    return res


def perturb_baselines(x, image):
    xn = x.numpy()
    u = philox.uniform(SEED, image, STREAM_PERTURB << 16, xn.size).reshape(xn.shape)
    uni = ((u - MEAN[:, None, None]) / STD[:, None, None]).astype(np.float32)
    xd = xn.astype(np.float64)
    return {"black": np.float32(xn.min()), "mean": np.float32(xd.mean()),
            "blur": mb.blur(x).numpy().astype(np.float32), "uniform": uni}


def array_replace(base):
    flat = base.reshape(-1)

    def fn(arr, indices, **kw):
        out = arr.copy()
        for b in range(arr.shape[0]):
            out[b, indices[b]] = flat[indices[b]]
        return out
    return fn


def quantus_kw(base):
    from quantus.functions.perturb_func import batch_baseline_replacement_by_indices
    if np.ndim(base) == 0:
        return dict(perturb_func=batch_baseline_replacement_by_indices, perturb_baseline=float(base))
    return dict(perturb_func=array_replace(base))


def flip(model, x, m, cls, base, pps, lerf, lib=None):
    import quantus
    kw = dict(perturb_baseline=lib, perturb_func=quantus.functions.perturb_func.batch_baseline_replacement_by_indices) \
        if lib else quantus_kw(base)
    # Quantus orders the 3HW channel values of the broadcast map and flips features_in_step of them
    # per step, which must divide HW (its assertion): with HW = 2^10 7^2 never a multiple of 3, so
    # a step ends inside a pixel's three values except every third one. Those (pixel-complete) points
    # are the pixel-flipping curve with pps = features_in_step pixels per step.
    metric = quantus.PixelFlipping(features_in_step=pps, abs=False, normalise=False, disable_warnings=True, **kw)
    # LeRF: Quantus's pixel flipping is MoRF only and refuses an all-negative map (so not -m): the
    # positions in the descending order, whose descending order is the least relevant first
    a = m
    if lerf:
        a = np.empty(m.size)
        a[np.argsort(-m.reshape(-1).astype(np.float64), kind="stable")] = np.arange(m.size)
        a = a.reshape(m.shape)
    curve = metric(model=model, x_batch=x[None].numpy(), y_batch=np.array([cls]), a_batch=a[None, None],
                   channel_first=True, device="cpu", softmax=True)
    return np.array(curve[0], np.float32)


def region(model, x, m, cls, base, patch, steps, lerf, lib=None):
    import quantus
    kw = dict(perturb_baseline=lib, perturb_func=quantus.functions.perturb_func.baseline_replacement_by_indices) \
        if lib else quantus_kw(base)
    if not lib and np.ndim(base) == 0:
        kw = dict(perturb_baseline=float(base))
    metric = quantus.RegionPerturbation(patch_size=patch, order="lerf" if lerf else "morf", regions_evaluation=steps,
                                        abs=False, normalise=False, disable_warnings=True, **kw)
    curve = metric(model=model, x_batch=x[None].numpy(), y_batch=np.array([cls]), a_batch=m[None, None],
                   channel_first=True, device="cpu", softmax=True)
    return np.array(curve[0], np.float32)


def adcc(model, x, m, cls):
    """Y, O and the libraries' Average Drop / Increase in Confidence for one map."""
    from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence, IncreaseInConfidence
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
    from torchcam.metrics import ClassificationMetric
    e = ((m - m.min()) / (m.max() - m.min())).astype(np.float32)
    t = [ClassifierOutputSoftmaxTarget(cls)]
    r = {"gradcam_drop": float(DropInConfidence()(x[None], e[None], t, model)[0]),
         "gradcam_increase": float(IncreaseInConfidence()(x[None], e[None], t, model)[0])}

    class Extractor:   # torchcam's CAM interface, handing the fixed map to ClassificationMetric
        def __init__(self):
            self.model, self._hooks_enabled = model, True

        def __call__(self, class_idx, scores):
            return [torch.from_numpy(e)[None]]

        def fuse_cams(self, cams):
            return cams[0]
    tc = ClassificationMetric(Extractor(), lambda z: torch.softmax(z, -1))
    tc.update(x[None], class_idx=cls)
    s = tc.summary()
    r["torchcam_drop"], r["torchcam_increase"] = float(s["avg_drop"]), float(s["conf_increase"])
    with torch.no_grad():
        y = float(F.softmax(model(x[None]), 1)[0, cls])
        o = float(F.softmax(model((x * torch.from_numpy(e))[None]), 1)[0, cls])
    r.update(score=y, masked_score=o, drop=max(0.0, y - o) / y, increase=float(o > y), gain=max(0.0, o - y) / (1 - y))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "metrics_perturb.h5"))
    ap.add_argument("--images", type=int, default=1, help="synthetic images per model")
    ap.add_argument("--flip-pixels", type=int, default=1792, help="pixels per pixel-flipping step (28 steps)")
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--regions", type=int, default=20)
    ap.add_argument("--spread-runs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    import pytorch_grad_cam, quantus, torchcam, scipy  # noqa: E401
    base_f = h5py.File(os.path.join(ROOT, "tests", "fixtures", "baselines.h5"), "r")
    with h5py.File(args.out, "w") as out:
        out.attrs.update(generator="tools/make_metric_fixtures.py", torch=str(torch.__version__), numpy=str(np.__version__),
                         scipy=str(scipy.__version__), grad_cam="1.5.7", quantus=str(quantus.__version__),
                         torchcam=str(torchcam.__version__), seed=SEED, road_percentages=PERCENTAGES,
                         road_noise=ROAD_NOISE, flip_pixels=args.flip_pixels, region_patch=args.patch,
                         region_steps=args.regions, stream_road=STREAM_ROAD, stream_perturb=STREAM_PERTURB)
        for name in ("synth_vgg", "synth_resnet"):
            model = mb.build(name)
            names, positions, xs = mb.images_for(name, None)
            labels = dict(l.split()[:2] for l in open(os.path.join(ROOT, "data", "synthetic", "labels.txt")))
            for i in range(args.images):
                x, image = xs[i], positions[i]
                cls = int(base_f[name][names[i]].attrs["class"])
                m = fixture_map(base_f[name][names[i]]["gradcam"]["map"][()], image)
                g = out.create_group("%s/%s" % (name, names[i]))
                g.attrs.update(**{"class": cls, "image_index": image, "label": int(labels[names[i]])})
                g["input"], g["map"] = x.numpy(), m
                print(name, names[i], "class", cls, flush=True)
                r = g.create_group("road")
                for k, v in road_gradcam(model, x, m, cls, image).items():
                    r[k] = v
                for k, v in road_quantus(model, x, m, cls, image).items():
                    r["quantus_" + k] = v
                lib = road_libraries(model, x, m, cls, int(labels[names[i]]), args.spread_runs if i == 0 and name == "synth_vgg" else 1)
                r.attrs["lib_gradcam_morf_avg"], r.attrs["lib_gradcam_lerf_avg"] = lib["gc_morf"][0], lib["gc_lerf"][0]
                r.attrs["lib_gradcam_combined"] = (lib["gc_lerf"][0] - lib["gc_morf"][0]) / 2
                if "q_error" in lib:
                    r.attrs["lib_quantus_error"] = lib["q_error"]
                if lib["q"]:
                    r["lib_quantus_accuracy"] = np.array(lib["q"][0], np.float32)
                if len(lib["gc_morf"]) > 1:
                    sp = [max(abs(a - lib[k][0]) for a in lib[k]) for k in ("gc_morf", "gc_lerf")]
                    r.attrs["lib_spread_runs"] = len(lib["gc_morf"])
                    r.attrs["lib_spread_max_abs"] = max(sp)
                bases = perturb_baselines(x, image)
                for b, base in bases.items():
                    fg = g.create_group("flip/" + b)
                    rg = g.create_group("region/" + b)
                    for lerf, o in ((0, "morf"), (1, "lerf")):
                        fg["quantus_" + o + "_curve"] = flip(model, x, m, cls, base, args.flip_pixels, lerf)
                        fg[o + "_scores"] = fg["quantus_" + o + "_curve"][2::3]
                        rg[o + "_curve"] = region(model, x, m, cls, base, args.patch, args.regions, lerf)
                    if b in ("mean", "uniform"):   # the library's own baselines (drifting mean, one value per step)
                        np.random.seed(0)
                        fg["lib_morf_scores"] = flip(model, x, m, cls, None, args.flip_pixels, 0, lib=b)
                print("  road + flip + region done", flush=True)
                for k, v in adcc(model, x, m, cls).items():
                    g.create_group("adcc") if "adcc" not in g else None
                    g["adcc"].attrs[k] = v
    print("wrote", args.out)


if __name__ == "__main__":
    main()
