"""Networks ready for inference: folded (attention and BatchNorm into the layers before them),
cast to the precision, in the device's memory format; model files loaded once and cached by
path and modification time; blends of styles (:class:`~styletransfer.inference.blend.StyleMix`)
prepared the same way."""
from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

from styletransfer.core.images import pixels_to_float
from styletransfer.inference.blend import OutputBlend, StyleMix, check_blend, interpolate_networks, model_label
from styletransfer.inference.margin import BORDER_MARGIN_KEY, network_margin, recorded_margin
from styletransfer.modelfiles.catalogue import load_model, read_metadata, resolve_model_path
from styletransfer.models.folding import fold_for_inference
from styletransfer.models.transformer import TransformerNet

_MODEL_CACHE_SIZE = 8


def inference_memory_format(device: torch.device) -> torch.memory_format:
    """The layout :func:`prepare_model` gives the weights: channels-last on the CPU and CUDA
    (measured faster on the CPU too: docs/performance.md), contiguous elsewhere."""
    return torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format


def _for_inference(net: TransformerNet, device: torch.device, dtype: torch.dtype) -> TransformerNet:
    """An eval copy with SRM and BatchNorm folded, its weights in ``dtype`` on ``device``, in
    :func:`inference_memory_format`."""
    prepared = fold_for_inference(net).to(device, dtype)
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
            :class:`~styletransfer.inference.blend.StyleMix` or ``{model: weight}`` (see
            :func:`prepare_mix`).
        blend: for a mix, ``"output"`` or ``"weights"`` (see :mod:`styletransfer.inference.blend`).

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
        batch = pixels_to_float(batch.to(device, non_blocking=True), weight.dtype)
    batch = batch.to(device, weight.dtype)
    if not weight.is_contiguous():  # channels-last weights
        batch = batch.contiguous(memory_format=torch.channels_last)
    return batch


def prepare_mix(mix: StyleMix | Mapping, device: torch.device, dtype: torch.dtype = torch.float32, *,
                blend: str = "output") -> nn.Module:
    """A blend of styles ready for inference, with ``.metadata`` (``name``: the mix's label,
    ``path``: None, ``blend``, ``border_margin``: the largest of the members',
    :mod:`styletransfer.inference.margin`).

    A mix of one style is that style's prepared network. ``"output"``: an
    :class:`~styletransfer.inference.blend.OutputBlend` of the members prepared as by
    :func:`prepare_model` (cached per file). ``"weights"``: the members' weights interpolated
    (:func:`~styletransfer.inference.blend.interpolate_networks`) before SRM and BatchNorm are folded;
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
    prepared.metadata = {"name": mix.label, "path": None, "blend": blend,
                         BORDER_MARGIN_KEY: max(_member_margin(model) for model in mix.models)}
    return prepared


def _member_margin(model: TransformerNet | str | os.PathLike[str]) -> int:
    """The border margin a blend's member records (a network's ``.metadata``, a file's header)."""
    return network_margin(model) if isinstance(model, nn.Module) else recorded_margin(read_metadata(model))


@functools.lru_cache(maxsize=_MODEL_CACHE_SIZE)
def _load_interpolated(files: tuple[tuple[str, int], ...], weights: tuple[float, ...], device: torch.device,
                       dtype: torch.dtype) -> TransformerNet:
    """Model files ((path, modification time) pairs) interpolated in weight space and prepared."""
    networks = [load_model(path) for path, _ in files]
    return _for_inference(interpolate_networks(networks, weights, [Path(path).stem for path, _ in files]),
                          device, dtype)
