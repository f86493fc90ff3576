#!/usr/bin/env python3
"""make_baseline_fixtures.py: goldens for the gradient baselines (BASELINES.md B1, B2, B4) computed
by the libraries the Poly-CAM reference used, written to tests/fixtures/baselines.h5.

Oracles (pinned):
  * torch 1.13 (Debian's python3-torch, reused through --system-site-packages);
  * captum 0.6.0 from PyPI (IntegratedGradients, InputXGradient, NoiseTunnel(Saliency));
  * torchcam at commit c85232b (frgfm/torch-cam, the parent of d868702: GradCAM, GradCAMpp,
    SmoothGradCAMpp, LayerCAM). Not on PyPI at that commit and not committed here; obtain it with
        git clone https://github.com/frgfm/torch-cam /tmp/torch-cam-src
        mkdir -p /tmp/torchcam && git -C /tmp/torch-cam-src archive c85232b | tar -x -C /tmp/torchcam
  * Zoom-CAM at commit c01edb1 (X-Shi/Zoom-CAM, object_class.py and function.py), likewise:
        git clone https://github.com/X-Shi/Zoom-CAM /tmp/zoomcam-src
        mkdir -p /tmp/zoomcam && git -C /tmp/zoomcam-src archive c01edb1 | tar -x -C /tmp/zoomcam
    (function.py imports cv2 and torchvision.models at module level for its command-line helpers;
    neither is used by normalize_CAM / ZoomCAM_gradients, so empty stand-in modules are installed
    when those packages are missing.)
The glue around the libraries follows the reference (aenglebert/polycam @8003dc6,
generate_explanations.py): the Layer-CAM fusion "layercamfusion4" and the Zoom-CAM aggregation loop
are re-expressed here line for line; ZoomCAMResnet (benchmarks/utils.py) is the same wrapper.

Usage (creates the venv on first use):
    /usr/bin/python3 -m venv --system-site-packages /tmp/bvenv
    /tmp/bvenv/bin/pip install captum==0.6.0 h5py safetensors "matplotlib==3.8.4" "contourpy<1.3"
    /tmp/bvenv/bin/pip uninstall -y numpy     # keep Debian's numpy 1.x, the one torch 1.13 was built with
    /tmp/bvenv/bin/python tools/make_baseline_fixtures.py --torchcam /tmp/torchcam --zoomcam /tmp/zoomcam

Random methods (smoothgrad, smoothgradcampp) are fed the noise polycam-eval draws (tools/philox.py,
the twin of host/shared/philox.h: sample index (stream << 16) | s, stream 1 = smoothgrad,
2 = smoothgradcampp; image = the image's position in its list), so the comparison is exact; each
also records the library's own run-to-run spread with torch's generator (5 runs, max abs difference
of the normalised map to the first run) as the bound a CLI-level check can use.
"""
import argparse
import math
import os
import sys
import types

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import philox  # noqa: E402  (tools/philox.py)

STREAM_SMOOTHGRAD, STREAM_SGCAMPP = 1, 2
SEED = 0

# ---- torchvision-named networks (no torchvision in Debian's torch 1.13 set-up) -----------------


class VGG(nn.Module):
    def __init__(self, cfg, hidden, n_classes):
        super().__init__()
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        cl, d = [], c * 49
        for h in hidden:
            cl += [nn.Linear(d, h), nn.ReLU(True), nn.Dropout()]
            d = h
        cl.append(nn.Linear(d, n_classes))
        self.classifier = nn.Sequential(*cl)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        idt = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            idt = self.downsample(x)
        return self.relu(out + idt)


class ResNet(nn.Module):
    def __init__(self, stem, stages, n_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = stem
        for i, (planes, blocks, stride) in enumerate(stages):
            mods = []
            for b in range(blocks):
                s = stride if b == 0 else 1
                ds = None
                if s != 1 or c != planes * 4:
                    ds = nn.Sequential(nn.Conv2d(c, planes * 4, 1, s, bias=False), nn.BatchNorm2d(planes * 4))
                mods.append(Bottleneck(c, planes, s, ds))
                c = planes * 4
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*mods))
        self.n_stages = len(stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.n_stages):
            x = getattr(self, "layer%d" % (i + 1))(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ZoomCAMResnet(nn.Module):
    """The reference's wrapper (benchmarks/utils.py): features = stem .. layer4, avgpool;
    classifier = fc; Zoom-CAM walks features' children."""

    def __init__(self, r):
        super().__init__()
        names = ["conv1", "bn1", "relu", "maxpool"] + ["layer%d" % (i + 1) for i in range(r.n_stages)] + ["avgpool"]
        seq = nn.Sequential()
        for n in names:
            seq.add_module(n, getattr(r, n))
        self.features = seq
        self.classifier = r.fc

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


MODELS = {
    "tiny_vgg": dict(kind="vgg", cfg=[8, 8, "M", 16, 16, "M", 32, 32, "M", 32, 32, "M", 32, 32, "M"],
                     hidden=[64, 64], classes=10),
    "tiny_resnet": dict(kind="resnet", stem=8, stages=[(4, 1, 1), (8, 2, 2), (16, 1, 2), (32, 1, 2)], classes=10),
    "synth_vgg": dict(kind="vgg", cfg=[16, 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M", 64, 64, "M"],
                      hidden=[128, 128], classes=4),
    "synth_resnet": dict(kind="resnet", stem=16, stages=[(8, 1, 1), (16, 2, 2), (32, 1, 2), (32, 1, 2)], classes=4),
}


def build(name):
    from safetensors.torch import load_file
    d = MODELS[name]
    m = VGG(d["cfg"], d["hidden"], d["classes"]) if d["kind"] == "vgg" else ResNet(d["stem"], d["stages"], d["classes"])
    sd = load_file(os.path.join(ROOT, "data", "models", name + ".safetensors"))
    m.load_state_dict(sd, strict=True)
    return m.eval()


def layers_of(name, model):
    """(cam layer, layercam layers, zoomcam layers) as polycam-eval's defaults (docs/configuration.md: method ids)."""
    if MODELS[name]["kind"] == "vgg":
        relus = ["features." + n for n, mod in model.features.named_children() if isinstance(mod, nn.ReLU)]
        pools = [i for i, mod in enumerate(model.features) if isinstance(mod, nn.MaxPool2d)]
        before_pool = ["features.%d" % (p - 1) for p in pools]
        return before_pool[-1], before_pool, relus
    stages = ["layer%d" % (i + 1) for i in range(model.n_stages)]
    return "layer4", ["relu"] + stages, ["relu"] + stages


# ---- the protocol (SPEC §2, §8) --------------------------------------------------------------


def up(m, size=224):
    return F.interpolate(m.reshape(1, 1, *m.shape[-2:]).float(), size=(size, size), mode="bilinear",
                         align_corners=False)[0, 0]


def blur(x):
    g = torch.exp(-0.5 * ((torch.arange(11, dtype=torch.float64) - 5) / 5) ** 2)
    g = (g / g.sum()).float()
    k = torch.outer(g, g)[None, None].repeat(3, 1, 1, 1)
    return F.conv2d(F.pad(x[None], (5, 5, 5, 5), mode="reflect"), k, groups=3)[0]


def insdel(model, x, m224, cls, steps, batch=64):
    """Insertion and deletion AUCs with SPEC §8's stable order; the reference's scoring."""
    s = x.shape[-1]
    order = torch.from_numpy(np.argsort(-m224.reshape(-1).numpy().astype(np.float64), kind="stable"))
    b = blur(x)
    p = math.ceil(s * s / steps)
    aucs = []
    for deletion in (0, 1):
        scores = []
        for t0 in range(0, steps, batch):
            samples = []
            for t in range(t0, min(steps, t0 + batch)):
                k = min(p * (t + 1), s * s)
                keep = torch.zeros(s * s, dtype=torch.bool)
                keep[order[:k]] = True
                keep = keep.reshape(1, s, s)
                samples.append(torch.where(keep, b, x) if deletion else torch.where(keep, x, b))
            with torch.no_grad():
                scores.append(F.softmax(model(torch.stack(samples)), 1)[:, cls].double())
        aucs.append(float(torch.cat(scores).mean()))
    return aucs


# ---- the methods, as the reference called its libraries -------------------------------------


class PhiloxNormal:
    """Stands in for torchcam's torch.distributions.Normal(0, std): sample() returns std * z with z
    polycam-eval's draws for successive samples."""

    def __init__(self, image, stream, std):
        self.image, self.stream, self.std, self.s = image, stream, std, 0

    def sample(self, size):
        n = int(np.prod(size))
        z = torch.from_numpy(philox.normal(SEED, self.image, (self.stream << 16) | self.s, n)).reshape(size)
        self.s += 1
        return torch.tensor(0.0) + torch.tensor(self.std, dtype=torch.float32) * z


def philox_torch_normal(image, stream):
    """Replacement for torch.normal(0, stdev_expanded) in captum's NoiseTunnel."""
    state = {"s": 0}
    real = torch.normal

    def normal(mean, std, *a, **k):
        if not torch.is_tensor(std) or a or k:
            return real(mean, std, *a, **k)
        n_s = std.shape[0]
        per = int(np.prod(std.shape[1:]))
        zs = [philox.normal(SEED, image, (stream << 16) | (state["s"] + j), per) for j in range(n_s)]
        state["s"] += n_s
        z = torch.from_numpy(np.stack(zs)).reshape(std.shape)
        return mean + std * z
    return normal


def torchcam_map(cls_ctor, model, layer, x, cls, **kw):
    cam = cls_ctor(model, target_layer=layer, **kw)
    out = model(x[None])
    m = cam(cls, out)
    cam.clear_hooks()
    return m.detach().clone()


def layercam_fusion(tc, model, layers, x, cls):
    """The reference's layercamfusion4: LayerCAM per layer (deepest first), tanh(2 L / max L) on the
    first three layers of the list, F = max(up(F), L)."""
    ext = {l: tc.LayerCAM(model, target_layer=l) for l in layers}
    out = model(x[None])
    fusion = torch.zeros((1, 1, 1, 1))
    for l in reversed(layers):
        m = ext[l](cls, out)
        m = m.view((1, 1, m.shape[-2], m.shape[-1]))
        if l in layers[:3]:
            m = torch.tanh((2 * m) / m.max())
        fusion = F.interpolate(fusion, m.shape[-2:], mode="bilinear")
        fusion = torch.maximum(fusion, m)
    for e in ext.values():
        e.clear_hooks()
    return fusion[0, 0].detach()


def zoomcam_map(zc_obj, zc_fn, model, kind, layers, x, cls):
    """The reference's zoomcam_fn: VGG with features' child names, ResNet through ZoomCAMResnet."""
    if kind == "vgg":
        names = [l.split(".")[1] for l in layers]
        net = model
    else:
        names = layers
        net = ZoomCAMResnet(model).eval()
    zmodel = zc_obj.ZoomCAM_gradients(net, names)
    acts, weights = zmodel(x[None], torch.device("cpu"), cls)
    agg = None
    for i in range(len(names)):
        z = acts[len(names) - 1 - i].cpu().detach() * weights[i].cpu().detach()
        z = zc_fn.normalize_CAM(torch.sum(z, dim=(0, 1), keepdim=True))
        if i == 0:
            agg = zc_fn.normalize_CAM(torch.sum(z, dim=(0, 1), keepdim=True))
        else:
            scale = z.size(2) / agg.size(2)
            agg = torch.max(torch.nn.Upsample(scale_factor=scale, mode="bilinear")(agg), z)
    return agg[0, 0].detach()


def compute(method, libs, model, name, x, cls, image, seeded_rng=None):
    """Native-resolution map of one method (seeded_rng: use torch's generator instead of philox)."""
    tc, captum_attr, zc_obj, zc_fn = libs
    cam_layer, lc_layers, zc_layers = layers_of(name, model)
    x = x.clone()
    if method == "gradcam":
        return torchcam_map(tc.GradCAM, model, cam_layer, x, cls)
    if method == "gradcampp":
        return torchcam_map(tc.GradCAMpp, model, cam_layer, x, cls)
    if method == "smoothgradcampp":
        cam = tc.SmoothGradCAMpp(model, target_layer=cam_layer, num_samples=4, std=0.3)
        if seeded_rng is None:
            cam._distrib = PhiloxNormal(image, STREAM_SGCAMPP, 0.3)
        out = model(x[None])
        m = cam(cls, out)
        cam.clear_hooks()
        return m.detach().clone()
    if method == "layercam":
        return layercam_fusion(tc, model, lc_layers, x, cls)
    if method == "zoomcam":
        return zoomcam_map(zc_obj, zc_fn, model, MODELS[name]["kind"], zc_layers, x, cls)
    if method == "ixg":
        return captum_attr.InputXGradient(model).attribute(x[None].requires_grad_(), target=cls).sum(1)[0].detach()
    if method == "ig":
        return captum_attr.IntegratedGradients(model).attribute(x[None], target=cls).sum(1)[0].detach()
    if method == "smoothgrad":
        sg = captum_attr.NoiseTunnel(captum_attr.Saliency(model))
        real = torch.normal
        if seeded_rng is None:
            torch.normal = philox_torch_normal(image, STREAM_SMOOTHGRAD)
        try:
            m = sg.attribute(x[None], nt_samples=50, nt_samples_batch_size=10, target=cls).sum(1)[0]
        finally:
            torch.normal = real
        return m.detach()
    raise ValueError(method)


METHODS = ["gradcam", "gradcampp", "smoothgradcampp", "layercam", "zoomcam", "ixg", "ig", "smoothgrad"]
RANDOM = {"smoothgradcampp", "smoothgrad"}


def load_libs(args):
    sys.path.insert(0, args.torchcam)
    import torchcam.cams as tc
    import captum
    import captum.attr as captum_attr
    assert captum.__version__ == "0.6.0", captum.__version__
    for mod in ("cv2", "torchvision", "torchvision.models"):
        try:
            __import__(mod)
        except ImportError:
            sys.modules[mod] = types.ModuleType(mod)
    sys.modules["torchvision"].models = sys.modules["torchvision.models"]
    sys.path.insert(0, args.zoomcam)
    import object_class as zc_obj
    import function as zc_fn
    return tc, captum_attr, zc_obj, zc_fn


def images_for(name, ref):
    """(names, list positions, tensors): tiny nets on img0/img1, synthetic nets on the first 4."""
    if name.startswith("tiny"):
        keys = sorted(k for k in ref["inputs"] if not k.startswith("decoded"))
        return keys, list(range(len(keys))), [torch.from_numpy(ref["inputs"][k][()]) for k in keys]
    from PIL import Image
    lst = open(os.path.join(ROOT, "data", "synthetic", "images.txt")).read().split()[:4]
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    xs = []
    for f in lst:
        rgb = np.asarray(Image.open(os.path.join(ROOT, "data", "synthetic", f)).convert("RGB"))
        assert rgb.shape == (224, 224, 3)
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
        xs.append((x - mean) / std)
    return lst, list(range(len(lst))), xs


def merge_parts(out_path, parts, copy):
    """--merge: into out_path, the root attributes of every part file and what copy(part, out) takes
    from it (the fixture scripts' runs of a few --models each, joined)."""
    with h5py.File(out_path, "w") as out:
        for part in parts:
            with h5py.File(part, "r") as f:
                for k, v in f.attrs.items():
                    out.attrs[k] = v
                copy(f, out)
    print("wrote", out_path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--torchcam", required=True, help="torchcam checkout at c85232b")
    ap.add_argument("--zoomcam", required=True, help="Zoom-CAM checkout at c01edb1")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "baselines.h5"))
    ap.add_argument("--spread-runs", type=int, default=5)
    ap.add_argument("--auc-steps", type=int, default=224,
                    help="steps of the insertion / deletion curves (SPEC §8: 224; fewer = cheaper)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset (default: all)")
    ap.add_argument("--auc-images", type=int, default=1,
                    help="synthetic images per model that get insertion / deletion AUCs (448 forwards per map)")
    ap.add_argument("--merge", nargs="+", metavar="PART",
                    help="only copy the model groups of these earlier outputs (--models runs) into --out")
    args = ap.parse_args()
    if args.merge:
        def copy(f, out):
            def visit(name, obj):
                # map (224 x 224 after up()) equals map_native when that is already 224 x 224
                if name.endswith("/map") and obj.shape == f[name + "_native"].shape:
                    return
                if isinstance(obj, h5py.Group):
                    dst = out.require_group(name)
                else:
                    dst = out.create_dataset(name, data=obj[()], compression="gzip", compression_opts=9,
                                             shuffle=True)
                for k, v in obj.attrs.items():
                    dst.attrs[k] = v
            f.visititems(visit)
        merge_parts(args.out, args.merge, copy)
        return
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    libs = load_libs(args)
    ref = h5py.File(os.path.join(ROOT, "tests", "fixtures", "reference_golden.h5"), "r")
    # the baseline of §8 as the reference computed it
    k0 = sorted(k for k in ref["inputs"] if not k.startswith("decoded"))[0]
    db = (blur(torch.from_numpy(ref["inputs"][k0][()])) - torch.from_numpy(ref["ops"]["blur_" + k0][()])).abs().max()
    assert db < 1e-5, float(db)

    with h5py.File(args.out, "w") as out:
        out.attrs["torch"] = str(torch.__version__)
        out.attrs["captum"] = "0.6.0"
        out.attrs["torchcam"] = "c85232b"
        out.attrs["zoomcam"] = "c01edb1"
        out.attrs["seed"] = SEED
        out.attrs["noise"] = "philox normal, sample (stream << 16) | s; stream 1 smoothgrad, 2 smoothgradcampp"
        for name in args.models.split(","):
            model = build(name)
            cam_layer, lc, zc = layers_of(name, model)
            g = out.create_group(name)
            g.attrs["cam_layer"] = cam_layer
            g.attrs["layercam_layers"] = ",".join(lc)
            g.attrs["zoomcam_layers"] = ",".join(zc)
            names, positions, xs = images_for(name, ref)
            for img, pos, x in zip(names, positions, xs):
                want_auc = not name.startswith("tiny") and pos < args.auc_images
                gi = g.create_group(img)
                with torch.no_grad():
                    logits = model(x[None])[0]
                cls = int(logits.argmax())
                gi.create_dataset("input", data=x.numpy())
                gi.attrs["class"] = cls
                gi.attrs["image_index"] = pos
                gi.create_dataset("logits", data=logits.numpy())
                for meth in METHODS:
                    m = compute(meth, libs, model, name, x, cls, pos).float()
                    gm = gi.create_group(meth)
                    gm.create_dataset("map_native", data=m.numpy())
                    m224 = up(m)
                    gm.create_dataset("map", data=m224.numpy())
                    gm.attrs["source"] = "library"
                    if torch.isnan(m224).any():
                        gm.attrs["nan"] = 1
                    elif want_auc:
                        ins, dele = insdel(model, x, m224, cls, args.auc_steps)
                        gm.attrs["auc_steps"] = args.auc_steps
                        gm.attrs["ins_auc"] = ins
                        gm.attrs["del_auc"] = dele
                    if meth in RANDOM and args.spread_runs > 1 and want_auc:
                        runs = []
                        for r in range(args.spread_runs):
                            torch.manual_seed(1000 + r)
                            runs.append(compute(meth, libs, model, name, x, cls, pos, seeded_rng=True).float())
                        spread = max(float((rr - runs[0]).abs().nan_to_num(0).max()) for rr in runs[1:])
                        scale = float(runs[0].abs().nan_to_num(0).max())
                        gm.attrs["library_spread_max_abs"] = spread
                        gm.attrs["library_spread_scale"] = scale
                    print(f"{name} {img} {meth}: native {tuple(m.shape)} cls {cls}", flush=True)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
