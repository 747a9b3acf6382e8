"""The CPU inference rewrites of styletransfer.models.layers.fast_conv: the upsampling layer as
one transposed convolution and a convolution to few channels as its kernel rows. Both must
equal the layers as written up to float rounding (exactly in float64), run only where the
padding's fast path runs, and keep shapes and memory formats."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from styletransfer.models.layers import fast_conv
from styletransfer.models.layers.conv import ConvLayer
from styletransfer.models.layers.fast_conv import (narrow_conv, narrow_conv_applies, plain_convolutions,
                                                   rewrites_enabled, transposed_weight, upsample_conv,
                                                   upsample_conv_applies)
from styletransfer.models.transformer import TransformerNet


def _upsample_pad_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return conv(F.pad(F.interpolate(x, scale_factor=2, mode="nearest"), (1, 1, 1, 1), mode="reflect"))


@pytest.mark.parametrize("shape", [(2, 5, 7, 9), (1, 3, 1, 1), (1, 4, 1, 6), (1, 2, 8, 2), (1, 16, 12, 13)])
def test_upsample_conv_equals_upsample_pad_conv_exactly_in_float64(shape):
    torch.manual_seed(0)
    conv = nn.Conv2d(shape[1], 6, 3).double()
    x = torch.randn(shape, dtype=torch.float64)
    expected = _upsample_pad_conv(conv, x)
    actual = upsample_conv(conv, x)
    assert actual.shape == expected.shape == (shape[0], 6, 2 * shape[2], 2 * shape[3])
    assert torch.allclose(actual, expected, rtol=0, atol=1e-12)


def test_transposed_weight_spends_16_taps_where_the_upsampled_conv_spends_36():
    weight = torch.randn(4, 3, 3, 3)
    transposed = transposed_weight(weight)
    assert transposed.shape == (3, 4, 4, 4)
    # every tap is used: the four phases' 2×2 sub-kernels sum to 4 × the 3×3 kernel's sum
    assert torch.allclose(transposed.sum(dim=(2, 3)), 4 * weight.sum(dim=(2, 3)).T, atol=1e-5)


@pytest.mark.parametrize("kernel, channels", [(9, 3), (9, 1), (5, 4), (3, 2), ((7, 3), 3)])
def test_narrow_conv_equals_the_convolution_exactly_in_float64(kernel, channels):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, channels, kernel).double()
    x = torch.randn(2, 8, 20, 17, dtype=torch.float64)
    actual = narrow_conv(conv, x)
    expected = conv(x)
    assert actual.shape == expected.shape and actual.is_contiguous()
    assert torch.allclose(actual, expected, rtol=0, atol=1e-12)


def test_narrow_conv_without_bias():
    conv = nn.Conv2d(4, 3, 5, bias=False).double()
    x = torch.randn(1, 4, 9, 9, dtype=torch.float64)
    assert torch.allclose(narrow_conv(conv, x), conv(x), atol=1e-12)


def test_which_layers_are_rewritten():
    assert upsample_conv_applies(nn.Conv2d(8, 4, 3), (1, 1, 1, 1), 2)
    assert not upsample_conv_applies(nn.Conv2d(8, 4, 3), (1, 1, 1, 1), 3)  # another scale
    assert not upsample_conv_applies(nn.Conv2d(8, 4, 3, stride=2), (1, 1, 1, 1), 2)
    assert not upsample_conv_applies(nn.Conv2d(8, 4, 5), (2, 2, 2, 2), 2)
    assert not upsample_conv_applies(nn.Conv2d(8, 4, 3, groups=2), (1, 1, 1, 1), 2)
    assert narrow_conv_applies(nn.Conv2d(32, 3, 9)) and narrow_conv_applies(nn.Conv2d(64, 4, 3))
    assert not narrow_conv_applies(nn.Conv2d(12, 3, 9))  # the slim head: slower split (measured)
    assert not narrow_conv_applies(nn.Conv2d(32, 5, 9))  # wide enough already
    assert not narrow_conv_applies(nn.Conv2d(32, 3, 9, stride=2))
    assert not narrow_conv_applies(nn.Conv2d(32, 3, (1, 9)))  # one row: nothing to split
    assert not narrow_conv_applies(nn.Conv2d(32, 3, 9, padding=4))  # padding inside the conv


def _layers():
    return [ConvLayer(32, 3, 9), ConvLayer(16, 8, 3, upsample=True), ConvLayer(8, 8, 3, stride=2)]


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_conv_layers_agree_with_and_without_the_rewrites(dtype, channels_last):
    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for layer in _layers():
        layer = layer.to(dtype).to(memory_format=memory_format)
        x = torch.randn(1, layer[-1].in_channels, 23, 18).to(dtype).contiguous(memory_format=memory_format)
        with torch.inference_mode():
            fast = layer(x)
            with plain_convolutions():
                plain = layer(x)
        assert fast.shape == plain.shape and fast.dtype == dtype
        scale = plain.float().abs().max()
        tolerance = 1e-5 if dtype == torch.float32 else 2 ** -7  # float rounding; one bf16 step
        assert (fast.float() - plain.float()).abs().max() <= tolerance * scale
        if layer[-1].out_channels > 3:  # a narrow result is contiguous (3 channels: either way)
            assert fast.is_contiguous(memory_format=memory_format)


def test_rewrites_only_on_the_padding_fast_path(monkeypatch):
    calls = []
    monkeypatch.setattr("styletransfer.models.layers.conv.upsample_conv",
                        lambda conv, x: calls.append("upsample") or fast_conv.upsample_conv(conv, x))
    monkeypatch.setattr("styletransfer.models.layers.conv.narrow_conv",
                        lambda conv, x: calls.append("narrow") or fast_conv.narrow_conv(conv, x))
    head, up, _ = _layers()
    x_head, x_up = torch.randn(1, 32, 12, 12), torch.randn(1, 16, 6, 6)
    head(x_head), up(x_up)  # autograd on: the layers as written
    assert calls == []
    with torch.inference_mode():
        with plain_convolutions():
            assert not rewrites_enabled()
            head(x_head), up(x_up)
        assert calls == [] and rewrites_enabled()
        head(x_head), up(x_up)
    assert calls == ["narrow", "upsample"]


def test_training_gradients_are_the_plain_layers():
    torch.manual_seed(0)
    net = TransformerNet(width=8, residual_blocks=1)
    plain = copy.deepcopy(net)
    x = torch.rand(2, 3, 24, 20)
    loss = net(x).square().mean()
    loss.backward()
    with plain_convolutions():
        plain(x).square().mean().backward()
    for p, q in zip(net.parameters(), plain.parameters()):
        assert torch.equal(p.grad, q.grad)


def test_the_whole_network_agrees_in_inference():
    torch.manual_seed(0)
    net = TransformerNet(width=32, residual_blocks=1).eval()
    x = torch.rand(1, 3, 37, 29)
    with torch.inference_mode():
        fast = net(x)
        with plain_convolutions():
            plain = net(x)
    assert fast.shape == plain.shape == x.shape
    assert torch.allclose(fast, plain, atol=1e-6)
