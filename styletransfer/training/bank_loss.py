"""The perceptual losses of a bank of style networks, computed together (issue 22).

:class:`BankLoss` is :class:`styletransfer.losses.perceptual.PerceptualLoss` for N networks trained on the
same photos: one frozen VGG for all of them; the photos' content features computed once; every
network's output through the VGG as one batch, with its Gram matrices and sorted color
projections; then, per network, its terms from its rows of those, with its own weights, its own
painting's Gram targets and color quantiles, its own teacher. The result is an (M, 5) tensor of
the M networks' content, style, tv, color and distill terms.

Each network's terms are PerceptualLoss's expressions on its own rows (the VGG, the Gram
matrices and the sort give every image the same numbers in any batch), so a network in a bank
gets the same losses and gradients as alone, to the last bit on this CPU (tests/test_bank.py):
Adam turns any rounding difference in the gradients of the biases before a BatchNorm, whose true
gradient is 0, into a full learning-rate step, and the difference then grows step by step.

The networks' terms never mix, so a network whose loss is not finite leaves the others' losses
and gradients as they are.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from styletransfer.losses.color import ColorDistributionLoss, color_directions, paired_color_distance, quantiles, sorted_projections
from styletransfer.losses.perceptual import full_precision, gram_matrix, total_variation
from styletransfer.models.vgg import VGGFeatures, layer_names
from styletransfer.training.config import TrainingConfig

LOSS_COLUMNS = ("content", "style", "tv", "color", "distill")
"""The columns of :meth:`BankLoss.forward`'s result."""


def _stacked(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The (N, ...) tensors as one (len × N, ...) batch; a single one as it is (no copy)."""
    return torch.cat(list(tensors)) if len(tensors) > 1 else tensors[0]


def _slices(rows: Sequence[int], batch: int) -> dict[int, slice]:
    """Where each of ``rows`` sits in a batch of their ``batch``-image blocks stacked in that order."""
    return {row: slice(i * batch, (i + 1) * batch) for i, row in enumerate(rows)}


class BankLoss(nn.Module):
    """The losses of N networks, each against its own painting, on one batch of photos.

    Args:
        styles: per network its painting, (1, 3, H, W) RGB 0..1 at its style size.
        configs: per network its options; the loss weights (content, style, tv, color, distill,
            distill_palette, distill_feature) and the content, style and distillation feature layers
            are read from them.
        backbone: the VGG of the loss (as PerceptualLoss).
        vgg: an already-built VGGFeatures covering every network's layers (tests pass random ones).

    forward(members, photos, outputs, teacher_outputs): ``members`` are the indices (into
    ``configs``) of the M networks in this step, ``photos`` the (B, 3, S, S) batch they all
    stylized, ``outputs`` their M (B, 3, S, S) stylized batches, ``teacher_outputs`` for each
    its teacher's output or None. Returns (M, 5) float32: content, style, tv, color, distill,
    each already weighted. Safe under fp16 and bf16 autocast as PerceptualLoss is (Gram
    matrices and squared errors in float32).
    """

    def __init__(self, styles: Sequence[torch.Tensor], configs: Sequence[TrainingConfig], *,
                 backbone: str = "vgg19", vgg: VGGFeatures | None = None):
        super().__init__()
        if len(styles) != len(configs) or not configs:
            raise ValueError(f"{len(styles)} paintings for {len(configs)} networks")
        order = layer_names(backbone)
        self.content_layers = tuple(sorted({name for c in configs for name in c.content_layers}, key=order.get))
        self.style_layers = tuple(sorted({name for c in configs for name in c.style_layers}, key=order.get))
        self.feature_layers = tuple(sorted({name for c in configs if c.distill_feature_weight
                                            for name in c.distill_feature_layers}, key=order.get))
        self.vgg = vgg or VGGFeatures(sorted(set(self.content_layers + self.style_layers + self.feature_layers),
                                             key=order.get), backbone)
        self.count = len(configs)
        self.configs = [_Weights.of(config) for config in configs]
        # Every network's Gram targets, stacked per layer (zeros where a network leaves the layer out).
        device = next(self.vgg.parameters()).device
        grams: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for index, (style, config) in enumerate(zip(styles, configs)):
                style = style.unsqueeze(0) if style.dim() == 3 else style
                features = self.vgg(style.to(device, torch.float32), config.style_layers)
                for name in config.style_layers:
                    gram = gram_matrix(features[name])[0]
                    if name not in grams:
                        grams[name] = gram.new_zeros((self.count, *gram.shape))
                    grams[name][index] = gram
        for name, stacked in grams.items():
            self.register_buffer(f"_grams_{name}", stacked, persistent=False)
        self.colors = nn.ModuleDict({str(index): ColorDistributionLoss(style.to(device, torch.float32).clamp(0, 1))
                                     for index, (style, config) in enumerate(zip(styles, configs))
                                     if config.color_weight})
        self.register_buffer("directions", color_directions(), persistent=False)
        self._color_targets: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def _color_target(self, index: int, pixels: int) -> torch.Tensor:
        """(pixels, D) quantiles of network ``index``'s painting (cached per size and device)."""
        sorted_painting = self.colors[str(index)].painting_sorted
        key = (index, pixels, sorted_painting.device)
        if key not in self._color_targets:
            self._color_targets[key] = quantiles(sorted_painting, pixels)
        return self._color_targets[key]

    def grams(self, name: str) -> torch.Tensor:
        """(N, C, C) target Gram matrices of style layer ``name``, one per network."""
        return getattr(self, f"_grams_{name}")

    def forward(self, members: Sequence[int], photos: torch.Tensor, outputs: Sequence[torch.Tensor],
                teacher_outputs: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        count, batch = len(members), photos.shape[0]
        if len(outputs) != count:
            raise ValueError(f"{len(outputs)} outputs for {count} networks")
        device = photos.device
        zero = photos.new_zeros((), dtype=torch.float32)
        weights = [self.configs[k] for k in members]
        # The costly parts once for all networks: the photos' content features, the outputs' VGG
        # features and Gram matrices, and the sorted color projections.
        # Networks with the distillation's feature term (and a teacher output this step) need the
        # VGG of their output too, and of their teacher's.
        with_features = [row for row, w in enumerate(weights) if w.distill_feature_weight
                         and teacher_outputs is not None and teacher_outputs[row] is not None]
        with_vgg = [row for row, w in enumerate(weights) if w.content_weight or w.style_weight or row in with_features]
        features: dict[str, torch.Tensor] = {}
        grams: dict[str, torch.Tensor] = {}
        if with_vgg:
            with torch.no_grad():
                targets = self.vgg(photos, self.content_layers)
            features = self.vgg(_stacked([outputs[row] for row in with_vgg]))
            grams = {name: gram_matrix(features[name]) for name in self.style_layers}
        # The teachers' features for the feature term, as one batch too (no gradient: targets).
        wanted: dict[str, torch.Tensor] = {}
        if with_features:
            with torch.no_grad():
                wanted = self.vgg(_stacked([teacher_outputs[row].detach() for row in with_features]),
                                  self.feature_layers)
        colored = [row for row, k in enumerate(members) if str(k) in self.colors]
        if colored:
            with full_precision(device):
                images = _stacked([outputs[row] for row in colored])
                n, c, h, w = images.shape
                projected = sorted_projections(images.float().reshape(n, c, h * w), self.directions)
        # Then each network's terms, as PerceptualLoss computes them (the same expressions on its
        # rows, so the same numbers and gradients).
        in_vgg = _slices(with_vgg, batch)
        in_colors = _slices(colored, batch)
        in_teachers = _slices(with_features, batch)
        rows = []
        for row, (k, w) in enumerate(zip(members, weights)):
            output = outputs[row]
            content_loss = style_loss = zero
            if w.content_weight or w.style_weight:
                with full_precision(device):
                    content_loss = sum(F.mse_loss(features[name][in_vgg[row]].float(), targets[name].float())
                                       for name in w.content_layers)
                    style_loss = sum(
                        weight * F.mse_loss(grams[name][in_vgg[row]], self.grams(name)[k:k + 1].expand(batch, -1, -1))
                        for name, weight in zip(w.style_layers, w.style_layer_weights))
            with full_precision(device):
                color = zero
                if row in in_colors:
                    target = self._color_target(k, output.shape[-2] * output.shape[-1])
                    color = w.color_weight * (projected[in_colors[row]] - target).square().mean()
                distill = zero
                teacher = None if teacher_outputs is None else teacher_outputs[row]
                if teacher is not None:
                    distill = w.distill_weight * F.mse_loss(output.float(), teacher.detach().float())
                    if w.distill_palette_weight:
                        distill = distill + w.distill_palette_weight * paired_color_distance(output, teacher)
                    if row in in_teachers:
                        distill = distill + w.distill_feature_weight * sum(
                            F.mse_loss(features[name][in_vgg[row]].float(), wanted[name][in_teachers[row]].float())
                            for name in w.distill_feature_layers)
            rows.append(torch.stack([w.content_weight * content_loss, w.style_weight * style_loss,
                                     w.tv_weight * total_variation(output), color, distill]))
        return torch.stack(rows)


@dataclass(frozen=True)
class _Weights:
    """The loss options of one network."""

    content_weight: float
    style_weight: float
    tv_weight: float
    color_weight: float
    distill_weight: float
    distill_palette_weight: float
    distill_feature_weight: float
    distill_feature_layers: tuple[str, ...]
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_layer_weights: tuple[float, ...]

    @classmethod
    def of(cls, config: TrainingConfig) -> _Weights:
        layer_weights = config.style_layer_weights or [1.0] * len(config.style_layers)
        return cls(config.content_weight, config.style_weight, config.tv_weight, config.color_weight,
                   config.distill_weight, config.distill_palette_weight, config.distill_feature_weight,
                   tuple(config.distill_feature_layers), tuple(config.content_layers),
                   tuple(config.style_layers), tuple(float(weight) for weight in layer_weights))
