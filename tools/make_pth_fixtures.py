#!/usr/bin/python3
"""make_pth_fixtures.py: the torch.save (.pth) fixtures of polycam-eval's .pth reader (host/nets/pth.c).

Run from the repository root with Debian's python3-torch (1.13), no venv needed:
    /usr/bin/python3 tools/make_pth_fixtures.py
It reads the committed safetensors models (data/models/*.safetensors, parsed here with struct/json:
no safetensors package) and writes, with torch.save's default zip format (PyTorch >= 1.6):
  data/models/synth_resnet.pth            the demo model (tests/cli/cli_pth.sh compares runs with both files)
  tests/fixtures/pth/tiny_resnet.pth   float32 + int64 num_batches_tracked (batch-norm nets)
  tests/fixtures/pth/tiny_vgg_f16.pth  every floating tensor as float16
  tests/fixtures/pth/views.pth         tensors that are views of one storage: offsets, transposes,
                                       steps (strides), plus a float16 and an int64 view
  tests/fixtures/pth/legacy_views.pth, legacy_tiny_resnet.pth: views.pth and tiny_resnet.pth in the
                                       pre-1.6 format (_use_new_zipfile_serialization=False)
  tests/fixtures/pth/reduce_os_system.pth  a zip whose pickle calls os.system through __reduce__
                                       (it is never unpickled by this script, only written)
The C tests compare the .pth tensors with the safetensors originals and with the values below.
"""
import collections
import json
import os
import struct
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def read_safetensors(path):
    """name -> tensor, in the file's header order (the __metadata__ entry skipped)."""
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hlen])
    data = blob[8 + hlen:]
    out = collections.OrderedDict()
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[e["dtype"]]) if b > a else \
            torch.empty(0, dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


def views_dict():
    """Views of shared storages. base[i, j] = i * 6 + j + 0.5 (4 x 6): the C test checks the
    values from this rule, not from the reader's own output."""
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) + 0.5
    half = (torch.arange(10, dtype=torch.float32) * 0.25).to(torch.float16)
    longs = torch.arange(5, dtype=torch.int64) * 1000000007
    d = collections.OrderedDict()
    d["base"] = base                       # contiguous, offset 0
    d["rows"] = base[1:3]                  # offset 6, shape (2, 6)
    d["t"] = base.t()                      # (6, 4), strides (1, 6)
    d["step"] = base[1:, ::2]              # (3, 3), offset 6, strides (6, 2)
    d["elem"] = base[2, 3]                 # 0-d, offset 15
    d["half"] = half[3:7]                  # float16, offset 3
    d["long"] = longs[4]                   # int64 scalar, offset 4
    return d


def with_metadata(sd):
    """Gives sd the `_metadata` attribute nn.Module.state_dict() attaches (module name ->
    {"version": n}), which torch.save pickles as the OrderedDict's BUILD state."""
    sd._metadata = collections.OrderedDict()
    sd._metadata[""] = {"version": 1}
    for name in sd:
        mod = name.rsplit(".", 1)[0]
        if mod not in sd._metadata:
            sd._metadata[mod] = {"version": 2 if "bn" in mod or "downsample.1" in mod else 1}
    return sd


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo polycam-eval executed a pickle",))


def main():
    torch.manual_seed(0)
    fx = os.path.join(ROOT, "tests", "fixtures", "pth")
    models = os.path.join(ROOT, "data", "models")
    os.makedirs(fx, exist_ok=True)

    torch.save(with_metadata(read_safetensors(os.path.join(models, "synth_resnet.safetensors"))),
               os.path.join(models, "synth_resnet.pth"))
    torch.save(with_metadata(read_safetensors(os.path.join(models, "tiny_resnet.safetensors"))),
               os.path.join(fx, "tiny_resnet.pth"))
    vgg = read_safetensors(os.path.join(models, "tiny_vgg.safetensors"))
    torch.save(collections.OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in vgg.items()),
               os.path.join(fx, "tiny_vgg_f16.pth"))
    torch.save(views_dict(), os.path.join(fx, "views.pth"))
    torch.save(views_dict(), os.path.join(fx, "legacy_views.pth"), _use_new_zipfile_serialization=False)
    torch.save(with_metadata(read_safetensors(os.path.join(models, "tiny_resnet.safetensors"))),
               os.path.join(fx, "legacy_tiny_resnet.pth"), _use_new_zipfile_serialization=False)
    torch.save({"weight": _Evil()}, os.path.join(fx, "reduce_os_system.pth"))
    print(f"make_pth_fixtures: torch {torch.__version__}: wrote {fx}/*.pth and {models}/synth_resnet.pth")


if __name__ == "__main__":
    sys.exit(main())
