#!/usr/bin/env python3
"""make_forward_fixtures.py: goldens for the Score-CAM family (BASELINES.md B3) computed by torchcam
at commit c85232b (ScoreCAM, SSCAM, ISCAM, called as the reference aenglebert/polycam @8003dc6
generate_explanations.py calls them: `ScoreCAM(model, batch_size=..., target_layer=layer)`, a
forward pass of the image, then `cam(class_idx, out)`), written to tests/fixtures/forward_baselines.h5.

Models, images, preprocessing, the [cam] layer and the insertion / deletion scoring (SPEC §8's
stable pixel order, the reference's scoring) come from tools/make_baseline_fixtures.py, as for the
gradient baselines: tiny_vgg and tiny_resnet on img0 / img1, synth_vgg and synth_resnet on the
first synthetic images (AUCs on the first one).

Sample counts (torch 1.13 on one core takes 9-150 ms per forward pass of these nets, and the paper's
SS-CAM N = 35 costs 35 K passes): tiny_resnet runs N = 10 for SS-CAM and IS-CAM (IS-CAM's paper
default), the other models N = 3 (c_i = 1/3, 1, 2); sigma = 2 (the paper's) everywhere. The code path
does not depend on N. The counts are stored as attributes of each model group (sscam_samples,
sscam_sigma, iscam_samples) and the C test uses them. Curves (a pass per step): 56 steps on
synth_resnet, 28 on synth_vgg (SPEC §8 says 224; the step count only sets how many samples of the same
pixel order are scored); attribute auc_steps.

SS-CAM is fed polycam-eval's noise (tools/philox.py, sample index (3 << 16) | n, n the sample,
image = the image's list position; delta_n = sigma * z shared by all channels), so its comparison
is exact; on the first image of each model the library's own run-to-run spread with torch's
generator is recorded too (3 runs: max abs difference of the normalised map to the first run).

Usage (the venv of make_baseline_fixtures.py; torchcam c85232b unpacked as described there):
    /tmp/bvenv/bin/python tools/make_forward_fixtures.py --torchcam /tmp/torchcam
"""
import argparse
import os
import sys

import h5py
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_baseline_fixtures as mb  # noqa: E402

STREAM_SSCAM = 3
METHODS = ["scorecam", "sscam", "iscam"]
BATCH = 32   # torchcam's default batch_size; the batch split does not change the numbers


def samples_for(name):
    """(sscam N, sscam sigma, iscam N) of a model's fixture."""
    return (10, 2.0, 10) if name == "tiny_resnet" else (3, 2.0, 3)


def auc_steps_for(name, default):
    return {"synth_vgg": 28, "synth_resnet": 56}.get(name, default)


def compute(tc, method, model, name, x, cls, image, torch_rng=False):
    layer = mb.layers_of(name, model)[0]
    ss_n, ss_sigma, is_n = samples_for(name)
    x = x.clone()
    if method == "scorecam":
        cam = tc.ScoreCAM(model, target_layer=layer, batch_size=BATCH)
    elif method == "sscam":
        cam = tc.SSCAM(model, target_layer=layer, batch_size=BATCH, num_samples=ss_n, std=ss_sigma)
        if not torch_rng:
            cam._distrib = mb.PhiloxNormal(image, STREAM_SSCAM, ss_sigma)
    elif method == "iscam":
        cam = tc.ISCAM(model, target_layer=layer, batch_size=BATCH, num_samples=is_n)
    else:
        raise ValueError(method)
    out = model(x[None])
    m = cam(cls, out)
    cam.clear_hooks()
    return m.detach().clone().float()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--torchcam", required=True, help="torchcam checkout at c85232b")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "forward_baselines.h5"))
    ap.add_argument("--models", default=",".join(mb.MODELS))
    ap.add_argument("--synth-images", type=int, default=1, help="synthetic images per synthetic model")
    ap.add_argument("--spread-runs", type=int, default=3)
    ap.add_argument("--auc-steps", type=int, default=224)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--merge", nargs="+", metavar="PART", help="only copy the model groups of these outputs into --out")
    args = ap.parse_args()
    if args.merge:
        def copy(f, out):
            for k in f:
                f.copy(f[k], out, name=k)
        mb.merge_parts(args.out, args.merge, copy)
        return
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    sys.path.insert(0, args.torchcam)
    import torchcam.cams as tc
    ref = h5py.File(os.path.join(ROOT, "tests", "fixtures", "reference_golden.h5"), "r")
    with h5py.File(args.out, "w") as out:
        out.attrs["torch"] = str(torch.__version__)
        out.attrs["torchcam"] = "c85232b"
        out.attrs["seed"] = mb.SEED
        out.attrs["noise"] = "philox normal, sample (3 << 16) | n (sscam), sigma * z shared by the channels"
        for name in args.models.split(","):
            model = mb.build(name)
            g = out.create_group(name)
            g.attrs["cam_layer"] = mb.layers_of(name, model)[0]
            ss_n, ss_sigma, is_n = samples_for(name)
            g.attrs["sscam_samples"], g.attrs["sscam_sigma"], g.attrs["iscam_samples"] = ss_n, ss_sigma, is_n
            names, positions, xs = mb.images_for(name, ref)
            if not name.startswith("tiny"):
                names, positions, xs = names[:args.synth_images], positions[:args.synth_images], xs[:args.synth_images]
            for img, pos, x in zip(names, positions, xs):
                want_auc = not name.startswith("tiny") and pos == 0
                gi = g.create_group(img)
                with torch.no_grad():
                    logits = model(x[None])[0]
                cls = int(logits.argmax())
                gi.create_dataset("input", data=x.numpy())
                gi.attrs["class"], gi.attrs["image_index"] = cls, pos
                for meth in METHODS:
                    m = compute(tc, meth, model, name, x, cls, pos)
                    gm = gi.create_group(meth)
                    gm.create_dataset("map_native", data=m.numpy())
                    m224 = mb.up(m)
                    gm.create_dataset("map", data=m224.numpy(), compression="gzip", shuffle=True)
                    if torch.isnan(m224).any():
                        gm.attrs["nan"] = 1
                    elif want_auc:
                        steps = auc_steps_for(name, args.auc_steps)
                        ins, dele = mb.insdel(model, x, m224, cls, steps)
                        gm.attrs["auc_steps"], gm.attrs["ins_auc"], gm.attrs["del_auc"] = steps, ins, dele
                    if meth == "sscam" and pos == 0 and args.spread_runs > 1:
                        runs = []
                        for r in range(args.spread_runs):
                            torch.manual_seed(1000 + r)
                            runs.append(compute(tc, meth, model, name, x, cls, pos, torch_rng=True))
                        gm.attrs["library_spread_max_abs"] = max(
                            float((rr - runs[0]).abs().nan_to_num(0).max()) for rr in runs[1:])
                        gm.attrs["library_spread_runs"] = args.spread_runs
                    print(f"{name} {img} {meth}: native {tuple(m.shape)} cls {cls}", flush=True)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
