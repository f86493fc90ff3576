#!/usr/bin/env python3
"""make_metric_fixtures2.py: goldens for the localisation, avg-sensitivity and independent
randomisation metrics (docs/metrics-localisation-randomisation.md), written to
tests/fixtures/metrics_loc.h5.

Oracles (pinned):
  * Quantus 0.6.0 (PyPI): PointingGame, RelevanceMassAccuracy, RelevanceRankAccuracy,
    AvgSensitivity, MPRT(layer_order="independent");
  * TorchRay at commit 6a198ee (facebookresearch/TorchRay, torchray/benchmark/pointing_game.py:
    PointingGame.evaluate, the 15-pixel tolerance of Zhang et al. 2018), its class read from the
    file (the rest of the module needs torchvision datasets);
  * the explanation functions of tools/make_sensitivity_fixtures.py / make_baseline_fixtures.py
    (torchcam c85232b, captum 0.6.0, the reference polycam @8003dc6), torch 1.13 (Debian).

Groups:
  /localisation/<model>/<method>: on tests/fixtures/synthetic.h5's reference maps and masks
      (16 images; the C test reads the maps from there): quantus_pointing, quantus_mass,
      quantus_rank (Quantus 0.6.0 defaults: normalise_by_max, no abs), rank_stable (Quantus's
      formula with a stable argsort: ties by ascending index), rank_tie (1 when the map ties
      across the K-th place, K = |mask|, where Quantus's quicksort order decides), torchray_15
      (TorchRay's evaluate with tolerance 15 on the first argmax, +1 / -1 as 1 / 0);
  /localisation/cases: hand-made maps and masks (ties at the maximum, a maximum 14 / 15 / 16 px
      from the object, signed maps, an empty mask, a zero map) with the same outputs and their
      maps and masks (n, 224, 224).
  /avg_sensitivity/<model>/<method>: attribute avg = Quantus AvgSensitivity(nr_samples=3) fed
      the perturbations and noise of sensitivity.h5 (tools/make_sensitivity_fixtures.py: Philox
      stream 5, X + d_j; random methods' noise keyed per call), and max = captum's sensitivity_max
      of the same calls for cross-checking (a CAM at its native size is handed to Quantus zero-padded
      to (1, 1, S, S), as its shape asserts require: the norms are the native map's); image img0 of reference_golden.h5, tiny_vgg and tiny_resnet.
  /mprt/synth_vgg: MPRT(layer_order="independent", similarity spearman, abs, normalise_by_max)
      with each Conv2d / Linear reset_parameters() replaced by polycam-eval's Philox stream-6 draw
      (host/metrics/sanity.h) so the randomised weights are the program's; gradcam and ixg (channel sum)
      maps at 224 x 224 for the original class; datasets layers (names in Quantus's order, the
      forward order), <method> (scores per layer), attribute original; x (3, S, S): the first
      synthetic image (list position 0), preprocessed.

Usage:
    /usr/bin/python3 -m venv --system-site-packages /tmp/qvenv
    /tmp/qvenv/bin/pip install quantus==0.6.0 captum==0.6.0 safetensors==0.8.0 numpy==1.24.2
    (torchcam, Zoom-CAM and the reference polycam as in make_baseline_fixtures.py /
     make_sensitivity_fixtures.py; TorchRay:)
    git clone https://github.com/facebookresearch/TorchRay /tmp/torchray-src
    git -C /tmp/torchray-src archive 6a198ee torchray/benchmark/pointing_game.py | tar -x -C /tmp
    /tmp/qvenv/bin/python tools/make_metric_fixtures2.py --torchcam /tmp/torchcam --zoomcam /tmp/zoomcam \\
        --polycam /tmp/polycam_ref --torchray /tmp/torchray/benchmark/pointing_game.py
"""
import argparse
import ast
import os
import sys
import time

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_baseline_fixtures as mbf  # noqa: E402
import make_sensitivity_fixtures as msf  # noqa: E402
from make_baseline_fixtures import ROOT, build, images_for, load_libs, philox  # noqa: E402

STREAM_SANITY = 6
TOLERANCE = 15
S = 224


# ---- localisation -------------------------------------------------------------------------------

def torchray_class(path):
    """TorchRay's PointingGame class, compiled from its file (the module imports torchvision)."""
    tree = ast.parse(open(path).read())
    cls = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PointingGame"]
    assert cls, path
    ns = {"torch": torch}
    exec(compile(ast.Module(body=cls, type_ignores=[]), path, "exec"), ns)
    return ns["PointingGame"]


def localisation_outputs(quantus, pg_cls, maps, masks):
    """Every output of the group doc for maps (n, S, S) float32 and masks (n, S, S) 0/1."""
    n = len(maps)
    a = maps[:, None].astype(np.float32)
    s = masks[:, None].astype(np.float32)
    x = np.zeros((n, 3, S, S), np.float32)
    y = np.zeros(n, np.int64)
    kw = dict(model=None, x_batch=x, y_batch=y, a_batch=a, s_batch=s, batch_size=n)
    out = {"quantus_pointing": np.array(quantus.PointingGame(disable_warnings=True)(**kw), np.float64),
           "quantus_mass": np.array(quantus.RelevanceMassAccuracy(disable_warnings=True)(**kw), np.float64),
           "quantus_rank": np.array(quantus.RelevanceRankAccuracy(disable_warnings=True)(**kw), np.float64)}
    pg = pg_cls(num_classes=1, tolerance=TOLERANCE)
    stable, tie, tr = np.zeros(n), np.zeros(n, np.int8), np.zeros(n, np.int8)
    for i in range(n):
        f = maps[i].reshape(-1).astype(np.float32)
        g = masks[i].reshape(-1).astype(bool)
        k = int(g.sum())
        order = np.argsort(-f, kind="stable")
        stable[i] = g[order[:k]].sum() / k if k else np.nan
        v = f[order]
        tie[i] = int(0 < k < f.size and v[k - 1] == v[k])
        sal = torch.from_numpy(maps[i].astype(np.float32))[None, None]
        p = torch.argmax(sal.view(1, -1), dim=1, keepdim=True)      # TorchRay's _saliency_to_point
        point = torch.cat((p % S, p // S), dim=1)[0]
        tr[i] = pg.evaluate(torch.from_numpy(masks[i].astype(bool)), point) == 1
    out.update(rank_stable=stable, rank_tie=tie, torchray_15=tr)
    return out


def disk(cy, cx, r):
    yy, xx = np.mgrid[0:S, 0:S]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)


def cases():
    """(name, map, mask) of the hand-made cases."""
    rng = np.random.default_rng(24)
    base = rng.random((S, S)).astype(np.float32) * 0.5
    out = []
    obj = np.zeros((S, S), np.uint8)
    obj[100:140, 60:100] = 1                       # a 40 x 40 square, columns 60..99
    for dist in (1, 14, 15, 16, 30):               # maximum dist px right of the square's last column
        m = base.copy()
        m[120, 99 + dist] = 1.0
        out.append(("max_%dpx" % dist, m, obj))
    m = base.copy()
    m[120, 99 + 10] = 1.0
    m[50, 50] = 1.0                                # a tie: first row-major maximum (50, 50) is far away
    out.append(("tie_first_far", m, obj))
    m = base.copy()
    m[5, 5] = 1.0
    m[110, 70] = 1.0                               # a tie: the second maximum is inside
    out.append(("tie_second_in", m, obj))
    m = np.round(base * 4) / 4                     # few levels: ties across the K-th place
    out.append(("quantised", m.astype(np.float32), disk(80, 150, 30)))
    signed = rng.standard_normal((S, S)).astype(np.float32)
    signed[90:150, 50:110] += 1.0
    out.append(("signed", signed, obj))
    out.append(("empty_mask", base.copy(), np.zeros((S, S), np.uint8)))
    out.append(("zero_map", np.zeros((S, S), np.float32), obj))
    corner = np.zeros((S, S), np.uint8)
    corner[:3, :3] = 1
    m = base.copy()
    m[12, 12] = 1.0                                # distance sqrt(2 * 10^2) = 14.1 from (2, 2)
    out.append(("corner_diag", m, corner))
    return out


def make_localisation(out, quantus, pg_cls):
    g = out.create_group("localisation")
    with h5py.File(os.path.join(ROOT, "tests", "fixtures", "synthetic.h5"), "r") as syn:
        for model in ("synth_vgg", "synth_resnet"):
            masks = syn["%s/test/mask" % model][()]
            for meth in ("gradcam", "pcamp", "pcamm", "pcampm"):
                maps = syn["%s/test/%s/map" % (model, meth)][()].astype(np.float32)
                mg = g.create_group("%s/%s" % (model, meth))
                for k, v in localisation_outputs(quantus, pg_cls, maps, masks).items():
                    mg.create_dataset(k, data=v)
                print("localisation", model, meth, "torchray15 %d/16" % mg["torchray_15"][()].sum(), flush=True)
    cs = cases()
    cg = g.create_group("cases")
    cg.create_dataset("names", data=np.array([c[0] for c in cs], dtype=h5py.string_dtype()))
    maps = np.stack([c[1] for c in cs]).astype(np.float32)
    masks = np.stack([c[2] for c in cs]).astype(np.uint8)
    cg.create_dataset("map", data=maps, compression="gzip", shuffle=True)
    cg.create_dataset("mask", data=masks, compression="gzip", shuffle=True)
    for k, v in localisation_outputs(quantus, pg_cls, maps, masks).items():
        cg.create_dataset(k, data=v)
    for i, c in enumerate(cs):
        print("case", c[0], {k: cg[k][i] for k in ("quantus_pointing", "torchray_15", "quantus_rank", "rank_stable")})


# ---- avg-sensitivity ----------------------------------------------------------------------------

def quantus_explain(fn, calls):
    """Quantus explain_func(model, inputs, targets) around a captum-style fn(inputs, target)."""
    def explain(model, inputs, targets, **kw):
        calls.append(1)
        x = torch.from_numpy(np.asarray(inputs, np.float32))
        a = fn((x,), int(np.asarray(targets).reshape(-1)[0]))
        if isinstance(a, tuple):
            a = a[0]
        a = a.detach().cpu().numpy().astype(np.float32)
        if a.size < S * S:
            # a CAM at its native size (14 x 14): Quantus asserts that an attribution has the input's
            # spatial shape, so it gets the map zero-padded to (1, 1, S, S): its norms and
            # differences, all AvgSensitivity uses, are those of the native map
            pad = np.zeros(S * S, np.float32)
            pad[:a.size] = a.reshape(-1)
            a = pad.reshape(1, 1, S, S)
        return a
    return explain


def perturb_np(image):
    """Quantus perturb_func(arr, indices, ...): X + d_j for the j-th call (arr is (1, n))."""
    state = {"j": 0}

    def fn(arr, indices, **kw):
        d = msf.delta(image, state["j"], arr.size).reshape(arr.shape)
        state["j"] += 1
        return (arr + d).astype(np.float32)
    return fn


def make_avg_sensitivity(out, quantus, libs):
    sys.path.insert(0, ARGS.polycam)
    import polycam.polycam as pc
    from captum.metrics import sensitivity_max
    g = out.create_group("avg_sensitivity")
    ref = h5py.File(os.path.join(ROOT, "tests", "fixtures", "reference_golden.h5"), "r")
    for name in ("tiny_vgg", "tiny_resnet"):
        model = build(name)
        names, positions, xs = images_for(name, ref)
        img, pos, x = names[0], positions[0], xs[0]
        with torch.no_grad():
            cls = int(model(x[None])[0].argmax())
        mg = g.create_group(name)
        mg.attrs.update({"image": img, "image_index": pos, "class": cls})
        for meth, make in msf.explanation_fns(libs, pc, model, name, pos):
            if meth == "smoothgrad_as_reference":
                continue
            fn, cleanup = make()
            calls = []
            metric = quantus.AvgSensitivity(nr_samples=msf.SAMPLES, perturb_func=perturb_np(pos), disable_warnings=True)
            t0 = time.time()
            avg = metric(model=model, x_batch=x[None].numpy().copy(), y_batch=np.array([cls]), a_batch=None,
                         explain_func=quantus_explain(fn, calls), device="cpu", batch_size=1)
            t_q = time.time() - t0
            if cleanup:
                cleanup()
            assert len(calls) == 1 + msf.SAMPLES, (meth, len(calls))   # call c keys the noise as in the C code
            fn, cleanup = make()
            mx = sensitivity_max(fn, x[None].clone(), perturb_func=msf.perturb_func(pos), target=cls,
                                 n_perturb_samples=msf.SAMPLES, max_examples_per_batch=1)
            if cleanup:
                cleanup()
            d = mg.create_group(meth)
            d.attrs.update(avg=float(np.asarray(avg).reshape(-1)[0]), max=float(mx.item()), quantus_seconds=t_q)
            print("avg_sensitivity", name, meth, d.attrs["avg"], d.attrs["max"], "%.2fs" % t_q, flush=True)


# ---- MPRT independent ---------------------------------------------------------------------------

def make_mprt(out, quantus, libs):
    import torch.nn as nn
    from make_sanity_fixtures import philox_reinit
    name = "synth_vgg"
    model = build(name)
    _, _, xs = images_for(name, None)
    x = xs[0]
    with torch.no_grad():
        cls = int(model(x[None])[0].argmax())
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for L, (_, m) in enumerate(layers):
        m._pc_layer = L          # forward position: the key of the draw (deepcopy keeps it)
    saved = (nn.Conv2d.reset_parameters, nn.Linear.reset_parameters)

    def reinit(self):
        philox_reinit(self, None, self._pc_layer, mbf.SEED)
    g = out.create_group("mprt/%s" % name)
    g.attrs.update({"class": cls, "image_index": 0, "seed": mbf.SEED})
    g.create_dataset("layers", data=np.array([n for n, _ in layers], dtype=h5py.string_dtype()))
    g.create_dataset("x", data=x.numpy(), compression="gzip", shuffle=True)
    tc, captum_attr, _, _ = libs
    cam_layer, _, _ = mbf.layers_of(name, model)

    def gradcam(model, inputs, targets, **kw):
        xx = torch.from_numpy(np.asarray(inputs, np.float32))
        return np.stack([mbf.up(mbf.torchcam_map(tc.GradCAM, model, cam_layer, xx[i], int(targets[i]))).numpy()[None]
                         for i in range(len(xx))])

    def ixg(model, inputs, targets, **kw):
        xx = torch.from_numpy(np.asarray(inputs, np.float32)).requires_grad_()
        a = captum_attr.InputXGradient(model).attribute(xx, target=int(targets[0])).sum(1, keepdim=True)
        return a.detach().numpy()
    nn.Conv2d.reset_parameters = nn.Linear.reset_parameters = reinit
    # two copies of the image: with one, scipy 1.15's spearmanr returns a Python float, which
    # Quantus 0.6.0's correlation_spearman (batched) cannot index; the two rows are the same
    xb = np.stack([x.numpy(), x.numpy()])
    try:
        for meth, fn in (("gradcam", gradcam), ("ixg", ixg)):
            metric = quantus.MPRT(layer_order="independent", disable_warnings=True)
            t0 = time.time()
            scores = metric(model=model, x_batch=xb.copy(), y_batch=np.array([cls, cls]), a_batch=None,
                            explain_func=fn, device="cpu", batch_size=2)
            assert all(np.allclose(v[0], v[1], rtol=0, atol=1e-12, equal_nan=True) for v in scores.values()), scores
            t_q = time.time() - t0
            assert list(scores)[1:] == [n for n, _ in layers], list(scores)
            d = g.create_dataset(meth, data=np.array([scores[n][0] for n, _ in layers], np.float64))
            d.attrs.update(original=float(scores["original"][0]), quantus_seconds=t_q)
            print("mprt", meth, np.round(d[()], 4), "%.1fs" % t_q, flush=True)
    finally:
        nn.Conv2d.reset_parameters, nn.Linear.reset_parameters = saved


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--torchcam", required=True)
    ap.add_argument("--zoomcam", required=True)
    ap.add_argument("--polycam", required=True, help="folder holding the reference's polycam package")
    ap.add_argument("--torchray", required=True, help="torchray/benchmark/pointing_game.py at 6a198ee")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "metrics_loc.h5"))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--only", choices=["localisation", "avg_sensitivity", "mprt"],
                    help="remake this group of an existing --out file, keeping the others")
    ARGS = ap.parse_args()
    torch.set_num_threads(ARGS.threads or max(1, os.cpu_count() or 1))
    import quantus
    assert quantus.__version__ == "0.6.0", quantus.__version__
    libs = load_libs(ARGS)
    with h5py.File(ARGS.out, "a" if ARGS.only else "w") as out:
        if ARGS.only and ARGS.only in out:
            del out[ARGS.only]
        out.attrs.update(quantus=quantus.__version__, torchray="6a198ee", captum="0.6.0", torchcam="c85232b",
                         polycam="8003dc6", torch=str(torch.__version__), numpy=np.__version__, tolerance=TOLERANCE,
                         seed=mbf.SEED, sensitivity_samples=msf.SAMPLES)
        if ARGS.only in (None, "localisation"):
            make_localisation(out, quantus, torchray_class(ARGS.torchray))
        if ARGS.only in (None, "avg_sensitivity"):
            make_avg_sensitivity(out, quantus, libs)
        if ARGS.only in (None, "mprt"):
            make_mprt(out, quantus, libs)
    print("wrote", ARGS.out)


if __name__ == "__main__":
    main()
