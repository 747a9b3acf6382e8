"""styletransfer: real-time neural style transfer (Johnson et al. 2016) with SRM (Lee et al. 2019).

The public API, imported lazily (``import styletransfer`` does not import torch until a name
is used)::

    from styletransfer import TransformerNet, create_attention, PerceptualLoss
    from styletransfer import save_model, load_model, fold_attention, stylize
    from styletransfer import evaluate, Evaluation, StyleScore, PhotoScore, OutputFolder
    from styletransfer import list_models, get_model, load_catalogue, StyleTransferError
    from styletransfer import StyleMix, stylize_video

The package is layered by role, each layer importing only the ones before it
(``tests/test_layers.py`` keeps it so; ``docs/architecture.md`` draws it):
``core`` (files, images, devices) ← ``models`` (layers, the transformer, the VGG) ←
``modelfiles`` (the file format, the catalogue) ← ``losses`` ← ``inference`` ← ``training`` ←
``evaluation`` ← ``apps`` (the CLI and the web app).

Module paths of releases before the layering (``styletransfer.network``,
``styletransfer.stylize``, ...) still import, with a ``DeprecationWarning`` that names the new
module.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings
from typing import TYPE_CHECKING, Any

from styletransfer.errors import StyleTransferError
from styletransfer.version import __version__

_PUBLIC = {
    "styletransfer.models.layers.attention": ("SRM", "FoldedSRM", "SqueezeExcite", "create_attention", "fold_attention"),
    "styletransfer.models.folding": ("fold_batchnorm",),
    "styletransfer.modelfiles.catalogue": ("Style", "get_model", "get_style", "list_models", "load_catalogue",
                                           "load_model", "list_model_names"),
    "styletransfer.inference.blend": ("StyleMix",),
    "styletransfer.core.device": ("pick_device", "pick_precision"),
    "styletransfer.evaluation.evaluate": ("Evaluation", "EvaluationError", "OutputFolder", "PhotoScore",
                                          "StyleScore", "evaluate"),
    "styletransfer.losses.perceptual": ("LossTerms", "PerceptualLoss", "gram_matrix", "total_variation"),
    "styletransfer.modelfiles.format": ("ModelFileError", "read_header", "save_model"),
    "styletransfer.models.transformer": ("VARIANTS", "NetworkConfig", "TransformerNet", "count_parameters"),
    "styletransfer.inference.stylize": ("stylize",),
    "styletransfer.models.vgg": ("VGGFeatures",),
    "styletransfer.inference.video": ("stylize_video",),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = ["StyleTransferError", "__version__", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'styletransfer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names load on first use  # noqa: F401
    from styletransfer.core.device import pick_device, pick_precision
    from styletransfer.evaluation.evaluate import (Evaluation, EvaluationError, OutputFolder, PhotoScore,
                                                   StyleScore, evaluate)
    from styletransfer.inference.blend import StyleMix
    from styletransfer.inference.stylize import stylize
    from styletransfer.inference.video import stylize_video
    from styletransfer.losses.perceptual import LossTerms, PerceptualLoss, gram_matrix, total_variation
    from styletransfer.modelfiles.catalogue import (Style, get_model, get_style, list_model_names, list_models,
                                                    load_catalogue, load_model)
    from styletransfer.modelfiles.format import ModelFileError, read_header, save_model
    from styletransfer.models.folding import fold_batchnorm
    from styletransfer.models.layers.attention import SRM, FoldedSRM, SqueezeExcite, create_attention, fold_attention
    from styletransfer.models.transformer import VARIANTS, NetworkConfig, TransformerNet, count_parameters
    from styletransfer.models.vgg import VGGFeatures


# Module paths before the layering -> where their contents live now (the first module holds most
# of it; names that moved elsewhere are looked up in the others in order).
MOVED_MODULES: dict[str, tuple[str, ...]] = {
    "styletransfer.io": ("styletransfer.core.files",),
    "styletransfer.padding": ("styletransfer.models.layers.padding",),
    "styletransfer.images": ("styletransfer.core.images",),
    "styletransfer.device": ("styletransfer.core.device",),
    "styletransfer.resources": ("styletransfer.core.resources",),
    "styletransfer.attention": ("styletransfer.models.layers.attention", "styletransfer.models.folding"),
    "styletransfer.held_statistics": ("styletransfer.models.layers.held_norm",),
    "styletransfer.network": ("styletransfer.models.transformer", "styletransfer.models.layers.conv",
                              "styletransfer.models.layers.norm", "styletransfer.models.folding"),
    "styletransfer.vgg": ("styletransfer.models.vgg",),
    "styletransfer.modelfile": ("styletransfer.modelfiles.format", "styletransfer.modelfiles.int8",
                                "styletransfer.modelfiles.catalogue"),
    "styletransfer.catalogue": ("styletransfer.modelfiles.catalogue",),
    "styletransfer.loss": ("styletransfer.losses.perceptual",),
    "styletransfer.color": ("styletransfer.losses.color",),
    "styletransfer.stylize": ("styletransfer.inference.stylize", "styletransfer.inference.prepare",
                              "styletransfer.inference.tiling", "styletransfer.inference.export"),
    "styletransfer.tiled_statistics": ("styletransfer.inference.image_statistics",),
    "styletransfer.acceleration": ("styletransfer.inference.acceleration",),
    "styletransfer.blend": ("styletransfer.inference.blend",),
    "styletransfer.live": ("styletransfer.inference.live",),
    "styletransfer.video": ("styletransfer.inference.video", "styletransfer.inference.video.av_io",
                            "styletransfer.inference.video.frames"),
    "styletransfer.temporal": ("styletransfer.inference.video.temporal",),
    "styletransfer.evaluate": ("styletransfer.evaluation.evaluate", "styletransfer.evaluation.metrics"),
    "styletransfer.comparison": ("styletransfer.evaluation.runs_table",),
    "styletransfer.stats": ("styletransfer.evaluation.statistics",),
    "styletransfer.plots": ("styletransfer.evaluation.plots", "styletransfer.training.curves"),
    "styletransfer.contact_sheet": ("styletransfer.evaluation.contact_sheet",),
    "styletransfer.apps.webapp": ("styletransfer.apps.web.app", "styletransfer.apps.web.options",
                                  "styletransfer.apps.web.tabs"),
    "styletransfer.apps.train_commands": ("styletransfer.apps.cli.training",),
    "styletransfer.apps.info": ("styletransfer.apps.cli.info",),
}


# Module paths whose contents moved above the layer of their old package, so the package cannot
# stand in for them: importing them fails with a message naming the new module.
GONE_MODULES: dict[str, str] = {
    "styletransfer.training.compare": "styletransfer.evaluation.variants",
}


class _MovedModule(types.ModuleType):
    """Stands in for a module path from before the layering: attribute lookups go to the modules
    that now hold its contents."""

    def __init__(self, old: str, new: tuple[str, ...]) -> None:
        super().__init__(old, f"Moved to {new[0]}.")
        self.__moved_to__ = new

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # ``import styletransfer.stylize`` (or ``.evaluate``) binds this stand-in over the public
        # function of that name on the package; calling it still calls the function.
        short = self.__name__.rpartition(".")[2]
        if short not in _WHERE:
            raise TypeError(f"'module' object {self.__name__} is not callable")
        return getattr(importlib.import_module(_WHERE[short]), short)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for module in self.__moved_to__:
            try:
                return getattr(importlib.import_module(module), name)
            except (ModuleNotFoundError, AttributeError):
                continue
        raise AttributeError(f"{self.__name__}.{name} is gone; {self.__name__} moved to {self.__moved_to__[0]}")


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in GONE_MODULES:
            raise ImportError(f"{fullname} moved to {GONE_MODULES[fullname]}; import it from there", name=fullname)
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = MOVED_MODULES[spec.name]
        warnings.warn(f"{spec.name} moved to {new[0]}; import it from there", DeprecationWarning, stacklevel=3)
        return _MovedModule(spec.name, new)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
