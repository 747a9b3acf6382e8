"""Fast repeated inference of one network: a captured CUDA graph per input shape (optionally of
the ``torch.compile``-d network), cached, with eager execution as the fallback.

The web app and the CLI send the same image sizes through the same network again and again.
Eager PyTorch launches every kernel from Python, which at 1080p on an H200 left the GPU mostly
idle; a CUDA graph replays all of a forward pass's kernels with one launch. Capturing costs one
warm-up pass and a few hundred milliseconds, once per (network, shape, dtype). ``"compile"``
adds ``torch.compile`` (fused kernels, several times faster than eager on a GPU at a fixed
size), at the price of tens of seconds of compilation per new shape, so it is not the default
(measurements: docs/performance.md, "Design notes").

Accelerations:
    ``"off"``: eager.
    ``"graph"``: CUDA graph capture of the eager network.
    ``"compile"``: ``torch.compile`` (:data:`COMPILE_OPTIONS`); on CUDA then graph-captured.

Whatever fails while capturing or compiling (an unsupported layer, no compiler on the machine)
is reported once as a RuntimeWarning and that (network, shape) runs eagerly from then on.
"""
from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

ACCELERATIONS = ("off", "graph", "compile")
COMPILE_OPTIONS: dict[str, Any] = {"mode": "max-autotune-no-cudagraphs", "dynamic": False}
"""Arguments of ``torch.compile`` for ``"compile"`` (the graph capture is ours, per shape)."""
MAX_SHAPES_PER_NETWORK = 8
"""Captured graphs kept per network (least recently used dropped): each holds its activations."""

Runner = Callable[[torch.Tensor], torch.Tensor]


def default_acceleration(device: torch.device) -> str:
    """``"off"`` (eager) everywhere. On the CPU the kernels themselves, not their launches, take
    the time. On CUDA, stylize() with the graph runner measured slower than eager on an H200
    (docs/performance.md, "Design notes"), so graphs stay an option until that is understood."""
    return "off"


def check_acceleration(name: str, device: torch.device) -> str:
    """``name`` when it can run on ``device``; ValueError with the choices otherwise."""
    if name not in ACCELERATIONS:
        raise ValueError(f"unknown acceleration {name!r}; expected one of {', '.join(ACCELERATIONS)}")
    if name == "graph" and device.type != "cuda":
        raise ValueError(f"acceleration 'graph' (CUDA graphs) needs a CUDA device, not {device.type}")
    return name


class CapturedGraph:
    """One forward pass of ``run`` on inputs shaped like ``example``, captured as a CUDA graph.

    Calling it copies the input into the graph's own input buffer, replays the graph and
    returns a copy of its output (so results of earlier calls stay valid).
    """

    def __init__(self, run: Runner, example: torch.Tensor, warmups: int = 2):
        self.input = example.clone()
        # Warm-up on a side stream, as torch.cuda.graphs asks: lazy initialization (cuDNN
        # algorithm choice, compiled kernels) must not happen during capture.
        side = torch.cuda.Stream(device=example.device)
        side.wait_stream(torch.cuda.current_stream(example.device))
        with torch.cuda.stream(side):
            for _ in range(warmups):
                run(self.input)
        torch.cuda.current_stream(example.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = run(self.input)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        self.input.copy_(batch)
        self.graph.replay()
        return self.output.clone()


class AcceleratedNetworks:
    """Per (network, input shape, dtype, memory format) runners for one acceleration.

    Networks are held weakly: a network that is garbage-collected takes its graphs with it.
    """

    def __init__(self, acceleration: str):
        self.acceleration = acceleration
        self._runners: weakref.WeakKeyDictionary[nn.Module, OrderedDict[tuple, Runner]] = weakref.WeakKeyDictionary()
        self._compiled: weakref.WeakKeyDictionary[nn.Module, Runner] = weakref.WeakKeyDictionary()

    def __call__(self, net: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """``net(batch)``, accelerated when possible; batch (N, 3, H, W) as the network takes it."""
        if self.acceleration == "off":
            return net(batch)
        runners = self._runners.setdefault(net, OrderedDict())
        key = (tuple(batch.shape), batch.dtype, batch.device, batch.is_contiguous())
        runner = runners.get(key)
        if runner is None:
            runner = self._build(net, batch)
            runners[key] = runner
            while len(runners) > MAX_SHAPES_PER_NETWORK:
                runners.popitem(last=False)
        runners.move_to_end(key)
        return runner(batch)

    def cached_shapes(self, net: nn.Module) -> list[tuple]:
        """The (shape, dtype, device, contiguous) keys with a runner for ``net``, oldest first."""
        return list(self._runners.get(net, {}))

    def _build(self, net: nn.Module, example: torch.Tensor) -> Runner:
        try:
            run: Runner = net
            if self.acceleration == "compile":
                if net not in self._compiled:
                    self._compiled[net] = torch.compile(net, **COMPILE_OPTIONS)
                run = self._compiled[net]
                if example.device.type != "cuda":
                    run(example)  # compile now, so that failures fall back here
                    return run
            return CapturedGraph(run, example)
        except Exception as error:  # noqa: BLE001 - any failure means: run this shape eagerly
            warnings.warn(f"{self.acceleration} acceleration failed for a {tuple(example.shape)} "
                          f"{str(example.dtype).removeprefix('torch.')} input, running eagerly "
                          f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})",
                          RuntimeWarning, stacklevel=3)
            return net


_ACCELERATORS: dict[str, AcceleratedNetworks] = {}


def accelerated(acceleration: str) -> AcceleratedNetworks:
    """The process-wide runner cache for ``acceleration``."""
    if acceleration not in _ACCELERATORS:
        _ACCELERATORS[acceleration] = AcceleratedNetworks(acceleration)
    return _ACCELERATORS[acceleration]
