"""Training data: content images from a folder or from MS-COCO, as random square crops.

Every item is a (3, S, S) float32 tensor, RGB in 0..1: the image's shorter side resized to
S (bilinear, antialiased), then an S x S crop at a position drawn from torch's random number
generator, so ``torch.manual_seed`` (and DataLoader worker seeding) makes the data
reproducible. ``crop_pixels`` gives the same crop as uint8 (what training sends to the device,
a quarter of the bytes); ``cache_decoded`` keeps every resized image in memory so that later
epochs decode nothing (same crops either way).

Unreadable files never stop training. By default every file is decoded once when the data
set is built and the bad ones are left out and listed in ``.skipped`` as
``(path, problem)``. With ``validate=False`` (for large sets such as COCO) a file that
fails when its item is read is replaced by the next readable file, deterministically,
recorded in ``.skipped`` and reported once with ``warnings.warn``; with DataLoader workers
that record is kept in each worker process. A data set with no usable image fails at
construction with a :class:`DatasetError` naming its folder.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import hashlib
import io
import os
import re
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from PIL import Image
from pycocotools.coco import COCO
from torch.utils.data import Dataset

from styletransfer.core.images import PHOTO_SUFFIXES, ImageError, find_image_files, image_to_pixels, image_to_tensor, open_image, pixels_to_float
from styletransfer.errors import StyleTransferError


_COCO_YEARS = ("2017", "2014")


class DatasetError(StyleTransferError, ValueError):
    """A data set that cannot be used (missing folder, bad annotations, no usable image)."""


def find_training_photos(root: str | os.PathLike[str]) -> list[Path]:
    """All photo files under ``root``, recursively, following folder links; hidden files and
    folders skipped; sorted by path relative to ``root`` (:func:`~styletransfer.core.images.find_image_files`)."""
    return find_image_files(root, recursive=True, suffixes=PHOTO_SUFFIXES)


def scan_images(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Decode every file once to find the usable ones.

    Returns:
        ``(good, bad)``: the usable paths in the given order, and ``(path, problem)`` for
        each file that cannot be used (not an image, truncated, animated, too large, ...).
    """
    good: list[Path] = []
    bad: list[tuple[Path, str]] = []
    for path in map(Path, paths):
        try:
            open_image(path)
        except ImageError as exc:
            bad.append((path, exc.problem))
        else:
            good.append(path)
    return good, bad


def _resize_shorter_side(img: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is ``size`` (both sides at least ``size``), bilinear; Pillow
    filters over the whole footprint when shrinking, so this is antialiased."""
    scale = size / min(img.size)
    target = (max(size, round(img.width * scale)), max(size, round(img.height * scale)))
    return img if target == img.size else img.resize(target, Image.Resampling.BILINEAR)


def load_center_crop(path: str | os.PathLike[str], size: int) -> torch.Tensor:
    """The centred ``size`` x ``size`` crop of an image after resizing its shorter side to
    ``size``: a fixed, random-free view for validation and previews.

    Returns:
        (3, size, size) float32 tensor, RGB in 0..1.

    Raises:
        ImageError: the file cannot be used.
    """
    img = _resize_shorter_side(open_image(path).convert("RGB"), size)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return image_to_tensor(img.crop((left, top, left + size, top + size)))[0]


def load_resized_pixels(path: str | os.PathLike[str], size: int) -> torch.Tensor:
    """An image file decoded, its shorter side resized to ``size`` (as the crops are cut from
    it) → (3, H, W) uint8 RGB. Raises ImageError for an unusable file."""
    return image_to_pixels(_resize_shorter_side(open_image(path).convert("RGB"), size)).clone()


def random_crop(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """A ``size`` x ``size`` crop of (3, H, W) pixels at a position drawn with ``torch.randint``
    (top first, then left)."""
    height, width = pixels.shape[1:]
    top = int(torch.randint(0, height - size + 1, ()).item())
    left = int(torch.randint(0, width - size + 1, ()).item())
    return pixels[:, top: top + size, left: left + size]


def _describe_skipped(skipped: Sequence[tuple[Path, str]], shown: int = 3) -> str:
    listed = "; ".join(f"{path.name}: {problem}" for path, problem in skipped[:shown])
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"{len(skipped)} file{'s' if len(skipped) != 1 else ''} skipped: {listed}{more}"


class ImageFolderDataset(Dataset[torch.Tensor]):
    """Random square crops of the images under a folder.

    Args:
        root: the folder; searched recursively (see :func:`find_training_photos`) unless
            ``files`` is given. Named in error messages.
        image_size: S, the side of the square crops, in pixels.
        files: use exactly these files, in this order (relative paths are taken from
            ``root``), instead of searching the folder.
        validate: decode every file now and leave out the unusable ones (see the module
            docstring); False defers that to item loading.

    Attributes:
        files: the image files, in item order.
        skipped: ``(path, problem)`` for each file left out.

    Raises:
        DatasetError: ``root`` is not a folder (when searched), or no image is usable.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        image_size: int = 256,
        *,
        files: Sequence[str | os.PathLike[str]] | None = None,
        validate: bool = True,
    ):
        if image_size < 1:
            raise ValueError(f"image_size must be at least 1 pixel, not {image_size}")
        self.root = Path(root)
        self.image_size = image_size
        if files is None:
            if not self.root.is_dir():
                raise DatasetError(f"{self.root}: image folder not found")
            candidates = find_training_photos(self.root)
        else:
            candidates = [self.root / f for f in files]
        if not candidates:
            extensions = ", ".join(sorted(PHOTO_SUFFIXES))
            raise DatasetError(f"{self.root}: no image files ({extensions}) found")
        self.skipped: list[tuple[Path, str]] = []
        if validate:
            candidates, self.skipped = scan_images(candidates)
            if not candidates:
                raise DatasetError(f"no usable images in {self.root} ({_describe_skipped(self.skipped)})")
        self.files: list[Path] = candidates
        self._unusable: set[int] = set()
        self._decoded: dict[int, torch.Tensor] | None = None

    def with_files(self, files: Sequence[Path]) -> ImageFolderDataset:
        """A copy of this data set (same class and settings, a copy of ``skipped``) over
        ``files``, taken as already validated."""
        subset = copy.copy(self)
        subset.files = list(files)
        subset.skipped = list(self.skipped)
        subset._unusable = set()
        subset._decoded = None
        return subset

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        """A random (3, S, S) crop, RGB in 0..1, of file ``index`` (or, if that file cannot
        be read, of the next readable one)."""
        return pixels_to_float(self.crop_pixels(index))

    def cache_decoded(self, threads: int = 1) -> int:
        """Decode and resize every image now (``threads`` at once; Pillow releases the GIL)
        and keep them in memory as uint8, so later crops cost no decoding. Unusable files are
        recorded in ``skipped`` as when met. Returns the bytes held."""
        def load(index: int) -> torch.Tensor | ImageError:
            try:
                return load_resized_pixels(self.files[index], self.image_size)
            except ImageError as error:
                return error

        with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
            loaded = list(pool.map(load, range(len(self.files))))
        self._decoded = {}
        for index, item in enumerate(loaded):
            if isinstance(item, ImageError):
                self._mark_unusable(index, item)
            else:
                self._decoded[index] = item
        return sum(pixels.numel() for pixels in self._decoded.values())

    def estimated_cache_bytes(self) -> int:
        """What :meth:`cache_decoded` would hold, from the image sizes in the files' headers
        (a few hundred files sampled; 4:3 assumed for files that cannot be opened)."""
        sample = self.files[:: max(1, len(self.files) // 256)]
        ratios = []
        for path in sample:
            try:
                with Image.open(path) as image:
                    ratios.append(max(image.size) / max(1, min(image.size)))
            except (OSError, ValueError, Image.DecompressionBombError):
                ratios.append(4 / 3)
        mean_ratio = sum(ratios) / max(1, len(ratios))
        return int(len(self.files) * 3 * self.image_size**2 * mean_ratio)

    def crop_pixels(self, index: int) -> torch.Tensor:
        """A random (3, S, S) uint8 RGB crop of file ``index`` (or, if that file cannot be read,
        of the next readable one); from the decoded cache when :meth:`cache_decoded` filled it.
        The same random draws give the same crop with and without the cache."""
        count = len(self.files)
        if not -count <= index < count:
            raise IndexError(f"index {index} out of range for {count} images")
        for step in range(count):
            candidate = (index + step) % count
            if candidate in self._unusable:
                continue
            if self._decoded is not None:
                return random_crop(self._decoded[candidate], self.image_size)
            try:
                return random_crop(load_resized_pixels(self.files[candidate], self.image_size), self.image_size)
            except ImageError as exc:
                self._mark_unusable(candidate, exc)
        raise DatasetError(f"no usable images in {self.root} ({_describe_skipped(self.skipped)})")


    def _mark_unusable(self, index: int, error: ImageError) -> None:
        self._unusable.add(index)
        self.skipped.append((self.files[index], error.problem))
        warnings.warn(f"skipping unusable training image {error}", RuntimeWarning, stacklevel=3)


def _coco_paths(root: Path | None, annotations: Path | None) -> tuple[Path, Path]:
    """The COCO images folder and annotation file from the constructor arguments."""
    if root is None:
        if annotations is None:
            raise DatasetError("CocoDataset needs the COCO folder (root) or an annotation file")
        root = annotations.parent.parent
    if not root.is_dir():
        raise DatasetError(f"{root}: COCO folder not found")
    years = [year for year in _COCO_YEARS if (root / f"train{year}").is_dir()]
    if not years:
        raise DatasetError(f"{root}: expected train2014/ or train2017/ image folder under it")
    if annotations is not None:
        named = re.search(r"(2014|2017)", annotations.name)
        year = named[1] if named and named[1] in years else years[0]
    else:
        found = [y for y in years if (root / "annotations" / f"instances_train{y}.json").is_file()]
        year = found[0] if found else years[0]
        annotations = root / "annotations" / f"instances_train{year}.json"
    if not annotations.is_file():
        raise DatasetError(
            f"{annotations}: COCO annotation file not found (unpack the COCO "
            f"annotations_trainval{year}.zip under {root})"
        )
    return root / f"train{year}", annotations


def _coco_file_names(
    annotations: Path, categories: Sequence[str] | None, max_images: int | None
) -> list[str]:
    """The image file names (relative to the images folder) listed in the annotation file,
    filtered by category, sorted by image id."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco = COCO(str(annotations))
        known = {cat["name"]: cat["id"] for cat in coco.loadCats(coco.getCatIds())}
        if categories is None:
            ids = set(coco.getImgIds())
        else:
            unknown = [name for name in categories if name not in known]
            if unknown:
                raise DatasetError(
                    f"{annotations}: unknown COCO categor{'ies' if len(unknown) > 1 else 'y'} "
                    f"{', '.join(map(repr, unknown))}; valid names: {', '.join(sorted(known))}"
                )
            ids = {i for name in categories for i in coco.getImgIds(catIds=[known[name]])}
        ids &= coco.imgs.keys()  # annotations may name images the file does not list
        chosen = sorted(ids)[:max_images]
        return [coco.imgs[i]["file_name"] for i in chosen]
    except DatasetError:
        raise
    except (ValueError, KeyError, TypeError, AssertionError, AttributeError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise DatasetError(f"{annotations}: malformed COCO annotation file ({detail})") from exc
    except OSError as exc:
        raise DatasetError(f"{annotations}: cannot read COCO annotation file ({exc.strerror or exc})") from exc


class CocoDataset(ImageFolderDataset):
    """Random square crops of MS-COCO training images, read with pycocotools.

    Args:
        root: the COCO folder, holding ``train2017/`` or ``train2014/`` and
            ``annotations/instances_train2017.json`` (or ``...2014.json``). With both years
            present the one that has its annotation file wins, 2017 first. Defaults to the
            folder above the annotation file's folder.
        annotations: the instances annotation file, instead of the default under ``root``.
        image_size: S, the side of the square crops, in pixels.
        categories: keep only images showing any of these COCO category names, e.g.
            ``["person", "dog"]``; None keeps every image.
        max_images: use only the first N images by image id.
        validate: as for :class:`ImageFolderDataset`; decoding all 80k COCO images takes a
            while, so pass False to rely on the fallback at item loading.

    Raises:
        DatasetError: missing folder or annotation file, malformed annotations, unknown
            category names, or no usable image.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        annotations: str | os.PathLike[str] | None = None,
        image_size: int = 256,
        categories: Sequence[str] | None = None,
        max_images: int | None = None,
        validate: bool = True,
    ):
        if isinstance(categories, str):
            raise TypeError(f"categories must be a list of names, e.g. [{categories!r}], not a string")
        if categories is not None and not categories:
            raise ValueError("categories must name at least one COCO category, or be None for all")
        if max_images is not None and max_images < 1:
            raise ValueError(f"max_images must be at least 1, not {max_images}")
        images, annotation_file = _coco_paths(
            None if root is None else Path(root), None if annotations is None else Path(annotations)
        )
        files = _coco_file_names(annotation_file, categories, max_images)
        if not files:
            wanted = f" showing {', '.join(categories)}" if categories else ""
            raise DatasetError(f"{annotation_file}: no COCO images{wanted}")
        super().__init__(images, image_size, files=files, validate=validate)
        self.annotations = annotation_file


class HoldoutSplit(NamedTuple):
    """A data set split into training items and a fixed validation set."""

    train: ImageFolderDataset
    """The data set without the held-out files."""
    val_files: list[Path]
    """The held-out files, in data set order."""
    val_images: list[torch.Tensor]
    """Their (3, S, S) centre crops, RGB in 0..1 (see :func:`load_center_crop`)."""


def split_holdout(dataset: ImageFolderDataset, n: int) -> HoldoutSplit:
    """Hold out the last ``n`` readable files of ``dataset`` as a fixed validation set.

    The held-out files are never trained on: the training set is a copy of ``dataset``
    (see :meth:`ImageFolderDataset.with_files`) over the files before them, so its
    unreadable-file fallback cannot reach them either. Their images are centre crops, with
    no randomness, so validation losses and previews compare across runs. Unreadable files
    met at the end are passed over and added to ``skipped``.

    Raises:
        DatasetError: fewer than ``n`` readable files, or none left for training.
    """
    if n < 0:
        raise ValueError(f"the number of held-out images must be 0 or more, not {n}")
    val_files: list[Path] = []
    val_images: list[torch.Tensor] = []
    end = len(dataset.files)
    while len(val_files) < n and end > 0:
        end -= 1
        path = dataset.files[end]
        try:
            val_images.insert(0, load_center_crop(path, dataset.image_size))
            val_files.insert(0, path)
        except ImageError as exc:
            dataset.skipped.append((path, exc.problem))
    if len(val_files) < n or end == 0:
        raise DatasetError(
            f"{dataset.root}: cannot hold out {n} of {len(dataset.files)} images and still train on some"
        )
    return HoldoutSplit(dataset.with_files(dataset.files[:end]), val_files, val_images)


# ---------------------------------------------------------------- data order of a training run

def mix_seed(*numbers: int) -> int:
    """A 63-bit seed determined by ``numbers`` (different for different tuples)."""
    digest = hashlib.blake2b(":".join(map(str, numbers)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def epoch_order(num_images: int, seed: int, epoch: int) -> list[int]:
    """The order in which epoch ``epoch`` visits the ``num_images`` training images."""
    generator = torch.Generator().manual_seed(mix_seed(seed, epoch))
    return torch.randperm(num_images, generator=generator).tolist()


class SeededCrops(Dataset):
    """A data set read by ``(index, crop_seed)`` keys: the random crop of image ``index`` is
    drawn from torch's generator seeded with ``crop_seed`` (the global generator is left as
    it was). Items are ``((3, S, S) uint8 RGB crop, [(path, problem) newly skipped])``: batches
    travel to the device as uint8 and are converted there."""

    def __init__(self, dataset: ImageFolderDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, list[tuple[str, str]]]:
        index, crop_seed = key
        known = len(self.dataset.skipped)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(crop_seed)
            image = self.dataset.crop_pixels(index)
        return image, [(str(path), problem) for path, problem in self.dataset.skipped[known:]]


def _collate(items: list[tuple[torch.Tensor, list[tuple[str, str]]]]) -> tuple[torch.Tensor, list[tuple[str, str]]]:
    return torch.stack([image for image, _ in items]), [entry for _, found in items for entry in found]


def _fingerprint(files: Sequence[Path], root: Path) -> int:
    """CRC32 of the training files' names relative to the data set folder."""
    return zlib.crc32("\n".join(Path(f).relative_to(root).as_posix() for f in files).encode())
