"""Stylize one image with a trained network: resizing, stroke size, alpha, strength, color preservation,
mixed precision and tiling of large images.

:func:`stylize` is the one entry point (the CLI and the app call it per image). Models given by
name or path are loaded, folded (:func:`~styletransfer.models.layers.attention.fold_attention`) and moved to
the device once, then cached, so repeated calls do not reload weights.

Images larger than ``tile_pixels`` go through the network in overlapping tiles
(:mod:`~styletransfer.inference.tiling`).

For a BatchNorm network without attention every output pixel depends only on its receptive
field, so tiled and untiled results agree up to float rounding. InstanceNorm, SE and SRM compute
per-image statistics (mean and std over H×W). By default (``tile_statistics="global"``) the
tiles advance through the network together and every tile uses the whole image's statistics,
so tiled equals untiled up to float rounding at the time of a plain tiled pass, holding every
tile's features at a statistics block at once; ``"image"`` measures the same statistics in
extra passes first (memory of one tile, more time); ``"tile"`` lets each tile use its own, so
tiles may differ in tone (the blend ramps soften the seams). See
:mod:`~styletransfer.inference.image_statistics`; measurements in docs/performance.md.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping

import torch
from PIL import Image

from styletransfer.core.device import pick_device, pick_precision
from styletransfer.core.images import (float_to_pixels, image_to_pixels, merge_alpha, pixels_to_image, resize_longest,
                                       scale_image, split_alpha)
from styletransfer.inference.acceleration import accelerated, check_acceleration, default_acceleration
from styletransfer.inference.blend import StyleMix, check_blend
from styletransfer.inference.image_statistics import TilesInStepUnavailable, hold_image_statistics, tiles_in_step
from styletransfer.inference.margin import check_margin, network_margin, pad_reflect
from styletransfer.inference.prepare import network_input, prepare_mix, prepare_model
from styletransfer.inference.tiling import (Segment, default_tile_pixels, in_step_memory_budget, receptive_field,
                                            split_axis, tile_context)
from styletransfer.models.transformer import TransformerNet

TILE_STATISTICS = ("global", "tile", "image")
"""How SRM, InstanceNorm and SE get their statistics on a tiled image: the whole image's, with
the tiles run in step (``"global"``, the default); each tile's own (``"tile"``); the whole
image's, measured in extra passes first (``"image"``: memory of one tile, more time)."""

DEFAULT_TILE_STATISTICS = "global"

STROKE_SCALES = (0.25, 4.0)
"""The smallest and largest ``stroke_scale``: the network sees the image at 1/S of its size."""


def check_stroke_scale(stroke_scale: float) -> float:
    """``stroke_scale`` as a float; ValueError (one line) for anything but a number in
    :data:`STROKE_SCALES`."""
    low, high = STROKE_SCALES
    try:
        value = float(stroke_scale)
    except (TypeError, ValueError):
        raise ValueError(f"stroke_scale must be a number between {low:g} and {high:g}, not {stroke_scale!r}") from None
    if not low <= value <= high:  # NaN fails too
        raise ValueError(f"stroke_scale must be between {low:g} and {high:g}, not {stroke_scale!r}")
    return value


Runner = Callable[[TransformerNet, torch.Tensor], torch.Tensor]
"""Runs a prepared network on a (N, 3, h, w) input: ``TransformerNet.__call__`` or an
:class:`~styletransfer.inference.acceleration.AcceleratedNetworks`."""


def _forward(run: Runner, net: TransformerNet, pixels: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(3, h, w) uint8 RGB pixels (on any device) → (3, h, w) RGB 0..1 stylization on ``device``
    by a prepared network, through ``run`` (the network, or an accelerated runner), in the
    network's dtype (the consumers convert once: float_to_pixels, the tiles' float32 blend)."""
    return run(net, network_input(net, pixels.unsqueeze(0), device))[0]


def _run_tiled(net: TransformerNet, rgb: Image.Image, device: torch.device, tile_pixels: int,
               run: Runner, tile_statistics: str = DEFAULT_TILE_STATISTICS) -> Image.Image:
    """Stylize an RGB image tile by tile (one tile when it fits in ``tile_pixels``).

    The image goes to ``device`` once as uint8; each tile is a slice of it, converted to the
    network's input there, run, weighted and added into a float32 accumulator (on ``device``)
    one row of tiles high; rows that no later tile touches are converted to uint8 and copied
    back into the result. Only uint8 pixels cross between the host and the device. With
    ``tile_statistics="global"`` the tiles advance through the network together and share the
    whole image's statistics (:func:`~styletransfer.inference.image_statistics.tiles_in_step`;
    they run eagerly); with ``"image"`` the network first measures the whole image's
    statistics in extra passes (:func:`~styletransfer.inference.image_statistics.hold_image_statistics`)
    and every tile uses them.
    """
    pixels = image_to_pixels(rgb)
    if device.type == "cuda":
        pixels = pixels.pin_memory()
    pixels = pixels.to(device, non_blocking=True)
    width, height = rgb.size
    if width * height <= tile_pixels:
        return _to_image(_forward(run, net, pixels, device))
    context = tile_context(net)
    _, stride = receptive_field(net)
    side = math.isqrt(tile_pixels)
    rows = split_axis(height, side, context, stride)
    columns = split_axis(width, side, context, stride)

    def crop(row: Segment, column: Segment) -> torch.Tensor:
        return pixels[:, row.crop_start: row.crop_end, column.crop_start: column.crop_end]

    finish = None
    if tile_statistics == "global":
        try:
            finish = tiles_in_step(net, (rows, columns), (width, height),
                                   lambda row, column: network_input(net, crop(row, column)[None], device),
                                   memory_budget=in_step_memory_budget(device))
        except TilesInStepUnavailable:  # a network it cannot step through, or an image too large: measure first
            tile_statistics = "image"
    if tile_statistics == "image":
        net = hold_image_statistics(net, rgb, device, (rows, columns),
                                    lambda held, part: _forward(_eager, held, image_to_pixels(part), device)[None])
    if finish is None:
        def finish(row_index: int, column_index: int) -> torch.Tensor:
            return _forward(run, net, crop(rows[row_index], columns[column_index]), device)
    else:
        def finish(row_index: int, column_index: int, stepped=finish) -> torch.Tensor:
            return stepped(row_index, column_index)[0]
    return _assemble(rows, columns, (width, height), device, finish)


def _assemble(rows: list[Segment], columns: list[Segment], size: tuple[int, int], device: torch.device,
              tile_output: Callable[[int, int], torch.Tensor]) -> Image.Image:
    """The stylized image from its tiles, asked for in row-major order: ``tile_output(row_index,
    column_index)`` → the tile's (3, h, w) output on ``device`` (any float dtype), weighted by
    the float32 blend ramps and summed in float32 one row of tiles at a time."""
    width, height = size
    result = torch.empty(3, height, width, dtype=torch.uint8)
    carried: torch.Tensor | None = None  # (3, rows, width) float32: sums for rows below this row's top
    column_weights = [column.weights().to(device) for column in columns]
    for index, row in enumerate(rows):
        accumulator = torch.zeros(3, row.keep_end - row.keep_start, width, device=device)
        if carried is not None:
            accumulator[:, : carried.shape[1]] += carried
        row_weights = row.weights().to(device)
        for column_index, (column, weights) in enumerate(zip(columns, column_weights)):
            styled = tile_output(index, column_index)
            kept = styled[:, row.keep_start - row.crop_start: row.keep_end - row.crop_start,
                          column.keep_start - column.crop_start: column.keep_end - column.crop_start]
            accumulator[:, :, column.keep_start: column.keep_end] += kept * (row_weights[:, None] * weights[None, :])
        final_rows = (rows[index + 1].keep_start if index + 1 < len(rows) else row.keep_end) - row.keep_start
        result[:, row.keep_start: row.keep_start + final_rows] = float_to_pixels(accumulator[:, :final_rows],
                                                                                 nan_error=NAN_ERROR).cpu()
        carried = accumulator[:, final_rows:]
    return pixels_to_image(result)


NAN_ERROR = "the network produced NaN values (is the model file damaged?)"
"""What :func:`stylize` raises (a ValueError) when a network's output holds a NaN."""


def _to_image(styled: torch.Tensor) -> Image.Image:
    """(3, h, w) float RGB 0..1 (any float dtype) on any device → Pillow image, converted to
    uint8 on its device."""
    return pixels_to_image(float_to_pixels(styled, nan_error=NAN_ERROR))


def _keep_colors(stylized: Image.Image, original: Image.Image) -> Image.Image:
    """Luminance transfer in YCbCr (ITU-R BT.601, as Pillow converts): Y from ``stylized``,
    Cb and Cr from ``original``; both RGB images of the same size."""
    luma = stylized.convert("YCbCr").getchannel("Y")
    _, blue_diff, red_diff = original.convert("YCbCr").split()
    return Image.merge("YCbCr", (luma, blue_diff, red_diff)).convert("RGB")


def _eager(net: TransformerNet, batch: torch.Tensor) -> torch.Tensor:
    return net(batch)


def _runner(acceleration: str) -> Runner:
    """The way a prepared network is run: plainly, or through the process-wide cache of
    accelerated runners."""
    return _eager if acceleration == "off" else accelerated(acceleration)


def stylize(
    model: TransformerNet | str | os.PathLike[str] | StyleMix | Mapping,
    image: Image.Image,
    *,
    strength: float = 1.0,
    preserve_color: bool = False,
    max_size: int | None = None,
    scale: float | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    tile_pixels: int | None = None,
    acceleration: str | None = None,
    blend: str = "output",
    tile_statistics: str = DEFAULT_TILE_STATISTICS,
    stroke_scale: float = 1.0,
    margin: int | None = None,
) -> Image.Image:
    """Stylize a Pillow image.

    Args:
        model: a :class:`TransformerNet` (used in eval mode with SRM folded; the object itself
            is not changed), or a model file path or style name (loaded once, then cached), or
            several blended: a :class:`~styletransfer.inference.blend.StyleMix` or ``{model: weight}``,
            e.g. ``{"starry_night": 0.6, "the_scream": 0.4}`` (weights are normalized).
        image: Pillow image in any mode; transparency is kept (the RGB part is stylized and
            the original alpha channel put back).
        strength: 0..1, the blend of stylized and original pixels; 0 returns the (resized)
            input unchanged without running the network, 1 the pure stylized image.
        preserve_color: keep the original colors: luminance (Y of YCbCr, BT.601) from the
            stylized image, chroma (Cb, Cr) from the original.
        max_size: shrink first so the longer side is at most this many pixels.
        scale: resize first by this factor (exclusive with ``max_size``).
        device: ``"auto"``/None, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a torch.device.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``; None picks the fastest safe one for the
            device (:func:`~styletransfer.core.device.pick_precision`); the weights are cast to it.
        tile_pixels: largest area run through the network at once; larger images are tiled
            (see the module docs). None: :func:`default_tile_pixels` for the device.
        acceleration: ``"off"``, ``"graph"`` (CUDA graphs, one per image size, cached) or
            ``"compile"``; None: ``"off"`` (see :func:`~styletransfer.inference.acceleration.default_acceleration`). See
            :mod:`styletransfer.inference.acceleration`.
        tile_statistics: how SRM/InstanceNorm/SE get their statistics on a tiled image:
            ``"global"`` (default): the whole image's, the tiles run through the network in
            step, so the tiled result equals the untiled one up to float rounding at the time
            of a plain tiled pass, but every tile's features at a statistics block are held
            at once (memory grows with the image); ``"image"``: the whole image's, measured
            tile by tile in extra passes first (the same result, the memory of one tile, more
            time); ``"tile"``: each tile its own (tiles may differ in tone). See
            :mod:`~styletransfer.inference.image_statistics` and docs/performance.md.
        stroke_scale: brush-stroke size S, 0.25..4 (:data:`STROKE_SCALES`): the network sees
            the (resized) image at 1/S of its size and its output is resized back (Lanczos),
            so the output size does not change; S > 1 gives larger strokes (and a faster
            pass), S < 1 finer ones (and a slower one). 1: the image as it is.
        blend: how a mix of styles is blended: ``"output"`` (the weighted mean of the
            stylized images) or ``"weights"`` (one network with the weighted mean of the
            weights; only for networks fine-tuned from one network); see
            :mod:`styletransfer.inference.blend`.
        margin: pixels (at the network's scale, after ``stroke_scale``) the image is mirrored
            outwards before the network and cropped after, so that a band the network draws
            along its own edges falls outside the picture (:mod:`styletransfer.inference.margin`);
            None: the margin the model file records (``border_margin``; the largest of a
            blend's), 0 where none is recorded.

    Returns:
        ``RGB`` image (``RGBA`` when the input had transparency) of the resized input's size.

    Raises:
        ValueError: bad strength, size, scale, stroke scale, tile size, device, precision,
            acceleration or margin.
        ModelFileError: ``model`` names no usable model file.
        StyleMixError: a bad mix or ``blend`` (a ValueError).
    """
    check_blend(blend)
    if tile_statistics not in TILE_STATISTICS:
        raise ValueError(f"unknown tile_statistics {tile_statistics!r}; expected one of {', '.join(TILE_STATISTICS)}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, not {strength}")
    stroke_scale = check_stroke_scale(stroke_scale)
    margin = None if margin is None else check_margin(margin)
    if max_size is not None and scale is not None:
        raise ValueError("give max_size or scale, not both")
    if tile_pixels is not None and tile_pixels < 1:
        raise ValueError(f"tile_pixels must be a positive number of pixels, not {tile_pixels}")
    torch_device = pick_device(device)
    dtype = pick_precision(torch_device, precision)
    run = _runner(check_acceleration(acceleration or default_acceleration(torch_device), torch_device))
    image = resize_longest(image, max_size) if scale is None else scale_image(image, scale)
    rgb, alpha = split_alpha(image)
    if strength == 0.0:  # a new image, never the caller's own object (merge_alpha copies one with alpha)
        return rgb.copy() if alpha is None else merge_alpha(rgb, alpha)
    if isinstance(model, (StyleMix, Mapping)):
        net = prepare_mix(model, torch_device, dtype, blend=blend)
    else:
        net = prepare_model(model, torch_device, dtype)
    seen = rgb if stroke_scale == 1.0 else scale_image(rgb, 1 / stroke_scale)
    margin = network_margin(net) if margin is None else margin
    if margin:
        width, height = seen.size
        seen = pixels_to_image(pad_reflect(image_to_pixels(seen), margin))
    with torch.inference_mode():
        tile_pixels = tile_pixels or default_tile_pixels(torch_device, seen.width * seen.height)
        stylized = _run_tiled(net, seen, torch_device, tile_pixels, run, tile_statistics)
    if margin:
        stylized = stylized.crop((margin, margin, margin + width, margin + height))
    if stylized.size != rgb.size:
        stylized = stylized.resize(rgb.size, Image.Resampling.LANCZOS)
    if preserve_color:
        stylized = _keep_colors(stylized, rgb)
    if strength < 1.0:
        stylized = Image.blend(rgb, stylized, strength)
    return merge_alpha(stylized, alpha)
