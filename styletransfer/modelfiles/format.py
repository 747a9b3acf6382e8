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
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from styletransfer.errors import StyleTransferError
from styletransfer.version import __version__
from styletransfer.core.files import write_atomic
from styletransfer.models.transformer import NetworkConfig, TransformerNet
from styletransfer.modelfiles.int8 import SCALE_SUFFIX, dequantize_int8, quantize_int8

FORMAT = "styletransfer-model"
FORMAT_VERSION = 1
QUANTIZED_FORMAT_VERSION = 2
"""Format version of files whose kernels are int8 with per-channel scales."""
READABLE_VERSIONS = (FORMAT_VERSION, QUANTIZED_FORMAT_VERSION)
MODEL_SUFFIX = ".safetensors"


class ModelFileError(StyleTransferError, ValueError):
    """A model file that cannot be used; the message is ``"{path}: {problem}"``."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def library_version() -> str:
    """The version written into every model file's metadata."""
    return __version__


def images_seen(metadata: dict[str, Any], init_metadata: dict[str, Any] | None = None) -> int | None:
    """The training images a model's weights have seen in all, from its metadata: its
    ``images_seen`` (written since fine-tunes record their init's), else ``steps × batch_size``
    plus, for a fine-tune (``init``), its init model's count from ``init_metadata``; None when
    unknown (no steps or batch size, or a fine-tune whose init model's count is unknown)."""
    if metadata.get("images_seen") is not None:
        return int(metadata["images_seen"])
    if metadata.get("steps") is None or metadata.get("batch_size") is None:
        return None
    before = 0
    if metadata.get("init"):
        before = images_seen(init_metadata) if init_metadata is not None else None
        if before is None:
            return None
    return before + int(metadata["steps"]) * int(metadata["batch_size"])


def timestamp() -> str:
    """Now, in UTC, as a model file's ``date`` says it (ISO 8601 to the second)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


STAGE_FIELDS = ("steps", "batch_size", "lr", "content_weight", "style_weight", "tv_weight", "color_weight",
                "content_layers", "style_layers", "style_layer_weights", "image_size", "style_size",
                "images_seen", "date")
"""What one entry of a model file's ``stages`` holds: a training run's recipe, the images its
weights had seen in all when it ended, and its date (docs/model-format.md)."""


def training_stage(metadata: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``stages`` for the run that wrote ``metadata``: those of STAGE_FIELDS it has."""
    return {field: metadata[field] for field in STAGE_FIELDS if metadata.get(field) is not None}


def training_stages(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The training runs a model's weights went through, oldest first: its ``stages`` when it
    records them, else the one run its metadata describes; [] when that says no steps (a file
    that does not say how it was trained)."""
    if metadata.get("stages"):
        return [dict(stage) for stage in metadata["stages"]]
    return [training_stage(metadata)] if metadata.get("steps") is not None else []


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
    metadata.setdefault("date", timestamp())
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
    # Serialized here and written by write_atomic: safetensors' own save_file creates the file
    # owner-only (0600) whatever the umask, which other users of a shared styles folder cannot read.
    write_atomic(path, save(tensors, metadata=header))
    return path


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


def update_metadata(path: str | os.PathLike, **changes: Any) -> dict[str, Any]:
    """Rewrite the metadata of the model file at ``path`` with ``changes`` (JSON-serializable
    values; None removes an entry), its tensors byte for byte as they are (int8 files are not
    quantized again). Written under a temporary name and renamed. Returns the new metadata.

    Raises:
        ModelFileError: not a readable model file.
    """
    path = Path(path)
    read_header(path)  # ModelFileError for anything but a model file
    with safe_open(str(path), framework="pt") as handle:
        header = dict(handle.metadata())
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    metadata = json.loads(header.get("metadata", "{}"))
    for key, value in changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    header["metadata"] = json.dumps(metadata)
    write_atomic(path, save(tensors, metadata=header))
    return metadata


def read_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> TransformerNet:
    """Load the model file at ``path`` (by name too: :func:`styletransfer.modelfiles.catalogue.load_model`).

    Returns the exact network it was saved from, in eval mode, float32, on ``device``, with its
    metadata as ``.metadata`` (a dict, including ``"name"`` and ``"path"``).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "no such model file")
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
