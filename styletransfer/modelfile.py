"""Model files: one ``.safetensors`` file per trained style network, carrying its own metadata.

The safetensors header holds string metadata; ours is::

    format          "styletransfer-model"
    format_version  "1", or "2" when the weights are stored as int8 (see below)
    config          JSON of NetworkConfig (norm, attention, ...): rebuilds the exact network
    metadata        JSON of everything else: style name/title/artist/year/licence/image file,
                    content/style/TV weights, steps, image size, final losses, date,
                    library version, ...

``save_model(..., dtype=torch.int8)`` stores every convolution kernel as int8 with one float32
scale per output channel (``KEY`` and ``KEY.int8_scale``; weight = int8 × scale) and every
other tensor as float16: a quarter of the float32 file, for outputs within about one level of
255 of the float32 network's. Such files are format version 2, so an older library refuses them
with a clear message instead of misreading them.

Loading never unpickles anything. Every problem is reported as one :class:`ModelFileError`
line naming the file.
"""
from __future__ import annotations

import datetime
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import StyleTransferError
from .io import atomic_path
from .network import NetworkConfig, TransformerNet
from .resources import STYLES_DIR

FORMAT = "styletransfer-model"
FORMAT_VERSION = 1
QUANTIZED_FORMAT_VERSION = 2
"""Format version of files whose kernels are int8 with per-channel scales."""
READABLE_VERSIONS = (FORMAT_VERSION, QUANTIZED_FORMAT_VERSION)
SCALE_SUFFIX = ".int8_scale"
MODEL_SUFFIX = ".safetensors"
SHIPPED_STYLES_DIR = STYLES_DIR
"""The styles that come with the library (see :mod:`styletransfer.resources`)."""


class ModelFileError(StyleTransferError, ValueError):
    """A model file that cannot be used; the message is ``"{path}: {problem}"``."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def library_version() -> str:
    from . import __version__
    return __version__


def user_models_dir() -> Path:
    """Where models trained from the app are saved: ``$STYLETRANSFER_HOME/models`` or
    ``~/.local/share/styletransfer/models``."""
    home = os.environ.get("STYLETRANSFER_HOME")
    base = Path(home) if home else Path.home() / ".local" / "share" / "styletransfer"
    return base / "models"


def style_dirs() -> list[Path]:
    """Folders searched for models by name: the shipped styles, then the user's models."""
    return [SHIPPED_STYLES_DIR, user_models_dir()]


def save_model(net: TransformerNet, path: str | os.PathLike, *, dtype: torch.dtype | None = None,
               **metadata: Any) -> Path:
    """Write ``net``'s weights and ``metadata`` (JSON-serializable values) to ``path``.

    ``dtype=torch.float16`` halves the file; ``dtype=torch.int8`` quarters it (kernels as int8
    with per-output-channel scales, everything else float16; see the module docs). Loading
    casts back to float32. The file is written to a temporary name and renamed, so a crash
    never leaves half a model. Returns the path.
    """
    path = Path(path)
    metadata = dict(metadata)
    metadata.setdefault("date", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    metadata.setdefault("library_version", library_version())
    tensors = {}
    for key, value in net.state_dict().items():
        value = value.detach().to("cpu").contiguous()
        if dtype == torch.int8 and value.is_floating_point() and value.dim() >= 2:
            tensors[key], tensors[key + SCALE_SUFFIX] = quantize_int8(value)
            continue
        if dtype is not None and value.is_floating_point():
            value = value.to(torch.float16 if dtype == torch.int8 else dtype)
        tensors[key] = value
    header = {
        "format": FORMAT,
        "format_version": str(QUANTIZED_FORMAT_VERSION if dtype == torch.int8 else FORMAT_VERSION),
        "config": json.dumps(net.config.as_dict()),
        "metadata": json.dumps(metadata),
    }
    with atomic_path(path) as partial:
        save_file(tensors, str(partial), metadata=header)
    return path


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


def list_model_names() -> list[str]:
    """Names of the models found in :func:`style_dirs` (first folder wins on a clash); the
    typed view of each is :func:`styletransfer.catalogue.load_catalogue`."""
    return list(find_model_files())


def read_header(path: str | os.PathLike) -> tuple[NetworkConfig, dict[str, Any]]:
    """The network config and metadata of a model file, without loading its weights."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(path, f"not a model file (safetensors could not read it: {error})") from None
    if header.get("format") != FORMAT:
        raise ModelFileError(path, "not a styletransfer model file (no 'format' entry in its header)")
    if header.get("format_version") not in {str(version) for version in READABLE_VERSIONS}:
        raise ModelFileError(path, f"unknown format version {header.get('format_version')!r} "
                                   f"(this library reads versions {', '.join(map(str, READABLE_VERSIONS))})")
    try:
        config = NetworkConfig(**json.loads(header["config"]))
        metadata = json.loads(header.get("metadata", "{}"))
    except KeyError:
        raise ModelFileError(path, "the header has no network 'config'") from None
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise ModelFileError(path, f"bad network config or metadata in the header: {error}") from None
    return config, metadata


def load_model(path_or_name: str | os.PathLike, *, device: str | torch.device = "cpu") -> TransformerNet:
    """Load a model file (a path, or a style name from ``styles/`` / the user models folder).

    Returns the exact network it was saved from, in eval mode, float32, on ``device``, with its
    metadata as ``.metadata`` (a dict, including ``"name"`` and ``"path"``).
    """
    path = resolve_model_path(path_or_name)
    config, metadata = read_header(path)
    net = TransformerNet.from_config(config)
    expected = net.state_dict()
    with safe_open(str(path), framework="pt") as handle:
        scales = {key[:-len(SCALE_SUFFIX)] for key in handle.keys() if key.endswith(SCALE_SUFFIX)}
        keys = set(handle.keys()) - {key + SCALE_SUFFIX for key in scales}
        missing = sorted(set(expected) - keys)
        unexpected = sorted(keys - set(expected))
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing {len(missing)} weight(s) ({', '.join(missing[:3])}"
                             f"{', ...' if len(missing) > 3 else ''})")
            if unexpected:
                parts.append(f"unexpected weight(s) {', '.join(unexpected[:3])}"
                             f"{', ...' if len(unexpected) > 3 else ''}")
            raise ModelFileError(path, " and ".join(parts) + f" for a {config.norm}/{config.attention} network")
        state = {}
        for key in expected:
            tensor = handle.get_tensor(key)
            if key in scales:
                tensor = dequantize_int8(tensor, handle.get_tensor(key + SCALE_SUFFIX))
            elif not tensor.is_floating_point() and expected[key].is_floating_point():
                raise ModelFileError(path, f"weight {key} is stored as {str(tensor.dtype).removeprefix('torch.')} "
                                           f"without its {key + SCALE_SUFFIX} scales")
            if tensor.shape != expected[key].shape:
                raise ModelFileError(path, f"weight {key} has shape {tuple(tensor.shape)}, "
                                           f"expected {tuple(expected[key].shape)}")
            state[key] = tensor.to(expected[key].dtype)
    net.load_state_dict(state)
    net.metadata = {**metadata, "name": metadata.get("name", path.stem), "path": str(path)}
    return net.to(device).eval()
