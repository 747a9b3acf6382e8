"""Where the files that ship with the library lie: the repository's ``styles/`` (models,
paintings, run logs) and ``examples/`` (photos) folders.

A wheel carries them inside the package (``styletransfer/styles/``, ``styletransfer/examples/``:
``pyproject.toml`` maps the folders there); a source checkout, or an editable install of one,
has them beside the package.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
"""The ``styletransfer`` package folder (this module lives in its ``core/``)."""


def bundled_dir(name: str) -> Path:
    """The shipped folder ``name`` ("styles" or "examples"): inside the installed package when
    it is there, else in the source checkout (the path is returned even if it is missing)."""
    installed = PACKAGE_DIR / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


STYLES_DIR = bundled_dir("styles")
"""The shipped styles: model files, their paintings, ``manifest.csv`` and ``runs/<name>/`` logs."""
EXAMPLES_DIR = bundled_dir("examples")
"""The example photos (public domain / CC0) with their ``manifest.csv``."""
