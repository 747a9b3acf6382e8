"""Channel attention blocks, in a registry: SRM (Lee et al., ICCV 2019) and the ablations of
its paper, SE (Hu et al., CVPR 2018), ECA (Wang et al., CVPR 2020) and Gather-Excite (Hu et
al., NeurIPS 2018).

Every block takes a feature map (N, C, H, W), any value range, computes one gate in (0, 1)
per image and channel from that image's feature map, and returns the map times the gate
(same shape and dtype).

==========  ==================  ====================  =============================  =========  ======
name        paper               pooling (per channel) integration                    params     BN
==========  ==================  ====================  =============================  =========  ======
se          SE                  mean (GAP)            MLP C → C/16 → C               2·C·h+h+C  no
srm         SRM                 mean, std             channel-wise FC (C×2) + BN     4·C        yes
srm-avg     SRM ablation        mean (SE's GAP)       channel-wise FC (C×1) + BN     3·C        yes
srm-max     SRM ablation        mean, max             channel-wise FC (C×2) + BN     4·C        yes
srm-mlp     SRM ablation        mean, std             MLP 2C → C/16 → C (SE's)       3·C·h+h+C  no
eca         ECA-Net             mean (GAP)            1-D conv across channels, k    k(C)       no
ge          Gather-Excite θ⁻    mean (GAP)            none: sigmoid of the mean      0          no
==========  ==================  ====================  =============================  =========  ======

(h = max(1, C // 16); k(C) = |log2(C)/2 + 1/2| made odd. At C = 128: 2184, 512, 384, 512,
3208, 5 and 0 parameters. "BN": the block has a BatchNorm, so training needs batches of ≥ 2.)

The registry maps a name to a block class. A new block is one class and one line::

    @register_attention("my-block")
    class MyBlock(AttentionBlock):
        needs_batch_statistics = False      # True if training needs a batch of >= 2 images
        def __init__(self, channels: int) -> None: ...
        def forward(self, x: torch.Tensor) -> torch.Tensor: ...
        @staticmethod
        def parameter_count(channels: int) -> int: ...
        # and, if it has an inference form, fold(self) -> nn.Module

and :func:`create_attention`, :func:`attention_names`, :func:`needs_batch_statistics`,
:func:`fold_attention`, the network's config check and its variants (``bn+my-block``) know it.

Folding: at inference a block's BatchNorm is an affine map with fixed statistics, so
:func:`fold_attention` replaces every block by ``block.fold()`` (SRM and its BN ablations become
a :class:`FoldedSRM`: one weight per statistic and one bias per channel); blocks without
anything to fold return themselves. The output is the same up to float rounding.
"""
from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from typing import ClassVar, TypeVar

import torch
import torch.nn as nn

from styletransfer.models.layers.norm import require_batch_statistics

__all__ = ["AttentionBlock", "EfficientChannelAttention", "FoldedSRM", "GatherExcite", "SRM", "SRMAvg", "SRMMax",
           "SRMWithMLP", "SqueezeExcite", "attention_class", "attention_names", "create_attention",
           "eca_kernel_size", "fold_attention", "needs_batch_statistics", "register_attention", "style_pooling"]

NO_ATTENTION = "none"
"""The attention name of a network without attention blocks."""

SE_REDUCTION = 16
"""Hidden width of the SE-style MLPs: C // 16 (at least 1), as in the SE paper."""

_STD_EPS = 1e-5
_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")

_REGISTRY: dict[str, type[AttentionBlock]] = {}


class AttentionBlock(nn.Module):
    """Base class of the registered blocks: (N, C, H, W) in, the same shape out.

    Class attributes:
        name: the registry name (set by :func:`register_attention`).
        needs_batch_statistics: True when training normalizes over the batch (a BatchNorm),
            so a training batch needs at least 2 images.
    """

    name: ClassVar[str] = ""
    needs_batch_statistics: ClassVar[bool] = False

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    @staticmethod
    def parameter_count(channels: int) -> int:
        """Learnable parameters of a block for ``channels`` channels (each block's formula)."""
        raise NotImplementedError

    def fold(self) -> nn.Module:
        """The inference form of this (eval-mode) block; the block itself when nothing folds."""
        return self

    def check_batch(self, x: torch.Tensor) -> None:
        """Raise a clear ValueError when training on one image needs batch statistics."""
        if self.training:
            self.check_batch_size(x.shape[0])

    def check_batch_size(self, batch_size: int, *, per: str = "batch") -> None:
        """Raise ValueError when this block cannot train on ``batch_size`` images per ``per``."""
        parts = [f"the {self.name} attention block"] if self.needs_batch_statistics else []
        require_batch_statistics(f"the {self.name} attention block", parts, batch_size, per=per)


Block = TypeVar("Block", bound=type[AttentionBlock])


def register_attention(name: str) -> Callable[[Block], Block]:
    """Class decorator: make an :class:`AttentionBlock` subclass available under ``name``
    (lower case letters, digits and ``-``; used in variant names as ``bn+<name>``)."""
    if not _NAME_PATTERN.fullmatch(name) or name == NO_ATTENTION:
        raise ValueError(f"attention name {name!r}: use lower case letters, digits and '-', and not 'none'")

    def register(cls: Block) -> Block:
        if not (isinstance(cls, type) and issubclass(cls, AttentionBlock)):
            raise TypeError(f"attention {name!r}: {cls!r} is not an AttentionBlock subclass")
        if name in _REGISTRY:
            raise ValueError(f"attention {name!r} is already registered (by {_REGISTRY[name].__name__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return register


def attention_names() -> tuple[str, ...]:
    """``"none"`` and every registered block name, in registration order."""
    return (NO_ATTENTION, *_REGISTRY)


def attention_class(name: str) -> type[AttentionBlock]:
    """The block class registered as ``name``. Raises ValueError for an unknown name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown attention {name!r}; expected one of {', '.join(attention_names())}") from None


def create_attention(name: str | None, channels: int) -> AttentionBlock | None:
    """A new block by registry name for ``channels`` channels; ``"none"`` or None → None."""
    if name is None or name == NO_ATTENTION:
        return None
    return attention_class(name)(channels)


def needs_batch_statistics(name: str | None) -> bool:
    """Whether training the block ``name`` needs a batch of at least 2 images."""
    if name is None or name == NO_ATTENTION:
        return False
    return attention_class(name).needs_batch_statistics


def fold_attention(module: nn.Module) -> nn.Module:
    """A copy of ``module`` in eval mode with every attention block replaced by its inference
    form (:meth:`AttentionBlock.fold`). The original is left untouched (it may still be
    training)."""
    folded = copy.deepcopy(module).eval()
    if isinstance(folded, AttentionBlock):
        return folded.fold()
    for parent in list(folded.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, AttentionBlock):
                setattr(parent, child_name, child.fold())
    return folded


# ---------------------------------------------------------------------------------------------
# Pooling: (N, C, H, W) → per-channel statistics (N, C, K), float32
# ---------------------------------------------------------------------------------------------

def style_pooling(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over H×W of ``x`` (N, C, H, W) → two (N, C) float32 tensors.

    std = sqrt(var + 1e-5) with the biased variance, as in the paper. The variance is computed
    as E[x²] − E[x]² in float32 (clamped at 0): on the CPU that is much faster than
    ``torch.var`` and accurate enough for a gate. A float32 ``x`` is reduced directly; an
    fp16/bf16 one is reduced with float32 accumulation (``mean(dtype=...)`` and the squared
    ``vector_norm``) instead of being cast first, which would write and read a float32 copy of
    the whole feature map (the cost that once made folded SRM much slower than BN in CUDA fp16;
    measurements: docs/performance.md, "Design notes"); in CPU inference the copy is the
    faster way.
    """
    if x.dtype == torch.float32:
        flat = x.flatten(2)
        mean = flat.mean(dim=2)
        mean_sq = flat.square().mean(dim=2)
    elif x.device.type == "cpu" and not torch.is_grad_enabled():
        # CPU inference: one float32 copy, squared in place. The CPU's reductions with a dtype
        # conversion are slow on channels-last maps (the squared norm 4-7×, at 1080p 75 ms per
        # block), and a copy costs little in host memory (docs/performance-padding.md).
        copy = x.float()
        mean = copy.mean(dim=(2, 3))
        mean_sq = copy.square_().mean(dim=(2, 3))
    else:
        mean = x.mean(dim=(2, 3), dtype=torch.float32)
        norm = torch.linalg.vector_norm(x, ord=2, dim=(2, 3), dtype=torch.float32)
        mean_sq = norm.square() / (x.shape[2] * x.shape[3])
    var = (mean_sq - mean.square()).clamp_min(0.0)
    return mean, torch.sqrt(var + _STD_EPS)


def _mean_std(x: torch.Tensor) -> torch.Tensor:
    return torch.stack(style_pooling(x), dim=2)


def _mean(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).float().mean(dim=2, keepdim=True)


def _mean_max(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(2).float()
    return torch.stack((flat.mean(dim=2), flat.amax(dim=2)), dim=2)


def _gate(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``x`` (N, C, H, W) times sigmoid(``logits`` (N, C)), in x's dtype."""
    return x * torch.sigmoid(logits).to(x.dtype)[:, :, None, None]


def _se_hidden(channels: int) -> int:
    return max(1, channels // SE_REDUCTION)


# ---------------------------------------------------------------------------------------------
# SE, the block SRM is compared with
# ---------------------------------------------------------------------------------------------

@register_attention("se")
class SqueezeExcite(AttentionBlock):
    """Squeeze-and-Excitation (Hu, Shen & Sun, "Squeeze-and-Excitation Networks", CVPR 2018):
    global average pool → FC(C → h) → ReLU → FC(h → C) → sigmoid gate, h = max(1, C // 16)
    (``reduction`` 16 as in the paper), FCs as 1×1 convolutions with biases.

    Parameters: C·h + h + h·C + C (2184 at C = 128).
    """

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__(channels)
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    @staticmethod
    def parameter_count(channels: int) -> int:
        hidden = _se_hidden(channels)
        return 2 * channels * hidden + hidden + channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(squeezed))))


# ---------------------------------------------------------------------------------------------
# SRM and the ablations of its paper
# ---------------------------------------------------------------------------------------------

@register_attention("srm")
class SRM(AttentionBlock):
    """Style-based Recalibration Module (Lee, Kim & Nam, "SRM: A Style-based Recalibration
    Module for Convolutional Neural Networks", ICCV 2019), exactly as the paper (training form).

    Per channel, *style pooling* t = [mean, std] over H×W, a *channel-wise fully connected*
    layer (``cfc``, C×2 weights, no bias, zero-initialized as in the official code), BatchNorm
    over the N×C outputs, a sigmoid; the gate multiplies its channel.

    Parameters: C·K (cfc) + 2·C (BN weight and bias) = 4·C for K = 2 statistics. Training
    needs a batch of at least two images (BatchNorm over N values per channel).

    Subclasses change only the pooling (:meth:`pool` and ``statistics``, the K statistics per
    channel): the paper's style-pooling ablations.
    """

    needs_batch_statistics = True
    statistics: ClassVar[int] = 2

    @staticmethod
    def pool(x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) → (N, C, 2) float32: mean and std per channel (:func:`style_pooling`)."""
        return _mean_std(x)

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.cfc = nn.Parameter(torch.zeros(channels, self.statistics))
        self.bn = nn.BatchNorm1d(channels)

    @classmethod
    def parameter_count(cls, channels: int) -> int:
        return channels * cls.statistics + 2 * channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_batch(x)
        z = (self.pool(x) * self.cfc).sum(dim=2)
        return _gate(x, self.bn(z))

    def fold(self) -> FoldedSRM:
        """The inference form: BN (running statistics) folded into the CFC weights."""
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        folded = FoldedSRM(self.channels, pool=type(self).pool, statistics=self.statistics).to(self.cfc.device)
        with torch.no_grad():
            folded.weight.copy_(self.cfc * scale[:, None])
            folded.bias.copy_(bn.bias - bn.running_mean * scale)
        return folded


@register_attention("srm-avg")
class SRMAvg(SRM):
    """SRM with style pooling by the mean only: SE's global average pooling (the SRM paper's
    style-pooling ablation, Lee et al. ICCV 2019). Channel-wise FC C×1 → BN → sigmoid.

    Parameters: C (cfc) + 2·C (BN) = 3·C. Training needs a batch of at least two images.
    """

    statistics = 1

    @staticmethod
    def pool(x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) → (N, C, 1) float32: the mean per channel."""
        return _mean(x)


@register_attention("srm-max")
class SRMMax(SRM):
    """SRM with style pooling by mean and max instead of mean and std (the SRM paper's
    style-pooling ablation, Lee et al. ICCV 2019). Channel-wise FC C×2 → BN → sigmoid.

    Parameters: 2·C (cfc) + 2·C (BN) = 4·C. Training needs a batch of at least two images.
    """

    @staticmethod
    def pool(x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) → (N, C, 2) float32: mean and maximum per channel."""
        return _mean_max(x)


class FoldedSRM(nn.Module):
    """SRM (or a BN ablation of it) for inference: gate = sigmoid(Σ_k w_k·t_k + b) per channel,
    t the block's K pooled statistics.

    Built by :meth:`SRM.fold`; holds ``weight`` (C, K) and ``bias`` (C,), not trainable.
    ``pool`` maps (N, C, H, W) to the (N, C, K) statistics (default: SRM's mean and std).
    """

    def __init__(self, channels: int, *, pool: Callable[[torch.Tensor], torch.Tensor] = _mean_std,
                 statistics: int = 2) -> None:
        super().__init__()
        self.channels = channels
        self.pool = pool
        self.weight = nn.Parameter(torch.zeros(channels, statistics), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(channels), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _gate(x, self.bias + (self.pool(x) * self.weight).sum(dim=2))


@register_attention("srm-mlp")
class SRMWithMLP(AttentionBlock):
    """SRM's style pooling [mean, std] with SE's integration instead of the channel-wise FC:
    the SRM paper's style-integration ablation (Lee et al. ICCV 2019).

    The 2·C statistics of an image go through FC(2C → h) → ReLU → FC(h → C) → sigmoid, with
    biases and h = max(1, C // 16), as SE's excitation. BatchNorm is **not** kept: this is
    SE's MLP exactly, so the block trains on a batch of one image and has nothing to fold.

    Parameters: 2C·h + h + h·C + C (3208 at C = 128).
    """

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__(channels)
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(2 * channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    @staticmethod
    def parameter_count(channels: int) -> int:
        hidden = _se_hidden(channels)
        return 2 * channels * hidden + hidden + hidden * channels + channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        statistics = _mean_std(x).flatten(1)  # (N, 2C) float32: mean and std of channel c at 2c, 2c + 1
        statistics = statistics.to(self.fc1.weight.dtype)  # weights cast for inference (no autocast)
        return _gate(x, self.fc2(torch.relu(self.fc1(statistics))))


# ---------------------------------------------------------------------------------------------
# The other channel-attention blocks the SRM literature sets beside it: ECA and GE
# ---------------------------------------------------------------------------------------------

def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA's adaptive kernel size: t = int(|log2(C) / γ + b / γ|), then t + 1 if t is even
    (3 for C = 32 and 64, 5 for C = 128 and 256 with γ = 2, b = 1)."""
    size = int(abs((math.log2(channels) + b) / gamma))
    return size if size % 2 else size + 1


@register_attention("eca")
class EfficientChannelAttention(AttentionBlock):
    """ECA (Wang, Wu, Zhu, Li, Zuo & Hu, "ECA-Net: Efficient Channel Attention for Deep
    Convolutional Neural Networks", CVPR 2020): global average pooling, a 1-D convolution
    across the channel axis with the adaptive kernel size k = :func:`eca_kernel_size` (γ = 2,
    b = 1; zero padding, no bias), sigmoid.

    Parameters: k (5 at C = 128).
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        size = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, size, padding=(size - 1) // 2, bias=False)

    @staticmethod
    def parameter_count(channels: int) -> int:
        return eca_kernel_size(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))  # (N, C)
        return _gate(x, self.conv(pooled[:, None, :])[:, 0, :])


@register_attention("ge")
class GatherExcite(AttentionBlock):
    """Gather-Excite GE-θ⁻ with global extent (Hu, Shen, Albanie, Sun & Vedaldi,
    "Gather-Excite: Exploiting Feature Context in Convolutional Neural Networks", NeurIPS
    2018): gather = global average pooling per channel, excite = sigmoid of the gathered value
    broadcast back over H×W, y = x · sigmoid(mean_HW(x)). Parameter-free.
    """

    @staticmethod
    def parameter_count(channels: int) -> int:
        return 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x.mean(dim=(2, 3), keepdim=True))
