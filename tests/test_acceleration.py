"""Accelerated inference: per-shape runners (CUDA graphs, or torch.compile), cached and with an
eager fallback; uint8 pixels in and out. CUDA graphs themselves need a GPU (the GPU check script
runs them); here the cache, the fallback and the compile path are checked on the CPU."""
import pytest
import torch
from PIL import Image

from fixtures_images import gradient
from styletransfer.inference import acceleration
from styletransfer import TransformerNet
from styletransfer.inference.acceleration import AcceleratedNetworks, check_acceleration, default_acceleration
from styletransfer.inference.prepare import network_input, prepare_model
from styletransfer.inference.stylize import stylize
from test_stylize import lively, max_pixel_difference


class FakeGraph:
    """Stands in for a CUDA graph: records its captures and runs the network."""

    captured: list[tuple[int, ...]] = []

    def __init__(self, run, example):
        self.run = run
        FakeGraph.captured.append(tuple(example.shape))

    def __call__(self, batch):
        return self.run(batch)


@pytest.fixture
def fake_graphs(monkeypatch):
    FakeGraph.captured = []
    monkeypatch.setattr(acceleration, "CapturedGraph", FakeGraph)
    return FakeGraph.captured


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return prepare_model(lively(TransformerNet("batch", "srm")), torch.device("cpu"))


def test_graphs_are_the_default_on_cuda_only():
    # Eager on CUDA too: the graph runner measured slower on an H200 (see default_acceleration).
    assert default_acceleration(torch.device("cuda")) == "off"
    assert default_acceleration(torch.device("cpu")) == "off"
    with pytest.raises(ValueError, match="needs a CUDA device"):
        check_acceleration("graph", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown acceleration 'turbo'; expected one of off, graph, compile"):
        check_acceleration("turbo", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown acceleration"):
        stylize(TransformerNet("batch", "none"), gradient((32, 32)), device="cpu", acceleration="turbo")


def test_one_runner_per_shape_reused_and_the_oldest_dropped(net, fake_graphs, monkeypatch):
    monkeypatch.setattr(acceleration, "MAX_SHAPES_PER_NETWORK", 2)
    runners = AcceleratedNetworks("graph")
    inputs = {size: torch.rand(1, 3, size, size) for size in (16, 24, 32)}
    with torch.inference_mode():
        for size in (16, 16, 24, 16, 32):
            torch.testing.assert_close(runners(net, inputs[size]), net(inputs[size]))
    assert fake_graphs == [(1, 3, 16, 16), (1, 3, 24, 24), (1, 3, 32, 32)]
    assert [key[0] for key in runners.cached_shapes(net)] == [(1, 3, 16, 16), (1, 3, 32, 32)]


def test_a_failed_capture_warns_once_and_runs_eagerly(net, monkeypatch):
    def broken(run, example):
        raise RuntimeError("capture is not supported here")

    monkeypatch.setattr(acceleration, "CapturedGraph", broken)
    runners = AcceleratedNetworks("graph")
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        with pytest.warns(RuntimeWarning, match="graph acceleration failed .* running eagerly .*not supported"):
            first = runners(net, x)
        second = runners(net, x)  # no second warning: the eager runner is cached
    torch.testing.assert_close(first, second)


def test_compiled_stylize_matches_eager_and_compiles_once_per_size(monkeypatch):
    """torch.compile's "eager" backend keeps the test fast; the real one needs a compiler."""
    monkeypatch.setitem(acceleration.COMPILE_OPTIONS, "backend", "eager")
    monkeypatch.delitem(acceleration.COMPILE_OPTIONS, "mode")
    monkeypatch.setattr(acceleration, "_ACCELERATORS", {})
    torch.manual_seed(0)
    model = lively(TransformerNet("batch", "srm"))
    image = gradient((48, 40))
    # fp32: eager CPU inference rewrites some convolutions (fast_conv) that the compiled graph
    # runs as written; in bf16 two roundings of a 1/256-step output could be 2 levels apart.
    eager = stylize(model, image, device="cpu", acceleration="off", precision="fp32")
    compiled = stylize(model, image, device="cpu", acceleration="compile", precision="fp32")
    assert max_pixel_difference(eager, compiled) <= 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["fp32", "bf16", "fp16"])
def test_uint8_input_is_converted_on_the_device_exactly_like_float_input(dtype):
    torch.manual_seed(0)
    net = prepare_model(lively(TransformerNet("batch", "srm")), torch.device("cpu"), dtype)
    every_value = torch.arange(256, dtype=torch.uint8).reshape(16, 16, 1).expand(16, 16, 3).contiguous()
    for pixels in (every_value.permute(2, 0, 1)[None],  # an image's (H, W, 3) pixels, as stylize passes them
                   torch.randint(0, 256, (1, 3, 8, 8), dtype=torch.uint8)):
        as_float = network_input(net, pixels.float() / 255, torch.device("cpu"))
        as_uint8 = network_input(net, pixels, torch.device("cpu"))
        assert as_uint8.dtype == dtype and torch.equal(as_float, as_uint8)
        assert as_uint8.is_contiguous(memory_format=torch.channels_last)
