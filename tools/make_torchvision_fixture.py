#!/usr/bin/python3
"""torchvision models as safetensors, with their eval-mode logits, for bnff's weight-import test.

    /usr/bin/python3 tools/make_torchvision_fixture.py test/io/data                  # the committed fixtures
    /usr/bin/python3 tools/make_torchvision_fixture.py DIR --models resnet18,densenet121 --image-size 64

For each model (torch 1.13 / torchvision 0.14: Debian's python3-torch, python3-torchvision):
  1. build it with torch.manual_seed(seed) (torchvision's own initialisation);
  2. make the BatchNorms non-trivial: gamma ~ U(0.5, 1.5), beta ~ N(0, 0.2), then three
     train-mode forwards on random batches so the running statistics are real ones
     (num_batches_tracked = 3);
  3. write NAME.safetensors: the state_dict exactly (torchvision names, F32, num_batches_tracked
     an I64 scalar), loadable by bnff's loadWeights;
  4. write NAME.io.safetensors: a fixed input "input" [2, 3, S, S] (F32), the eval-mode logits
     "logits" in float32 and "logits_f64" from the same weights in float64, and in the metadata
     the torchvision configuration ("config", JSON) so a test can build the same model in bnff.

The safetensors format is written by hand (tools/safetensors_io.py). Deterministic.
"""
import argparse
import copy
import json
import os

import torch
import torchvision
from torchvision.models.efficientnet import EfficientNet, MBConvConfig

from safetensors_io import write_safetensors
from torchvision_models import stem_stride_1

# small MobileNetV2 and EfficientNet settings (torchvision's own classes), committed as fixtures
MOBILENET_TINY_SETTING = [[1, 8, 1, 1], [4, 12, 2, 2], [4, 16, 2, 2]]
EFFICIENTNET_TINY_ROWS = [[1, 3, 1, 16, 8, 1], [4, 5, 2, 8, 16, 2], [4, 3, 2, 16, 24, 1]]


def efficientnet_tiny():
    rows = [MBConvConfig(*r, width_mult=1.0, depth_mult=1.0) for r in EFFICIENTNET_TINY_ROWS]
    return stem_stride_1(EfficientNet(rows, 0.2, num_classes=10, last_channel=64))


# name -> (constructor, configuration recorded for bnff)
MODELS = {
    # small enough to commit (a few thousand parameters): torchvision's DenseNet class itself
    'densenet_tiny': (
        lambda: torchvision.models.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16, bn_size=2, num_classes=10),
        {'family': 'densenet', 'growth_rate': 8, 'block_config': [2, 2], 'num_init_features': 16, 'bn_size': 2, 'num_classes': 10},
    ),
    'resnet18': (
        lambda: torchvision.models.resnet18(),
        {'family': 'resnet', 'block': 'basic', 'layers': [2, 2, 2, 2], 'num_classes': 1000},
    ),
    'densenet121': (
        lambda: torchvision.models.densenet121(),
        {'family': 'densenet', 'growth_rate': 32, 'block_config': [6, 12, 24, 16], 'num_init_features': 64, 'bn_size': 4, 'num_classes': 1000},
    ),
    # torchvision's MobileNetV2 and EfficientNet classes, small (committed) and full size
    'mobilenet_v2_tiny': (
        lambda: stem_stride_1(torchvision.models.MobileNetV2(num_classes=10, width_mult=0.5, inverted_residual_setting=MOBILENET_TINY_SETTING)),
        {'family': 'mobilenet_v2', 'width_mult': 0.5, 'inverted_residual_setting': MOBILENET_TINY_SETTING, 'stem_stride': 1, 'num_classes': 10},
    ),
    'efficientnet_tiny': (
        efficientnet_tiny,
        {'family': 'efficientnet', 'rows': EFFICIENTNET_TINY_ROWS, 'width_mult': 1.0, 'depth_mult': 1.0, 'last_channel': 64, 'stem_stride': 1, 'num_classes': 10},
    ),
    'mobilenet_v2': (
        lambda: torchvision.models.mobilenet_v2(),
        {'family': 'mobilenet_v2', 'width_mult': 1.0, 'stem_stride': 2, 'num_classes': 1000},
    ),
    'efficientnet_b0': (
        lambda: torchvision.models.efficientnet_b0(),
        {'family': 'efficientnet', 'width_mult': 1.0, 'depth_mult': 1.0, 'stem_stride': 2, 'num_classes': 1000},
    ),
}


def make(name, image_size, seed, out):
    ctor, config = MODELS[name]
    torch.manual_seed(seed)
    model = ctor()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, image_size, image_size, generator=g))
        model.eval()
        x = torch.randn(2, 3, image_size, image_size, generator=g)
        logits = model(x)
        logits64 = copy.deepcopy(model).double()(x.double())
    state = [(k, 'I64' if v.dtype == torch.int64 else 'F32', v) for k, v in model.state_dict().items()]
    common = {'generator': 'tools/make_torchvision_fixture.py', 'torch': torch.__version__, 'torchvision': torchvision.__version__,
              'model': name, 'seed': seed}
    weights = write_safetensors(os.path.join(out, f'{name}.safetensors'), state, dict(common, format='pt'))
    io = write_safetensors(os.path.join(out, f'{name}.io.safetensors'),
                           [('input', 'F32', x), ('logits', 'F32', logits), ('logits_f64', 'F64', logits64)],
                           dict(common, config=json.dumps(config), image_size=image_size))
    print(f'{name}: {len(state)} tensors, {weights} + {io} bytes')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('out')
    p.add_argument('--models', default='densenet_tiny,mobilenet_v2_tiny,efficientnet_tiny', help=f'comma-separated, of: {", ".join(MODELS)}')
    p.add_argument('--image-size', type=int, default=32)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name in a.models.split(','):
        if name not in MODELS:
            p.error(f'unknown model {name!r}; known: {", ".join(MODELS)}')
        make(name, a.image_size, a.seed, a.out)


if __name__ == '__main__':
    main()
