"""A reflected margin around the image, cropped off after the network: for networks that draw a
band along their own edges.

Some networks paint a dark or light band along the edges of every output, wherever the image's
edge is, whatever the photo (measured in docs/ab/border-bands). Such a network runs on the image
mirrored outwards by ``margin`` pixels on every side, so its own edges fall in the margin, which
is cropped off: the picture keeps its size and the band is gone, at the price of the margin's
pixels.

The margin is a measured property of a network's weights: its model file records it in its
metadata as ``border_margin`` (pixels at the network's input scale, i.e. after any stroke
scaling), and :func:`~styletransfer.inference.stylize.stylize`, video files, the webcam and ONNX
export use it unless told otherwise. Networks without the entry run without a margin.
"""
from __future__ import annotations

import numbers
from typing import Any

import torch
import torch.nn as nn

BORDER_MARGIN_KEY = "border_margin"
"""The metadata entry (an int, pixels) that gives a network's margin."""

MAX_BORDER_MARGIN = 256
"""The largest margin accepted, far wider than any band measured (docs/ab/border-bands)."""


def check_margin(margin: Any, what: str = "margin") -> int:
    """``margin`` as an int of pixels; ValueError (one line) unless a whole number in 0..
    :data:`MAX_BORDER_MARGIN`."""
    problem = f"{what} must be a whole number of pixels from 0 to {MAX_BORDER_MARGIN}, not {margin!r}"
    if isinstance(margin, bool) or not isinstance(margin, (numbers.Real, str)):
        raise ValueError(problem)
    try:
        value = float(margin)
    except ValueError:
        raise ValueError(problem) from None
    if not (value.is_integer() and 0 <= value <= MAX_BORDER_MARGIN):  # NaN fails too
        raise ValueError(problem)
    return int(value)


def recorded_margin(metadata: dict[str, Any] | None) -> int:
    """The margin a model's ``metadata`` records (0 without the entry). ValueError (one line)
    for a recorded value that is not a margin."""
    if not metadata or metadata.get(BORDER_MARGIN_KEY) is None:
        return 0
    return check_margin(metadata[BORDER_MARGIN_KEY], f"the model's {BORDER_MARGIN_KEY}")


def network_margin(net: nn.Module) -> int:
    """The margin of a prepared network or blend (:func:`~styletransfer.inference.prepare.prepare_model`
    gives file-backed networks their file's metadata, and blends the largest of their members')."""
    return recorded_margin(getattr(net, "metadata", None))


def _mirrored(length: int, margin: int, device: torch.device) -> torch.Tensor:
    """Indices -margin .. length+margin-1 mirrored into 0..length-1 about the first and last
    pixel (not repeating them: numpy's ``"reflect"``), repeated as often as a margin wider than
    the image needs."""
    positions = torch.arange(-margin, length + margin, device=device)
    if length == 1:
        return torch.zeros_like(positions)
    period = 2 * (length - 1)
    positions = positions.remainder(period)
    return torch.where(positions >= length, period - positions, positions)


def pad_reflect(pixels: torch.Tensor, margin: int) -> torch.Tensor:
    """(..., H, W) → (..., H + 2·margin, W + 2·margin), mirrored outwards (any dtype, any
    margin, also wider than the image)."""
    if margin == 0:
        return pixels
    height, width = pixels.shape[-2:]
    rows = _mirrored(height, margin, pixels.device)
    columns = _mirrored(width, margin, pixels.device)
    return pixels.index_select(-2, rows).index_select(-1, columns)


def crop_margin(pixels: torch.Tensor, margin: int) -> torch.Tensor:
    """(..., H + 2·margin, W + 2·margin) → (..., H, W): the margin cut off again."""
    if margin == 0:
        return pixels
    return pixels[..., margin: pixels.shape[-2] - margin, margin: pixels.shape[-1] - margin]


class WithMargin(nn.Module):
    """A network run with a reflected margin: (N, 3, H, W) in, (N, 3, H, W) out. For ONNX
    export, where the margin has to be part of the graph (there ``F.pad``'s reflection, which
    needs H and W larger than the margin)."""

    def __init__(self, net: nn.Module, margin: int):
        super().__init__()
        self.net = net
        self.margin = check_margin(margin)
        # In the network's mode: torch.onnx.export puts a module back in the mode it found it in,
        # and a wrapper left in training mode would switch the (cached) network to training too.
        self.train(net.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.margin
        padded = torch.nn.functional.pad(x, (m, m, m, m), mode="reflect")
        return self.net(padded)[..., m: m + x.shape[-2], m: m + x.shape[-1]]
