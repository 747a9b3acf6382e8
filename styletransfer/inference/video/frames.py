"""Stylizing a sequence of frames of one size, batch by batch: the network (with held
statistics if asked), the previous-output blend, the flicker meter and, if asked, the warping
error (:mod:`~styletransfer.inference.video.warping`, OpenCV). Video files and the
app's webcam stream both run their frames through :class:`FrameStylizer`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from styletransfer.inference.margin import check_margin, crop_margin, network_margin, pad_reflect
from styletransfer.inference.prepare import network_input
from styletransfer.inference.tiling import default_tile_pixels
from styletransfer.inference.video.temporal import FlickerMeter, PreviousOutputBlend
from styletransfer.inference.video.warping import WarpingMeter
from styletransfer.models.layers.held_norm import hold_statistics

MAX_BATCH = 16
"""Most frames stylized in one batch when the batch size is chosen automatically."""


@dataclass(frozen=True)
class Stability:
    """How :func:`stylize_video` keeps consecutive frames alike (see :mod:`styletransfer.inference.video.temporal`).

    The default blends with the previous output where nothing moved and leaves the statistics
    per frame: on the shipped SRM styles, holding the statistics did not lower the flicker while
    it moved the frames away from their own stylization, and the blend lowered it
    (docs/video.md, "Design notes").

    Attributes:
        statistics_momentum: the weight of each new frame in the running SRM/InstanceNorm/SE
            statistics (:func:`~styletransfer.models.layers.held_norm.hold_statistics`); None (the
            default) computes them afresh on every frame, as the plain network does.
        blend_weight: the previous output's share where the input did not move
            (:class:`~styletransfer.inference.video.temporal.PreviousOutputBlend`); 0 turns blending off.
        motion_threshold: input change (0..1 units) at which a pixel counts as moving.
    """

    statistics_momentum: float | None = None
    blend_weight: float = 0.7
    motion_threshold: float = 0.04

    @classmethod
    def off(cls) -> Stability:
        """Every frame stylized on its own, as :func:`~styletransfer.inference.stylize.stylize` would."""
        return cls(statistics_momentum=None, blend_weight=0.0)


def default_batch_size(device: torch.device, size: tuple[int, int]) -> int:
    """Frames per batch: as many as fit in :func:`~styletransfer.inference.stylize.default_tile_pixels`
    (the activation budget of one pass), at most :data:`MAX_BATCH`, at least 1."""
    return max(1, min(MAX_BATCH, default_tile_pixels(device) // (size[0] * size[1])))


class FrameStylizer:
    """Stylizes a sequence of frames of one size, batch by batch, in order: the network (with
    held statistics when ``stability`` asks), the previous-output blend, the flicker meter
    (``.meter``) and the warping-error meter (``.warping``, None unless asked for). Used for
    video files and for the app's webcam stream.

    Args:
        net: a prepared network (:func:`~styletransfer.inference.stylize.prepare_model`).
        device: where it runs.
        stability: see :class:`Stability`.
        warping_every: measure the warping error of every this many pairs of frames
            (:class:`~styletransfer.inference.video.warping.WarpingMeter`); None: not measured.
        margin: the reflected margin in pixels (:mod:`styletransfer.inference.margin`); None:
            the one the network's model file records.

    Raises:
        MissingDependencyError: ``warping_every`` given and OpenCV not installed.
        ValueError: a bad margin.
    """

    def __init__(self, net: nn.Module, device: torch.device, stability: Stability = Stability(),
                 warping_every: int | None = None, margin: int | None = None):
        # First, so that a missing OpenCV fails before any work.
        self.warping = None if warping_every is None else WarpingMeter(warping_every)
        self.margin = network_margin(net) if margin is None else check_margin(margin)
        self.net = net if stability.statistics_momentum is None else hold_statistics(net, stability.statistics_momentum)
        self.device = device
        self.blend = (PreviousOutputBlend(stability.blend_weight, stability.motion_threshold)
                      if stability.blend_weight > 0 else None)
        self.meter = FlickerMeter()

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        """(H, W, 3) uint8 RGB frames → (N, H, W, 3) uint8 stylized frames."""
        pixels = torch.from_numpy(np.stack(frames))
        with torch.inference_mode():
            batch = pixels.to(self.device).permute(0, 3, 1, 2).float().div_(255)
            padded = pad_reflect(batch, self.margin)
            styled = crop_margin(self.net(network_input(self.net, padded, self.device)).float(), self.margin)
            if self.blend is not None:
                styled = self.blend(batch, styled)
            result = styled.clamp_(0, 1).mul_(255).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for before, after in zip(frames, result):
            self.meter.add(before, after)
            if self.warping is not None:
                self.warping.add(before, after)
        return result
