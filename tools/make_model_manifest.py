#!/usr/bin/env python3
"""Writes the state_dict names and shapes of torchvision's resnet18/34/50, densenet121,
mobilenet_v2 and efficientnet_b0, and of the torchvision models that bnff's mobilenet_v2_cifar,
mobilenet_v2_050_cifar and efficientnet_b0_cifar are (PyTorch 1.13 / torchvision 0.14, Debian's python3-torch and
python3-torchvision), so tests can check that bnff's models carry the same parameters under
the same names.

Run: /usr/bin/python3 tools/make_model_manifest.py test/models/data/torchvision_state_dicts.json
"""
import json
import sys

import torch
import torchvision

sys.path.insert(0, __import__("os").path.dirname(__file__))
from torchvision_models import build  # noqa: E402

out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
for name in ["resnet18", "resnet34", "resnet50", "densenet121", "mobilenet_v2", "efficientnet_b0", "mobilenet_v2_cifar", "mobilenet_v2_050_cifar", "efficientnet_b0_cifar"]:
    m = build(name)
    sd = m.state_dict()
    out["models"][name] = {
        "params": sum(p.numel() for p in m.parameters()),
        "state_dict": [[k, list(v.shape)] for k, v in sd.items()],
    }
with open(sys.argv[1], "w") as f:
    json.dump(out, f, separators=(",", ":"))
