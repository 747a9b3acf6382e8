"""Hugging Face ZeroGPU: on such a Space a GPU is attached only while a function decorated with
``spaces.GPU`` runs. :func:`gpu_function` applies that decorator when the ``spaces`` package is
importable (it is preinstalled on Spaces) and leaves the function as it is everywhere else.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

Function = TypeVar("Function", bound=Callable[..., object])


def gpu_function(function: Function) -> Function:
    """``spaces.GPU(function)`` when ``spaces`` can be imported, else ``function`` unchanged."""
    try:
        spaces = importlib.import_module("spaces")
    except ImportError:
        return function
    return spaces.GPU(function)
