"""Live stylization of a camera stream, frame by frame (the logic of the app's Webcam tab).

Each frame is shrunk to a size the device keeps up with (:func:`default_live_size`), stylized
by a :class:`~styletransfer.inference.video.pipeline.FrameStylizer` (so the previous-output blend steadies the
texture where nothing moved, as in video files), and timed: :class:`LiveFrame` carries the
stylization time of the frame and the frame rate actually delivered (an exponential moving
average of the intervals between frames, so it includes the camera, the network and the
transport). Changing the style or the frame size starts a fresh sequence.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from styletransfer.core.device import pick_precision
from styletransfer.inference.prepare import prepare_model
from styletransfer.inference.video.frames import FrameStylizer, Stability

RATE_SMOOTHING = 0.2
"""Weight of the newest interval in the frame-rate average (about the last 5 frames)."""


def default_live_size(device: torch.device) -> int:
    """Longest side (px) of live frames: 320 on the CPU (several frames a second with the
    full network on two cores), 640 on a GPU."""
    return 320 if device.type == "cpu" else 640


@dataclass(frozen=True)
class LiveFrame:
    """One stylized camera frame."""

    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    milliseconds: float
    """Time spent stylizing this frame."""
    frames_per_second: float
    """Frames delivered per second, averaged over the last few frames."""

    def summary(self) -> str:
        height, width = self.image.shape[:2]
        return (f"{self.frames_per_second:.1f} frames/s · {self.milliseconds:.0f} ms to stylize a frame · "
                f"{width}×{height} px")


class LiveStylizer:
    """Stylizes the frames of one camera stream in order (one per user session).

    Args:
        device: where the network runs.
        max_size: longest side frames are shrunk to; None: :func:`default_live_size`.
        stability: the steadying of :class:`~styletransfer.inference.video.pipeline.FrameStylizer`.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, device: torch.device, max_size: int | None = None, *, stability: Stability = Stability(),
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.device = device
        self.max_size = max_size or default_live_size(device)
        self.stability = stability
        self.clock = clock
        self._model: str | None = None
        self._size: tuple[int, int] | None = None
        self._frames: FrameStylizer | None = None
        self._last_time: float | None = None
        self._interval: float | None = None

    def shrink(self, frame: np.ndarray) -> np.ndarray:
        """An (H, W, 3) uint8 RGB frame with its longer side at most ``max_size`` pixels."""
        height, width = frame.shape[:2]
        scale = self.max_size / max(height, width)
        if scale >= 1:
            return frame
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))

    def __call__(self, frame: np.ndarray, model: str | os.PathLike[str]) -> LiveFrame:
        """Stylize the next camera frame ((H, W, 3) uint8 RGB, or (H, W, 4) with alpha, which is
        dropped) with ``model`` (a style name or model file).

        Raises:
            ModelFileError: ``model`` is not a usable model.
            ValueError: the frame is not an RGB(A) uint8 image.
        """
        if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
        pixels = np.ascontiguousarray(self.shrink(frame[:, :, :3]))
        size = (pixels.shape[1], pixels.shape[0])
        if self._frames is None or str(model) != self._model or size != self._size:
            net = prepare_model(model, self.device, pick_precision(self.device))
            self._frames = FrameStylizer(net, self.device, self.stability)
            self._model, self._size = str(model), size
        started = self.clock()
        styled = self._frames([pixels])[0]
        finished = self.clock()
        if self._last_time is not None:
            interval = finished - self._last_time
            self._interval = interval if self._interval is None else (
                self._interval + RATE_SMOOTHING * (interval - self._interval))
        self._last_time = finished
        seconds_per_frame = self._interval if self._interval is not None else finished - started
        rate = 1 / seconds_per_frame if seconds_per_frame > 0 else float("inf")
        return LiveFrame(styled, (finished - started) * 1000, rate)
