#!/usr/bin/python3
"""make_grad_fixtures.py: writes tests/fixtures/gradients.h5, the PyTorch autograd oracle for
polycam-eval's data gradients (backend `backward`, tests/backends/test_backward.c).

For each network -- the full-size torchvision VGG16 and ResNet50 with the fixtures' hash weights
(rules from reference_golden.h5 hashnets/*/rules), tiny_vgg / tiny_resnet and synth_vgg /
synth_resnet (data/models/*.safetensors) -- the two fixture images inputs/<img0>, inputs/<img1> of
reference_golden.h5 go through the model in eval mode in float64 (model.double(): a better oracle
than float32), class c_i = argmax of the logits, and autograd gives the gradient of
sum_i logits[i, c_i] (the images are independent in eval mode) with respect to the input and to the
outputs of the target layers (torchvision module names; VGG: the ReLU modules, non-inplace here).

Layout of gradients.h5, per network group <net> (attributes: torch_version, oracle, inputs,
target_layers, and f32_vs_f64_<tensor>: the same gradients computed by torch in float32, max |d| /
max |ref|, i.e. the oracle's own float32 spread):
  logits (2, K) f64, class (2,) i64
  grad_input (2, 3, 224, 224) f32 (the float64 gradient rounded to float32)
  grad/<layer>/channel_sum (2, C) f64         sum over H, W of the gradient
  grad/<layer>/sample_index (4096,) i64       flat indices into one image's C*H*W gradient
  grad/<layer>/sample_value (2, 4096) f64
  grad/<layer>/full (2, C, H, W) f32          when C*H*W <= 200,000 (always for the CAM layers
                                              features.29 / layer4 of the hash nets)

Run from the repository root with Debian's python3-torch (1.13) and python3-h5py:
    /usr/bin/python3 tools/make_grad_fixtures.py [--out tests/fixtures/gradients.h5]
torchvision is not needed: the architectures are written out below with torchvision's module names.
A tools/ script: the C tests read only its output.

ORACLE: max-pool routing. The gradient through a max-pool goes to one element of each window, so
it is discontinuous where a window's largest values tie. The fixture images have flat regions
(repeated pixel values), which stay flat for a few layers: windows there tie exactly, and windows
elsewhere may hold values equal in float32 but not in float64. A float32 network routes both to
the first element (PyTorch's CPU order); a float64 pass routes the second kind to the true maximum,
which moves up to 30% of hash VGG16's gradients. So the oracle is float64 autograd except that each
max-pool chooses on its input rounded to float32 (ties to the first), then takes the float64 value
there (a gather; autograd scatters the gradient back). f64_plain_vs_oracle_* attributes: the plain
float64 result's distance to it.
What remains is ambiguous in float32 itself: window values one or two float32 ulps apart, and ReLU
pre-activations within float32 rounding of 0, which any float32 computation (ours, or PyTorch's:
the f32_vs_f64_* attributes) may resolve either way; each moves the gradient around one unit.
tests/backends/test_backward.c allows 0.1% of a tensor's elements past 1e-4 for this reason.
"""
import argparse
import json
import os
import struct
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "reference_golden.h5")
N_SAMPLES = 4096
FULL_MAX = 200_000


# ---- architectures (torchvision names) -----------------------------------------------------------

class MaxPool(nn.Module):
    """nn.MaxPool2d; in mode "round32" (the oracle) each window's element is chosen on the values
    rounded to float32, ties to the first in PyTorch's CPU order (F.max_pool2d of x.float()), and
    the float64 value at that element is taken (a gather, whose backward is max-pool's)."""

    def __init__(self, k, s, p=0):
        super().__init__()
        self.k, self.s, self.p = k, s, p
        self.mode = "plain"

    def forward(self, x):
        if self.mode == "round32":
            _, idx = F.max_pool2d(x.detach().float(), self.k, self.s, self.p, return_indices=True)
            return x.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)
        return F.max_pool2d(x, self.k, self.s, self.p)


class VGG(nn.Module):
    def __init__(self, cfg, hidden, n_classes, pool=7):
        super().__init__()
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(MaxPool(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
        self.classifier = nn.Sequential(
            nn.Linear(c * pool * pool, hidden), nn.ReLU(), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + idt)


class ResNet(nn.Module):
    def __init__(self, stem, planes, blocks, strides, n_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU()
        self.maxpool = MaxPool(3, 2, 1)
        c = stem
        for li, (p, b, s) in enumerate(zip(planes, blocks, strides)):
            mods = []
            for k in range(b):
                mods.append(Bottleneck(c, p, s if k == 0 else 1))
                c = p * 4
            setattr(self, "layer%d" % (li + 1), nn.Sequential(*mods))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(name):
    """Model and its target layers (SPEC: the ReLU before each max-pool / relu, layer1..4)."""
    if name == "vgg16":
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
        return VGG(cfg, 4096, 1000), ["features.3", "features.8", "features.15", "features.22", "features.29"]
    if name == "resnet50":
        return ResNet(64, [64, 128, 256, 512], [3, 4, 6, 3], [1, 2, 2, 2], 1000), \
            ["relu", "layer1", "layer2", "layer3", "layer4"]
    synth = name.startswith("synth")
    if name.endswith("vgg"):
        w = [16, 32, 64, 64, 64] if synth else [8, 16, 32, 32, 32]
        cfg = [w[0], w[0], "M", w[1], w[1], "M", w[2], w[2], "M", w[3], w[3], "M", w[4], w[4], "M"]
        return VGG(cfg, 128 if synth else 64, 4 if synth else 10), \
            ["features.3", "features.8", "features.13", "features.18", "features.23"]
    planes = [8, 16, 32, 32] if synth else [4, 8, 16, 32]
    return ResNet(16 if synth else 8, planes, [1, 2, 1, 1], [1, 2, 2, 2], 4 if synth else 10), \
        ["relu", "layer1", "layer2", "layer3", "layer4"]


# ---- weights -----------------------------------------------------------------------------------

def lowbias32(x):
    x = x.astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def fnv1a32(s):
    h = 0x811C9DC5
    for b in s.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def hash_tensor(name, n, base, bound):
    """fixtures/README.md "Pseudo-random weights": base + bound * u(name, i) in float32."""
    seed = int(lowbias32(np.array([fnv1a32(name)], np.uint32))[0])
    out = np.empty(n, np.float32)
    step = 1 << 24
    with np.errstate(over="ignore"):
        for a in range(0, n, step):
            i = np.arange(a, min(n, a + step), dtype=np.uint64)
            x = lowbias32(((i + np.uint64(seed)) & np.uint64(0xFFFFFFFF)).astype(np.uint32))
            u = (x >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1.0)
            out[a:a + i.size] = np.float32(base) + np.float32(bound) * u
    return out


def hash_state_dict(model, arch, golden):
    g = golden["hashnets/%s/rules" % arch]
    rules = {n.decode(): (float(b), float(d)) for n, b, d in zip(g["names"][:], g["base"][:], g["bound"][:])}
    sd = model.state_dict()
    for k, t in sd.items():
        if t.dtype == torch.int64:
            continue
        base, bound = rules[k]
        sd[k] = torch.from_numpy(hash_tensor(k, t.numel(), base, bound).reshape(tuple(t.shape)))
    u = hash_tensor("features.0.weight", 5, 0.0, 1.0)   # README example values
    assert np.allclose(u, [0.291706443, -0.262198329, 0.666204691, 0.368858337, -0.9227525], atol=1e-7), u
    return sd


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    types = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "BF16": None}
    sd = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=types[v["dtype"]]).reshape(v["shape"])
        sd[k] = torch.from_numpy(arr.copy())
    return sd


# ---- gradients -----------------------------------------------------------------------------------

def set_pool_mode(model, mode):
    """mode: "plain" or "round32" (see MaxPool)."""
    for m in model.modules():
        if isinstance(m, MaxPool):
            m.mode = mode


def gradients(model, x, targets, dtype, pool_mode="plain"):
    """logits, classes, grad_input, {layer: grad} for one dtype."""
    model = model.to(dtype).eval()
    set_pool_mode(model, pool_mode)
    acts = {}
    mods = dict(model.named_modules())
    hooks = []
    for t in targets:
        def hook(mod, inp, out, t=t):
            out.retain_grad()
            acts[t] = out
        hooks.append(mods[t].register_forward_hook(hook))
    xin = x.to(dtype).clone().requires_grad_(True)
    logits = model(xin)
    cls = logits.argmax(1)
    logits.gather(1, cls[:, None]).sum().backward()
    for h in hooks:
        h.remove()
    return (logits.detach().double().numpy(), cls.numpy(), xin.grad.double().numpy(),
            {t: acts[t].grad.double().numpy() for t in targets})


def rel(a, b):
    m = np.abs(b).max()
    return float(np.abs(a - b).max() / m) if m > 0 else float(np.abs(a - b).max())


def write_net(out, name, model, targets, x, inputs, cam_layer):
    torch.manual_seed(0)
    lg64, cls64, gx64, gl64 = gradients(model, x, targets, torch.float64)
    lg32, cls32, gx32, gl32 = gradients(model, x, targets, torch.float32)
    lg, cls, gx, gl = gradients(model, x, targets, torch.float64, "round32")
    set_pool_mode(model, "plain")
    grp = out.create_group(name)
    grp.attrs["torch_version"] = str(torch.__version__)
    grp.attrs["oracle"] = ("PyTorch autograd, eval mode, float64 (model.double()), max-pool choices "
                           "on the values rounded to float32")
    grp.attrs["inputs"] = np.array(inputs, dtype=h5py.string_dtype())
    grp.attrs["target_layers"] = np.array(targets, dtype=h5py.string_dtype())
    grp.attrs["f32_vs_f64_input"] = rel(gx32, gx)
    grp.attrs["f64_plain_vs_oracle_input"] = rel(gx64, gx)
    grp.create_dataset("logits", data=lg)
    grp.create_dataset("class", data=cls.astype(np.int64))
    grp.create_dataset("grad_input", data=gx.astype(np.float32), compression="gzip", compression_opts=6)
    rng = np.random.default_rng(0)
    print("%-12s class %s, input grad max %.3g (f32 spread %.2e, plain f64 routing %.2e)" % (
        name, cls.tolist(), np.abs(gx).max(), rel(gx32, gx), rel(gx64, gx)))
    assert (cls == cls32).all() and (cls == cls64).all()
    for t in targets:
        g = gl[t]
        n, c, h, w = g.shape
        lgrp = grp.create_group("grad/%s" % t)
        lgrp.attrs["shape"] = np.array(g.shape, np.int64)
        grp.attrs["f32_vs_f64_%s" % t] = rel(gl32[t], g)
        grp.attrs["f64_plain_vs_oracle_%s" % t] = rel(gl64[t], g)
        lgrp.create_dataset("channel_sum", data=g.sum(axis=(2, 3)))
        idx = np.sort(rng.choice(c * h * w, size=min(N_SAMPLES, c * h * w), replace=False)).astype(np.int64)
        lgrp.create_dataset("sample_index", data=idx)
        lgrp.create_dataset("sample_value", data=g.reshape(n, -1)[:, idx])
        if c * h * w <= FULL_MAX or t == cam_layer:
            lgrp.create_dataset("full", data=g.astype(np.float32), compression="gzip", compression_opts=6)
        print("  %-12s %s max %.3g (f32 spread %.2e, plain f64 routing %.2e)%s" % (
            t, g.shape, np.abs(g).max(), rel(gl32[t], g), rel(gl64[t], g), " full" if "full" in lgrp else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "gradients.h5"))
    ap.add_argument("--nets", default="tiny_vgg,tiny_resnet,synth_vgg,synth_resnet,vgg16,resnet50")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    golden = h5py.File(GOLDEN, "r")
    inputs = [s.decode() for s in golden["hashnets/vgg16/inputs"][:]]
    x = torch.from_numpy(np.stack([golden["inputs/" + s][:] for s in inputs]))
    with h5py.File(args.out, "w") as out:
        out.attrs["generator"] = "tools/make_grad_fixtures.py"
        out.attrs["torch_version"] = str(torch.__version__)
        out.attrs["numpy_version"] = str(np.__version__)
        for name in args.nets.split(","):
            model, targets = build(name)
            if name in ("vgg16", "resnet50"):
                sd = hash_state_dict(model, name, golden)
                cam = "features.29" if name == "vgg16" else "layer4"
            else:
                sd = read_safetensors(os.path.join(ROOT, "data", "models", name + ".safetensors"))
                cam = targets[-1]
            model.load_state_dict(sd, strict=True)
            write_net(out, name, model, targets, x, inputs, cam)
            if name in ("vgg16", "resnet50"):   # the weights are the fixture's: same logits
                ref = golden["hashnets/%s/logits" % name][:]
            else:
                ref = golden["tiny/%s/logits" % name][:] if name.startswith("tiny") else None
            if ref is not None:
                got = out[name]["logits"][:]
                r = rel(got, ref)
                print("  logits vs reference_golden.h5: rel %.2e" % r)
                assert r < 1e-4, "%s: logits differ from reference_golden.h5 (%.3g)" % (name, r)
    print("wrote", args.out, "%.1f MB" % (os.path.getsize(args.out) / 1e6))


if __name__ == "__main__":
    sys.exit(main())
