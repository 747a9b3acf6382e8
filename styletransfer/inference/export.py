"""Export a style network to ONNX (``styletransfer export-onnx``)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from styletransfer.core.files import atomic_path
from styletransfer.inference.margin import WithMargin, network_margin
from styletransfer.inference.prepare import prepare_model
from styletransfer.models.transformer import TransformerNet


def export_onnx(model: TransformerNet | str | os.PathLike[str], path: str | os.PathLike[str], *,
                opset: int = 17) -> Path:
    """Write the network, SRM folded, as an ONNX file with dynamic batch, height and width.

    The graph takes ``image`` (N, 3, H, W) float32 RGB 0..1 and returns ``stylized`` of the
    same shape and range. H and W must be at least 8 px: the network's edge padding of
    smaller inputs is a Python branch that tracing fixes to the not-taken side. A network
    whose model file records a border margin (:mod:`styletransfer.inference.margin`) is
    exported with it in the graph (a reflection ``Pad`` and a crop), so H and W must then also
    be larger than the margin. The file is
    written under a temporary name and renamed, so ``path`` never holds half a model.

    Raises:
        ModelFileError: ``model`` names no usable model file.
        OSError: ``path`` cannot be written.
    """
    net = prepare_model(model, torch.device("cpu"))
    margin = network_margin(net)
    if margin:
        net = WithMargin(net, margin)
    side = max(64, margin + 8)  # the traced input: reflection needs more pixels than the margin
    path = Path(path)
    axes = {0: "batch", 2: "height", 3: "width"}
    with atomic_path(path) as partial:
        with warnings.catch_warnings():
            # The TorchScript exporter (the torch.export one needs onnxscript) warns that it is
            # deprecated and that the small-input branch is traced as a constant (see above).
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.rand(1, 3, side, side),), str(partial), dynamo=False,
                              input_names=["image"], output_names=["stylized"],
                              dynamic_axes={"image": axes, "stylized": axes}, opset_version=opset)
    return path
