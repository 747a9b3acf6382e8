"""The convolution layers of the transformer network: reflection-padded convolutions, the
normalized down/up-sampling layers and the residual block. Shapes: (N, C, H, W) in and out,
any value range."""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from styletransfer.models.layers.attention import create_attention
from styletransfer.models.layers.norm import norm_layer
from styletransfer.models.layers.fast_conv import (narrow_conv, narrow_conv_applies, rewrites_enabled,
                                                   upsample_conv, upsample_conv_applies)
from styletransfer.models.layers.padding import ReflectionPad, nearest_scale, uses_fast_path


class ConvLayer(nn.Sequential):
    """[nearest 2× upsample] → reflection pad → conv, keeping H×W for stride 1.

    In CPU inference (:func:`~styletransfer.models.layers.padding.uses_fast_path`) the padding
    is a copy into a reused buffer (:meth:`~styletransfer.models.layers.padding.ReflectionPad.conv`),
    an upsampling layer is one transposed convolution of the small input
    (:func:`~styletransfer.models.layers.fast_conv.upsample_conv`) and a convolution to a few
    channels runs as its kernel rows (:func:`~styletransfer.models.layers.fast_conv.narrow_conv`):
    the same values up to float rounding. Elsewhere (training, CUDA, compile, export) the layers
    run one after the other.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, upsample: bool = False):
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
        layers += [ReflectionPad(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self[-2]
        if not isinstance(pad, ReflectionPad) or len(self) > 3:
            return super().forward(x)
        conv, upsample = self[-1], (self[0] if len(self) == 3 else None)
        if uses_fast_path(x) and rewrites_enabled():
            if upsample is not None and upsample_conv_applies(conv, pad.padding, nearest_scale(upsample)):
                return upsample_conv(conv, x)
            if upsample is None and narrow_conv_applies(conv):
                return pad.conv(functools.partial(narrow_conv, conv), x)
        return pad.conv(conv, x, upsample=upsample)


class NormActLayer(nn.Sequential):
    """ConvLayer → norm → [attention] → ReLU: the down- and up-sampling layers."""

    def __init__(self, cin: int, cout: int, kernel: int, *, norm: str, attention: str | None,
                 stride: int = 1, upsample: bool = False):
        layers = [ConvLayer(cin, cout, kernel, stride, upsample), norm_layer(norm, cout)]
        block = create_attention(attention, cout)
        if block is not None:
            layers.append(block)
        super().__init__(*layers, nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """x + attention(norm(conv(relu(norm(conv(x)))))): the attention block sits on the residual
    branch after its last normalization and before the skip addition, as in the official SRM
    code for ResNets."""

    def __init__(self, channels: int, *, norm: str, attention: str):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.norm1 = norm_layer(norm, channels)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.norm2 = norm_layer(norm, channels)
        self.attention = create_attention(attention, channels) or nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = F.relu(self.norm1(self.conv1(x)), inplace=True)  # a fresh tensor (the norm's or the conv's)
        return x + self.attention(self.norm2(self.conv2(branch)))
