"""Temporal stability of stylized video: the flicker measure and blending with the previous
output where nothing moved.

**Flicker.** The mean absolute change between consecutive frames, over all pixels and the
three channels, in levels of 255 (:func:`frame_change`). A stylized video's flicker is that
change in its output over the same change in its input (:class:`Flicker`): 1 means the output
changes as much as the input does; a feed-forward style network typically amplifies small
input changes (codec noise, slight motion) into larger changes of its painted texture.

**Blending with the previous output** (:class:`PreviousOutputBlend`). Where the input pixel
barely changed since the previous frame, the new output is mixed with the previous output:

    motion  = mean over RGB of |input_t − input_(t−1)|, the change first averaged over a 5×5
              neighbourhood (sensor and codec noise averages out, a moving edge does not)
    still   = clamp(1 − motion / threshold, 0, 1)          # 1 where nothing moved
    output  = lerp(styled_t, output_(t−1), weight · still)

so still areas become an exponential moving average of the stylized frames (the texture stops
boiling) while moving areas take the fresh frame at once (no ghost trails). ``weight`` < 1
keeps every output within a few frames of its own input.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def frame_change(frames: Iterable[np.ndarray | torch.Tensor]) -> float:
    """Mean absolute change between consecutive frames, in levels of 255.

    Args:
        frames: uint8 arrays or tensors of one shape, e.g. (H, W, 3); at least two.

    Raises:
        ValueError: fewer than two frames, or frames of different shapes.
    """
    meter = ChangeMeter()
    for frame in frames:
        meter.add(frame)
    if meter.pairs == 0:
        raise ValueError("frame change needs at least two frames")
    return meter.mean


class ChangeMeter:
    """Running mean absolute change between consecutive uint8 frames (see :func:`frame_change`)."""

    def __init__(self) -> None:
        self.previous: torch.Tensor | None = None
        self.total = 0.0
        self.pairs = 0

    def add(self, frame: np.ndarray | torch.Tensor) -> None:
        if isinstance(frame, torch.Tensor):
            current = frame.to(torch.int16)
        else:
            current = torch.from_numpy(np.asarray(frame).astype(np.int16))  # a copy: read-only arrays are fine
        if self.previous is not None:
            if current.shape != self.previous.shape:
                raise ValueError(f"frames of different shapes: {tuple(self.previous.shape)} and {tuple(current.shape)}")
            self.total += (current - self.previous).abs().float().mean().item()
            self.pairs += 1
        self.previous = current

    @property
    def mean(self) -> float:
        """The mean change per pair of frames (0 before the second frame)."""
        return self.total / self.pairs if self.pairs else 0.0


@dataclass(frozen=True)
class Flicker:
    """How much a stylized video changes from frame to frame, relative to its input."""

    input_change: float
    """Mean absolute change between consecutive input frames, levels of 255."""
    output_change: float
    """The same for the output frames."""

    @property
    def ratio(self) -> float | None:
        """output_change / input_change: the flicker figure (lower is steadier); None for a
        still input (no change to compare with)."""
        return self.output_change / self.input_change if self.input_change > 0 else None

    def as_dict(self) -> dict[str, float | None]:
        return {"input_change": self.input_change, "output_change": self.output_change, "ratio": self.ratio}

    def __str__(self) -> str:
        ratio = "n/a (still input)" if self.ratio is None else f"{self.ratio:.2f}"
        return (f"flicker {ratio} (output changes {self.output_change:.2f} levels per frame, "
                f"input {self.input_change:.2f})")


class FlickerMeter:
    """Streams pairs of (input frame, output frame) and gives their :class:`Flicker`."""

    def __init__(self) -> None:
        self.inputs = ChangeMeter()
        self.outputs = ChangeMeter()

    def add(self, input_frame: np.ndarray | torch.Tensor, output_frame: np.ndarray | torch.Tensor) -> None:
        self.inputs.add(input_frame)
        self.outputs.add(output_frame)

    def result(self) -> Flicker:
        return Flicker(self.inputs.mean, self.outputs.mean)


def measure_flicker(inputs: Iterable[np.ndarray | torch.Tensor],
                    outputs: Iterable[np.ndarray | torch.Tensor]) -> Flicker:
    """The flicker of output frames against their input frames (uint8, any one shape each:
    input and output may differ in size).

    Raises:
        ValueError: fewer than two frames, or a different number of inputs and outputs.
    """
    inputs, outputs = list(inputs), list(outputs)
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} input frames but {len(outputs)} output frames")
    return Flicker(frame_change(inputs), frame_change(outputs))


class PreviousOutputBlend:
    """Mixes each stylized frame with the previous output where the input did not move (see
    the module docs). Stateful: give it the frames in order; :meth:`reset` between videos.

    Args:
        weight: 0..1, the previous output's share in a perfectly still pixel (0: off).
        threshold: input change (0..1 units; the 5×5 mean change, absolute, RGB mean) at and
            above which a pixel counts as moving and takes the fresh output alone.
    """

    def __init__(self, weight: float = 0.7, threshold: float = 0.04) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be between 0 and 1, not {weight}")
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"threshold must be a positive number, not {threshold}")
        self.weight = weight
        self.threshold = threshold
        self.previous_input: torch.Tensor | None = None
        self.previous_output: torch.Tensor | None = None

    def reset(self) -> None:
        self.previous_input = self.previous_output = None

    def still(self, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """(1, 1, H, W) 0..1: 1 where the input did not change between two (1, 3, H, W) frames."""
        change = F.avg_pool2d(current - previous, 5, stride=1, padding=2, count_include_pad=False)
        motion = change.abs().mean(dim=1, keepdim=True)
        return (1 - motion / self.threshold).clamp_(0, 1)

    def __call__(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) input and stylized frames (RGB 0..1, in order) → (N, 3, H, W) float32
        blended frames."""
        inputs, outputs = inputs.float(), outputs.float()
        if self.weight == 0.0:
            return outputs
        blended = torch.empty_like(outputs)
        for index in range(inputs.shape[0]):
            current, styled = inputs[index: index + 1], outputs[index: index + 1]
            if self.previous_input is None or self.previous_input.shape != current.shape:
                result = styled
            else:
                mix = self.still(self.previous_input, current) * self.weight
                result = torch.lerp(styled, self.previous_output, mix)
            blended[index: index + 1] = result
            self.previous_input, self.previous_output = current, result
        return blended
