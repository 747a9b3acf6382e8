"""The scores of :mod:`styletransfer.evaluation.evaluate`, on tensors: palette, texture,
structure and layout (their definitions and what they mean are in that module's docs and in
``docs/scoring.md``)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from styletransfer.losses.color import quantiles, random_unit_directions
from styletransfer.models.vgg import VGGFeatures

PROJECTIONS = 128
"""Random directions of every sliced Wasserstein distance."""

QUANTILES = 1024
"""Quantile levels at which two projected distributions are compared."""

MAX_PIXELS_SAMPLED = 65_536
"""Largest number of pixels of one image that enter the palette distance."""

TEXTURE_LAYERS = ("relu3_2", "relu5_1")
"""VGG19 layers of the texture distance; the training loss uses none of them."""

LAYOUT_SIZE = 32
"""Side, in cells, of the luma thumbnails the layout score correlates."""

_SEED = 0
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as Pillow's "L" conversion



def _random_directions(dimensions: int, count: int = PROJECTIONS) -> torch.Tensor:
    """(dimensions, count) float32 unit vectors, the same on every call."""
    return random_unit_directions(dimensions, count, _SEED)


def _quantiles(values: torch.Tensor, levels: int = QUANTILES) -> torch.Tensor:
    """(levels, K) quantiles of each column of (N, K) ``values`` (the ``"ends"`` convention of
    :func:`styletransfer.losses.color.quantiles`)."""
    return quantiles(values.sort(dim=0).values, levels, spread="ends")


def sliced_wasserstein(first: torch.Tensor, second: torch.Tensor, projections: int = PROJECTIONS) -> float:
    """Sliced Wasserstein-1 distance between two point clouds.

    Args:
        first, second: (N, D) and (M, D) float tensors (N and M may differ, D must match).
        projections: how many fixed random unit directions of R^D to average over.

    Returns:
        The mean over the directions of the mean absolute difference between the quantiles
        of the two projected clouds (in the points' own units); 0 for identical clouds.
    """
    if first.dim() != 2 or second.dim() != 2 or first.shape[1] != second.shape[1]:
        raise ValueError(f"expected (N, D) and (M, D) point clouds, got {tuple(first.shape)} and "
                         f"{tuple(second.shape)}")
    if first.shape[0] == 0 or second.shape[0] == 0:
        raise ValueError("cannot compare an empty point cloud")
    directions = _random_directions(first.shape[1], projections).to(first.device)
    first_projected = first.float() @ directions
    second_projected = second.float().to(first.device) @ directions
    return float((_quantiles(first_projected) - _quantiles(second_projected)).abs().mean())


def _pixel_colors(image: torch.Tensor, limit: int = MAX_PIXELS_SAMPLED) -> torch.Tensor:
    """(n, 3) RGB rows of a (1, 3, H, W) or (3, H, W) image: all of them, or ``limit`` drawn
    without replacement by a generator seeded afresh for every image."""
    pixels = image.reshape(3, -1).t()
    if pixels.shape[0] <= limit:
        return pixels
    generator = torch.Generator().manual_seed(_SEED)
    chosen = torch.randperm(pixels.shape[0], generator=generator)[:limit]
    return pixels[chosen.to(pixels.device)]


def palette_distance(output: torch.Tensor, painting: torch.Tensor) -> float:
    """Palette score: sliced Wasserstein-1 distance between the pixel colors of two images.

    Args:
        output, painting: (1, 3, H, W) or (3, H, W) RGB in 0..1; sizes may differ.

    Returns:
        A distance in RGB 0..1 units, ≥ 0; 0 for images with the same colors.
    """
    return sliced_wasserstein(_pixel_colors(output), _pixel_colors(painting))


def edge_map(image: torch.Tensor) -> torch.Tensor:
    """(H, W) float32 Sobel gradient magnitude of the BT.601 luma of a (1, 3, H, W) or
    (3, H, W) RGB 0..1 image.

    The border is replicated and the 3×3 Sobel filters are applied as separable sums and
    differences of neighbours, so a constant image has exactly zero edges (a convolution
    leaves rounding noise of ~1e-8).
    """
    rgb = image.reshape(3, *image.shape[-2:]).float()
    luma = (rgb * torch.tensor(_LUMA, device=rgb.device).view(3, 1, 1)).sum(0)
    padded = F.pad(luma[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    smooth_rows = padded[:-2] + 2 * padded[1:-1] + padded[2:]  # (H, W + 2): [1, 2, 1] down the rows
    smooth_columns = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]  # (H + 2, W)
    horizontal = smooth_rows[:, 2:] - smooth_rows[:, :-2]
    vertical = smooth_columns[2:] - smooth_columns[:-2]
    return (horizontal.square() + vertical.square()).sqrt()


def structure_kept(output: torch.Tensor, photo: torch.Tensor) -> float:
    """Structure score: Pearson correlation of the edge maps (:func:`edge_map`) of two images.

    Args:
        output, photo: (1, 3, H, W) or (3, H, W) RGB in 0..1 of the same H and W.

    Returns:
        -1..1: 1 for the same edges (up to gain and offset), 0 when either image has no edges
        (edge maps whose standard deviation is below 1e-6 count as none).

    Raises:
        ValueError: the images differ in size.
    """
    if output.shape[-2:] != photo.shape[-2:]:
        raise ValueError(f"structure needs images of the same size, got {tuple(output.shape[-2:])} "
                         f"and {tuple(photo.shape[-2:])}")
    first = edge_map(output).flatten().double()
    second = edge_map(photo).flatten().double().to(first.device)
    first, second = first - first.mean(), second - second.mean()
    if min(first.norm(), second.norm()) <= 1e-6 * math.sqrt(first.numel()):
        return 0.0
    return float((first @ second) / (first.norm() * second.norm()))


def luma_thumbnail(image: torch.Tensor, size: int = LAYOUT_SIZE) -> torch.Tensor:
    """(size, size) float64 BT.601 luma of a (1, 3, H, W) or (3, H, W) RGB 0..1 image,
    area-averaged onto a size×size grid over the whole frame (each cell the mean of the pixels
    it covers; an image smaller than the grid repeats its pixels)."""
    rgb = image.reshape(3, *image.shape[-2:]).double()
    luma = (rgb * torch.tensor(_LUMA, dtype=torch.float64, device=rgb.device).view(3, 1, 1)).sum(0)
    return F.adaptive_avg_pool2d(luma[None, None], (size, size))[0, 0]


def layout_kept(output: torch.Tensor, photo: torch.Tensor, size: int = LAYOUT_SIZE) -> float:
    """Layout score: Pearson correlation of the 32×32 luma thumbnails (:func:`luma_thumbnail`)
    of two images: how much of the photo's light and dark masses the output keeps.

    Args:
        output, photo: (1, 3, H, W) or (3, H, W) RGB in 0..1; sizes may differ (each frame is
            mapped whole onto the grid), though :func:`evaluate` compares them at one size.
        size: the thumbnails' side in cells.

    Returns:
        -1..1: 1 for the same masses up to brightness and contrast, about 0 for unrelated
        images, negative for inverted ones; 0 when either thumbnail is flat (standard deviation
        below 1e-6).
    """
    first = luma_thumbnail(output, size).flatten()
    second = luma_thumbnail(photo, size).flatten().to(first.device)
    first, second = first - first.mean(), second - second.mean()
    if min(first.norm(), second.norm()) <= 1e-6 * math.sqrt(first.numel()):
        return 0.0
    return float((first @ second) / (first.norm() * second.norm()))


def texture_features(vgg: VGGFeatures, image: torch.Tensor) -> list[torch.Tensor]:
    """The feature vectors the texture score compares.

    Args:
        vgg: an extractor with (at least) the :data:`TEXTURE_LAYERS`.
        image: (1, 3, H, W) or (3, H, W) RGB in 0..1; H and W at least 16 px (relu5_1 is
            four poolings deep).

    Returns:
        One (H'·W', C) float32 tensor per layer of :data:`TEXTURE_LAYERS`, on ``vgg``'s device.
    """
    device = vgg.shift.device
    batch = image.reshape(1, 3, *image.shape[-2:]).to(device, torch.float32)
    with torch.inference_mode():
        features = vgg(batch, TEXTURE_LAYERS)
    return [features[name][0].flatten(1).t().float() for name in TEXTURE_LAYERS]


def texture_feature_distance(output: Sequence[torch.Tensor], painting: Sequence[torch.Tensor]) -> float:
    """Texture score from :func:`texture_features` of the output and of the painting: per layer
    the sliced Wasserstein-1 distance divided by the RMS of the painting's features, averaged
    over the layers (see the module docs)."""
    distances = []
    for output_layer, painting_layer in zip(output, painting, strict=True):
        scale = painting_layer.pow(2).mean().sqrt().clamp_min(1e-6)
        distances.append(sliced_wasserstein(output_layer, painting_layer) / float(scale))
    return sum(distances) / len(distances)


def texture_distance(output: torch.Tensor, painting: torch.Tensor, vgg: VGGFeatures | None = None) -> float:
    """Texture score of two (1, 3, H, W) or (3, H, W) RGB 0..1 images (sizes may differ);
    ``vgg`` None builds a VGG19 extractor on the CPU (pass one to score many images)."""
    vgg = vgg or VGGFeatures(TEXTURE_LAYERS)
    return texture_feature_distance(texture_features(vgg, output), texture_features(vgg, painting))
