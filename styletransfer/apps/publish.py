"""Publishing a trained model into a style folder (``styles/`` or the user models folder).

A published style is ``<folder>/<name>.safetensors`` (the model, with ``name``, ``variant``,
``style_image``, ``images_seen`` when known and, for an SRM model and its no-SRM twin, ``twin`` in its metadata), the
painting beside it as ``<folder>/<name>.<ext>`` (a painting already in the folder, such as the
full model's for a slim twin, is referred to instead of copied), and, when the run folder is given, the run's
``metrics.csv``, ``val.csv`` and ``curves.png`` in ``<folder>/runs/<name>/`` for the app's
curves.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from styletransfer.modelfiles.catalogue import load_model, resolve_model_path

from styletransfer.modelfiles.format import MODEL_SUFFIX, ModelFileError, images_seen, read_header, save_model
from styletransfer.models.transformer import variant_name
from styletransfer.training.runfolder import read_json

LAYER_KEYS = ("content_layers", "style_layers")
RUN_FILES = ("metrics.csv", "val.csv", "curves.png", "summary.json")


def _images_seen(metadata: dict) -> int | None:
    """A model's ``images_seen``; for a fine-tune trained before models recorded it, counted with
    its init model's when that model (named in ``init``) is still installed; None when unknown."""
    init_metadata = None
    if metadata.get("images_seen") is None and metadata.get("init"):
        try:
            _, init_metadata = read_header(resolve_model_path(metadata["init"]))
        except ModelFileError:
            pass
    return images_seen(metadata, init_metadata)


def publish_model(model_path: str | os.PathLike, folder: str | os.PathLike, name: str, *,
                  painting: str | os.PathLike, twin: str | None = None,
                  run_dir: str | os.PathLike | None = None, dtype: torch.dtype | None = None) -> Path:
    """Copy a trained model file into ``folder`` as style ``name`` (see the module docs).

    Args:
        model_path: the trained model file (e.g. a run's ``model.safetensors``).
        painting: the style image, copied beside the model as ``<name><suffix>`` unless it is
            already in ``folder``.
        twin: the name of this model's twin (its no-SRM or SRM counterpart), if any.
        run_dir: a training run folder whose logs and curves are copied along.
        dtype: store the weights in this dtype (``torch.float16`` halves the file).

    Returns the published model file's path.
    """
    folder, painting = Path(folder), Path(painting)
    net = load_model(model_path)
    metadata = {key: value for key, value in net.metadata.items() if key != "path"}
    folder.mkdir(parents=True, exist_ok=True)
    if painting.resolve().parent == folder.resolve():
        painting_copy = painting
    else:
        painting_copy = folder / f"{name}{painting.suffix.lower() or '.jpg'}"
        shutil.copyfile(painting, painting_copy)
    metadata.update(name=name, variant=variant_name(net.config.norm, net.config.attention),
                    style_image=painting_copy.name)
    if run_dir is not None and (Path(run_dir) / "config.json").is_file():
        # A model trained before its file recorded the loss layers: the run's config says them.
        stored = read_json(Path(run_dir) / "config.json")
        for key in LAYER_KEYS:
            if key not in metadata and stored.get(key) is not None:
                metadata[key] = stored[key]
    seen = _images_seen(metadata)
    if seen is not None:
        metadata["images_seen"] = seen
    if twin:
        metadata["twin"] = twin
    if run_dir is not None:
        logs = folder / "runs" / name
        logs.mkdir(parents=True, exist_ok=True)
        for file_name in RUN_FILES:
            if (Path(run_dir) / file_name).is_file():
                shutil.copyfile(Path(run_dir) / file_name, logs / file_name)
    return save_model(net, folder / f"{name}{MODEL_SUFFIX}", dtype=dtype, **metadata)
