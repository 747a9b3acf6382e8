"""Device and precision choice, and process-level speed settings.

``pick_device("auto")`` prefers CUDA, then Apple's MPS, then the CPU; an explicit name wins.
``pick_precision(device)`` returns the fastest dtype that is safe there: on CUDA fp16 for
inference, and for training bf16 on GPUs that support it (Ampere and later; no loss scaling
needed) else fp16; bf16 on CPUs with native bf16 matrix support (AVX512-BF16/AMX) and on MPS;
else fp32.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys

import torch

from styletransfer.errors import StyleTransferError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


class DeviceError(StyleTransferError, ValueError):
    """A device or precision that is unknown or not available on this machine."""


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """A torch.device from ``"auto"``/None (CUDA, then MPS, then CPU) or an explicit name.

    Raises DeviceError (a ValueError) when an explicit device is not available here.
    """
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}; expected one of {', '.join(DEVICE_NAMES)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} was asked for, but CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {name!r} was asked for, but MPS is not available on this machine")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unknown device {name!r}; expected one of {', '.join(DEVICE_NAMES)}")
    return device


def _cpu_capability() -> str:
    """PyTorch's name for the CPU's vector instructions ("AVX2", "AVX512_BF16", "AMX", ...)."""
    return getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()


def _cpu_flags() -> str:
    """The "flags" line of /proc/cpuinfo ("" where there is none)."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as cpuinfo:
            return next((line for line in cpuinfo if line.startswith("flags")), "")
    return ""


def cpu_has_fast_bf16() -> bool:
    """True when this CPU computes bf16 matrix products natively (AVX512-BF16 or AMX)."""
    if _cpu_capability() in ("AVX512_BF16", "AMX", "AVX512_AMX"):
        return True
    flags = _cpu_flags().split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def emulated_precision(device: torch.device, dtype: torch.dtype) -> bool:
    """True when ``dtype`` has no native arithmetic on ``device``: bf16 on a CPU without
    AVX512-BF16 or AMX (:func:`cpu_has_fast_bf16`), fp16 on a CPU without AVX512-FP16 or AMX-FP16.
    There PyTorch converts the values to float32 and back around every operation: many times
    slower than fp32 (bf16 took 20x fp32's time at 512 px on an AVX2 CPU,
    docs/benchmarks/cpu-2core-avx2-session14.md). The front ends warn when it was asked for."""
    if device.type != "cpu" or dtype == torch.float32:
        return False
    if dtype == torch.bfloat16:
        return not cpu_has_fast_bf16()
    flags = _cpu_flags().split()
    return _cpu_capability() not in ("AMX", "AVX512_AMX") and "avx512_fp16" not in flags and "amx_fp16" not in flags


def cuda_has_fast_bf16(device: torch.device) -> bool:
    """True when the CUDA GPU ``device`` has bf16 tensor cores (compute capability 8.0+)."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def precision_name(dtype: torch.dtype) -> str:
    """The name ("fp32", "bf16", "fp16") of a compute dtype."""
    return next(name for name, value in PRECISIONS.items() if value == dtype)


def pick_precision(device: torch.device, name: str | None = None, *, training: bool = False) -> torch.dtype:
    """The compute dtype for ``device``: ``name`` ("fp32", "bf16", "fp16") when given, else the
    fastest safe one. On CUDA: for inference fp16 (three more mantissa bits than bf16, same
    speed); for ``training`` bf16 where the GPU computes it natively (fp32's range: no loss
    scaling, no skipped steps), else fp16 with a GradScaler. bf16 on MPS and on CPUs with
    native bf16; else fp32."""
    if name is not None:
        if name not in PRECISIONS:
            raise DeviceError(f"unknown precision {name!r}; expected one of {', '.join(PRECISIONS)}")
        return PRECISIONS[name]
    if device.type == "cuda":
        return torch.bfloat16 if training and cuda_has_fast_bf16(device) else torch.float16
    if device.type == "mps":
        return torch.bfloat16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed-precision autocast for ``dtype`` on ``device`` (a no-op context for fp32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def keep_freed_memory() -> bool:
    """Stop glibc from returning large freed blocks to the OS after every pass.

    Style-transfer activations are large; by default glibc serves them with mmap and unmaps
    them on free, so the next pass page-faults the memory in again (seconds of a 1024 px CPU
    pass: docs/performance.md, "Design notes"). Serving every block from the heap and never trimming it keeps that
    memory in the process for reuse.
    Call it before torch allocates. Returns False where it does not apply (not glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name)
    if not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_max = -1, -4
    # No mmap-served blocks at all (they are unmapped on free), and no trimming of the heap top:
    # a trim threshold of -1 disables trimming (mallopt(3)). The value is a C int; the 1 << 62
    # passed here before was truncated to 0, "trim on every free", which page-faulted the
    # activations in again on every pass (docs/performance-padding.md).
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, -1))
