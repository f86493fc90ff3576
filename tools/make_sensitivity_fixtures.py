#!/usr/bin/env python3
"""make_sensitivity_fixtures.py: goldens for sensitivity-max (BASELINES.md B6, host/metrics/sensitivity.h)
computed by captum 0.6.0's sensitivity_max, written to tests/fixtures/sensitivity.h5.

The explanation functions are the libraries' own, wrapped as the reference (aenglebert/polycam
@8003dc6, sensitivity.py) wrapped them: torchcam c85232b GradCAM (torchcam_wrapper_fn: a forward,
then the CAM at the target layer's resolution), captum 0.6.0 InputXGradient and IntegratedGradients
(.attribute, the whole (1, 3, S, S) attribution), NoiseTunnel(Saliency) summed over the channels
(sg_fn; returned as (1, 1, S, S): see smoothgrad_as_reference below) and the reference's own PCAMpm (pcam_wrapper_fn: the last map of the list). sensitivity_max
is called as the reference called it (defaults: n_perturb_samples 10, perturb_radius 0.02, norm
'fro'; max_examples_per_batch 1; target = the clean class), with two substitutions so that the
noise is polycam-eval's (tools/philox.py, the twin of host/shared/philox.h):
  * perturb_func returns X + d_j, d_j = -r + 2 r u (float32, as torch's uniform_(-r, r)), u the
    Philox uniforms of (seed, image, (5 << 16) | j): captum calls it once per perturbation, in order;
  * SmoothGrad's torch.normal draws come from Philox stream 1 keyed with the call's seed
    seed + c * 0x9E3779B97F4A7C15 (c = 0 for captum's first, clean call, c = j + 1 for
    perturbation j): captum calls the explanation function anew each time, so the noise is new.
Smaller than the reference's run to keep the C test short: 3 perturbations, IG with 10 points,
SmoothGrad with 10 noisy copies. "smoothgrad_as_reference" records what captum returns for the
reference's own sg_fn, a (1, S, S) tensor: sensitivity_max then divides by the smallest row norm
of E(X), not ||E(X)||_F (it iterates over the clean explanation's first axis); polycam-eval
computes B6's formula, the test only prints that value.
The models and helpers are tools/make_baseline_fixtures.py's.

Usage (the venv and library checkouts of make_baseline_fixtures.py; the reference's polycam package
from git, not committed here):
    git clone https://github.com/aenglebert/polycam /tmp/polycam-src
    mkdir -p /tmp/polycam_ref && git -C /tmp/polycam-src archive 8003dc6 polycam | tar -x -C /tmp/polycam_ref
    /tmp/bvenv/bin/python tools/make_sensitivity_fixtures.py --torchcam /tmp/torchcam --zoomcam /tmp/zoomcam \\
        --polycam /tmp/polycam_ref
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_baseline_fixtures as mbf  # noqa: E402
from make_baseline_fixtures import ROOT, build, images_for, layers_of, load_libs, philox  # noqa: E402

STREAM_SMOOTHGRAD, STREAM_SENSITIVITY = 1, 5
SEED = mbf.SEED
RADIUS = 0.02
SAMPLES = 3              # perturbations (the reference: captum's default 10; fewer keeps the C test short)
SG_SAMPLES = 10          # SmoothGrad's own noisy copies (the reference: 50)
IG_STEPS = 10            # IntegratedGradients points (the reference: captum's default 50)
MASK64 = (1 << 64) - 1
DELTA_CHECK = 4096       # values of the first perturbation stored for the C test's bitwise check


def call_seed(seed, call):
    return (seed + call * 0x9E3779B97F4A7C15) & MASK64


def delta(image, j, n):
    u = philox.uniform(SEED, image, (STREAM_SENSITIVITY << 16) | j, n)
    return (np.float32(-RADIUS) + np.float32(2 * np.float32(RADIUS)) * u).astype(np.float32)


def perturb_func(image):
    """captum perturb_func(inputs, radius): X + d_j for the j-th call."""
    state = {"j": 0}

    def fn(inputs, radius):
        assert abs(radius - RADIUS) < 1e-12
        x = inputs[0] if isinstance(inputs, tuple) else inputs
        d = torch.from_numpy(delta(image, state["j"], x.numel())).reshape(x.shape)
        state["j"] += 1
        return (x + d,)   # a tuple, as captum's default_perturb_func returns
    return fn


class Calls:
    """Counts the explanation function's calls (0 = clean) and hands out each call's seed."""

    def __init__(self):
        self.c = -1

    def next(self):
        self.c += 1
        return call_seed(SEED, self.c)


def smoothgrad_fn(captum_attr, model, image, calls, quirk=False):
    sg = captum_attr.NoiseTunnel(captum_attr.Saliency(model))

    def fn(inputs, target):
        seed = calls.next()
        state = {"s": 0}
        real = torch.normal

        def normal(mean, std, *a, **k):
            if not torch.is_tensor(std) or a or k:
                return real(mean, std, *a, **k)
            per = int(np.prod(std.shape[1:]))
            zs = [philox.normal(seed, image, (STREAM_SMOOTHGRAD << 16) | (state["s"] + j), per)
                  for j in range(std.shape[0])]
            state["s"] += std.shape[0]
            return mean + std * torch.from_numpy(np.stack(zs)).reshape(std.shape)
        torch.normal = normal
        try:
            torch.set_grad_enabled(True)
            x = inputs[0].clone().detach().requires_grad_(True)
            m = sg.attribute(x, nt_samples=SG_SAMPLES, nt_samples_batch_size=1, target=target).sum(1)
            # the reference's sg_fn returned this (1, S, S) tensor; captum 0.6.0's sensitivity_max does not
            # wrap the clean explanation in a tuple, so it iterates over its first axis and divides by
            # the smallest row norm of E(X) instead of ||E(X)||_F. (1, 1, S, S) gives B6's formula.
            return m if quirk else m[:, None]
        finally:
            torch.normal = real
    return fn


def explanation_fns(libs, pc, model, name, image):
    tc, captum_attr, _, _ = libs
    cam_layer, targets, _ = layers_of(name, model)

    def gradcam():
        cam = tc.GradCAM(model, target_layer=cam_layer)   # its hooks stay on the model until cleared

        def fn(inputs, target):   # the reference's torchcam_wrapper_fn
            torch.set_grad_enabled(True)
            out = model(inputs[0].clone().detach().requires_grad_(True))
            m = cam(target, out)
            return m.view(1, 1, *m.shape)
        return fn, cam.clear_hooks

    def pcampm():
        pcam = pc.PCAMpm(model, target_layer_list=targets, batch_size=16)

        def fn(inputs, target):   # the reference's pcam_wrapper_fn
            return pcam(inputs[0], class_idx=target)[-1]
        return fn, None

    # one method at a time (the reference ran one per process): (id, make -> (fn, cleanup))
    return [("gradcam", gradcam),
            ("ixg", lambda: (captum_attr.InputXGradient(model).attribute, None)),
            ("ig", lambda: (lambda inputs, target: captum_attr.IntegratedGradients(model).attribute(
                inputs, target=target, n_steps=IG_STEPS), None)),
            ("smoothgrad", lambda: (smoothgrad_fn(captum_attr, model, image, Calls()), None)),
            ("smoothgrad_as_reference", lambda: (smoothgrad_fn(captum_attr, model, image, Calls(), True), None)),
            ("pcampm", pcampm)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--torchcam", required=True)
    ap.add_argument("--zoomcam", required=True)
    ap.add_argument("--polycam", required=True, help="folder holding the reference's polycam package")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "sensitivity.h5"))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    libs = load_libs(args)
    sys.path.insert(0, args.polycam)
    import polycam.polycam as pc
    from captum.metrics import sensitivity_max
    ref = h5py.File(os.path.join(ROOT, "tests", "fixtures", "reference_golden.h5"), "r")
    with h5py.File(args.out, "w") as out:
        out.attrs.update(captum="0.6.0", torchcam="c85232b", polycam="8003dc6", torch=str(torch.__version__),
                         seed=SEED, radius=RADIUS, samples=SAMPLES, smoothgrad_samples=SG_SAMPLES, ig_steps=IG_STEPS,
                         noise="perturbation j: philox uniform (seed, image, (5 << 16) | j); smoothgrad call c: "
                               "philox normal (seed + c * 0x9E3779B97F4A7C15, image, (1 << 16) | s)")
        for name in ("tiny_vgg", "tiny_resnet"):
            model = build(name)
            names, positions, xs = images_for(name, ref)
            img, pos, x = names[0], positions[0], xs[0]
            with torch.no_grad():
                cls = int(model(x[None])[0].argmax())
            g = out.create_group("%s/%s" % (name, img))
            g.attrs.update({"class": cls, "image_index": pos})
            g.create_dataset("input", data=x.numpy(), compression="gzip", compression_opts=9, shuffle=True)
            g.create_dataset("delta0", data=delta(pos, 0, DELTA_CHECK))   # the first values of d_0
            for meth, make in explanation_fns(libs, pc, model, name, pos):
                fn, cleanup = make()
                sens = sensitivity_max(fn, x[None].clone(), perturb_func=perturb_func(pos), target=cls,
                                       n_perturb_samples=SAMPLES, max_examples_per_batch=1)
                if cleanup:
                    cleanup()
                g.create_group(meth).attrs["sens"] = float(sens.item())
                print(name, img, meth, float(sens.item()), flush=True)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
