"""Reflection padding at the speed of a memory copy, for the CPU inference of the
TransformerNet's ConvLayers (docs/performance-padding.md).

``nn.ReflectionPad2d`` is a plain copy of the activation into a slightly larger, freshly
allocated tensor. Its kernel runs about as fast as ``clone()`` in the layout the convolutions
use (channels-last); what made it cost up to a third of a CPU pass was the fresh tensor: glibc
serves blocks of 32 MiB and more with ``mmap`` and unmaps them on free, so every large padded
activation (64 × 514² bf16 is 33.8 MB) is page-faulted in again, 4 KiB at a time, on every
pass, and the nearest 2× upsampling before two of the pads adds one more such tensor.

What this module does instead, when it is safe (CPU, no autograd, not traced, compiled or
exported):

* :func:`reflection_pad` writes the padded tensor with plain copies (the interior, then the
  mirrored columns and rows) into a given buffer, in the input's memory format, optionally
  nearest-upsampling the input in the same copy (upsample + pad in one pass, no intermediate);
* :class:`ReflectionPad` (a drop-in :class:`torch.nn.ReflectionPad2d`: same ``padding``, no
  parameters, so model files keep their keys) runs pad → conv with the padded input in a
  buffer leased from a small pool and handed back once the convolution has read it
  (:meth:`ReflectionPad.conv`), so the same memory serves every layer and every pass.

Everywhere else (training, CUDA and other devices, ``torch.compile``, TorchScript tracing, ONNX
export) it is exactly ``nn.ReflectionPad2d`` (``F.pad(..., mode="reflect")``). The output is
bit-identical either way: only copies, no arithmetic.

Imports only torch.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ReflectionPad", "reflection_pad", "padded_shape", "uses_fast_path", "clear_scratch",
           "scratch_bytes", "SCRATCH_LIMIT_BYTES", "nearest_scale"]

SCRATCH_LIMIT_BYTES = 512 * 2**20
"""Idle scratch buffers kept for reuse, in bytes, all threads together (512 MiB: the largest
padded activation of a 1024² fp32 tile through the full network is 270 MB). A larger buffer is
used for its call and then freed."""


def padded_shape(shape: Sequence[int], padding: Sequence[int], scale: int = 1) -> tuple[int, int, int, int]:
    """(N, C, H, W) of ``shape`` upsampled ``scale``× and padded by ``(left, right, top, bottom)``."""
    n, c, h, w = shape
    left, right, top, bottom = padding
    return n, c, h * scale + top + bottom, w * scale + left + right


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """The layout of ``x`` as the convolutions see it: channels-last when its strides say so
    (ambiguous cases such as C = 1 are contiguous, which holds the same values)."""
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _strides(shape: tuple[int, int, int, int], memory_format: torch.memory_format) -> tuple[int, int, int, int]:
    n, c, h, w = shape
    if memory_format == torch.channels_last:
        return h * w * c, 1, w * c, c
    return c * h * w, h * w, w, 1


def reflection_pad(x: torch.Tensor, padding: Sequence[int], *, scale: int = 1,
                   out: torch.Tensor | None = None) -> torch.Tensor:
    """``F.pad(upsample(x), padding, mode="reflect")`` written with plain copies.

    Args:
        x: (N, C, H, W), any dtype and device, contiguous or channels-last.
        padding: ``(left, right, top, bottom)``, each smaller than the (upsampled) width or
            height, as reflection requires.
        scale: nearest-neighbour upsampling factor applied first, in the same copy (1: none);
            the same values as ``nn.Upsample(scale_factor=scale, mode="nearest")``.
        out: where to write; a tensor of :func:`padded_shape` in ``x``'s dtype, device and
            memory format (a view of a scratch buffer). None: a new tensor.

    Returns:
        ``out`` (or the new tensor), bit-identical to the reference ops. Not differentiable
        through ``out`` buffers; use it under ``torch.no_grad()``/``inference_mode``.
    """
    if x.dim() != 4:
        raise ValueError(f"reflection_pad needs a (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    left, right, top, bottom = padding
    n, c, h, w = x.shape
    height, width = h * scale, w * scale
    if max(left, right) >= width or max(top, bottom) >= height or min(padding) < 0:
        raise ValueError(f"reflection padding {tuple(padding)} needs a larger input than "
                         f"{height}×{width} (each pad must be smaller than the side it pads)")
    shape = padded_shape(x.shape, padding, scale)
    if out is None:
        out = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=_memory_format(x))
    elif tuple(out.shape) != shape or out.dtype != x.dtype or out.device != x.device:
        raise ValueError(f"out is {tuple(out.shape)} {out.dtype} on {out.device}; expected {shape} "
                         f"{x.dtype} on {x.device}")
    inner = out[:, :, top: top + height, left: left + width]
    if scale == 1:
        inner.copy_(x)
    else:  # nearest upsampling: every input pixel fills a scale × scale block
        inner.view(n, c, h, scale, w, scale).copy_(x[:, :, :, None, :, None].expand(n, c, h, scale, w, scale))
    # Mirrored columns of the interior rows, then whole mirrored rows (corners included):
    # padded index left - k (or top - k) mirrors left + k, and the far side likewise.
    rows = out[:, :, top: top + height]
    _mirror(rows[..., :left], rows[..., left + 1: 2 * left + 1], 3)
    _mirror(rows[..., left + width: left + width + right], rows[..., left + width - 1 - right: left + width - 1], 3)
    _mirror(out[:, :, :top], out[:, :, top + 1: 2 * top + 1], 2)
    _mirror(out[:, :, top + height: top + height + bottom], out[:, :, top + height - 1 - bottom: top + height - 1], 2)
    return out


def _mirror(target: torch.Tensor, source: torch.Tensor, dim: int) -> None:
    """Copy ``source`` reversed along ``dim`` into ``target`` (one copy; a flipped temporary of
    the few border rows or columns when there are several)."""
    count = target.shape[dim]
    if count:
        target.copy_(source if count == 1 else source.flip(dim))


# ---------------------------------------------------------------------------------------------
# Scratch buffers: one padded activation's memory, reused by every layer and every pass
# ---------------------------------------------------------------------------------------------

_lock = threading.Lock()
_idle: list[torch.Tensor] = []  # flat buffers not leased now, at most SCRATCH_LIMIT_BYTES together


def _nbytes(buffer: torch.Tensor) -> int:
    return buffer.numel() * buffer.element_size()


@contextlib.contextmanager
def _lease(numel: int, dtype: torch.dtype, device: torch.device) -> Iterator[torch.Tensor]:
    """A flat buffer of at least ``numel`` elements, this caller's alone until the block ends
    (thread-safe: concurrent callers get different buffers). An idle buffer that is too small
    is replaced by the new, larger one."""
    buffer = None
    with _lock:  # (indices, not list.remove: tensors compare element-wise)
        same = [i for i, b in enumerate(_idle) if b.dtype == dtype and b.device == device]
        fitting = [i for i in same if _idle[i].numel() >= numel]
        if fitting:
            buffer = _idle.pop(min(fitting, key=lambda i: _idle[i].numel()))
        elif same:  # grow: free the largest smaller buffer before allocating its replacement
            del _idle[max(same, key=lambda i: _idle[i].numel())]
    if buffer is None:
        # A normal tensor even under torch.inference_mode(): an inference tensor could not be
        # written to later under plain no_grad (a training run's previews, say).
        with torch.inference_mode(False):
            buffer = torch.empty(numel, dtype=dtype, device=device)
    try:
        yield buffer
    finally:
        with _lock:
            if _nbytes(buffer) + sum(_nbytes(b) for b in _idle) <= SCRATCH_LIMIT_BYTES:
                _idle.append(buffer)


def clear_scratch() -> None:
    """Free the idle scratch buffers (they are rebuilt on the next padded convolution)."""
    with _lock:
        _idle.clear()


def scratch_bytes() -> int:
    """Bytes held in idle scratch buffers."""
    with _lock:
        return sum(_nbytes(b) for b in _idle)


def uses_fast_path(x: torch.Tensor) -> bool:
    """Whether :class:`ReflectionPad` pads ``x`` with :func:`reflection_pad` into a reused
    buffer: a 4-D CPU tensor, no autograd, and not inside ``torch.compile``, TorchScript
    tracing/scripting or ONNX export (those see ``F.pad``)."""
    return (x.device.type == "cpu" and x.dim() == 4 and not torch.is_grad_enabled()
            and not torch.compiler.is_compiling() and not torch.jit.is_scripting()
            and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export())


class ReflectionPad(nn.ReflectionPad2d):
    """A drop-in :class:`torch.nn.ReflectionPad2d` (it is one: same ``padding``, no parameters
    or buffers, so the state-dict keys around it do not change) that can also run the
    convolution after it without allocating the padded tensor: :meth:`conv`.

    Called on its own it is ``nn.ReflectionPad2d``.
    """

    def conv(self, conv: nn.Module, x: torch.Tensor, *, upsample: nn.Module | None = None) -> torch.Tensor:
        """``conv(self(upsample(x)))``; ``upsample`` None: ``conv(self(x))``.

        On the fast path (:func:`uses_fast_path`, and ``upsample`` a nearest
        :class:`torch.nn.Upsample` by a whole factor) the upsampling and padding are one copy
        into a scratch buffer that is handed back once ``conv`` has returned: ``conv`` must not
        keep its input (a result sharing the buffer's memory is cloned). Elsewhere the modules
        run one after the other, so autograd, ``torch.compile``, tracing and ONNX export see
        ``F.interpolate`` and ``F.pad``.
        """
        scale = 1 if upsample is None else nearest_scale(upsample)
        if (scale is None or not uses_fast_path(x)
                or max(self.padding[2:]) >= x.shape[2] * scale or max(self.padding[:2]) >= x.shape[3] * scale):
            return conv(self(x if upsample is None else upsample(x)))
        shape = padded_shape(x.shape, self.padding, scale)
        numel = shape[0] * shape[1] * shape[2] * shape[3]
        with _lease(numel, x.dtype, x.device) as buffer:
            padded = buffer.as_strided(shape, _strides(shape, _memory_format(x)))
            y = conv(reflection_pad(x, self.padding, scale=scale, out=padded))
            if y.untyped_storage().data_ptr() == buffer.untyped_storage().data_ptr():
                y = y.clone()  # the buffer is reused: nothing may leave with it
        return y


def nearest_scale(upsample: nn.Module) -> int | None:
    """The factor of a nearest :class:`torch.nn.Upsample` by one whole factor on both axes, else None."""
    if type(upsample) is not nn.Upsample or upsample.mode != "nearest" or upsample.size is not None:
        return None
    factors = upsample.scale_factor if isinstance(upsample.scale_factor, tuple) else (upsample.scale_factor,) * 2
    if len(factors) != 2 or len(set(factors)) != 1 or not float(factors[0]).is_integer() or factors[0] < 1:
        return None
    return int(factors[0])
