"""Blended styles: several style networks mixed with weights.

    stylize(StyleMix.parse("starry_night:0.6,the_scream:0.4"), photo)
    stylize({"starry_night": 0.6, "the_scream": 0.4}, photo, blend="weights")

Two ways to mix (``blend``):

``"output"`` (the default): every network stylizes the image and the (N, 3, H, W) RGB 0..1
results are averaged with the weights (:class:`OutputBlend`). Works for any networks; costs one
pass per style.

``"weights"``: the networks' weights (their state dicts, BatchNorm running statistics included)
are averaged into one network (:func:`interpolate_networks`), which then costs one pass. This
only makes sense for networks fine-tuned from one network: the same architecture *and* the same
starting weights (the shipped styles all start from the seed-0 initialization and train briefly,
so their channels still correspond). Independently trained networks have unrelated channels, and
their average is a style of neither. Different architectures are refused.

Weights are normalized to sum to 1; zero weights drop their style.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch
import torch.nn as nn

from styletransfer.errors import StyleTransferError
from styletransfer.models.transformer import TransformerNet

ModelRef = Union[TransformerNet, str, os.PathLike]
"""A network, a model file path, or a style name."""

BLEND_MODES = ("output", "weights")
"""The ways to mix styles: average the outputs, or average the weights."""


class StyleMixError(StyleTransferError, ValueError):
    """A mix that cannot be used (a bad ``--style`` spec, bad weights, networks that cannot be
    interpolated); the message is one line."""


def model_label(model: ModelRef) -> str:
    """A short name for a model: its style name (file stem) or the network's metadata name."""
    if isinstance(model, nn.Module):
        return str(getattr(model, "metadata", {}).get("name", "network"))
    return Path(model).stem


@dataclass(frozen=True)
class StyleMix:
    """Style networks with weights that sum to 1 (normalized on construction).

    Attributes:
        parts: ``(model, weight)`` pairs, weights > 0 summing to 1, in the order given.

    Raises:
        StyleMixError: no parts, a negative, infinite or NaN weight, all weights zero, or the
            same model given twice.
    """

    parts: tuple[tuple[ModelRef, float], ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise StyleMixError("a style mix needs at least one style")
        seen: set[str] = set()
        for model, weight in self.parts:
            if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
                raise StyleMixError(f"the weight of {model_label(model)} must be a number >= 0, not {weight!r}")
            key = model_label(model) if not isinstance(model, nn.Module) else f"id{id(model)}"
            if key in seen:
                raise StyleMixError(f"{model_label(model)} is given twice in the mix")
            seen.add(key)
        total = sum(weight for _, weight in self.parts)
        if total <= 0:
            raise StyleMixError("the weights of a style mix must not all be zero")
        normalized = tuple((model, weight / total) for model, weight in self.parts if weight > 0)
        object.__setattr__(self, "parts", normalized)

    @classmethod
    def from_weights(cls, weights: Mapping[ModelRef, float]) -> StyleMix:
        """A mix from ``{model: weight}`` (weights need not sum to 1)."""
        return cls(tuple(weights.items()))

    @classmethod
    def parse(cls, spec: str) -> StyleMix:
        """A mix from ``"name:weight,name:weight,..."``, e.g. ``"starry_night:0.6,the_scream:0.4"``.

        A name without ``:weight`` weighs 1 (so ``"a,b"`` is an even mix). Names may be style
        names or model file paths (a path that exists is taken whole, colons and all).

        Raises:
            StyleMixError: an empty part, a weight that is not a number, or the errors of
                the constructor; the message quotes the spec.
        """
        parts: list[tuple[ModelRef, float]] = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                raise StyleMixError(f"style mix {spec!r}: an empty style between commas; "
                                    "write it as name:weight,name:weight")
            name, weight_text = part, "1"
            if ":" in part and not Path(part).is_file():
                name, weight_text = (piece.strip() for piece in part.rsplit(":", 1))
            try:
                weight = float(weight_text)
            except ValueError:
                raise StyleMixError(f"style mix {spec!r}: {weight_text!r} (for {name or '?'}) is not a "
                                    "weight; write it as name:weight, e.g. starry_night:0.6") from None
            if not name:
                raise StyleMixError(f"style mix {spec!r}: a weight without a style name")
            parts.append((name, weight))
        try:
            return cls(tuple(parts))
        except StyleMixError as error:
            raise StyleMixError(f"style mix {spec!r}: {error}") from None

    @property
    def models(self) -> list[ModelRef]:
        return [model for model, _ in self.parts]

    @property
    def weights(self) -> list[float]:
        return [weight for _, weight in self.parts]

    @property
    def label(self) -> str:
        """A file-name friendly name: ``starry_night-60+the_scream-40`` (weights in percent);
        the model's own label alone for a mix of one."""
        if len(self.parts) == 1:
            return model_label(self.parts[0][0])
        return "+".join(f"{model_label(model)}-{weight * 100:.0f}" for model, weight in self.parts)


def parse_style(spec: str) -> str | StyleMix:
    """A ``--style`` value: a plain style name or model file as it is, a mix
    (``name:weight,...``, see :meth:`StyleMix.parse`) as a :class:`StyleMix`."""
    if "," not in spec and (":" not in spec or Path(spec).is_file()):
        return spec
    return StyleMix.parse(spec)


def check_blend(blend: str) -> str:
    """``blend`` itself when it is one of :data:`BLEND_MODES`; else StyleMixError."""
    if blend not in BLEND_MODES:
        raise StyleMixError(f"unknown blend {blend!r}; expected one of {', '.join(BLEND_MODES)}")
    return blend


class OutputBlend(nn.Module):
    """Output-space blending: the weighted mean of prepared networks' outputs.

    Input (N, 3, H, W) RGB 0..1 in the members' dtype; output (N, 3, H, W) float32 RGB 0..1
    (a weighted mean of values in 0..1 stays in 0..1).
    """

    def __init__(self, members: Sequence[nn.Module], weights: Sequence[float]):
        super().__init__()
        if len(members) != len(weights) or not members:
            raise ValueError("OutputBlend needs one weight per network, and at least one network")
        self.members = nn.ModuleList(members)
        self.weights = tuple(float(weight) for weight in weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = None
        for member, weight in zip(self.members, self.weights):
            term = member(x).float() * weight
            result = term if result is None else result.add_(term)
        return result


def interpolate_networks(networks: Sequence[TransformerNet], weights: Sequence[float],
                         labels: Sequence[str] | None = None) -> TransformerNet:
    """Weight-space blending: one network whose every floating-point weight and buffer is the
    weighted mean of the networks' (integer buffers such as BatchNorm's step count come from
    the first). Only meaningful for networks fine-tuned from one network (see the module docs).

    Args:
        networks: unprepared (unfolded) networks of one architecture, in any mode.
        weights: one per network; used as given (normalize them first).
        labels: names for error messages (default: the networks' metadata names).

    Returns:
        A new float32 CPU network in eval mode.

    Raises:
        StyleMixError: the networks differ in architecture (config or weight shapes).
    """
    labels = list(labels) if labels is not None else [model_label(net) for net in networks]
    first = networks[0]
    states = [net.state_dict() for net in networks]
    for net, state, label in zip(networks[1:], states[1:], labels[1:]):
        if net.config != first.config or state.keys() != states[0].keys() or any(
                state[key].shape != states[0][key].shape for key in state):
            raise StyleMixError(
                f"cannot blend the weights of {labels[0]} and {label}: their architectures differ "
                f"({_differences(first, net)}); weight-space blending needs networks of one architecture "
                "fine-tuned from one network; use output blending")
    blended = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            blended[key] = sum(state[key].detach().float().cpu() * weight for state, weight in zip(states, weights))
        else:
            blended[key] = value.detach().cpu()
    net = TransformerNet.from_config(first.config)
    net.load_state_dict(blended)
    return net.eval()


def _differences(first: TransformerNet, other: TransformerNet) -> str:
    """"attention srm vs none, ..." for the config fields that differ (or "weight shapes")."""
    ours, theirs = first.config.as_dict(), other.config.as_dict()
    fields = [f"{key} {ours[key]} vs {theirs.get(key)}" for key in ours if ours[key] != theirs.get(key)]
    return ", ".join(fields) or "weight shapes"
