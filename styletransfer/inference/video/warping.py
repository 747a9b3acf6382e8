"""The warping error: temporal consistency as the field measures it (Lai et al. 2018, "Learning
Blind Video Temporal Consistency"), with OpenCV's DIS optical flow, which needs no download.

**Definition.** For each measured pair of consecutive frames (t−1, t):

1. The optical flow is computed between the *input* frames, converted to grayscale (OpenCV's
   BT.601 weights) at the output's resolution (the input is resized with area averaging when
   the sizes differ), with DIS (``cv2.DISOpticalFlow_create``, the MEDIUM preset), both ways:
   ``b = F(t→t−1)``, with ``input_t(x) ≈ input_(t−1)(x + b(x))``, and ``f = F(t−1→t)``.
2. **Occlusion** (Sundaram et al. 2010, as Lai et al. use it): a pixel x of frame t is
   occluded where the two flows disagree,

       |b(x) + f(x + b(x))|² > 0.01 (|b(x)|² + |f(x + b(x))|²) + 0.5     (pixels²)

   (``f`` sampled bilinearly at x + b(x)), or where x + b(x) falls outside frame t−1 (content
   that entered the picture). With ``motion_boundaries`` also where
   ``|∇b_x|² + |∇b_y|² > 0.01 |b|² + 0.002`` (central differences), as Lai et al. do; off by
   default (see docs/video.md).
3. The previous *output* frame is warped backward onto frame t with ``cv2.remap`` (bilinear,
   border replicate): ``warped(x) = output_(t−1)(x + b(x))``.
4. The pair's error is the mean over the non-occluded pixels and the three channels of
   ``(output_t − warped)²``, on RGB in 0..1 (Lai et al.'s mean squared error). A pair with no
   non-occluded pixel (a scene cut) is left out.

The warping error is the mean of the pairs' errors. The same measure on the input frames
(``input_(t−1)`` warped by the same flow, against ``input_t``) is reported beside it: the floor
set by the flow's errors, the codec and lighting changes, against which the output's figure is
read (:attr:`WarpingError.ratio`).

Lai et al. warp frame t onto t−1 with the flow t−1→t, and (when a pair has no visible pixel)
average over every pixel; this module warps t−1 onto t, as stylizing a stream does, and skips
such pairs. The measure is otherwise theirs; their figures used FlowNet2, so the absolute values
are not comparable across flow methods, only within one.

**Cost.** Two flows and three remaps per measured pair; ``every`` measures only the pairs
(t−1, t) with t a multiple of ``every``, an unbiased sample of the same mean.

OpenCV is an optional dependency (``pip install opencv-python-headless``, or the ``flow`` extra);
it is imported only when a warping error is asked for.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import torch

from styletransfer.errors import MissingDependencyError

OCCLUSION_RELATIVE = 0.01
"""Forward–backward disagreement allowed per unit of the flows' squared length."""
OCCLUSION_ABSOLUTE = 0.5
"""Forward–backward disagreement always allowed, pixels²."""
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002
"""The motion-boundary test's constants (``motion_boundaries=True``)."""


def import_cv2() -> ModuleType:
    """The ``cv2`` module (OpenCV).

    Raises:
        MissingDependencyError: OpenCV is not installed (one line with the pip command).
    """
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError("the warping error", "cv2", "opencv-python-headless") from None
    return cv2


def _uint8(frame: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(frame, torch.Tensor):
        frame = frame.cpu().numpy()
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frames must be (H, W, 3) uint8 RGB, not {frame.shape} {frame.dtype}")
    return np.ascontiguousarray(frame)


class FlowMeasure:
    """The flows, occlusion mask and warp of the module docs, for one size of frames at a time.

    Args:
        motion_boundaries: also count motion boundaries as occluded.
    """

    def __init__(self, *, motion_boundaries: bool = False) -> None:
        self.cv2 = import_cv2()
        self.dis = self.cv2.DISOpticalFlow_create(self.cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.motion_boundaries = motion_boundaries
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def grid(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        if self._grid is None or self._grid[0].shape != (height, width):
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
            self._grid = (xs, ys)
        return self._grid

    def gray(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(H, W, 3) uint8 RGB → grayscale uint8 at ``size`` (width, height)."""
        if (frame.shape[1], frame.shape[0]) != size:
            frame = self.cv2.resize(frame, size, interpolation=self.cv2.INTER_AREA)
        return np.ascontiguousarray(self.cv2.cvtColor(frame, self.cv2.COLOR_RGB2GRAY))

    def flow(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """(H, W, 2) float32 flow with ``source(x) ≈ target(x + flow(x))`` (grayscale uint8)."""
        return self.dis.calc(source, target, None)

    def sample(self, image: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """``image`` at the positions ``maps`` (x, y): bilinear, border replicate."""
        return self.cv2.remap(image, maps[0], maps[1], self.cv2.INTER_LINEAR, borderMode=self.cv2.BORDER_REPLICATE)

    def visible(self, back: np.ndarray, forward: np.ndarray) -> np.ndarray:
        """(H, W) bool, True where a pixel of frame t is not occluded, from ``back`` (t→t−1) and
        ``forward`` (t−1→t) flows."""
        height, width = back.shape[:2]
        xs, ys = self.grid(height, width)
        maps = (xs + back[..., 0], ys + back[..., 1])
        forward_there = self.sample(forward, maps)
        disagreement = np.square(back + forward_there).sum(axis=2)
        lengths = np.square(back).sum(axis=2) + np.square(forward_there).sum(axis=2)
        occluded = disagreement > OCCLUSION_RELATIVE * lengths + OCCLUSION_ABSOLUTE
        occluded |= (maps[0] < 0) | (maps[0] > width - 1) | (maps[1] < 0) | (maps[1] > height - 1)
        if self.motion_boundaries:
            gradient = sum(np.square(np.gradient(back[..., channel])).sum(axis=0) for channel in range(2))
            occluded |= gradient > BOUNDARY_RELATIVE * np.square(back).sum(axis=2) + BOUNDARY_ABSOLUTE
        return ~occluded

    def pair(self, inputs: tuple[np.ndarray, np.ndarray],
             outputs: tuple[np.ndarray, np.ndarray]) -> tuple[float, float, float] | None:
        """(output error, input error, visible share) of one pair of (previous, current) uint8
        RGB frames; None when no pixel is visible."""
        height, width = outputs[1].shape[:2]
        previous, current = (self.gray(frame, (width, height)) for frame in inputs)
        back, forward = self.flow(current, previous), self.flow(previous, current)
        visible = self.visible(back, forward)
        count = int(visible.sum())
        if count == 0:
            return None
        xs, ys = self.grid(height, width)
        maps = (xs + back[..., 0], ys + back[..., 1])

        def error(before: np.ndarray, after: np.ndarray) -> float:
            warped = self.sample(before.astype(np.float32) / 255, maps)
            difference = (after.astype(np.float32) / 255 - warped)[visible]
            return float(np.square(difference, dtype=np.float64).sum() / (3 * count))

        if (inputs[1].shape[1], inputs[1].shape[0]) != (width, height):
            inputs = tuple(self.cv2.resize(frame, (width, height), interpolation=self.cv2.INTER_AREA)
                           for frame in inputs)
        return error(*outputs), error(*inputs), count / visible.size


@dataclass(frozen=True)
class WarpingError:
    """A video's warping error and its input's (see the module docs)."""

    output: float
    """Mean squared error (RGB 0..1) between each output frame and the previous one warped onto
    it, over non-occluded pixels; lower is steadier."""
    input: float
    """The same for the input frames: the floor the output is read against."""
    pairs: int
    """Frame pairs measured."""
    visible: float
    """Mean share of non-occluded pixels in the measured pairs."""
    seconds: float = 0.0
    """Wall time spent measuring (the flows, masks and warps)."""

    @property
    def ratio(self) -> float | None:
        """output / input; None when the input's error is 0."""
        return self.output / self.input if self.input > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {"output": self.output, "input": self.input, "ratio": self.ratio, "pairs": self.pairs,
                "visible": self.visible, "seconds": self.seconds}

    def __str__(self) -> str:
        ratio = "" if self.ratio is None else f", {self.ratio:.1f}× the input's"
        return f"warping error {self.output:.3g} (input {self.input:.3g}{ratio}; {self.pairs} pairs)"


class WarpingMeter:
    """Streams pairs of (input frame, output frame), in order, and gives their
    :class:`WarpingError`.

    Args:
        every: measure the pairs (t−1, t) whose t is a multiple of this (1: every pair).
        motion_boundaries: also count motion boundaries as occluded.

    Raises:
        MissingDependencyError: OpenCV is not installed.
        ValueError: ``every`` below 1.
    """

    def __init__(self, every: int = 1, *, motion_boundaries: bool = False) -> None:
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every must be a whole number of at least 1, not {every!r}")
        self.every = every
        self.flows = FlowMeasure(motion_boundaries=motion_boundaries)
        self.index = -1
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.measured: list[tuple[float, float, float]] = []
        self.seconds = 0.0

    def add(self, input_frame: np.ndarray | torch.Tensor, output_frame: np.ndarray | torch.Tensor) -> None:
        started = time.perf_counter()
        try:
            self._add(input_frame, output_frame)
        finally:
            self.seconds += time.perf_counter() - started

    def _add(self, input_frame: np.ndarray | torch.Tensor, output_frame: np.ndarray | torch.Tensor) -> None:
        self.index += 1
        measured_now = self.previous is not None and self.index % self.every == 0
        kept_for_next = (self.index + 1) % self.every == 0
        if not (measured_now or kept_for_next):
            self.previous = None
            return
        current = (_uint8(input_frame), _uint8(output_frame))
        if measured_now:
            if current[1].shape != self.previous[1].shape:
                raise ValueError(f"frames of different shapes: {self.previous[1].shape} and {current[1].shape}")
            result = self.flows.pair((self.previous[0], current[0]), (self.previous[1], current[1]))
            if result is not None:
                self.measured.append(result)
        self.previous = current if kept_for_next else None

    def result(self) -> WarpingError | None:
        """The warping error of the pairs measured so far; None before any."""
        if not self.measured:
            return None
        output, input_, visible = (math.fsum(values) / len(self.measured) for values in zip(*self.measured))
        return WarpingError(output, input_, len(self.measured), visible, self.seconds)


def measure_warping_error(inputs: Iterable[np.ndarray | torch.Tensor], outputs: Iterable[np.ndarray | torch.Tensor],
                          *, every: int = 1, motion_boundaries: bool = False) -> WarpingError | None:
    """The warping error of output frames against their input frames ((H, W, 3) uint8 RGB; the
    inputs may have another size, they are resized to the outputs'). None when no pair had a
    visible pixel.

    Raises:
        MissingDependencyError: OpenCV is not installed.
        ValueError: fewer than two frames, a different number of inputs and outputs.
    """
    inputs, outputs = list(inputs), list(outputs)
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} input frames but {len(outputs)} output frames")
    if len(inputs) < 2:
        raise ValueError("the warping error needs at least two frames")
    meter = WarpingMeter(every, motion_boundaries=motion_boundaries)
    for input_frame, output_frame in zip(inputs, outputs):
        meter.add(input_frame, output_frame)
    return meter.result()
