"""The public API stays where users found it: ``from styletransfer import ...`` (loaded lazily),
and the module paths from before the package was layered still import, with a warning that
names the new module; names that had to move to a lower layer fail with a message naming it."""
from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import styletransfer


def test_import_styletransfer_loads_no_torch():
    code = "import styletransfer, sys; print('torch' in sys.modules, styletransfer.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", styletransfer.__version__]


@pytest.mark.parametrize("name", styletransfer._WHERE)
def test_every_public_name_loads_from_its_module(name):
    assert getattr(styletransfer, name) is getattr(importlib.import_module(styletransfer._WHERE[name]), name)
    assert name in dir(styletransfer) and name in styletransfer.__all__


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'TransformerNett'"):
        styletransfer.TransformerNett  # noqa: B018


@pytest.mark.parametrize("old, name, new", [
    ("styletransfer.network", "TransformerNet", "styletransfer.models.transformer"),
    ("styletransfer.network", "fold_batchnorm", "styletransfer.models.folding"),
    ("styletransfer.network", "ConvLayer", "styletransfer.models.layers.conv"),
    ("styletransfer.stylize", "stylize", "styletransfer.inference.stylize"),
    ("styletransfer.stylize", "prepare_model", "styletransfer.inference.prepare"),
    ("styletransfer.stylize", "split_axis", "styletransfer.inference.tiling"),
    ("styletransfer.stylize", "export_onnx", "styletransfer.inference.export"),
    ("styletransfer.modelfile", "save_model", "styletransfer.modelfiles.format"),
    ("styletransfer.modelfile", "quantize_int8", "styletransfer.modelfiles.int8"),
    ("styletransfer.modelfile", "resolve_model_path", "styletransfer.modelfiles.catalogue"),
    ("styletransfer.video", "Stability", "styletransfer.inference.video.frames"),
    ("styletransfer.plots", "plot_curves", "styletransfer.training.curves"),
    ("styletransfer.apps.webapp", "add_app_options", "styletransfer.apps.web.options"),
])
def test_old_module_paths_still_import_with_a_warning_naming_the_new_module(old, name, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} moved to styletransfer\."):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_a_name_that_is_gone_says_where_the_module_went():
    sys.modules.pop("styletransfer.images", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from styletransfer import images
    with pytest.raises(AttributeError, match="styletransfer.images moved to styletransfer.core.images"):
        images.no_such_function  # noqa: B018


def test_names_that_moved_above_training_fail_naming_their_new_home():
    with pytest.raises(ImportError, match=r"styletransfer\.training\.compare moved to styletransfer\.evaluation\.variants"):
        import styletransfer.training.compare  # noqa: F401
    with pytest.raises(ImportError, match=r"moved to styletransfer\.evaluation\.variants: from "
                                          r"styletransfer\.evaluation\.variants import compare"):
        from styletransfer.training import compare  # noqa: F401


def test_list_model_names_is_list_models_with_a_warning():
    from styletransfer.modelfiles.catalogue import list_model_names, list_models

    with pytest.warns(DeprecationWarning, match="list_models"):
        assert list_model_names() == list_models()


def test_an_old_module_path_named_like_a_public_function_still_calls_it(tmp_path):
    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "import styletransfer, styletransfer.stylize, styletransfer.evaluate\n"
            "from PIL import Image\n"
            "from styletransfer import stylize\n"
            "print(stylize('great_wave', Image.new('RGB', (16, 12)), device='cpu').size)\n"
            "print(callable(styletransfer.evaluate))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == ["(16, 12)", "True"]
