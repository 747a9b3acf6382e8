"""The perceptual loss of Johnson et al. 2016: content (feature MSE), style (Gram-matrix MSE,
Gatys et al. 2015) and total variation, on frozen VGG features; optionally a color-statistics
term (:mod:`styletransfer.losses.color`) on the output's pixels, and a distillation term: the pixel
MSE to a teacher network's output (Hinton et al. 2015's knowledge distillation, applied to the
images; issue 14's slim networks learn from the full one this way), plus the distance between
the output's colors and the teacher output's (:func:`~styletransfer.losses.color.paired_color_distance`,
a histogram loss in the sense of Risser et al. 2017), which keeps the minor colors a small
student would otherwise average away, and the MSE between the VGG features of the output and the
teacher's output (the content loss with the teacher's picture as its target), which asks a small
student for the edges a pixel MSE lets it blur.
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from styletransfer.losses.color import ColorDistributionLoss, paired_color_distance
from styletransfer.models.vgg import VGGFeatures

DEFAULT_CONTENT_LAYERS = ("relu2_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
DEFAULT_DISTILL_FEATURE_LAYERS = DEFAULT_CONTENT_LAYERS
"""Layers of the distillation's feature term: the content layer, so the term is the content loss
with the teacher's picture as its target instead of the photo."""


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """A region where autocast is off, so float32 inputs are computed in float32.

    Under fp16 autocast ``torch.bmm`` and ``mse_loss``'s inputs would otherwise run in fp16,
    whose largest value is 65504: Gram entries of Caffe-range (0–255 input) VGG features, and
    the squared errors of relu activations in the hundreds, exceed it, so the style loss
    becomes ``inf`` and the GradScaler skips every step.
    """
    return torch.autocast(device_type=device.type, enabled=False)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices of (N, C, H, W) features (any float dtype), normalized by C·H·W →
    (N, C, C) float32, computed in float32 even under autocast."""
    n, c, h, w = features.shape
    with full_precision(features.device):
        flat = features.reshape(n, c, h * w).float()
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels of (N, C, H, W) images (a scalar)."""
    with full_precision(images.device):
        images = images.float()
        dx = images[..., :, 1:] - images[..., :, :-1]
        dy = images[..., 1:, :] - images[..., :-1, :]
        return dx.square().mean() + dy.square().mean()


@dataclass
class LossTerms:
    """Weighted loss terms (scalars); ``total`` = content + style + tv + color + distill."""

    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    color: torch.Tensor
    distill: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.content + self.style + self.tv + self.color + self.distill

    def as_floats(self) -> dict[str, float]:
        return {"content": self.content.item(), "style": self.style.item(), "tv": self.tv.item(),
                "color": self.color.item(), "distill": self.distill.item(), "total": self.total.item()}


class PerceptualLoss(nn.Module):
    """Content + style + total-variation loss against one style image.

    Args:
        style_image: (1, 3, H, W) RGB in [0, 1]; its Gram matrices (and color quantiles)
            are computed once here (and again only by :meth:`set_style`).
        content_weight, style_weight, tv_weight, color_weight: multipliers of the four terms;
            ``color_weight`` 0 (the default) leaves the color term out (it is then 0).
        distill_weight: multiplier of the pixel MSE to ``teacher_output`` when forward gets one
            (the distillation term; 0 without a teacher output).
        distill_palette_weight: multiplier of the color distance to ``teacher_output``
            (:func:`~styletransfer.losses.color.paired_color_distance`), added to the distillation term.
        distill_feature_weight: multiplier of the MSE between the ``distill_feature_layers`` VGG
            features of the output and of ``teacher_output``, added to the distillation term (0: left out).
        content_layers: VGG layers for the content term (default relu2_2, as Johnson et al.).
        style_layers: VGG layers for the style term; ``style_layer_weights`` weights each
            (default 1 each); a mapping or a sequence in the same order.
        backbone: ``"vgg19"`` (default) or ``"vgg16"``, see :mod:`styletransfer.models.vgg`.
        vgg: an already-built :class:`VGGFeatures` covering these layers (tests pass random ones).

    With ``content_weight``, ``style_weight`` and ``distill_feature_weight`` all 0 the VGG network is
    not run at all (their terms are then 0): a distillation fine-tune from the teacher alone costs a fraction of a
    perceptual step on a CPU.

    The defaults are tuned for VGG19 Caffe-range features (0–255 inputs), on which relu2_2 MSE
    is in the thousands and Gram entries in the hundreds.

    forward(output, content, teacher_output=None): all (N, 3, H, W) RGB in [0, 1]; ``output`` is
    the network's stylized image, ``content`` the photo it was made from, ``teacher_output`` a
    teacher network's stylized image of the same photo (no gradient flows into it). Returns
    :class:`LossTerms`, float32.
    Safe under fp16 and bf16 autocast: the VGG runs in the autocast dtype, while the Gram
    matrices and every mean squared error are computed in float32 (see :func:`full_precision`).
    """

    def __init__(self, style_image: torch.Tensor, *, content_weight: float = 1.0,
                 style_weight: float = 1.0, tv_weight: float = 0.0, color_weight: float = 0.0,
                 distill_weight: float = 0.0, distill_palette_weight: float = 0.0,
                 distill_feature_weight: float = 0.0,
                 distill_feature_layers: Sequence[str] = DEFAULT_DISTILL_FEATURE_LAYERS,
                 content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
                 style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
                 style_layer_weights: Mapping[str, float] | Sequence[float] | None = None,
                 backbone: str = "vgg19", vgg: VGGFeatures | None = None):
        super().__init__()
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        if style_layer_weights is None:
            style_layer_weights = [1.0] * len(self.style_layers)
        if isinstance(style_layer_weights, Mapping):
            style_layer_weights = [style_layer_weights.get(name, 1.0) for name in self.style_layers]
        if len(style_layer_weights) != len(self.style_layers):
            raise ValueError(f"{len(style_layer_weights)} style layer weights for "
                             f"{len(self.style_layers)} style layers")
        self.style_layer_weights = [float(w) for w in style_layer_weights]
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.color_weight = color_weight
        self.distill_weight = distill_weight
        self.distill_palette_weight = distill_palette_weight
        self.distill_feature_weight = distill_feature_weight
        self.distill_feature_layers = tuple(distill_feature_layers) if distill_feature_weight else ()
        self.color_loss: ColorDistributionLoss | None = None
        self.vgg = vgg or VGGFeatures(sorted(set(self.content_layers + self.style_layers
                                                 + self.distill_feature_layers)), backbone)
        self.set_style(style_image)

    def set_style(self, style_image: torch.Tensor) -> None:
        """Compute and keep the target Gram matrices of a (1, 3, H, W) RGB [0, 1] image."""
        if style_image.dim() == 3:
            style_image = style_image.unsqueeze(0)
        device = next(self.vgg.parameters()).device
        with torch.no_grad():
            features = self.vgg(style_image.to(device, torch.float32), self.style_layers)
        for name in self.style_layers:
            self.register_buffer(f"_gram_{name}", gram_matrix(features[name]), persistent=False)
        if self.color_weight:
            self.color_loss = ColorDistributionLoss(style_image.to(device, torch.float32).clamp(0, 1))

    def style_gram(self, name: str) -> torch.Tensor:
        """Target Gram matrix (1, C, C) of style layer ``name``."""
        return getattr(self, f"_gram_{name}")

    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """Content-layer features of the photos (no gradient needed: they are targets)."""
        with torch.no_grad():
            features = self.vgg(content, self.content_layers)
        return {name: features[name] for name in self.content_layers}

    def feature_distance(self, output: torch.Tensor, teacher_output: torch.Tensor,
                         features: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Sum over ``distill_feature_layers`` of the MSE between the VGG features of the (N, 3, H, W)
        ``output`` and of ``teacher_output`` (no gradient flows into it): a float32 scalar.
        ``features`` are the output's features when already computed (the content/style pass)."""
        layers = self.distill_feature_layers
        with torch.no_grad():
            wanted = self.vgg(teacher_output.detach(), layers)
        if features is None or any(name not in features for name in layers):
            features = self.vgg(output, layers)
        with full_precision(output.device):
            return sum(F.mse_loss(features[name].float(), wanted[name].float()) for name in layers)

    def forward(self, output: torch.Tensor, content: torch.Tensor,
                teacher_output: torch.Tensor | None = None) -> LossTerms:
        zero = output.new_zeros((), dtype=torch.float32)
        content_loss = style_loss = zero
        features: dict[str, torch.Tensor] = {}
        feature_term = teacher_output is not None and bool(self.distill_feature_layers)
        if self.content_weight or self.style_weight:
            targets = self.content_targets(content)
            features = self.vgg(output)
            grams = {name: gram_matrix(features[name]) for name in self.style_layers}
            # The features may be fp16/bf16 under autocast; every sum of squares is taken in float32.
            with full_precision(output.device):
                content_loss = sum(F.mse_loss(features[name].float(), targets[name].float())
                                   for name in self.content_layers)
                style_loss = sum(
                    weight * F.mse_loss(grams[name], self.style_gram(name).expand(output.shape[0], -1, -1))
                    for name, weight in zip(self.style_layers, self.style_layer_weights)
                )
        elif feature_term:
            # Run the loss network on the output first, as the content/style pass does, so the
            # gradients reach the output in the same order as in a bank (BankLoss): the same bits.
            features = self.vgg(output, self.distill_feature_layers)
        with full_precision(output.device):
            color_loss = self.color_weight * self.color_loss(output) if self.color_loss is not None else zero
            distill_loss = zero
            if teacher_output is not None:
                distill_loss = self.distill_weight * F.mse_loss(output.float(), teacher_output.detach().float())
                if self.distill_palette_weight:
                    distill_loss = distill_loss + self.distill_palette_weight * paired_color_distance(
                        output, teacher_output)
        if feature_term:
            distill_loss = distill_loss + self.distill_feature_weight * self.feature_distance(
                output, teacher_output, features)
        return LossTerms(content=self.content_weight * content_loss,
                         style=self.style_weight * style_loss,
                         tv=self.tv_weight * total_variation(output), color=color_loss, distill=distill_loss)
