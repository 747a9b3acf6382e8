"""Inference forms of a trained network: BatchNorm folded into the convolution before it, and
every attention block replaced by its folded form. The output is the same up to float
rounding; the folded network is for inference only."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from styletransfer.models.layers.attention import fold_attention
from styletransfer.models.layers.conv import ConvLayer, NormActLayer, ResidualBlock
from styletransfer.models.transformer import TransformerNet

__all__ = ["fold_attention", "fold_batchnorm", "fold_for_inference"]


def _fold_into_conv(conv_layer: ConvLayer, norm: nn.BatchNorm2d) -> None:
    """Fold an eval-mode BatchNorm into the conv before it: W·s, (b − mean)·s + beta, where
    s = gamma / sqrt(var + eps)."""
    conv = conv_layer[-1]
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    with torch.no_grad():
        conv.weight.mul_(scale[:, None, None, None])
        conv.bias.copy_((conv.bias - norm.running_mean) * scale + norm.bias)


def fold_batchnorm(net: TransformerNet) -> TransformerNet:
    """A copy of ``net`` in eval mode with every BatchNorm folded into the convolution before
    it (inference only: the same output up to float rounding, 14 fewer passes over the
    activations). Networks without BatchNorm are returned as an eval-mode copy."""
    folded = copy.deepcopy(net).eval()
    if folded.config.norm != "batch":
        return folded
    for module in folded.modules():
        if isinstance(module, NormActLayer):
            _fold_into_conv(module[0], module[1])
            module[1] = nn.Identity()
        elif isinstance(module, ResidualBlock):
            _fold_into_conv(module.conv1, module.norm1)
            _fold_into_conv(module.conv2, module.norm2)
            module.norm1, module.norm2 = nn.Identity(), nn.Identity()
    return folded


def fold_for_inference(net: TransformerNet) -> TransformerNet:
    """An eval-mode copy of ``net`` with its attention blocks and BatchNorms folded: what
    inference runs."""
    return fold_batchnorm(fold_attention(net))
