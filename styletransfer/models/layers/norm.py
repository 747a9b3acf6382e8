"""Normalization layers of the transformer network, and the one check that a training batch is
large enough for the layers that normalize over it."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn

NORM_NAMES = ("instance", "batch", "none")
"""The normalizations a network can have: InstanceNorm (affine), BatchNorm, or none."""


def norm_layer(norm: str, channels: int) -> nn.Module:
    """A new normalization layer by name (:data:`NORM_NAMES`) for ``channels`` channels."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def require_batch_statistics(subject: str, parts: Sequence[str], batch_size: int, *, per: str = "batch") -> None:
    """Raise ValueError when ``parts`` (the layers of ``subject`` that normalize over the batch,
    e.g. ``["BatchNorm"]``) cannot train on ``batch_size`` images per ``per``: they need 2."""
    if batch_size >= 2 or not parts:
        return
    verb = "need" if len(parts) > 1 else "needs"
    raise ValueError(
        f"cannot train {subject} on {batch_size} image{'s' if batch_size != 1 else ''} per {per}: "
        f"{' and '.join(parts)} {verb} at least 2 images per {per} to normalize over; use a batch size "
        "of at least 2 (or call .eval() for inference)")
