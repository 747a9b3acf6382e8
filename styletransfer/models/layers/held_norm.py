"""Per-image statistics held steady across the frames of a video.

SRM gates each channel by its mean and standard deviation over the whole picture, InstanceNorm
normalizes each channel by them, and SE gates by the mean. Computed afresh on every frame,
these statistics shift a little whenever anything in the picture moves or the codec's noise
changes, and the whole frame changes tone with them: flicker. :func:`hold_statistics` returns
a copy of a network whose statistics blocks keep a running value instead:

    held = (1 − momentum) · held + momentum · this frame's statistics

``momentum`` 1 is the plain network (each frame its own statistics), 0 keeps the first
frame's statistics for good, and in between is an exponential moving average over frames
(about 1/momentum frames long). Frames in one batch are taken in order, so a batch of N
frames gives exactly what N batches of one would. Call :func:`reset_statistics` between
videos.

The same mechanism makes tiling exact: :mod:`~styletransfer.inference.image_statistics` measures the
whole image's statistics tile by tile and holds them (momentum 0) while the tiles are stylized.

Works on prepared (folded) networks and on unfolded ones in eval mode: :class:`SRM` blocks are
folded first (:func:`~styletransfer.models.layers.attention.fold_attention`).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from styletransfer.models.layers.attention import _STD_EPS, FoldedSRM, SqueezeExcite, fold_attention, style_pooling


class HeldStatistics(nn.Module):
    """Base of the statistics blocks: per-image statistics → running value → output.

    Subclasses give :meth:`statistics` ((N, C, H, W) → (N, ...) float32) and :meth:`apply`
    (the block's output from its input and (N, ...) statistics).
    """

    def __init__(self, momentum: float) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be between 0 and 1, not {momentum}")
        self.momentum = momentum
        self.held: torch.Tensor | None = None
        """The running statistics ((...) float32, one frame's worth), None before the first frame."""

    def statistics(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, statistics: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def from_moments(self, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        """One image's statistics, (...), from its per-channel (C,) mean and biased variance."""
        raise NotImplementedError

    def reset(self) -> None:
        self.held = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.momentum == 0.0 and self.held is not None:  # fixed: no need to measure this batch
            steady = self.held.expand(x.shape[0], *self.held.shape)
        else:
            steady = self._running(self.statistics(x))
        return self.apply(x, steady)

    def _running(self, statistics: torch.Tensor) -> torch.Tensor:
        """(N, ...) statistics of N frames → (N, ...) running values after each frame."""
        steady = torch.empty_like(statistics)
        held = self.held
        for index in range(statistics.shape[0]):
            held = statistics[index] if held is None else torch.lerp(held, statistics[index], self.momentum)
            steady[index] = held
        self.held = held.clone()
        return steady


class HeldSRM(HeldStatistics):
    """:class:`~styletransfer.models.layers.attention.FoldedSRM` with held (mean, std): statistics (N, C, 2)."""

    def __init__(self, block: FoldedSRM, momentum: float) -> None:
        super().__init__(momentum)
        self.weight, self.bias = block.weight, block.bias

    def statistics(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack(style_pooling(x), dim=2)

    def from_moments(self, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        return torch.stack((mean, torch.sqrt(variance + _STD_EPS)), dim=1)

    def apply(self, x: torch.Tensor, statistics: torch.Tensor) -> torch.Tensor:
        mean, std = statistics[..., 0], statistics[..., 1]
        z = torch.addcmul(torch.addcmul(self.bias, mean, self.weight[:, 0]), std, self.weight[:, 1])
        return x * torch.sigmoid(z).to(x.dtype)[:, :, None, None]


class HeldInstanceNorm(HeldStatistics):
    """:class:`torch.nn.InstanceNorm2d` (affine, no running statistics) with held (mean,
    variance): statistics (N, C, 2)."""

    def __init__(self, block: nn.InstanceNorm2d, momentum: float) -> None:
        super().__init__(momentum)
        self.eps = block.eps
        self.weight, self.bias = block.weight, block.bias

    def statistics(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2).float()
        return torch.stack((flat.mean(dim=2), flat.var(dim=2, unbiased=False)), dim=2)

    def from_moments(self, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        return torch.stack((mean, variance), dim=1)

    def apply(self, x: torch.Tensor, statistics: torch.Tensor) -> torch.Tensor:
        mean, var = statistics[..., 0], statistics[..., 1]
        scale = torch.rsqrt(var + self.eps)
        shift = -mean * scale
        if self.weight is not None:
            scale, shift = scale * self.weight, shift * self.weight + self.bias
        return torch.addcmul(shift.to(x.dtype)[:, :, None, None], x, scale.to(x.dtype)[:, :, None, None])


class HeldSqueezeExcite(HeldStatistics):
    """:class:`~styletransfer.models.layers.attention.SqueezeExcite` with a held channel mean: statistics (N, C)."""

    def __init__(self, block: SqueezeExcite, momentum: float) -> None:
        super().__init__(momentum)
        self.fc1, self.fc2 = block.fc1, block.fc2

    def statistics(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().mean(dim=(2, 3))

    def from_moments(self, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        return mean

    def apply(self, x: torch.Tensor, statistics: torch.Tensor) -> torch.Tensor:
        squeezed = statistics.to(x.dtype)[:, :, None, None]
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(squeezed))))


def _held(block: nn.Module, momentum: float) -> HeldStatistics | None:
    if isinstance(block, FoldedSRM):
        return HeldSRM(block, momentum)
    if isinstance(block, nn.InstanceNorm2d):
        if block.track_running_stats:
            return None  # an InstanceNorm with running statistics uses fixed ones in eval mode
        return HeldInstanceNorm(block, momentum)
    if isinstance(block, SqueezeExcite):
        return HeldSqueezeExcite(block, momentum)
    return None


def hold_statistics(net: nn.Module, momentum: float = 0.1) -> nn.Module:
    """A copy of ``net`` (eval mode, SRM folded) whose per-image statistics are held across
    calls (see the module docs); the copy shares ``net``'s weights' values, not its tensors.

    Args:
        net: any module built of the library's blocks (a TransformerNet, prepared or not, or
            an :class:`~styletransfer.inference.blend.OutputBlend` of them). Input and output as ``net``.
        momentum: 0..1, the weight of each new frame's statistics in the running value.

    Raises:
        ValueError: ``momentum`` outside 0..1.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be between 0 and 1, not {momentum}")
    held = fold_attention(net)
    for parent in list(held.modules()):
        for name, child in parent.named_children():
            replacement = _held(child, momentum)
            if replacement is not None:
                setattr(parent, name, replacement)
    if hasattr(net, "metadata"):
        held.metadata = net.metadata
    return held


def statistics_blocks(net: nn.Module) -> list[HeldStatistics]:
    """The held-statistics blocks of a network from :func:`hold_statistics`, in forward order."""
    return [module for module in net.modules() if isinstance(module, HeldStatistics)]


def reset_statistics(net: nn.Module) -> None:
    """Forget the held statistics: the next frame starts afresh (call it between videos)."""
    for block in statistics_blocks(net):
        block.reset()


def set_momentum(net: nn.Module, momentum: float) -> None:
    """Change the momentum of every held-statistics block (0 freezes what they hold now)."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be between 0 and 1, not {momentum}")
    for block in statistics_blocks(net):
        block.momentum = momentum
