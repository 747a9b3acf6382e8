"""Whole-image statistics for tiled stylization: tiles that agree with the untiled result.

SRM, InstanceNorm and SE normalize or gate each channel by its statistics over the whole
feature map. Cut into tiles, each tile measures its own, so tiles differ in tone and the seams
can show (tile-shaped patches; measurements in docs/performance.md, "Seamless tiles"). Two ways
give every tile the statistics the whole image would give, held
(:mod:`~styletransfer.models.layers.held_norm`, momentum 0) while the tiles are stylized.

Both rest on the same sums. Block k's statistics depend on the outputs of blocks 1..k−1, so
they are found in order: every tile runs through the network up to block k (blocks before it
holding their whole-image statistics) and adds up each channel's sum and sum of squares over
the part of the tile's feature map that no other tile counts. Each tile's crop carries the
context of :func:`~styletransfer.inference.tiling.tile_context`, so those features equal the
untiled image's, and the sums are exact.

- :func:`tiles_in_step` (``tile_statistics="global"``, the default) runs all tiles together,
  one statistics block at a time, each suspended at the block until every tile has added its
  sums (:func:`_stages`). No layer runs twice, so it costs the time of tiles with their own
  statistics; every tile's features at a block are held at once, so its memory grows with the
  image (a fraction of what the untiled image would need).
- :func:`hold_image_statistics` (``"image"``) measures block k in a pass of its own that runs
  every tile up to block k and stops; the tiles are then stylized. Its memory is that of one
  tile; the price is one partial pass per block: for the Johnson network with SRM in its 5
  residual blocks, about 2.4 extra network passes over the image (the layers before block k
  cost 17 + 18.4·k thousand multiply-adds per pixel, of 154 for all of it).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Generator

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from styletransfer.inference.blend import OutputBlend
from styletransfer.models.layers.conv import ResidualBlock
from styletransfer.models.layers.held_norm import HeldStatistics, hold_statistics, statistics_blocks
from styletransfer.models.transformer import MIN_SIZE, TransformerNet


class _Measured(Exception):
    """Raised by the hook once a block's input has been measured: the rest of the pass is skipped."""


class MomentSums:
    """Running per-channel sums of x − shift and (x − shift)² and the number of positions summed.

    Each part is summed in float32 (one float32 copy, shifted as it is made, squared in place;
    channels-last maps are summed as a (positions, C) matrix) and the parts' sums are added in
    float64. The shift, a per-channel mean of a sparse sample of the first part, keeps
    E[(x − shift)²] − E[x − shift]² from cancelling when a channel's mean is large against its
    spread. Three to four times faster on a CPU than summing a float64 copy, which held the
    tiled default's time outside the network at 1080p to about 340 ms."""

    SAMPLE_STEP = 8
    """The shift is the mean over every 8th row and column of the first part."""

    def __init__(self) -> None:
        self.shift: torch.Tensor | None = None
        self.sum: torch.Tensor | None = None
        self.sum_of_squares: torch.Tensor | None = None
        self.count = 0

    def add(self, features: torch.Tensor) -> None:
        """Add (1, C, h, w) features (any float dtype, any memory format)."""
        channels = features.shape[1]
        if self.shift is None:
            sample = features[0, :, :: self.SAMPLE_STEP, :: self.SAMPLE_STEP]
            self.shift = sample.float().mean(dim=(1, 2)).view(1, channels, 1, 1)
        shifted = features - self.shift  # float32 (the shift's dtype), the features' memory format
        if shifted.is_contiguous(memory_format=torch.channels_last):
            rows = shifted.permute(0, 2, 3, 1).reshape(-1, channels)  # a view: (h·w, C)
            sums, squares = rows.sum(dim=0), rows.square_().sum(dim=0)
        else:
            sums, squares = shifted.sum(dim=(0, 2, 3)), shifted.square_().sum(dim=(0, 2, 3))
        sums, squares = sums.double(), squares.double()
        self.sum = sums if self.sum is None else self.sum + sums
        self.sum_of_squares = squares if self.sum_of_squares is None else self.sum_of_squares + squares
        self.count += features.shape[2] * features.shape[3]

    def mean_and_variance(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(C,) float32 mean and biased variance (clamped at 0)."""
        shifted_mean = self.sum / self.count
        variance = (self.sum_of_squares / self.count - shifted_mean.square()).clamp_min(0)
        return (self.shift.flatten().double() + shifted_mean).float(), variance.float()


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



class TilesInStepUnavailable(Exception):
    """:func:`tiles_in_step` cannot run this network and image in step (a module it does not
    know holds statistics blocks, a tile is too small, or the tiles would hold more memory than
    allowed): measure with :func:`hold_image_statistics` instead."""


def _holds_statistics(module: nn.Module) -> bool:
    return any(isinstance(part, HeldStatistics) for part in module.modules())


def _stages(module: nn.Module, inputs: list[torch.Tensor]
            ) -> Generator[tuple[HeldStatistics, torch.Tensor], None, torch.Tensor]:
    """``module(x)``, computed as its forward does, but suspended before each statistics block:
    the generator yields ``(block, block input)`` and, once resumed, goes on with the
    statistics the block then holds. Returns the module's output.

    ``x`` comes in a one-element list, which it is taken out of, so that no caller's frame
    keeps a tensor alive that the computation no longer needs (every suspended tile holds only
    what it needs: in a residual block, the block's input and its branch).

    Knows the modules the library's networks are built of (:class:`TransformerNet`, its
    :class:`~styletransfer.models.layers.conv.ResidualBlock`, ``nn.Sequential``, an
    :class:`~styletransfer.inference.blend.OutputBlend`); a module without statistics blocks in
    it runs as it is. Raises :class:`TilesInStepUnavailable` for anything else holding statistics.
    """
    if not _holds_statistics(module):
        return module(inputs.pop())
    if isinstance(module, HeldStatistics):
        x = inputs.pop()
        yield module, x
        return module(x)  # momentum 0 and statistics held: they are used as they are
    if isinstance(module, nn.Sequential):
        for child in module:
            inputs = [(yield from _stages(child, inputs))]
        return inputs.pop()
    if isinstance(module, ResidualBlock):
        x = inputs.pop()
        branch = [F.relu((yield from _stages(module.norm1, [module.conv1(x)])), inplace=True)]
        branch = [(yield from _stages(module.norm2, [module.conv2(branch.pop())]))]
        return x + (yield from _stages(module.attention, branch))
    if isinstance(module, TransformerNet):
        height, width = inputs[0].shape[-2:]
        if height < MIN_SIZE or width < MIN_SIZE:
            raise TilesInStepUnavailable("a tile smaller than the network's smallest input")
        for part in (module.down, module.residual, module.up, module.head):
            inputs = [(yield from _stages(part, inputs))]
        return torch.sigmoid(inputs.pop()[..., :height, :width])
    if isinstance(module, OutputBlend):
        x = inputs.pop()
        result = None
        for member, weight in zip(module.members, module.weights):
            term = (yield from _stages(member, [x])).float() * weight
            result = term if result is None else result.add_(term)
        return result
    raise TilesInStepUnavailable(f"cannot run a {type(module).__name__} stage by stage")


def _run_stages(net: nn.Module, make_input: Callable[[], torch.Tensor]
                ) -> Generator[tuple[HeldStatistics, torch.Tensor], None, torch.Tensor]:
    """:func:`_stages` on an input made only when the generator first runs."""
    return (yield from _stages(net, [make_input()]))


def tiles_in_step(net: nn.Module, tiles: tuple[list, list], size: tuple[int, int],
                  make_input: Callable[[object, object], torch.Tensor], memory_budget: int | None = None
                  ) -> Callable[[int, int], torch.Tensor] | None:
    """Stylize every tile with the whole image's statistics in one pass: the tiles advance
    together, one statistics block at a time.

    Every tile runs up to the first statistics block and stops there, holding its features; the
    parts of those features that no other tile counts (as in :func:`hold_image_statistics`)
    add up to the whole image's statistics, which the block then holds; every tile goes on to
    the next block, and so on. After the last block each tile is finished on demand, one at a
    time, so only its own full-resolution layers are in memory. No layer runs twice, so the
    time is that of tiles with their own statistics; the price is memory: every tile's
    features at a statistics block are held at once (for the Johnson network with SRM, the
    residual block's input and its branch: 8·width channels at a quarter of the resolution,
    over every tile's crop).

    Args:
        net: a prepared network (SRM folded), or an output blend of them.
        tiles: (rows, columns): the :class:`~styletransfer.inference.tiling.Segment` lists the
            image is tiled by.
        size: the image's (width, height).
        make_input: ``(row, column)`` → the network's (1, 3, h, w) input for that tile's crop.
        memory_budget: the most bytes the suspended tiles may hold, counted as twice the
            features each tile holds at a block (its input there, and a residual block's skip);
            None: no limit.

    Returns:
        None when ``net`` has no per-image statistics (then tiles are exact as they are);
        else ``finish(row_index, column_index)`` → that tile's (1, 3, h, w) output, to call
        once per tile.

    Raises:
        TilesInStepUnavailable: the network holds statistics in a module this cannot run stage by
            stage, a tile is smaller than the network's smallest input, or the tiles would hold
            more than ``memory_budget`` (the caller falls back to :func:`hold_image_statistics`);
            raised before any tile is finished.
    """
    held = hold_statistics(net, momentum=0.0)
    blocks = statistics_blocks(held)
    if not blocks:
        return None
    rows, columns = tiles
    width, height = size
    runs = {(row_index, column_index): _run_stages(held, lambda row=row, column=column: make_input(row, column))
            for row_index, row in enumerate(rows) for column_index, column in enumerate(columns)}
    try:
        for block in blocks:
            sums = MomentSums()
            held_bytes = 0
            for (row_index, column_index), run in runs.items():
                try:
                    reached, features = next(run)
                except StopIteration:
                    raise TilesInStepUnavailable("a tile ended before the network's last statistics block") from None
                if reached is not block:
                    raise TilesInStepUnavailable("a tile reached the statistics blocks in another order")
                held_bytes += 2 * features.numel() * features.element_size()
                if memory_budget is not None and held_bytes > memory_budget:
                    raise TilesInStepUnavailable(f"the tiles would hold more than {memory_budget} bytes")
                rows_span = _owned_span(rows, row_index, height, features.shape[2])
                columns_span = _owned_span(columns, column_index, width, features.shape[3])
                sums.add(features[:, :, slice(*rows_span), slice(*columns_span)])
                del features
            block.held = block.from_moments(*sums.mean_and_variance())
    except BaseException:
        for run in runs.values():
            run.close()
        raise

    def finish(row_index: int, column_index: int) -> torch.Tensor:
        run = runs.pop((row_index, column_index))
        try:
            next(run)
        except StopIteration as done:
            return done.value
        raise RuntimeError("a tile reached more statistics blocks than the network has")

    return finish


def _owned_span(segments: list, index: int, image_length: int, feature_length: int) -> tuple[int, int]:
    """Feature indices of segment ``index``'s crop that stand for the image pixels it alone
    counts: from its ``keep_start`` to the next segment's (the image's end for the last)."""
    segment = segments[index]
    end = segments[index + 1].keep_start if index + 1 < len(segments) else image_length
    return _feature_span(segment.keep_start, end, segment.crop_start, image_length,
                         segment.crop_end - segment.crop_start, feature_length)
