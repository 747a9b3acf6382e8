"""int8 weights: every convolution kernel as int8 with one float32 scale per output channel
(weight ≈ int8 × scale, symmetric, round to nearest), stored as ``KEY`` and ``KEY.int8_scale``."""
from __future__ import annotations

import torch

SCALE_SUFFIX = ".int8_scale"
"""The key suffix of a quantized kernel's per-channel scales."""


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(O, ...) float weight → (int8 weight of the same shape, (O,) float32 scales) with
    weight ≈ int8 × scale per output channel (symmetric, round to nearest)."""
    flat = weight.float().reshape(weight.shape[0], -1)
    scale = flat.abs().amax(dim=1).clamp_min(1e-12) / 127
    quantized = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return quantized.reshape(weight.shape), scale


def dequantize_int8(quantized: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float32 weight of :func:`quantize_int8`'s output."""
    shape = (-1,) + (1,) * (quantized.dim() - 1)
    return quantized.float() * scale.float().reshape(shape)
