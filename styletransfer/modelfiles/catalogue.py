"""The style catalogue: every usable model in the shipped and user style folders, with typed
metadata read from the model files' headers (never their weights).

It is the one name → model resolver: a name is looked up here and nowhere else.
One scan (:func:`find_model_files`: folder by folder, the shipped
styles first, the first folder winning a name) and one set of metadata fallbacks serve every
front end: the CLI's ``styles``, the web app's gallery and drop-downs, and name lookups.

    from styletransfer.modelfiles.catalogue import list_models, get_model, get_style
    list_models()                      # ["great_wave", "great_wave_bn", ...]
    get_style("great_wave").caption    # "The Great Wave off Kanagawa — Katsushika Hokusai, 1831"
    net = get_model("great_wave")      # the TransformerNet, in eval mode on the CPU

Headers are cached by file path, size and modification time, so scanning again (the app does
on every request) only lists the folders.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from styletransfer.core.images import PHOTO_SUFFIXES
from styletransfer.core.resources import STYLES_DIR
from styletransfer.modelfiles.format import MODEL_SUFFIX, ModelFileError, read_header, read_model
from styletransfer.models.transformer import NetworkConfig, TransformerNet, size_name, variant_name

SHIPPED_STYLES_DIR = STYLES_DIR
"""The styles that come with the library (see :mod:`styletransfer.core.resources`)."""

RUNS_DIR = "runs"
"""A style folder's sub-folder with each style's training logs: ``runs/<name>/metrics.csv``."""


def user_models_dir() -> Path:
    """Where models trained from the app are saved: ``$STYLETRANSFER_HOME/models`` or
    ``~/.local/share/styletransfer/models``."""
    home = os.environ.get("STYLETRANSFER_HOME")
    base = Path(home) if home else Path.home() / ".local" / "share" / "styletransfer"
    return base / "models"


def style_dirs() -> list[Path]:
    """Folders searched for models by name: the shipped styles, then the user's models."""
    return [SHIPPED_STYLES_DIR, user_models_dir()]


def find_model_files(folders: Sequence[Path] | None = None) -> dict[str, Path]:
    """Every model file in ``folders`` (default :func:`style_dirs`) by name (its file name
    without ``.safetensors``; hidden files skipped): folder by folder, sorted by name within
    each; when two folders hold the same name the first one wins. Missing folders are skipped.
    Only the folders are listed; no file is opened."""
    found: dict[str, Path] = {}
    for folder in style_dirs() if folders is None else folders:
        if folder.is_dir():
            for path in sorted(folder.glob(f"*{MODEL_SUFFIX}")):
                if not path.name.startswith(".") and path.is_file():
                    found.setdefault(path.stem, path)
    return found


def resolve_model_path(path_or_name: str | os.PathLike) -> Path:
    """A model file path, or the name of a model in one of :func:`style_dirs`."""
    candidate = Path(path_or_name)
    if candidate.is_file():
        return candidate
    if candidate.suffix != MODEL_SUFFIX and len(candidate.parts) == 1:
        for folder in style_dirs():
            named = folder / f"{candidate.name}{MODEL_SUFFIX}"
            if named.is_file():
                return named
        known = ", ".join(sorted(find_model_files())) or "none"
        raise ModelFileError(path_or_name, f"no such model file or style name (known styles: {known})")
    raise ModelFileError(path_or_name, "no such model file")


def load_model(path_or_name: str | os.PathLike, *, device: str | torch.device = "cpu") -> TransformerNet:
    """Load a model file by path, or by the name of a style in :func:`style_dirs`.

    Returns the exact network it was saved from, in eval mode, float32, on ``device``, with its
    metadata as ``.metadata`` (a dict, including ``"name"`` and ``"path"``).
    """
    return read_model(resolve_model_path(path_or_name), device=device)


@dataclass(frozen=True)
class Style:
    """One usable model file in a style folder, described by its header."""

    name: str
    """The style's name: its file name without ``.safetensors`` (what ``--style`` takes)."""
    path: Path
    """The model file."""
    title: str
    """The painting's title; else the name in title case."""
    artist: str
    """The painter ("" when unknown)."""
    year: str
    """The painting's year ("" when unknown)."""
    licence: str
    """The painting's licence ("" when unknown)."""
    variant: str
    """The network variant ("bn", "bn+srm", ...): from the metadata, else from norm/attention."""
    norm: str
    """"batch" or "instance"."""
    attention: str
    """The attention block ("srm", "se", "none", ...)."""
    file_size: int
    """The model file's size in bytes."""
    image_size: int | None
    """The training crop size in pixels, when recorded."""
    twin: str | None
    """The name of the same style trained without (or with) SRM, when there is one."""
    size: str
    """The network size: ``"full"``, ``"slim"`` (styletransfer.models.transformer.SIZES) or ``"custom"``."""
    teacher: str | None
    """The model this one was distilled from (a slim twin's full model), when it was."""
    painting: Path | None
    """The painting's image file, when it lies beside the model."""
    run_dir: Path | None
    """``<folder>/runs/<name>/`` with its ``metrics.csv``, when present."""

    @property
    def caption(self) -> str:
        """"Title — Artist, year" (the parts that are known)."""
        credit = ", ".join(part for part in (self.artist, self.year) if part)
        return f"{self.title} — {credit}" if credit else self.title

    @property
    def is_plain_twin(self) -> bool:
        """True for the no-SRM twin of an SRM model (listed, but not shown as a painting)."""
        return self.variant == "bn" and self.twin is not None

    @property
    def is_slim_twin(self) -> bool:
        """True for a slim network distilled from another style (``<name>_slim``: listed, used by
        the webcam on a CPU, but not shown as a painting of its own)."""
        return self.size == "slim" and self.teacher is not None

    def as_dict(self) -> dict[str, Any]:
        """The entry as JSON-able values (paths as strings, None where unknown)."""
        return {
            "name": self.name, "title": self.title, "artist": self.artist, "year": self.year,
            "licence": self.licence, "variant": self.variant, "norm": self.norm, "attention": self.attention,
            "file_size": self.file_size, "image_size": self.image_size, "twin": self.twin,
            "size": self.size, "teacher": self.teacher,
            "path": str(self.path), "painting": None if self.painting is None else str(self.painting),
            "run_dir": None if self.run_dir is None else str(self.run_dir),
        }


def _text(metadata: dict[str, Any], *keys: str) -> str:
    """The first non-empty value among ``keys`` as text ("" when none)."""
    return next((str(metadata[key]) for key in keys if metadata.get(key) not in (None, "")), "")


def find_painting(folder: Path, name: str, metadata: dict[str, Any]) -> Path | None:
    """The painting beside a model: ``<name>.<image suffix>``, the file its metadata names, or
    its twin's painting."""
    candidates = [folder / f"{name}{suffix}" for suffix in PHOTO_SUFFIXES]
    if metadata.get("style_image"):
        candidates.append(folder / Path(str(metadata["style_image"])).name)
    if metadata.get("twin"):
        candidates += [folder / f"{metadata['twin']}{suffix}" for suffix in PHOTO_SUFFIXES]
    return next((path for path in candidates if path.is_file()), None)


@functools.lru_cache(maxsize=1024)
def _cached_header(path: str, size: int, modified_ns: int) -> tuple[NetworkConfig, dict[str, Any]]:
    return read_header(path)


def _stat_and_header(path: Path) -> tuple[os.stat_result, NetworkConfig, dict[str, Any]]:
    """A model file's stat and header, the header cached by path, size and modification time."""
    try:
        stat = path.stat()
    except OSError as error:
        raise ModelFileError(path, f"cannot read it ({error.strerror or error})") from None
    config, metadata = _cached_header(str(path), stat.st_size, stat.st_mtime_ns)
    return stat, config, metadata


def read_metadata(path_or_name: str | os.PathLike[str]) -> dict[str, Any]:
    """A model file's metadata (a style name is looked up as :func:`load_model` does), from its
    header only and cached while the file is unchanged: cheap to ask for every image.

    Raises:
        ModelFileError: no such model, or not a usable model file.
    """
    return dict(_stat_and_header(resolve_model_path(path_or_name))[2])


def read_style(path: str | os.PathLike[str]) -> Style:
    """The catalogue entry of one model file (its header only, no weights).

    Raises:
        ModelFileError: not a usable model file.
    """
    path = Path(path)
    stat, config, metadata = _stat_and_header(path)
    name = path.stem
    run_dir = path.parent / RUNS_DIR / name
    image_size = metadata.get("image_size")
    return Style(
        name=name,
        path=path,
        title=_text(metadata, "title", "style_title") or name.replace("_", " ").title(),
        artist=_text(metadata, "artist"),
        year=_text(metadata, "year"),
        licence=_text(metadata, "licence", "license"),
        variant=_text(metadata, "variant") or variant_name(config.norm, config.attention),
        norm=config.norm,
        attention=config.attention,
        file_size=stat.st_size,
        image_size=int(image_size) if isinstance(image_size, (int, float)) else None,
        twin=_text(metadata, "twin") or None,
        size=size_name(config),
        teacher=_text(metadata, "teacher") or None,
        painting=find_painting(path.parent, name, metadata),
        run_dir=run_dir if (run_dir / "metrics.csv").is_file() else None,
    )


@dataclass
class Catalogue:
    """Every usable model in the style folders, and the files that could not be read."""

    styles: list[Style]
    problems: list[str]
    """One line per unreadable model file, naming it."""

    def names(self) -> list[str]:
        return [style.name for style in self.styles]

    def get(self, name: str) -> Style | None:
        return next((style for style in self.styles if style.name == name), None)

    def gallery(self) -> list[Style]:
        """The styles to show as paintings: every model but the no-SRM twins and the slim twins."""
        return [style for style in self.styles if not (style.is_plain_twin or style.is_slim_twin)]

    def srm_pairs(self) -> list[tuple[Style, Style]]:
        """(BN+SRM model, its BN twin) for every style that has both."""
        pairs = []
        for style in self.styles:
            twin = self.get(style.twin) if style.twin else None
            if style.variant == "bn+srm" and twin is not None and twin.variant == "bn":
                pairs.append((style, twin))
        return pairs


def load_catalogue(folders: Sequence[Path] | None = None) -> Catalogue:
    """Read every model header in ``folders`` (default: the shipped styles, then the user's
    models folder); the first folder wins when two hold the same name; unreadable files are
    listed in ``problems``."""
    styles: list[Style] = []
    problems: list[str] = []
    for path in find_model_files(folders).values():
        try:
            styles.append(read_style(path))
        except ModelFileError as error:
            problems.append(str(error))
    return Catalogue(styles, problems)


def list_models(folders: Sequence[Path] | None = None) -> list[str]:
    """The names of the usable styles (as ``torchvision.models.list_models``)."""
    return load_catalogue(folders).names()


def get_style(name: str, folders: Sequence[Path] | None = None) -> Style:
    """The catalogue entry of style ``name``.

    Raises:
        ModelFileError: no usable style of that name.
    """
    catalogue = load_catalogue(folders)
    style = catalogue.get(name)
    if style is None:
        known = ", ".join(catalogue.names()) or "none"
        raise ModelFileError(name, f"no such style (known styles: {known})")
    return style


def get_model(name: str, *, device: str | torch.device = "cpu",
              folders: Sequence[Path] | None = None) -> TransformerNet:
    """The network of style ``name`` (as ``torchvision.models.get_model``): eval mode, float32,
    on ``device``, with its metadata as ``.metadata``.

    Raises:
        ModelFileError: no usable style of that name.
    """
    return load_model(get_style(name, folders).path, device=device)


def list_model_names() -> list[str]:
    """Deprecated: :func:`list_models` (the one listing of style names)."""
    import warnings

    warnings.warn("list_model_names() is list_models() now", DeprecationWarning, stacklevel=2)
    return list_models()
