"""The torchvision models bnff builds, by bnff's model name, for the scripts that make fixtures
and for the PyTorch side of `bnff bench step --vs-pytorch` (torch 1.13 / torchvision 0.14).

The CIFAR variants of MobileNetV2 (width 1 and 0.5) and EfficientNet-B0 are torchvision's classes
with the second stage at stride 1 and the stem convolution at stride 1 (features[0][0].stride), 10 classes:
the same state_dict names as the ImageNet models, for 32 px images (src/models/mobilenet.ts,
src/models/efficientnet.ts).
"""
from functools import partial

import torchvision
from torchvision.models.efficientnet import EfficientNet, MBConvConfig

MOBILENET_V2_CIFAR_SETTING = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]


def efficientnet_b0_cifar_setting(width_mult=1.0):
    c = partial(MBConvConfig, width_mult=width_mult, depth_mult=1.0)
    return [c(1, 3, 1, 32, 16, 1), c(6, 3, 1, 16, 24, 2), c(6, 5, 2, 24, 40, 2), c(6, 3, 2, 40, 80, 3),
            c(6, 5, 1, 80, 112, 3), c(6, 5, 2, 112, 192, 4), c(6, 3, 1, 192, 320, 1)]


def stem_stride_1(model):
    model.features[0][0].stride = (1, 1)
    return model


def mobilenet_v2_cifar(num_classes=10, width_mult=1.0):
    return stem_stride_1(torchvision.models.MobileNetV2(num_classes=num_classes, width_mult=width_mult, inverted_residual_setting=MOBILENET_V2_CIFAR_SETTING))


def efficientnet_b0_cifar(num_classes=10, width_mult=1.0):
    return stem_stride_1(EfficientNet(efficientnet_b0_cifar_setting(width_mult), 0.2, num_classes=num_classes))


TORCHVISION = ("resnet18", "resnet34", "resnet50", "densenet121", "mobilenet_v2", "efficientnet_b0")
CIFAR = {"mobilenet_v2_cifar": mobilenet_v2_cifar, "mobilenet_v2_050_cifar": lambda: mobilenet_v2_cifar(width_mult=0.5),
         "efficientnet_b0_cifar": efficientnet_b0_cifar}


def build(name):
    """The torchvision model of that bnff name, or None."""
    if name in TORCHVISION:
        return getattr(torchvision.models, name)()
    if name in CIFAR:
        return CIFAR[name]()
    return None
