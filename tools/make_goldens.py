#!/usr/bin/python3
"""Golden reference data for bnff, computed with PyTorch (torch 1.13 at /usr/bin/python3).

    /usr/bin/python3 tools/make_goldens.py test/golden/data            # all four files
    /usr/bin/python3 tools/make_goldens.py test/golden/data ops        # only ops.safetensors

Writes four safetensors files (the format is written by hand, tools/safetensors_io.py; no safetensors package):
  ops.safetensors       every op: inputs, parameters, upstream gradient dy, output, gradients
  blocks.safetensors    torchvision BasicBlock, Bottleneck (+downsample), _DenseLayer, _Transition,
                        InvertedResidual (MobileNetV2), SqueezeExcitation, MBConv (EfficientNet)
  resnet20.safetensors  three SGD steps of bnff's CIFAR resnet20 (option-A shortcut)
  sgd.safetensors       torch.optim.SGD variants on a small tensor; StepLR / CosineAnnealingLR

Everything is computed in float64 (torch.float64). To keep the files small (under 4 MB in all)
and exact, what goes *into* a computation is rounded to float16 first and stored as F16 (exactly):
op/block inputs, parameters, buffers and upstream gradients dy, resnet20's initial parameters
and images. Results are stored F64, except resnet20's gradients and final parameters (F32,
rounded after computing in float64). Labels and num_batches_tracked are I64.
Deterministic: every case draws from its own torch.Generator with a fixed seed.

Naming, per case C of ops/blocks:
  C.in.<x>      inputs          C.param.<p>  parameters and buffers before (state_dict names)
  C.dy          upstream grad   C.out        forward output
  C.grad.<n>    gradient of an input or parameter
  C.after.<b>   buffers after the step (running statistics, num_batches_tracked)
and __metadata__[C] = JSON {"op": ..., "attrs": {...}}.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.densenet import _DenseLayer, _Transition
from torchvision.models.efficientnet import MBConv, MBConvConfig
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1
from torchvision.ops import SqueezeExcitation

from safetensors_io import write_safetensors

torch.set_default_dtype(torch.float64)
DT = torch.float64

class Golden:
    def __init__(self):
        self.tensors = []
        self.metadata = {}

    def add(self, name, t, dtype='F64'):
        if dtype == 'I64':
            t = t.to(torch.int64)
        self.tensors.append((name, dtype, t.detach().clone()))

    def case(self, name, op, attrs):
        assert name not in self.metadata
        self.metadata[name] = json.dumps({'op': op, 'attrs': attrs}, sort_keys=True)


def f16(t):
    """Rounds to float16 (values then stored exactly as F16), keeping float64."""
    return t.to(torch.float16).to(DT)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(g, *shape):
    return torch.randn(*shape, generator=g, dtype=DT)


def rand(g, *shape):
    return torch.rand(*shape, generator=g, dtype=DT)


# ---------------------------------------------------------------- ops

def op_case(G, name, op, attrs, fn, inputs, params, grad_inputs, seed, dy=None):
    """fn(inputs dict, params dict) -> output. Records everything and autograd gradients."""
    g = gen(seed + 1000)
    inputs = {k: f16(v) if v.is_floating_point() else v for k, v in inputs.items()}
    params = {k: f16(v) for k, v in params.items()}
    ins = {k: v.clone().requires_grad_(k in grad_inputs) for k, v in inputs.items()}
    ps = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in params.items()}
    G.case(name, op, attrs)
    for k, v in inputs.items():
        G.add(f'{name}.in.{k}', v, 'F16' if v.is_floating_point() else 'I64')
    for k, v in params.items():
        G.add(f'{name}.param.{k}', v, 'F16')
    y = fn(ins, ps)
    dy = f16(randn(g, *y.shape) if dy is None else dy)
    y.backward(dy)
    G.add(f'{name}.dy', dy, 'F16')
    G.add(f'{name}.out', y)
    for k in grad_inputs:
        G.add(f'{name}.grad.{k}', ins[k].grad)
    for k, v in ps.items():
        if v.requires_grad:
            G.add(f'{name}.grad.{k}', v.grad)


def make_ops():
    G = Golden()
    seed = 0

    # conv2d: (name, N, C, H, W, K, (KH, KW), stride, padding, dilation, groups, bias)
    convs = [
        ('conv_stride2', 2, 2, 7, 7, 3, (3, 3), (2, 2), (1, 1), (1, 1), 1, False),
        ('conv_pad2', 2, 2, 4, 4, 2, (3, 3), (1, 1), (2, 2), (1, 1), 1, False),
        ('conv_dilation2', 2, 2, 6, 5, 2, (3, 3), (1, 1), (1, 1), (2, 2), 1, False),
        ('conv_groups2', 2, 4, 4, 4, 4, (3, 3), (1, 1), (1, 1), (1, 1), 2, False),
        ('conv_depthwise', 2, 3, 5, 5, 6, (3, 3), (2, 2), (1, 1), (1, 1), 3, False),
        ('conv_bias', 2, 2, 4, 4, 3, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
        ('conv_rect', 2, 2, 5, 6, 2, (3, 5), (2, 1), (1, 2), (1, 1), 1, True),
        ('conv_1x1_stride2', 2, 4, 5, 5, 3, (1, 1), (2, 2), (0, 0), (1, 1), 1, False),
    ]
    for (name, N, C, H, W, K, (KH, KW), stride, padding, dilation, groups, bias) in convs:
        seed += 1
        g = gen(seed)
        x = randn(g, N, C, H, W)
        w = randn(g, K, C // groups, KH, KW) / math.sqrt(C // groups * KH * KW)
        params = {'weight': w}
        if bias:
            params['bias'] = randn(g, K) * 0.5
        attrs = {'stride': list(stride), 'padding': list(padding), 'dilation': list(dilation), 'groups': groups, 'bias': bias}
        op_case(G, name, 'conv2d', attrs,
                lambda i, p, s=stride, pd=padding, d=dilation, gr=groups: F.conv2d(i['x'], p['weight'], p.get('bias'), s, pd, d, gr),
                {'x': x}, params, ['x'], seed)

    # batch_norm2d, training: non-trivial gamma/beta and initial running statistics
    for name, momentum, nbt0 in [('bn_train', 0.1, 0), ('bn_train_cumulative', None, 2)]:
        seed += 1
        g = gen(seed)
        C = 3
        x = f16(randn(g, 3, C, 4, 4) * 1.5 + 0.7)
        params = {
            'weight': 1 + 0.3 * randn(g, C), 'bias': 0.2 * randn(g, C),
            'running_mean': 0.3 * randn(g, C), 'running_var': 0.5 + rand(g, C),
        }
        params = {k: f16(v) for k, v in params.items()}
        bn = nn.BatchNorm2d(C, eps=1e-5, momentum=momentum).double().train()
        with torch.no_grad():
            for k, v in params.items():
                getattr(bn, k).copy_(v)
            bn.num_batches_tracked.fill_(nbt0)
        G.case(name, 'batch_norm2d', {'eps': 1e-5, 'momentum': momentum, 'training': True})
        G.add(f'{name}.in.x', x, 'F16')
        for k, v in params.items():
            G.add(f'{name}.param.{k}', v, 'F16')
        G.add(f'{name}.param.num_batches_tracked', torch.tensor([nbt0]), 'I64')
        xr = x.clone().requires_grad_(True)
        y = bn(xr)
        dy = f16(randn(gen(seed + 1000), *y.shape))
        y.backward(dy)
        G.add(f'{name}.dy', dy, 'F16')
        G.add(f'{name}.out', y)
        G.add(f'{name}.grad.x', xr.grad)
        G.add(f'{name}.grad.weight', bn.weight.grad)
        G.add(f'{name}.grad.bias', bn.bias.grad)
        G.add(f'{name}.after.running_mean', bn.running_mean)
        G.add(f'{name}.after.running_var', bn.running_var)
        G.add(f'{name}.after.num_batches_tracked', bn.num_batches_tracked.reshape(1), 'I64')

    # batch_norm2d, eval: forward only (bnff does not differentiate BN in eval mode)
    seed += 1
    g = gen(seed)
    C = 3
    x = f16(randn(g, 2, C, 3, 4))
    params = {'weight': 1 + 0.3 * randn(g, C), 'bias': 0.2 * randn(g, C),
              'running_mean': 0.3 * randn(g, C), 'running_var': 0.5 + rand(g, C)}
    params = {k: f16(v) for k, v in params.items()}
    G.case('bn_eval', 'batch_norm2d', {'eps': 1e-5, 'momentum': 0.1, 'training': False})
    G.add('bn_eval.in.x', x, 'F16')
    for k, v in params.items():
        G.add(f'bn_eval.param.{k}', v, 'F16')
    G.add('bn_eval.param.num_batches_tracked', torch.tensor([5]), 'I64')
    G.add('bn_eval.out', F.batch_norm(x, params['running_mean'], params['running_var'], params['weight'], params['bias'], False, 0.1, 1e-5))

    # relu (with exact zeros: the gradient there is 0, as torch's threshold_backward)
    seed += 1
    g = gen(seed)
    x = randn(g, 2, 2, 3, 3)
    x.view(-1)[::7] = 0.0
    op_case(G, 'relu', 'relu', {}, lambda i, p: F.relu(i['x']), {'x': x}, {}, ['x'], seed)

    pools = [
        ('maxpool_3x3_s2_p1', 'max_pool2d', (2, 2, 7, 7), {'kernel': [3, 3], 'stride': [2, 2], 'padding': [1, 1]}),
        ('maxpool_2x2', 'max_pool2d', (2, 2, 6, 5), {'kernel': [2, 2], 'stride': [2, 2], 'padding': [0, 0]}),
        ('avgpool_2x2_s2', 'avg_pool2d', (2, 2, 6, 5), {'kernel': [2, 2], 'stride': [2, 2], 'padding': [0, 0], 'count_include_pad': True}),
        ('avgpool_3x3_s2_p1', 'avg_pool2d', (2, 2, 7, 6), {'kernel': [3, 3], 'stride': [2, 2], 'padding': [1, 1], 'count_include_pad': True}),
        ('avgpool_3x3_s2_p1_nopad', 'avg_pool2d', (2, 2, 7, 6), {'kernel': [3, 3], 'stride': [2, 2], 'padding': [1, 1], 'count_include_pad': False}),
    ]
    for name, op, shape, a in pools:
        seed += 1
        x = randn(gen(seed), *shape)
        if op == 'max_pool2d':
            fn = lambda i, p, a=a: F.max_pool2d(i['x'], a['kernel'], a['stride'], a['padding'])
        else:
            fn = lambda i, p, a=a: F.avg_pool2d(i['x'], a['kernel'], a['stride'], a['padding'], count_include_pad=a['count_include_pad'])
        op_case(G, name, op, a, fn, {'x': x}, {}, ['x'], seed)

    seed += 1
    op_case(G, 'global_avg_pool', 'global_avg_pool', {}, lambda i, p: F.adaptive_avg_pool2d(i['x'], 1),
            {'x': randn(gen(seed), 2, 3, 3, 2)}, {}, ['x'], seed)

    seed += 1
    g = gen(seed)
    op_case(G, 'add', 'add', {}, lambda i, p: i['a'] + i['b'],
            {'a': randn(g, 2, 2, 3, 3), 'b': randn(g, 2, 2, 3, 3)}, {}, ['a', 'b'], seed)

    seed += 1
    g = gen(seed)
    op_case(G, 'concat', 'concat', {}, lambda i, p: torch.cat([i['x0'], i['x1'], i['x2']], 1),
            {'x0': randn(g, 2, 2, 3, 3), 'x1': randn(g, 2, 3, 3, 3), 'x2': randn(g, 2, 1, 3, 3)}, {}, ['x0', 'x1', 'x2'], seed)

    seed += 1
    op_case(G, 'flatten', 'flatten', {}, lambda i, p: torch.flatten(i['x'], 1),
            {'x': randn(gen(seed), 2, 2, 3, 3)}, {}, ['x'], seed)

    seed += 1
    g = gen(seed)
    op_case(G, 'linear', 'linear', {'bias': True}, lambda i, p: F.linear(i['x'], p['weight'], p['bias']),
            {'x': randn(g, 4, 10)}, {'weight': randn(g, 7, 10) / math.sqrt(10), 'bias': 0.5 * randn(g, 7)}, ['x'], seed)

    seed += 1
    g = gen(seed)
    logits = randn(g, 6, 5) * 2
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    op_case(G, 'cross_entropy', 'softmax_cross_entropy', {'reduction': 'mean'},
            lambda i, p: F.cross_entropy(i['logits'], i['labels'], reduction='mean').reshape(1),
            {'logits': logits, 'labels': labels}, {}, ['logits'], seed, dy=torch.tensor([0.75]))

    # silu: appended last so that the seeds (and bytes) of the cases above stay as they were;
    # a few large |x| reach both tails of the sigmoid
    seed += 1
    x = randn(gen(seed), 2, 3, 3, 3) * 3
    x.view(-1)[::9] *= 6
    op_case(G, 'silu', 'silu', {}, lambda i, p: F.silu(i['x']), {'x': x}, {}, ['x'], seed)

    # ops of MobileNetV2 and EfficientNet, appended after silu for the same reason
    # relu6: exact 0 and 6 (gradient 0 there, as hardtanh_backward), values below 0 and above 6
    seed += 1
    x = randn(gen(seed), 2, 3, 3, 3) * 4 + 3
    x.view(-1)[::7] = 0.0
    x.view(-1)[3::7] = 6.0
    op_case(G, 'relu6', 'relu6', {}, lambda i, p: F.relu6(i['x']), {'x': x}, {}, ['x'], seed)

    # hardswish: both linear pieces, the quadratic one, and the break point -3 exactly (not 3:
    # there torch 1.13's gradient is dy on its vectorised path and 1.5 dy on its scalar one)
    seed += 1
    x = randn(gen(seed), 2, 3, 3, 3) * 3
    x.view(-1)[::9] = -3.0
    op_case(G, 'hardswish', 'hardswish', {}, lambda i, p: F.hardswish(i['x']), {'x': x}, {}, ['x'], seed)

    # sigmoid: both tails
    seed += 1
    x = randn(gen(seed), 2, 3, 3, 3) * 3
    x.view(-1)[::9] *= 8
    op_case(G, 'sigmoid', 'sigmoid', {}, lambda i, p: torch.sigmoid(i['x']), {'x': x}, {}, ['x'], seed)

    # channel_scale: squeeze-excitation's `scale * input`, scale [N, C, 1, 1]
    seed += 1
    g = gen(seed)
    op_case(G, 'channel_scale', 'channel_scale', {}, lambda i, p: i['s'] * i['x'],
            {'x': randn(g, 2, 3, 3, 4), 's': rand(g, 2, 3, 1, 1)}, {}, ['x', 's'], seed)

    # dropout and stochastic depth in eval: the identity
    seed += 1
    op_case(G, 'dropout_eval', 'dropout', {'p': 0.2, 'training': False}, lambda i, p: F.dropout(i['x'], 0.2, training=False),
            {'x': randn(gen(seed), 2, 3, 2, 2)}, {}, ['x'], seed)
    seed += 1
    op_case(G, 'stochastic_depth_eval', 'stochastic_depth', {'p': 0.2, 'mode': 'row', 'training': False},
            lambda i, p: torchvision.ops.stochastic_depth(i['x'], 0.2, 'row', training=False),
            {'x': randn(gen(seed), 2, 3, 2, 2)}, {}, ['x'], seed)

    # dropout and stochastic depth in training, with torch's own random masks: a test checks that
    # bnff keeps torch's scale 1/(1-p) and zeroing pattern (element or whole sample), not the mask
    seed += 1
    torch.manual_seed(seed)
    op_case(G, 'dropout_train', 'dropout', {'p': 0.3, 'training': True}, lambda i, p: F.dropout(i['x'], 0.3, training=True),
            {'x': randn(gen(seed), 4, 3, 5, 5)}, {}, ['x'], seed)
    seed += 1
    torch.manual_seed(seed)
    op_case(G, 'stochastic_depth_train', 'stochastic_depth', {'p': 0.5, 'mode': 'row', 'training': True},
            lambda i, p: torchvision.ops.stochastic_depth(i['x'], 0.5, 'row', training=True),
            {'x': randn(gen(seed), 8, 3, 2, 2)}, {}, ['x'], seed)
    return G


# ---------------------------------------------------------------- blocks

def randomize_(module, g):
    """Deterministic non-default parameters and buffers (BN running stats included)."""
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            if name.endswith('num_batches_tracked'):
                t.fill_(0)
            elif name.endswith('running_mean'):
                t.copy_(0.2 * randn(g, *t.shape))
            elif name.endswith('running_var'):
                t.copy_(0.5 + rand(g, *t.shape))
            elif t.dim() == 4:  # conv weight
                fan_in = t.shape[1] * t.shape[2] * t.shape[3]
                t.copy_(randn(g, *t.shape) * math.sqrt(2.0 / fan_in))
            elif name.endswith('weight'):  # BN gamma
                t.copy_(1 + 0.2 * randn(g, *t.shape))
            else:  # BN beta
                t.copy_(0.2 * randn(g, *t.shape))


def block_case(G, name, op, attrs, module, inputs, seed):
    g = gen(seed)
    module = module.double().train()
    randomize_(module, g)
    G.case(name, op, attrs)
    with torch.no_grad():
        for k, v in module.state_dict(keep_vars=True).items():
            if v.is_floating_point():
                v.copy_(f16(v))
    for k, v in module.state_dict().items():
        G.add(f'{name}.param.{k}', v.reshape(1) if v.dim() == 0 else v, 'F16' if v.is_floating_point() else 'I64')
    ins = {}
    for k, shape in inputs.items():
        ins[k] = f16(randn(g, *shape))
        G.add(f'{name}.in.{k}', ins[k], 'F16')
        ins[k].requires_grad_(True)
    xs = list(ins.values())
    y = module(xs if len(xs) > 1 else xs[0])
    dy = f16(randn(g, *y.shape))
    y.backward(dy)
    G.add(f'{name}.dy', dy, 'F16')
    G.add(f'{name}.out', y)
    for k, v in ins.items():
        G.add(f'{name}.grad.{k}', v.grad)
    for k, p in module.named_parameters():
        G.add(f'{name}.grad.{k}', p.grad)
    for k, v in module.named_buffers():
        G.add(f'{name}.after.{k}', v.reshape(1) if v.dim() == 0 else v, 'I64' if not v.is_floating_point() else 'F64')


def make_blocks():
    G = Golden()
    block_case(G, 'basic', 'resnet.BasicBlock', {'inplanes': 3, 'planes': 3, 'stride': 1},
               BasicBlock(3, 3), {'x': (2, 3, 4, 4)}, 101)
    block_case(G, 'bottleneck', 'resnet.Bottleneck', {'inplanes': 4, 'planes': 2, 'stride': 2, 'downsample': 'conv1x1+bn'},
               Bottleneck(4, 2, stride=2, downsample=nn.Sequential(conv1x1(4, 8, 2), nn.BatchNorm2d(8))),
               {'x': (2, 4, 5, 5)}, 102)
    block_case(G, 'dense_layer', 'densenet._DenseLayer', {'num_input_features': 5, 'growth_rate': 2, 'bn_size': 2},
               _DenseLayer(5, growth_rate=2, bn_size=2, drop_rate=0.0, memory_efficient=False),
               {'x0': (2, 3, 4, 4), 'x1': (2, 2, 4, 4)}, 103)
    block_case(G, 'transition', 'densenet._Transition', {'num_input_features': 4, 'num_output_features': 3},
               _Transition(4, 3), {'x': (2, 4, 4, 4)}, 104)
    # MobileNetV2 and EfficientNet blocks (appended: the cases above keep their seeds)
    block_case(G, 'inverted_residual', 'mobilenetv2.InvertedResidual', {'inp': 4, 'oup': 4, 'stride': 1, 'expand_ratio': 3},
               InvertedResidual(4, 4, 1, 3), {'x': (2, 4, 5, 5)}, 105)
    block_case(G, 'inverted_residual_s2', 'mobilenetv2.InvertedResidual', {'inp': 4, 'oup': 6, 'stride': 2, 'expand_ratio': 1},
               InvertedResidual(4, 6, 2, 1), {'x': (2, 4, 5, 5)}, 106)
    block_case(G, 'squeeze_excitation', 'ops.SqueezeExcitation', {'input_channels': 6, 'squeeze_channels': 2, 'activation': 'SiLU'},
               SqueezeExcitation(6, 2, activation=nn.SiLU), {'x': (2, 6, 3, 3)}, 107)
    # stochastic depth 0: training mode without randomness
    block_case(G, 'mbconv', 'efficientnet.MBConv', {'expand_ratio': 4, 'kernel': 5, 'stride': 1, 'input_channels': 8, 'out_channels': 8, 'stochastic_depth_prob': 0.0},
               MBConv(MBConvConfig(4, 5, 1, 8, 8, 1), 0.0, nn.BatchNorm2d), {'x': (2, 8, 5, 5)}, 108)
    return G


# ---------------------------------------------------------------- resnet20

class ShortcutA(nn.Module):
    def __init__(self, before, after):
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.before, self.after))


class CifarBlock(nn.Module):
    def __init__(self, inC, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inC, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = None
        if stride != 1 or inC != planes:
            pad = (planes - inC) // 2
            self.shortcut = ShortcutA(pad, planes - inC - pad)

    def forward(self, x):
        r = F.relu(self.bn1(self.conv1(x)))
        r = self.bn2(self.conv2(r))
        return F.relu(r + (x if self.shortcut is None else self.shortcut(x)))


class CifarResNet(nn.Module):
    def __init__(self, n=3, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        inC = 16
        for stage in range(3):
            planes = 16 << stage
            blocks = []
            for i in range(n):
                blocks.append(CifarBlock(inC, planes, 2 if stage > 0 and i == 0 else 1))
                inC = planes
            setattr(self, f'layer{stage + 1}', nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))



def make_resnet20():
    G = Golden()
    torch.manual_seed(20)
    g = gen(20)
    model = CifarResNet().double().train()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 4:  # bnff's init: kaiming_normal fan_out
                fan_out = p.shape[0] * p.shape[2] * p.shape[3]
                p.copy_(f16(randn(g, *p.shape) * math.sqrt(2.0 / fan_out)))
            elif name == 'fc.weight' or name == 'fc.bias':
                p.copy_(f16((2 * rand(g, *p.shape) - 1) / 8))
            elif name.endswith('weight'):
                p.copy_(f16(1 + 0.1 * randn(g, *p.shape)))
            else:
                p.copy_(f16(0.1 * randn(g, *p.shape)))
    x = f16(randn(g, 8, 3, 32, 32))
    labels = torch.randint(0, 10, (8,), generator=g)
    lr, momentum, wd = 0.1, 0.9, 5e-4
    G.metadata['config'] = json.dumps({'model': 'resnet20', 'steps': 3, 'lr': lr, 'momentum': momentum, 'weight_decay': wd,
                                       'dampening': 0, 'nesterov': False, 'batch': [8, 3, 32, 32]}, sort_keys=True)
    for k, v in model.state_dict().items():
        if k.endswith('num_batches_tracked'):
            continue
        if k.endswith('running_mean') or k.endswith('running_var'):
            continue  # defaults 0 and 1
        G.add(f'init.{k}', v, 'F16')
    G.add('x', x, 'F16')
    G.add('labels', labels, 'I64')
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    losses = []
    for step in range(1, 4):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        losses.append(loss.item())
        if step in (1, 3):
            for k, p in model.named_parameters():
                G.add(f'grad{step}.{k}', p.grad, 'F32')
        opt.step()
    G.add('loss', torch.tensor(losses))
    for k, v in model.named_buffers():
        G.add(f'after.{k}', v.reshape(1) if v.dim() == 0 else v, 'I64' if not v.is_floating_point() else 'F64')
    for k, p in model.named_parameters():
        G.add(f'final.{k}', p, 'F32')
    return G


# ---------------------------------------------------------------- SGD and schedules

def make_sgd():
    G = Golden()
    cases = [
        ('nesterov', dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-2, nesterov=True)),
        ('dampening', dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3, nesterov=False)),
        ('momentum_wd', dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=5e-4, nesterov=False)),
        ('plain_wd', dict(lr=0.2, momentum=0.0, dampening=0.0, weight_decay=1e-2, nesterov=False)),
    ]
    steps = 4
    for i, (name, o) in enumerate(cases):
        g = gen(300 + i)
        p0 = randn(g, 3, 4)
        p = p0.clone().requires_grad_(True)
        opt = torch.optim.SGD([p], **o)
        G.metadata[name] = json.dumps(dict(o, steps=steps), sort_keys=True)
        G.add(f'{name}.p0', p0)
        for s in range(1, steps + 1):
            grad = randn(g, 3, 4)
            p.grad = grad.clone()
            opt.step()
            G.add(f'{name}.g{s}', grad)
            G.add(f'{name}.p{s}', p)
    # Learning rates: lr in effect during epoch e (scheduler.step() once per epoch)
    scheds = [
        ('steplr', dict(base=0.1, step_size=3, gamma=0.5, epochs=10),
         lambda opt, o: torch.optim.lr_scheduler.StepLR(opt, step_size=o['step_size'], gamma=o['gamma'])),
        ('cosine', dict(base=0.1, T_max=5, eta_min=0.001, epochs=13),
         lambda opt, o: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=o['T_max'], eta_min=o['eta_min'])),
        ('cosine_200', dict(base=0.1, T_max=200, eta_min=0.0, epochs=200),
         lambda opt, o: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=o['T_max'], eta_min=o['eta_min'])),
    ]
    for name, o, make in scheds:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=o['base'], momentum=0.9)
        sched = make(opt, o)
        lrs = []
        for _ in range(o['epochs']):
            lrs.append(opt.param_groups[0]['lr'])
            p.grad = torch.zeros(1)
            opt.step()
            sched.step()
        G.metadata[name] = json.dumps(o, sort_keys=True)
        G.add(f'{name}.lr', torch.tensor(lrs))
    return G


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else 'test/golden/data'
    os.makedirs(out, exist_ok=True)
    common = {'generator': 'tools/make_goldens.py', 'torch': torch.__version__, 'torchvision': torchvision.__version__,
              'compute_dtype': 'float64'}
    makers = [('ops', make_ops), ('blocks', make_blocks), ('resnet20', make_resnet20), ('sgd', make_sgd)]
    only = sys.argv[2:]
    unknown = [f for f in only if f not in dict(makers)]
    if unknown:
        sys.exit(f'unknown golden file(s) {unknown}: expected some of {[f for f, _ in makers]}')
    total = 0
    for fname, make in makers:
        if only and fname not in only:
            continue
        G = make()
        meta = dict(common)
        meta.update(G.metadata)
        size = write_safetensors(os.path.join(out, f'{fname}.safetensors'), G.tensors, meta)
        total += size
        print(f'{fname}.safetensors: {len(G.tensors)} tensors, {size} bytes')
    print(f'total {total} bytes')


if __name__ == '__main__':
    main()
