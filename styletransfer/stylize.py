"""Stylize one image with a trained network: resizing, alpha, strength, color preservation,
mixed precision and tiling of large images.

:func:`stylize` is the one entry point (the CLI and the app call it per image). Models given by
name or path are loaded, folded (:func:`~styletransfer.attention.fold_attention`) and moved to
the device once, then cached, so repeated calls do not reload weights.

**Tiling.** Images larger than ``tile_pixels`` (default :func:`default_tile_pixels`: 1024×1024
px on the CPU and MPS, 2048×2048 px on CUDA) are cut into overlapping tiles that go through the
network one at a time. Each tile carries ``context`` extra pixels on every inner side, at least
half the network's receptive field (:func:`receptive_field`: 109 px for the Johnson network, so
the context is 60 px), and those pixels are thrown away; neighbouring tiles then overlap by a
further ``BLEND_PIXELS`` (32 px) where a raised-cosine ramp cross-fades them. Tiles start on
multiples of the network's total stride (4), so the stride-2 convolutions see the same pixel
grid as they would on the whole image. Memory therefore depends on the tile size, not on the
image size: the result is assembled row of tiles by row of tiles into a uint8 image, with only
one row of tiles held as float32.

For a BatchNorm network without attention (or with attention and no tiling) every output pixel
depends only on its receptive field, so tiled and untiled results agree up to float rounding.
InstanceNorm, SE and SRM compute per-image statistics (mean and std over H×W): on a tiled image
each tile gets its own statistics, so tiles may differ in tone; the blend ramps soften the
seams. ``tile_statistics="image"`` measures the whole image's statistics first, tile by tile,
and every tile uses them, so tiled equals untiled up to float rounding
(:mod:`~styletransfer.tiled_statistics`; about 2.8× the time of a tiled pass).
"""
from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from PIL import Image

from .attention import fold_attention
from .blend import OutputBlend, StyleMix, check_blend, interpolate_networks, model_label
from .device import pick_device, pick_precision
from .acceleration import accelerated, check_acceleration, default_acceleration
from .images import (float_to_pixels, image_to_pixels, merge_alpha, pixels_to_float, pixels_to_image, resize_longest,
                     scale_image, split_alpha)
from .io import atomic_path
from .modelfile import load_model, resolve_model_path
from .network import TransformerNet, fold_batchnorm
from .tiled_statistics import hold_image_statistics

BLEND_PIXELS = 32
"""Width in pixels of the zone where two neighbouring tiles cross-fade."""
TILE_STATISTICS = ("tile", "image")
"""Whose statistics SRM/InstanceNorm use on a tiled image: each tile's own, or the whole image's."""

_MODEL_CACHE_SIZE = 8

Runner = Callable[[TransformerNet, torch.Tensor], torch.Tensor]
"""Runs a prepared network on a (N, 3, h, w) input: ``TransformerNet.__call__`` or an
:class:`~styletransfer.acceleration.AcceleratedNetworks`."""


def default_tile_pixels(device: torch.device) -> int:
    """Largest image area (pixels) stylized in one pass on ``device``: 2048² on CUDA (about
    2 GB of fp16 activations), 1024² elsewhere (about 1 GB of activations on the CPU)."""
    return 2048 * 2048 if device.type == "cuda" else 1024 * 1024


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


def inference_memory_format(device: torch.device) -> torch.memory_format:
    """The layout :func:`prepare_model` gives the weights: channels-last on the CPU and CUDA
    (measured faster on the CPU too, see the README), contiguous elsewhere."""
    return torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format


def _for_inference(net: TransformerNet, device: torch.device, dtype: torch.dtype) -> TransformerNet:
    """An eval copy with SRM and BatchNorm folded, its weights in ``dtype`` on ``device``, in
    :func:`inference_memory_format`."""
    prepared = fold_batchnorm(fold_attention(net)).to(device, dtype)
    return prepared.to(memory_format=inference_memory_format(device))


@functools.lru_cache(maxsize=_MODEL_CACHE_SIZE)
def _load_prepared(path: str, modified_ns: int, device: torch.device, dtype: torch.dtype) -> TransformerNet:
    """A model file loaded and prepared for inference. Cached by path, modification time,
    device and dtype: a rewritten file is loaded afresh."""
    loaded = load_model(path)
    prepared = _for_inference(loaded, device, dtype)
    prepared.metadata = loaded.metadata
    return prepared


def prepare_model(model: TransformerNet | str | os.PathLike[str] | StyleMix | Mapping, device: torch.device,
                  dtype: torch.dtype = torch.float32, *, blend: str = "output") -> TransformerNet:
    """The network ready for inference on ``device`` in ``dtype``: eval mode, SRM and
    BatchNorm folded into the layers before them, weights cast (no autocast needed).

    Args:
        model: a network (prepared afresh on every call: it may still be training, and
            folding copies 1.7 M weights, a few milliseconds) or a model file path / style name
            (loaded once and cached, with its ``.metadata``), or a blend of styles: a
            :class:`~styletransfer.blend.StyleMix` or ``{model: weight}`` (see
            :func:`prepare_mix`).
        blend: for a mix, ``"output"`` or ``"weights"`` (see :mod:`styletransfer.blend`).

    Raises:
        ModelFileError: no such model, or an unreadable model file.
        StyleMixError: bad weights, or a weight-space blend of different architectures.
    """
    if isinstance(model, (StyleMix, Mapping)):
        return prepare_mix(model, device, dtype, blend=blend)
    if isinstance(model, nn.Module):
        return _for_inference(model, device, dtype)
    path = resolve_model_path(model).resolve()
    return _load_prepared(str(path), path.stat().st_mtime_ns, device, dtype)


def network_input(net: TransformerNet, batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A (N, 3, h, w) RGB batch on ``device`` in the dtype and memory format of a prepared
    network's weights (see :func:`prepare_model`). ``batch`` is float in 0..1, or uint8 in
    0..255: then it travels as uint8 (a quarter of the bytes) and is converted on ``device``."""
    weight = next(net.parameters())
    if batch.dtype == torch.uint8:
        batch = pixels_to_float(batch.to(device, non_blocking=True))
    batch = batch.to(device, weight.dtype)
    if not weight.is_contiguous():  # channels-last weights
        batch = batch.contiguous(memory_format=torch.channels_last)
    return batch


def _forward(run: Runner, net: TransformerNet, pixels: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(3, h, w) uint8 RGB pixels (on any device) → (3, h, w) float32 RGB 0..1 stylization on
    ``device`` by a prepared network, through ``run`` (the network, or an accelerated runner)."""
    return run(net, network_input(net, pixels.unsqueeze(0), device))[0].float()


def _run_tiled(net: TransformerNet, rgb: Image.Image, device: torch.device, tile_pixels: int,
               run: Runner, tile_statistics: str = "tile") -> Image.Image:
    """Stylize an RGB image tile by tile (one tile when it fits in ``tile_pixels``).

    The image goes to ``device`` once as uint8; each tile is a slice of it, converted to the
    network's input there, run, weighted and added into a float32 accumulator (on ``device``)
    one row of tiles high; rows that no later tile touches are converted to uint8 and copied
    back into the result. Only uint8 pixels cross between the host and the device. With
    ``tile_statistics="image"`` the network first measures the whole image's statistics
    (:mod:`~styletransfer.tiled_statistics`) and every tile uses them.
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
    result = torch.empty(3, height, width, dtype=torch.uint8)
    carried: torch.Tensor | None = None  # (3, rows, width) float32: sums for rows below this row's top
    side = math.isqrt(tile_pixels)
    rows = split_axis(height, side, context, stride)
    columns = split_axis(width, side, context, stride)
    column_weights = [column.weights().to(device) for column in columns]
    if tile_statistics == "image":
        net = hold_image_statistics(net, rgb, device, (rows, columns),
                                    lambda held, crop: _forward(_eager, held, image_to_pixels(crop), device)[None])
    for index, row in enumerate(rows):
        accumulator = torch.zeros(3, row.keep_end - row.keep_start, width, device=device)
        if carried is not None:
            accumulator[:, : carried.shape[1]] += carried
        row_weights = row.weights().to(device)
        for column, weights in zip(columns, column_weights):
            tile = pixels[:, row.crop_start: row.crop_end, column.crop_start: column.crop_end]
            styled = _forward(run, net, tile, device)
            kept = styled[:, row.keep_start - row.crop_start: row.keep_end - row.crop_start,
                          column.keep_start - column.crop_start: column.keep_end - column.crop_start]
            accumulator[:, :, column.keep_start: column.keep_end] += kept * (row_weights[:, None] * weights[None, :])
        final_rows = (rows[index + 1].keep_start if index + 1 < len(rows) else row.keep_end) - row.keep_start
        _check_finite(accumulator[:, :final_rows])
        result[:, row.keep_start: row.keep_start + final_rows] = float_to_pixels(accumulator[:, :final_rows]).cpu()
        carried = accumulator[:, final_rows:]
    return pixels_to_image(result)


def _check_finite(styled: torch.Tensor) -> None:
    if torch.isnan(styled).any():
        raise ValueError("the network produced NaN values (is the model file damaged?)")


def _to_image(styled: torch.Tensor) -> Image.Image:
    """(3, h, w) float RGB 0..1 on any device → Pillow image, converted to uint8 on its device."""
    _check_finite(styled)
    return pixels_to_image(float_to_pixels(styled))


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
    tile_statistics: str = "tile",
) -> Image.Image:
    """Stylize a Pillow image.

    Args:
        model: a :class:`TransformerNet` (used in eval mode with SRM folded; the object itself
            is not changed), or a model file path or style name (loaded once, then cached), or
            several blended: a :class:`~styletransfer.blend.StyleMix` or ``{model: weight}``,
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
            device (:func:`~styletransfer.device.pick_precision`); the weights are cast to it.
        tile_pixels: largest area run through the network at once; larger images are tiled
            (see the module docs). None: :func:`default_tile_pixels` for the device.
        acceleration: ``"off"``, ``"graph"`` (CUDA graphs, one per image size, cached) or
            ``"compile"``; None: ``"off"`` (see :func:`~styletransfer.acceleration.default_acceleration`). See
            :mod:`styletransfer.acceleration`.
        tile_statistics: ``"tile"``: each tile uses its own SRM/InstanceNorm statistics (fast;
            tiles may differ slightly in tone); ``"image"``: the whole image's statistics are
            measured first, tile by tile, and every tile uses them, so the tiled result equals
            the untiled one up to float rounding (slower: about 2.4 extra passes for SRM in
            5 residual blocks, measured 2.8× the time); see :mod:`~styletransfer.tiled_statistics`.
        blend: how a mix of styles is blended: ``"output"`` (the weighted mean of the
            stylized images) or ``"weights"`` (one network with the weighted mean of the
            weights; only for networks fine-tuned from one network); see
            :mod:`styletransfer.blend`.

    Returns:
        ``RGB`` image (``RGBA`` when the input had transparency) of the resized input's size.

    Raises:
        ValueError: bad strength, size, scale, tile size, device, precision or acceleration.
        ModelFileError: ``model`` names no usable model file.
        StyleMixError: a bad mix or ``blend`` (a ValueError).
    """
    check_blend(blend)
    if tile_statistics not in TILE_STATISTICS:
        raise ValueError(f"unknown tile_statistics {tile_statistics!r}; expected one of {', '.join(TILE_STATISTICS)}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, not {strength}")
    if max_size is not None and scale is not None:
        raise ValueError("give max_size or scale, not both")
    if tile_pixels is not None and tile_pixels < 1:
        raise ValueError(f"tile_pixels must be a positive number of pixels, not {tile_pixels}")
    torch_device = pick_device(device)
    dtype = pick_precision(torch_device, precision)
    run = _runner(check_acceleration(acceleration or default_acceleration(torch_device), torch_device))
    image = resize_longest(image, max_size) if scale is None else scale_image(image, scale)
    rgb, alpha = split_alpha(image)
    if strength == 0.0:
        return merge_alpha(rgb, alpha)
    if isinstance(model, (StyleMix, Mapping)):
        net = prepare_mix(model, torch_device, dtype, blend=blend)
    else:
        net = prepare_model(model, torch_device, dtype)
    with torch.inference_mode():
        stylized = _run_tiled(net, rgb, torch_device, tile_pixels or default_tile_pixels(torch_device), run,
                              tile_statistics)
    if preserve_color:
        stylized = _keep_colors(stylized, rgb)
    if strength < 1.0:
        stylized = Image.blend(rgb, stylized, strength)
    return merge_alpha(stylized, alpha)


# ---------------------------------------------------------------------------------------------
# Blended styles (see styletransfer.blend)
# ---------------------------------------------------------------------------------------------

def prepare_mix(mix: StyleMix | Mapping, device: torch.device, dtype: torch.dtype = torch.float32, *,
                blend: str = "output") -> nn.Module:
    """A blend of styles ready for inference, with ``.metadata`` (``name``: the mix's label,
    ``path``: None, ``blend``).

    A mix of one style is that style's prepared network. ``"output"``: an
    :class:`~styletransfer.blend.OutputBlend` of the members prepared as by
    :func:`prepare_model` (cached per file). ``"weights"``: the members' weights interpolated
    (:func:`~styletransfer.blend.interpolate_networks`) before SRM and BatchNorm are folded;
    cached when every member is a file.

    Raises:
        ModelFileError: a member names no usable model file.
        StyleMixError: bad weights, or a weight-space blend of different architectures.
    """
    mix = mix if isinstance(mix, StyleMix) else StyleMix.from_weights(mix)
    check_blend(blend)
    if len(mix.parts) == 1:
        return prepare_model(mix.models[0], device, dtype)
    if blend == "output":
        prepared: nn.Module = OutputBlend([prepare_model(model, device, dtype) for model in mix.models], mix.weights)
    elif any(isinstance(model, nn.Module) for model in mix.models):
        networks = [model if isinstance(model, nn.Module) else load_model(model) for model in mix.models]
        prepared = _for_inference(interpolate_networks(networks, mix.weights, [model_label(m) for m in mix.models]),
                                  device, dtype)
    else:
        paths = [resolve_model_path(model).resolve() for model in mix.models]
        files = tuple((str(path), path.stat().st_mtime_ns) for path in paths)
        prepared = _load_interpolated(files, tuple(mix.weights), device, dtype)
    prepared.metadata = {"name": mix.label, "path": None, "blend": blend}
    return prepared


@functools.lru_cache(maxsize=_MODEL_CACHE_SIZE)
def _load_interpolated(files: tuple[tuple[str, int], ...], weights: tuple[float, ...], device: torch.device,
                       dtype: torch.dtype) -> TransformerNet:
    """Model files ((path, modification time) pairs) interpolated in weight space and prepared."""
    networks = [load_model(path) for path, _ in files]
    return _for_inference(interpolate_networks(networks, weights, [Path(path).stem for path, _ in files]),
                          device, dtype)


def export_onnx(model: TransformerNet | str | os.PathLike[str], path: str | os.PathLike[str], *,
                opset: int = 17) -> Path:
    """Write the network, SRM folded, as an ONNX file with dynamic batch, height and width.

    The graph takes ``image`` (N, 3, H, W) float32 RGB 0..1 and returns ``stylized`` of the
    same shape and range. H and W must be at least 8 px: the network's edge padding of
    smaller inputs is a Python branch that tracing fixes to the not-taken side. The file is
    written under a temporary name and renamed, so ``path`` never holds half a model.

    Raises:
        ModelFileError: ``model`` names no usable model file.
        OSError: ``path`` cannot be written.
    """
    net = prepare_model(model, torch.device("cpu"))
    path = Path(path)
    axes = {0: "batch", 2: "height", 3: "width"}
    with atomic_path(path) as partial:
        with warnings.catch_warnings():
            # The TorchScript exporter (the torch.export one needs onnxscript) warns that it is
            # deprecated and that the small-input branch is traced as a constant (see above).
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.rand(1, 3, 64, 64),), str(partial), dynamo=False,
                              input_names=["image"], output_names=["stylized"],
                              dynamic_axes={"image": axes, "stylized": axes}, opset_version=opset)
    return path
