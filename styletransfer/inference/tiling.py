"""Tiling geometry of large images: Images larger than ``tile_pixels`` (default :func:`default_tile_pixels`: 2048×2048
px on CUDA; on the CPU and MPS, images up to 2048×2048 go through whole on a machine with 8 GiB
of memory or more, larger ones in 1024×1024 tiles) are cut into overlapping tiles that go through the
network one at a time. Each tile carries ``context`` extra pixels on every inner side, at least
half the network's receptive field (:func:`receptive_field`: 109 px for the Johnson network, so
the context is 60 px), and those pixels are thrown away; neighbouring tiles then overlap by a
further ``BLEND_PIXELS`` (32 px) where a raised-cosine ramp cross-fades them. Tiles start on
multiples of the network's total stride (4), so the stride-2 convolutions see the same pixel
grid as they would on the whole image. Memory therefore depends on the tile size, not on the
image size: the result is assembled row of tiles by row of tiles into a uint8 image, with only
one row of tiles held as float32.

For a BatchNorm network without attention every output pixel depends only on its receptive
field, so tiled and untiled results agree up to float rounding. InstanceNorm, SE and SRM compute
per-image statistics (mean and std over H×W); how tiles get them (the whole image's, by default,
or each tile's own) is :func:`~styletransfer.inference.stylize.stylize`'s ``tile_statistics``
(:mod:`~styletransfer.inference.image_statistics`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn as nn

from styletransfer.inference.blend import OutputBlend

BLEND_PIXELS = 32
"""Width in pixels of the zone where two neighbouring tiles cross-fade."""

ONE_PASS_PIXELS = 2048 * 2048
"""Largest image a CPU or MPS machine with :data:`ONE_PASS_MEMORY` stylizes whole, and CUDA's tile."""

ONE_PASS_MEMORY = 8 * 1024 ** 3
"""Machine memory (bytes) from which a CPU or MPS stylizes an image of up to 2048² pixels in one
pass: 4 megapixels need about 1.1 GB on top of the model (docs/performance.md#memory)."""


def machine_memory() -> int | None:
    """The machine's physical memory in bytes, or None where the OS does not say (Windows)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def default_tile_pixels(device: torch.device, image_pixels: int | None = None) -> int:
    """Largest image area (pixels) stylized in one pass on ``device``, for an image of
    ``image_pixels`` (None: any image). CUDA: 2048². CPU and MPS: 2048² for an image that fits
    in it on a machine with at least :data:`ONE_PASS_MEMORY`, so that a 1080p, 1440p or
    4-megapixel photo goes through whole (faster than in tiles, and exact); 1024² otherwise, so
    that a larger image's tiles keep its memory low (24 MP: about 2.4 GB instead of 3.8 GB with
    2048² tiles)."""
    if device.type == "cuda":
        return ONE_PASS_PIXELS
    fits = image_pixels is not None and image_pixels <= ONE_PASS_PIXELS
    return ONE_PASS_PIXELS if fits and (machine_memory() or 0) >= ONE_PASS_MEMORY else 1024 * 1024


def in_step_memory_budget(device: torch.device) -> int:
    """Bytes the tiles may hold between statistics blocks when they run in step
    (``tile_statistics="global"``; above it, the whole image's statistics are measured in extra
    passes instead, in the memory of one tile): a quarter of the device's memory (the GPU's on
    CUDA, the machine's elsewhere; 8 GiB assumed where the OS does not say)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // 4
    return (machine_memory() or 8 * 1024 ** 3) // 4


def receptive_field(net: nn.Module) -> tuple[int, int]:
    """Receptive field and total stride of a fully convolutional network, from its layers.

    Walks the :class:`~torch.nn.Conv2d` and :class:`~torch.nn.Upsample` layers in definition
    order (the forward order in :class:`TransformerNet`; a residual skip never widens the
    field, so the path through the convolutions is the widest). A k×k convolution widens the
    field by (k−1)·jump, where jump is the input-pixel distance between neighbouring features;
    a stride-s convolution multiplies jump by s and an s× upsampling divides it by s.

    For the Johnson network: 9×9 (+8), two stride-2 3×3 (+2, +4), ten 3×3 at jump 4 (+80),
    3×3 at jump 2 (+4), 3×3 at jump 1 (+2), 9×9 (+8): 109 px, total stride 4.

    Returns:
        ``(field, stride)``: the field's width in input pixels and the largest jump reached
        (the total down-sampling factor).
    """
    if isinstance(net, OutputBlend):  # blended styles: each member sees the same crop
        fields = [receptive_field(member) for member in net.members]
        return max(field for field, _ in fields), max(stride for _, stride in fields)
    field, jump, stride = 1.0, 1.0, 1.0
    for layer in net.modules():
        if isinstance(layer, nn.Conv2d):
            field += (layer.kernel_size[0] - 1) * layer.dilation[0] * jump
            jump *= layer.stride[0]
            stride = max(stride, jump)
        elif isinstance(layer, nn.Upsample):
            jump /= float(layer.scale_factor)
    return math.ceil(field), int(stride)


def tile_context(net: nn.Module) -> int:
    """Pixels of context each tile needs beyond the part of it that is kept: half the
    receptive field plus one stride of slack for the off-centre fields of strided and
    upsampling layers, rounded up to a multiple of the stride (60 for the Johnson network)."""
    field, stride = receptive_field(net)
    return math.ceil((math.ceil(field / 2) + stride) / stride) * stride


@dataclass(frozen=True)
class Segment:
    """One tile's extent along one axis, in pixels of the image.

    ``crop_start:crop_end`` goes through the network; ``keep_start:keep_end`` (inside it) is
    added to the result, weighted by a ramp rising over the first ``ramp_in`` pixels and falling
    over the last ``ramp_out`` pixels (0: no ramp, an image edge).
    """

    crop_start: int
    crop_end: int
    keep_start: int
    keep_end: int
    ramp_in: int
    ramp_out: int

    def weights(self) -> torch.Tensor:
        """(keep_end − keep_start,) float32 blend weights in 0..1; a falling ramp and the
        next segment's rising ramp add up to exactly 1 at every pixel."""
        weights = torch.ones(self.keep_end - self.keep_start)
        if self.ramp_in:
            weights[: self.ramp_in] = _rising_ramp(self.ramp_in)
        if self.ramp_out:
            weights[-self.ramp_out:] = 1 - _rising_ramp(self.ramp_out)
        return weights


def _rising_ramp(length: int) -> torch.Tensor:
    """Raised cosine from 0 to 1 sampled at pixel centres: w(t) + w(length − 1 − t) = 1."""
    centres = (torch.arange(length, dtype=torch.float64) + 0.5) / length
    return (0.5 - 0.5 * torch.cos(math.pi * centres)).float()


def split_axis(length: int, tile: int, context: int, stride: int, blend: int = BLEND_PIXELS) -> list[Segment]:
    """Cut an image axis of ``length`` pixels into overlapping tiles of at most ``tile`` pixels.

    Kept parts overlap by ``blend`` pixels; crops add ``context`` pixels on inner sides; every
    crop starts on a multiple of ``stride``. One segment covers the axis when it fits.

    Raises:
        ValueError: ``tile`` is too small to hold the context and blend zones.
    """
    if length <= tile:
        return [Segment(0, length, 0, length, 0, 0)]
    spacing = (tile - blend - 2 * context) // stride * stride
    if spacing < max(blend, stride):
        raise ValueError(f"tiles of {tile} px are too small for this network: they need at least "
                         f"{2 * blend + 2 * context} px per side ({context} px of context on each "
                         f"side and two {blend} px blend zones)")
    count = 1 + math.ceil((length + context - tile) / spacing)
    starts = [index * spacing for index in range(count)]
    segments = []
    for index, start in enumerate(starts):
        last = index == count - 1
        keep_end = length if last else starts[index + 1] + blend
        segments.append(Segment(
            crop_start=max(0, start - context),
            crop_end=min(length, keep_end + context),
            keep_start=start,
            keep_end=keep_end,
            ramp_in=blend if index > 0 else 0,
            ramp_out=0 if last else blend,
        ))
    return segments
