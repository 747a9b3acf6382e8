"""Cheaper equivalents of two of the TransformerNet's convolutions, for CPU inference
(docs/performance-padding.md, "Fewer multiplications").

* **Upsample → pad → 3×3 conv as one transposed convolution.** Nearest 2× upsampling repeats
  every pixel in a 2×2 block, so each output pixel of the 3×3 convolution after it sees only
  2×2 distinct input pixels, with some of the nine taps landing on the same pixel. Summing
  those taps first gives a 4×4 transposed convolution of stride 2 on the small input: 16
  multiplications per input pixel and channel pair instead of 36, and no upsampled tensor.
  The reflection pad of the upsampled image is the edge pixel repeated (row -1 of the
  upsampled image is its row 1, which is the small image's row 0), so the small input is
  padded by replication. :func:`upsample_conv`.
* **A 9×9 convolution to 3 channels as 27 channels of 1×9 rows.** A convolution with very few
  output channels leaves most of each vector register empty (the network's last layer, 32 → 3
  channels at full resolution, ran at a quarter of the speed of the residual convolutions per
  multiplication). Splitting the kernel into its nine rows gives one 32 → 27 convolution with
  1×9 kernels (the same number of multiplications, in a shape the CPU kernels fill), whose nine
  3-channel results are summed at their row offsets. :func:`narrow_conv`.

Both are the same arithmetic in a different order: equal up to float rounding (exact in float64;
within one rounding step of the precision in bf16). :func:`upsample_conv_applies` and
:func:`narrow_conv_applies` say when a layer has the shape they rewrite; the caller decides
when to use them (:class:`~styletransfer.models.layers.conv.ConvLayer` does on the CPU without
autograd, where the padding's fast path runs).

Imports only torch.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["upsample_conv", "upsample_conv_applies", "transposed_weight", "narrow_conv", "narrow_conv_applies",
           "NARROW_CHANNELS", "NARROW_MIN_INPUT_CHANNELS", "plain_convolutions", "rewrites_enabled"]

NARROW_CHANNELS = 4
"""Convolutions with at most this many output channels are "narrow" (:func:`narrow_conv`)."""

NARROW_MIN_INPUT_CHANNELS = 32
"""...and at least this many input channels: the full network's head (32 → 3) ran 2.7× faster
split into rows, the slim network's (12 → 3) slower (docs/performance-padding.md)."""


_disabled = 0  # nesting depth of plain_convolutions() blocks (process-wide)


@contextlib.contextmanager
def plain_convolutions() -> Iterator[None]:
    """Within the block, :func:`rewrites_enabled` is False: layers run their convolutions as
    written (for bit-exact comparisons of the padding alone, and before/after benchmarks).
    Process-wide, not per thread."""
    global _disabled
    _disabled += 1
    try:
        yield
    finally:
        _disabled -= 1


def rewrites_enabled() -> bool:
    """False inside :func:`plain_convolutions`."""
    return _disabled == 0


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for the 16-bit floats, else the dtype itself (float32, float64)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _plain(conv: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and conv.groups == 1 and conv.dilation == (1, 1)
            and conv.padding == (0, 0) and conv.padding_mode == "zeros")


def upsample_conv_applies(conv: nn.Module, padding: tuple[int, ...], scale: int | None) -> bool:
    """Whether ``conv(reflect_pad(upsample(x)))`` is a 3×3 stride-1 ``nn.Conv2d`` after a 1-pixel
    reflection pad of a nearest 2× upsampling: the case :func:`upsample_conv` rewrites."""
    return (_plain(conv) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and tuple(padding) == (1, 1, 1, 1) and scale == 2)


def transposed_weight(weight: torch.Tensor) -> torch.Tensor:
    """(C_out, C_in, 3, 3) 3×3 kernel → (C_in, C_out, 4, 4) weight of the stride-2 transposed
    convolution equal to nearest 2× upsampling followed by that kernel.

    Along each axis, output pixel 2i sees the small input at i-1 through tap 0 and at i through
    taps 1 and 2; pixel 2i+1 sees i through taps 0 and 1 and i+1 through tap 2. In the
    transposed convolution's index order that is ``(k2, k1+k2, k0+k1, k0)``. The sums are taken
    in float32 for 16-bit weights (then cast back), so bf16 weights lose no more than their own rounding.
    """
    w = weight.to(_accumulation_dtype(weight.dtype))
    rows = torch.stack([w[..., 2, :], w[..., 1, :] + w[..., 2, :], w[..., 0, :] + w[..., 1, :], w[..., 0, :]], -2)
    both = torch.stack([rows[..., 2], rows[..., 1] + rows[..., 2], rows[..., 0] + rows[..., 1], rows[..., 0]], -1)
    return both.transpose(0, 1).to(weight.dtype)


def upsample_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(F.pad(upsample_nearest_2x(x), (1, 1, 1, 1), mode="reflect"))`` as one transposed
    convolution of the (replication-padded) input; see the module docs.

    Args:
        conv: a 3×3, stride-1, ungrouped ``nn.Conv2d`` (:func:`upsample_conv_applies`).
        x: (N, C_in, H, W), any H, W ≥ 1, in ``conv``'s dtype; contiguous or channels-last.

    Returns:
        (N, C_out, 2H, 2W), in ``x``'s memory format.
    """
    weight = transposed_weight(conv.weight)
    if not x.is_contiguous():
        weight = weight.contiguous(memory_format=torch.channels_last)
    # Padded by one small pixel, the transposed convolution's output is 2H + 4 wide; padding=3
    # drops the three outer pixels on each side, leaving exactly the 2H the layer produces.
    return F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, conv.bias, stride=2, padding=3)


def narrow_conv_applies(conv: nn.Module) -> bool:
    """Whether ``conv`` is a stride-1, ungrouped ``nn.Conv2d`` from at least
    :data:`NARROW_MIN_INPUT_CHANNELS` to at most :data:`NARROW_CHANNELS` channels with a kernel
    taller than one row: the case :func:`narrow_conv` rewrites."""
    return (_plain(conv) and conv.out_channels <= NARROW_CHANNELS and conv.stride == (1, 1)
            and conv.kernel_size[0] > 1 and conv.in_channels >= NARROW_MIN_INPUT_CHANNELS)


def narrow_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a convolution with few output channels, as one convolution whose kernel
    rows are separate output channels, then the rows' results summed at their offsets (see the
    module docs).

    Args:
        conv: an ``nn.Conv2d`` with :func:`narrow_conv_applies` (C_out channels, kh × kw kernel).
        x: (N, C_in, H, W) in ``conv``'s dtype, H ≥ kh, W ≥ kw (already padded).

    Returns:
        (N, C_out, H - kh + 1, W - kw + 1) contiguous, in ``x``'s dtype; the row sums are
        taken in float32 for 16-bit inputs.
    """
    out_channels, in_channels, kh, kw = conv.weight.shape
    # Output channel r·C_out + c holds row r of output channel c's kernel.
    rows = conv.weight.permute(2, 0, 1, 3).reshape(kh * out_channels, in_channels, 1, kw)
    if not x.is_contiguous():
        rows = rows.contiguous(memory_format=torch.channels_last)
    partial = F.conv2d(x, rows).contiguous()  # (N, kh·C_out, H, W - kw + 1), channel-major for the sums
    n, _, height, width = partial.shape
    partial = partial.view(n, kh, out_channels, height, width)
    out_height = height - kh + 1
    accumulate = _accumulation_dtype(x.dtype)
    out = partial[:, 0, :, :out_height].to(accumulate, memory_format=torch.contiguous_format, copy=True)
    if conv.bias is not None:
        out += conv.bias.to(accumulate)[:, None, None]
    for row in range(1, kh):
        out += partial[:, row, :, row: row + out_height]
    return out.to(x.dtype)
