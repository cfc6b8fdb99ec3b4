#!/usr/bin/env python3
"""Writes the state_dict names and shapes of torchvision's resnet18/34/50 and densenet121
(PyTorch 1.13 / torchvision 0.14, Debian's python3-torch and python3-torchvision), so tests can
check that bnff's models carry the same parameters under the same names.

Run: /usr/bin/python3 tools/make_model_manifest.py test/models/data/torchvision_state_dicts.json
"""
import json
import sys

import torch
import torchvision

out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
for name in ["resnet18", "resnet34", "resnet50", "densenet121"]:
    m = getattr(torchvision.models, name)()
    sd = m.state_dict()
    out["models"][name] = {
        "params": sum(p.numel() for p in m.parameters()),
        "state_dict": [[k, list(v.shape)] for k, v in sd.items()],
    }
with open(sys.argv[1], "w") as f:
    json.dump(out, f, separators=(",", ":"))
