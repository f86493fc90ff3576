#!/usr/bin/env python3
"""bench_metrics_loc_quantus.py: CPU seconds per image of Quantus 0.6.0 (and TorchRay 6a198ee's
pointing game) on the inputs bench_metrics_loc.c times, one torch thread; bench/metrics_loc.sh runs
both in the same run and prints the ratios. Needs the venv and checkouts of
tools/make_metric_fixtures2.py (same arguments)."""
import argparse
import os
import sys
import time

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import make_metric_fixtures2 as mmf  # noqa: E402
import make_sensitivity_fixtures as msf  # noqa: E402
from make_baseline_fixtures import ROOT, build, load_libs  # noqa: E402


def cpu():
    return time.process_time()


def bench_localisation(quantus, pg_cls):
    with h5py.File(os.path.join(ROOT, "tests", "fixtures", "synthetic.h5"), "r") as f:
        masks = f["synth_resnet/test/mask"][()]
        maps = np.concatenate([f["synth_resnet/test/%s/map" % m][()] for m in ("gradcam", "pcamp", "pcamm", "pcampm")])
    masks = np.concatenate([masks] * 4)
    a, s = maps[:, None].astype(np.float32), masks[:, None].astype(np.float32)
    x, y = np.zeros((len(a), 3, 224, 224), np.float32), np.zeros(len(a), np.int64)
    kw = dict(model=None, x_batch=x, y_batch=y, a_batch=a, s_batch=s, batch_size=len(a))
    t0 = cpu()
    for _ in range(5):
        quantus.PointingGame(disable_warnings=True)(**kw)
        quantus.RelevanceMassAccuracy(disable_warnings=True)(**kw)
        quantus.RelevanceRankAccuracy(disable_warnings=True)(**kw)
    q = (cpu() - t0) / (5 * len(a))
    pg = pg_cls(num_classes=1, tolerance=15)
    t0 = cpu()
    for i in range(len(a)):
        p = torch.argmax(torch.from_numpy(maps[i]).view(1, -1), dim=1, keepdim=True)
        pg.evaluate(torch.from_numpy(masks[i].astype(bool)), torch.cat((p % 224, p // 224), dim=1)[0])
    print("localisation %.6e s/map (Quantus PointingGame + RelevanceMassAccuracy + RelevanceRankAccuracy, batch of 64)"
          % q)
    print("torchray_pointing %.6e s/map (PointingGame.evaluate, tolerance 15)" % ((cpu() - t0) / len(a)))


def bench_avg_sensitivity(quantus, libs, pc):
    model = build("tiny_vgg")
    with h5py.File(os.path.join(ROOT, "tests", "fixtures", "sensitivity.h5"), "r") as f:
        x = torch.from_numpy(f["tiny_vgg/ILSVRC2012_val_00010495.JPEG/input"][()])
    fns = dict(msf.explanation_fns(libs, pc, model, "tiny_vgg", 0))
    for meth in ("gradcam", "ixg"):
        fn, cleanup = fns[meth]()
        t0 = cpu()
        for _ in range(3):
            metric = quantus.AvgSensitivity(nr_samples=3, perturb_func=mmf.perturb_np(0), disable_warnings=True)
            v = metric(model=model, x_batch=x[None].numpy().copy(), y_batch=np.array([0]), a_batch=None,
                       explain_func=mmf.quantus_explain(fn, []), device="cpu", batch_size=1)
        print("avg_sensitivity %-8s %.6e s/image (3 perturbations; %.4f)" % (meth, (cpu() - t0) / 3, v[0]))
        if cleanup:
            cleanup()


def bench_mprt(quantus, libs):
    name = "synth_vgg"
    model = build(name)
    with h5py.File(os.path.join(ROOT, "tests", "fixtures", "metrics_loc.h5"), "r") as f:
        x = f["mprt/synth_vgg/x"][()]
    tc, captum_attr, _, _ = libs
    import make_baseline_fixtures as mbf
    cam_layer, _, _ = mbf.layers_of(name, model)

    def gradcam(model, inputs, targets, **kw):
        xx = torch.from_numpy(np.asarray(inputs, np.float32))
        return np.stack([mbf.up(mbf.torchcam_map(tc.GradCAM, model, cam_layer, xx[i], int(targets[i]))).numpy()[None]
                         for i in range(len(xx))])

    def ixg(model, inputs, targets, **kw):
        xx = torch.from_numpy(np.asarray(inputs, np.float32)).requires_grad_()
        return captum_attr.InputXGradient(model).attribute(xx, target=torch.from_numpy(np.asarray(targets))).sum(
            1, keepdim=True).detach().numpy()
    xb = np.stack([x, x])   # batch of 2 (Quantus 0.6.0's spearman cannot take 1 with scipy 1.15)
    for meth, fn in (("gradcam", gradcam), ("ixg", ixg)):
        t0 = cpu()
        quantus.MPRT(layer_order="independent", disable_warnings=True)(
            model=model, x_batch=xb.copy(), y_batch=np.array([0, 0]), a_batch=None, explain_func=fn, device="cpu",
            batch_size=2)
        print("mprt_independent %-8s %.6e s/image (13 layers, per image of a batch of 2)" % (meth, (cpu() - t0) / 2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for a in ("torchcam", "zoomcam", "polycam", "torchray"):
        ap.add_argument("--" + a, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    import quantus
    assert quantus.__version__ == "0.6.0"
    libs = load_libs(args)
    sys.path.insert(0, args.polycam)
    import polycam.polycam as pc
    bench_localisation(quantus, mmf.torchray_class(args.torchray))
    bench_avg_sensitivity(quantus, libs, pc)
    bench_mprt(quantus, libs)


if __name__ == "__main__":
    main()
