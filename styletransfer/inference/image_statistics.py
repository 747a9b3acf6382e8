"""Whole-image statistics for tiled stylization: tiles that agree with the untiled result.

SRM, InstanceNorm and SE normalize or gate each channel by its statistics over the whole
feature map. Cut into tiles, each tile measures its own, so tiles differ in tone and the seams
can show (measured: a 2304×1728 photo in 1024² tiles with starry_night differs from the untiled
result by a mean of 15.3 levels of 255, up to 207, with tile-shaped patches in the sky; with
the whole image's statistics by at most 1 level). :func:`hold_image_statistics`
measures the statistics the whole image would give, tile by tile, and holds them
(:mod:`~styletransfer.models.layers.held_norm`, momentum 0) for the tiles that are then stylized.

Block k's statistics depend on the outputs of blocks 1..k−1, so they are measured in order:
pass k runs every tile through the network up to block k (blocks before it holding their
measured whole-image statistics) and adds up each channel's sum and sum of squares over the
part of the tile's feature map that no other tile counts, then stops. Each tile's crop carries
the context of :func:`~styletransfer.inference.stylize.tile_context`, so those features equal the
untiled image's, and the sums are exact. The price is one partial pass per block: for the
Johnson network with SRM in its 5 residual blocks, about 2.4 extra network passes over the
image (the network's layers before block k cost 17 + 18.4·k thousand multiply-adds per pixel,
of 154 for all of it); measured on the 2-core CPU, 82.5 s instead of 28.5 s for that photo.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn
from PIL import Image

from styletransfer.models.layers.held_norm import hold_statistics, statistics_blocks


class _Measured(Exception):
    """Raised by the hook once a block's input has been measured: the rest of the pass is skipped."""


class MomentSums:
    """Running per-channel sums of x and x² (float64) and the number of positions summed."""

    def __init__(self) -> None:
        self.sum: torch.Tensor | None = None
        self.sum_of_squares: torch.Tensor | None = None
        self.count = 0

    def add(self, features: torch.Tensor) -> None:
        """Add (1, C, h, w) features (any dtype)."""
        flat = features[0].flatten(1).double()
        sums, squares = flat.sum(dim=1), flat.square().sum(dim=1)
        self.sum = sums if self.sum is None else self.sum + sums
        self.sum_of_squares = squares if self.sum_of_squares is None else self.sum_of_squares + squares
        self.count += flat.shape[1]

    def mean_and_variance(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(C,) float32 mean and biased variance (clamped at 0)."""
        mean = self.sum / self.count
        variance = (self.sum_of_squares / self.count - mean.square()).clamp_min(0)
        return mean.float(), variance.float()


def _feature_span(start: int, end: int, crop_start: int, image_length: int, crop_length: int,
                  feature_length: int) -> tuple[int, int]:
    """Feature indices [first, last) of a (crop_length → feature_length) map that stand for the
    image pixels [start, end) of a crop starting at ``crop_start``. Pixel offsets inside a crop
    are multiples of the network's stride except at the image's far edge, where the span runs
    to the end of the map."""
    scale = crop_length / feature_length
    step = 2 ** round(math.log2(scale)) if scale >= 1 else 1 / 2 ** round(math.log2(1 / scale))
    first = math.ceil((start - crop_start) / step)
    last = feature_length if end >= image_length else math.ceil((end - crop_start) / step)
    return first, last


def hold_image_statistics(net: nn.Module, rgb: Image.Image, device: torch.device,
                          tiles: tuple[list, list], forward: Callable[[nn.Module, Image.Image], torch.Tensor]
                          ) -> nn.Module:
    """A copy of ``net`` whose statistics blocks hold the whole image's statistics.

    Args:
        net: a prepared network (SRM folded).
        rgb: the whole RGB image.
        device: where the network runs.
        tiles: (rows, columns): the :class:`~styletransfer.inference.stylize.Segment` lists the image is
            tiled by.
        forward: runs a network on a Pillow crop (as the tiled stylization does).

    Returns:
        ``net`` itself when it has no per-image statistics (tiling is already exact), else a
        copy from :func:`~styletransfer.models.layers.held_norm.hold_statistics` with momentum 0 and
        every block's statistics set.
    """
    held = hold_statistics(net, momentum=0.0)
    blocks = statistics_blocks(held)
    if not blocks:
        return net
    rows, columns = tiles
    width, height = rgb.size
    for block in blocks:
        sums = MomentSums()
        span: dict[str, tuple[int, int, int, int]] = {}

        def measure(_: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            features = args[0]
            top, bottom = _feature_span(*span["rows"][:2], span["rows"][2], height, span["rows"][3],
                                        features.shape[2])
            left, right = _feature_span(*span["columns"][:2], span["columns"][2], width, span["columns"][3],
                                        features.shape[3])
            sums.add(features[:, :, top:bottom, left:right])
            raise _Measured

        hook = block.register_forward_pre_hook(measure)
        try:
            for row_index, row in enumerate(rows):
                row_end = rows[row_index + 1].keep_start if row_index + 1 < len(rows) else height
                span["rows"] = (row.keep_start, row_end, row.crop_start, row.crop_end - row.crop_start)
                for column_index, column in enumerate(columns):
                    column_end = columns[column_index + 1].keep_start if column_index + 1 < len(columns) else width
                    span["columns"] = (column.keep_start, column_end, column.crop_start,
                                       column.crop_end - column.crop_start)
                    crop = rgb.crop((column.crop_start, row.crop_start, column.crop_end, row.crop_end))
                    try:
                        forward(held, crop)
                    except _Measured:
                        pass
        finally:
            hook.remove()
        block.held = block.from_moments(*sums.mean_and_variance()).to(device)
    return held

