"""A color-statistics loss: the sliced Wasserstein distance between the pixel colors of the
stylized images and those of the painting.

The Gram loss of Gatys et al. matches second moments of VGG features, which the painting's
dominant colors govern: a painting's minor colors (Starry Night's yellows beside its blues)
barely move it, and a network trained on it keeps the photo's colors. Matching the whole color
distribution fixes that. Following Heitz et al. 2021, "A Sliced Wasserstein Loss for Neural
Texture Synthesis" (and Pitié et al. 2005's color transfer by 1-D distribution matching), the
distribution is compared along fixed directions of RGB space: for each direction the projected
colors of each output image are sorted and compared with the painting's quantiles at the same
ranks.

:func:`paired_color_distance` is the same distance between each image and its own target image:
the distillation of a slim network matches its colors to its teacher's output this way
(:mod:`styletransfer.losses.perceptual`), because a pixel MSE alone lets a small student average away the
minor colors its teacher paints.

The project's palette score (:func:`styletransfer.evaluation.evaluate.palette_distance`) measures the
same kind of distance (sliced Wasserstein-1, 128 other directions), so a model trained with
this term is judged on palette partly by what it optimized; the texture and structure scores
and the contact sheets are the independent checks.
"""
from __future__ import annotations

import torch
import torch.nn as nn

DIRECTIONS = 32
"""Fixed unit directions of RGB space along which the color distributions are compared."""

MAX_PAINTING_PIXELS = 262_144
"""Pixels of the painting kept as the target distribution (drawn with a fixed seed)."""

_SEED = 1234


def random_unit_directions(dimensions: int, count: int, seed: int) -> torch.Tensor:
    """(dimensions, count) float32 unit vectors drawn by a generator seeded with ``seed``: the
    same on every call with the same arguments."""
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(dimensions, count, generator=generator)
    return directions / directions.norm(dim=0, keepdim=True)


def color_directions(count: int = DIRECTIONS) -> torch.Tensor:
    """(3, count) float32 unit vectors of RGB space, the same on every call."""
    return random_unit_directions(3, count, _SEED)


def quantiles(ordered: torch.Tensor, levels: int, *, spread: str = "centred") -> torch.Tensor:
    """(levels, K) quantiles at (i + 0.5) / levels of each column of (M, K) ``ordered``
    (already sorted along dim 0), linearly interpolated between the sorted values.

    Two conventions of where those levels fall among M sorted values, both kept because
    published numbers depend on them:

    - ``"centred"`` (the colour loss): the j-th sorted value stands for the quantile
      (j + 0.5) / M, so ``levels == M`` returns the sorted values themselves;
    - ``"ends"`` (the evaluation scores): the first and last sorted values stand for 0 and 1,
      positions (i + 0.5) / levels · (M − 1).
    """
    count = ordered.shape[0]
    steps = torch.arange(levels, dtype=torch.float64, device=ordered.device) + 0.5
    if spread == "centred":
        positions = (steps * count / levels - 0.5).clamp(0, count - 1)
    elif spread == "ends":
        positions = steps / levels * (count - 1)
    else:
        raise ValueError(f"unknown quantile spread {spread!r}; expected 'centred' or 'ends'")
    below = positions.floor().long()
    above = torch.clamp(below + 1, max=count - 1)
    weight = (positions - below).to(ordered.dtype).unsqueeze(1)
    return ordered[below] * (1 - weight) + ordered[above] * weight


def sorted_projections(colors: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """(N, P, D) float32 colors projected on each direction and sorted over the pixels, from
    (N, 3, P) float32 colors of N images and (3, D) unit ``directions``."""
    return (colors.transpose(1, 2) @ directions).sort(dim=1).values


PAIRED_PIXELS = 4096
"""Pixels per image drawn at random (at the same places in both images) by
:func:`paired_color_distance`: sorting every pixel of a training batch costs as much as the slim
network's own step on a CPU, and the distance of a 4,096-pixel sample is a close estimate."""


def paired_color_distance(images: torch.Tensor, targets: torch.Tensor, directions: int = DIRECTIONS,
                          pixels: int = PAIRED_PIXELS) -> torch.Tensor:
    """Squared sliced Wasserstein-2 distance between the pixel colors of each image and those of
    its own target image (the distillation palette term: a student's output against its
    teacher's output of the same photo).

    Args:
        images: (N, 3, H, W) RGB in [0, 1], any float dtype (gradients flow through it).
        targets: (N, 3, H, W) RGB in [0, 1], the same size (no gradient flows into it).
        directions: how many fixed directions of RGB space (see :func:`color_directions`).
        pixels: at most this many pixel positions, drawn at random from the global generator
            (the same positions in every image and its target), enter the distance.

    Returns:
        A float32 scalar, the mean over images, directions and ranks of the squared difference
        between the sorted projected colors of an image and of its target (squared RGB 0..1
        units; 0 when each image has its target's colors, wherever they are). Computed in
        float32 even under autocast.
    """
    if images.shape != targets.shape:
        raise ValueError(f"images {tuple(images.shape)} and targets {tuple(targets.shape)} differ in shape")
    n, c, h, w = images.shape
    axis = color_directions(directions).to(images.device)
    with torch.autocast(device_type=images.device.type, enabled=False):
        first = images.float().reshape(n, c, h * w)
        second = targets.detach().float().reshape(n, c, h * w)
        if h * w > pixels:
            chosen = torch.randperm(h * w, device=images.device)[:pixels]
            first, second = first[:, :, chosen], second[:, :, chosen]
        return (sorted_projections(first, axis) - sorted_projections(second, axis)).square().mean()


class ColorDistributionLoss(nn.Module):
    """Squared sliced Wasserstein-2 distance between each image's pixel colors and the
    painting's.

    Args:
        painting: (1, 3, H, W) or (3, H, W) RGB in [0, 1].
        directions: how many fixed directions of RGB space (see :func:`color_directions`).

    forward(images): (N, 3, H, W) RGB in [0, 1] (any float dtype) → a float32 scalar, the
    mean over images, directions and ranks of the squared difference between the sorted
    projected colors of an image and the painting's quantiles at the same ranks (units:
    squared RGB 0..1; 0 when an image's colors are distributed as the painting's). Computed in
    float32 even under autocast.
    """

    def __init__(self, painting: torch.Tensor, directions: int = DIRECTIONS):
        super().__init__()
        if painting.dim() == 4:
            painting = painting[0]
        pixels = painting.float().reshape(3, -1).t()
        if pixels.shape[0] > MAX_PAINTING_PIXELS:
            generator = torch.Generator().manual_seed(_SEED)
            pixels = pixels[torch.randperm(pixels.shape[0], generator=generator)[:MAX_PAINTING_PIXELS]]
        self.register_buffer("directions", color_directions(directions).to(pixels.device), persistent=False)
        projected = (pixels @ self.directions).sort(dim=0).values
        self.register_buffer("painting_sorted", projected, persistent=False)
        self._targets: dict[tuple[int, torch.device], torch.Tensor] = {}

    def _target(self, count: int) -> torch.Tensor:
        """(count, directions) painting quantiles for images of ``count`` pixels (cached)."""
        key = (count, self.painting_sorted.device)
        if key not in self._targets:
            self._targets = {key: quantiles(self.painting_sorted, count)}
        return self._targets[key]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n, c, h, w = images.shape
        with torch.autocast(device_type=images.device.type, enabled=False):
            projected = sorted_projections(images.float().reshape(n, c, h * w), self.directions)
            return (projected - self._target(h * w)).square().mean()
