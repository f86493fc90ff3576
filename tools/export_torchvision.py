#!/usr/bin/env python3
"""export_torchvision.py: convert a torchvision VGG / ResNet checkpoint to safetensors for polycam-eval.

The state-dict names are kept exactly as torchvision writes them (features.0.weight,
layer1.0.downsample.1.running_var, fc.bias, ...); polycam-eval's loader checks every name and shape
against the architecture you name on its command line. Floating tensors are written as float32
(or kept as float16 / bfloat16 with --keep-dtype), batch-norm counters as int64.

Sources:
  * a torchvision model name, downloading its pretrained weights through torchvision:
        export_torchvision.py vgg16 vgg16.safetensors
        export_torchvision.py resnet50 --weights IMAGENET1K_V1 resnet50.safetensors
  * a .pth / .pt file holding a state dict (e.g. a torch hub cache file
    ~/.cache/torch/hub/checkpoints/vgg16-397923af.pth), a whole pickled model, or a training
    checkpoint with the state dict under "state_dict" / "model":
        export_torchvision.py ~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth resnet50.safetensors

Needs torch and safetensors (pip install torch torchvision safetensors); torchvision only for
model names. A user tool: the C test suite does not run it.
"""
import argparse
import os
import sys

ARCHS = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
         "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def load_state_dict(source, weights, torch):
    """Returns an ordered name -> tensor dict from a model name or a checkpoint file."""
    if os.path.exists(source):
        obj = torch.load(source, map_location="cpu", weights_only=False)
        if isinstance(obj, torch.nn.Module):
            return obj.state_dict()
        if isinstance(obj, dict):
            for key in ("state_dict", "model", "model_state_dict"):
                if key in obj and isinstance(obj[key], dict):
                    obj = obj[key]
                    break
            if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
                # nn.DataParallel / DistributedDataParallel prefix
                if obj and all(k.startswith("module.") for k in obj):
                    obj = {k[len("module."):]: v for k, v in obj.items()}
                return obj
        sys.exit(f"{source}: not a state dict (a dict of tensors), a model or a checkpoint holding one")
    if source not in ARCHS:
        sys.exit(f"{source}: no such file, and not a torchvision model name ({', '.join(ARCHS)})")
    import torchvision
    model = torchvision.models.get_model(source, weights=weights or "DEFAULT")
    return model.state_dict()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="torchvision model name or .pth/.pt checkpoint file")
    ap.add_argument("output", help="safetensors file to write")
    ap.add_argument("--weights", help="torchvision weights enum name for a model name (default: DEFAULT)")
    ap.add_argument("--keep-dtype", action="store_true", help="keep float16 / bfloat16 tensors as they are")
    args = ap.parse_args()

    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as e:
        sys.exit(f"needs torch and safetensors ({e}); pip install torch safetensors")

    sd = load_state_dict(args.source, args.weights, torch)
    out = {}
    for name, t in sd.items():
        if not isinstance(t, torch.Tensor):
            sys.exit(f"{args.source}: entry '{name}' is not a tensor")
        t = t.detach().cpu()
        if t.is_floating_point():
            if not (args.keep_dtype and t.dtype in (torch.float16, torch.bfloat16)):
                t = t.to(torch.float32)
        else:
            t = t.to(torch.int64)
        out[name] = t.contiguous()
    # safetensors refuses tensors that share memory; clone makes each one its own
    out = {k: v.clone() for k, v in out.items()}
    save_file(out, args.output, metadata={"source": os.path.basename(args.source), "format": "pt"})
    n = sum(v.numel() for v in out.values())
    print(f"{args.output}: {len(out)} tensors, {n:,} values")


if __name__ == "__main__":
    main()
