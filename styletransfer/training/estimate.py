"""How long a training budget takes on this machine, said before it starts.

A new style costs images (steps × batch): the method's standard budget is about 160,000 images
per style (Johnson et al. 2016: 40,000 steps of batch 4), which a GPU trains in minutes and a
2-core CPU in days. :func:`measure_training_rate` times a few real optimizer steps
(:func:`~styletransfer.training.trainer.training_step`: the network, the VGG19 perceptual loss
with the default weights, Adam, in the device's training precision) of a fresh network at the
requested size and batch; :func:`describe_training_time` turns such rates into one sentence for
the app's Train tab.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from styletransfer.core.device import pick_precision
from styletransfer.losses.perceptual import PerceptualLoss
from styletransfer.models.transformer import TransformerNet
from styletransfer.training.config import (DEFAULT_COLOR_WEIGHT, DEFAULT_CONTENT_WEIGHT, DEFAULT_STYLE_WEIGHT,
                                           DEFAULT_TV_WEIGHT)
from styletransfer.training.runs import default_lr
from styletransfer.training.trainer import make_grad_scaler, training_step

METHOD_BUDGET_IMAGES = 160_000
"""Training images of one style in the method's standard budget (Johnson et al. 2016: 40,000
steps of batch 4)."""


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class TrainingRate:
    """Measured speed of one network's training at one image size and batch."""

    image_size: int
    batch_size: int
    seconds_per_step: float
    measured: str
    """Where the figure comes from: ``"measured"`` (:func:`measure_training_rate`) or
    ``"observed"`` (a training job's own report)."""

    @property
    def images_per_second(self) -> float:
        return self.batch_size / self.seconds_per_step

    def seconds(self, steps: int) -> float:
        """Seconds for ``steps`` steps (start-up, checkpoints and previews not counted)."""
        return steps * self.seconds_per_step


def measure_training_rate(device: torch.device, *, image_size: int, batch_size: int, norm: str = "batch",
                          attention: str = "srm", steps: int = 2) -> TrainingRate:
    """Time ``steps`` optimizer steps of a fresh ``norm``/``attention`` network on (batch_size,
    3, image_size, image_size) random images, after one untimed warm-up step; the median step.

    The loss is the trainer's default (content, style, TV and colour terms; Gram targets of a
    random 256² "painting": their size does not change a step's cost), in the device's training
    precision (:func:`~styletransfer.core.device.pick_precision`), channels-last on CUDA as the
    trainer runs it. Takes a few steps' time (seconds on a CPU at 192 px); the global random
    generator is left as it was."""
    if image_size < 1 or batch_size < 1 or steps < 1:
        raise ValueError(f"image_size, batch_size and steps must be positive, not {image_size}, {batch_size}, {steps}")
    dtype = pick_precision(device, training=True)
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    with torch.random.fork_rng(devices=[]):  # the caller's global generator is left as it was
        torch.manual_seed(0)
        net = TransformerNet(norm, attention).to(device, memory_format=memory_format)
        painting = torch.rand(1, 3, 256, 256)
        loss_fn = PerceptualLoss(painting, content_weight=DEFAULT_CONTENT_WEIGHT, style_weight=DEFAULT_STYLE_WEIGHT,
                                 tv_weight=DEFAULT_TV_WEIGHT, color_weight=DEFAULT_COLOR_WEIGHT
                                 ).to(device, memory_format=memory_format)
        optimizer = torch.optim.Adam(net.parameters(), lr=default_lr(batch_size))
        scaler = make_grad_scaler(device, dtype)
        images = torch.rand(batch_size, 3, image_size, image_size)
        times = []
        for index in range(steps + 1):
            _synchronize(device)
            started = time.perf_counter()
            training_step(net, loss_fn, optimizer, scaler, images, device=device, dtype=dtype,
                          channels_last=device.type == "cuda")
            _synchronize(device)
            if index:  # the first step warms up (allocations, kernel choice)
                times.append(time.perf_counter() - started)
    return TrainingRate(image_size, batch_size, statistics.median(times), "measured")


def format_duration(seconds: float) -> str:
    """``"40 s"``, ``"12 min"``, ``"3.5 h"`` or ``"2.1 days"``: two significant figures at most."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a non-negative number of seconds, not {seconds}")
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        hours = seconds / 3600
        return f"{hours:.1f} h" if hours < 10 else f"{round(hours)} h"
    days = seconds / 86400
    return f"{days:.1f} days" if days < 10 else f"{round(days)} days"


def describe_training_time(steps: int, rates: Mapping[str, TrainingRate], device: torch.device) -> str:
    """One Markdown sentence: how long ``steps`` steps of each network in ``rates`` ({variant
    label: its rate}, trained one after the other) take here, how many images that is, and how
    long the method's full budget (:data:`METHOD_BUDGET_IMAGES` per style) would take."""
    if not rates:
        raise ValueError("no training rate to describe")
    first = next(iter(rates.values()))
    total = sum(rate.seconds(steps) for rate in rates.values())
    images = steps * first.batch_size
    where = "this GPU" if device.type == "cuda" else f"this {device.type.upper()}"
    networks = "" if len(rates) == 1 else f", {len(rates)} networks one after the other"
    speeds = ", ".join(f"{label} {rate.images_per_second:.3g} images/s" for label, rate in rates.items())
    source = "measured here" if all(rate.measured == "measured" for rate in rates.values()) else \
        "measured here and by the last job"
    full = sum(METHOD_BUDGET_IMAGES / rate.images_per_second for rate in rates.values())
    return (f"**About {format_duration(total)}** on {where}: {steps:,} steps × {first.batch_size} photos = "
            f"{images:,} images at {first.image_size} px{networks} ({speeds}, {source}; start-up and previews "
            f"add a little). The method's full budget, ~{METHOD_BUDGET_IMAGES:,} images per style, would take "
            f"~{format_duration(full)} here.")


__all__: Sequence[str] = ("METHOD_BUDGET_IMAGES", "TrainingRate", "describe_training_time", "format_duration",
                          "measure_training_rate")
