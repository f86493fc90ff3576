#!/usr/bin/env python3
"""metrics_libraries.py: seconds per map of the libraries' perturbation metrics on the same CPU,
model, input and map as build/bench/bench_metrics (tests/fixtures/metrics_perturb.h5,
<model>/synth_000.jpg), for bench/metrics_vs_libraries.sh. Environment: the venv of
tools/make_metric_fixtures.py (pytorch-grad-cam 1.5.7, Quantus 0.6.0, torch 1.13).
Prints "lib <metric> <library call> <seconds>" lines."""
import os
import sys
import time

import h5py
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_baseline_fixtures as mb  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "synth_resnet"
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    import quantus
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence, IncreaseInConfidence
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
    f = h5py.File(os.path.join(ROOT, "tests", "fixtures", "metrics_perturb.h5"), "r")
    g = f[name]["synth_000.jpg"]
    x, m, cls = torch.from_numpy(g["input"][()]), g["map"][()], int(g.attrs["class"])
    model = mb.build(name)
    t = [ClassifierOutputSoftmaxTarget(cls)]
    kw = dict(model=model, x_batch=x[None].numpy(), y_batch=np.array([cls]), a_batch=m[None, None],
              channel_first=True, device="cpu")
    e = ((m - m.min()) / (m.max() - m.min())).astype(np.float32)
    rows = [
        ("road", "pytorch-grad-cam ROADCombined (MoRF + LeRF, 9 percentages)",
         lambda: ROADCombined(percentiles=[10, 20, 30, 40, 50, 60, 70, 80, 90])(x[None], m[None], t, model)),
        ("road", "Quantus ROAD (MoRF, 9 percentages)",
         lambda: quantus.ROAD(percentages=[10, 20, 30, 40, 50, 60, 70, 80, 90], normalise=False,
                              disable_warnings=True)(**kw)),
        ("flip", "Quantus PixelFlipping (MoRF, 672 steps of 224 channel values, black)",
         lambda: quantus.PixelFlipping(features_in_step=224, normalise=False, disable_warnings=True)(**kw, softmax=True)),
        ("region", "Quantus RegionPerturbation (MoRF, patch 16, 100 steps, black)",
         lambda: quantus.RegionPerturbation(patch_size=16, regions_evaluation=100, normalise=False,
                                            disable_warnings=True)(**kw, softmax=True)),
        ("adcc", "pytorch-grad-cam DropInConfidence + IncreaseInConfidence",
         lambda: (DropInConfidence()(x[None], e[None], t, model), IncreaseInConfidence()(x[None], e[None], t, model))),
    ]
    for metric, what, fn in rows:
        try:
            print("lib %s %s\t%.4f" % (metric, what.replace(" ", "_"), timed(fn)), flush=True)
        except Exception as ex:  # noqa: BLE001  (a library failure is a result: reported, not hidden)
            print("lib %s %s\tfailed: %s" % (metric, what.replace(" ", "_"), str(ex).splitlines()[0][:120]), flush=True)


if __name__ == "__main__":
    main()
