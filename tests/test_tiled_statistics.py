"""Whole-image statistics for tiling: with ``tile_statistics="global"`` (the default) or ``"image"`` a
tiled image equals the untiled one for networks with SRM, InstanceNorm and SE, which tile-by-tile statistics do not."""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import torch
from PIL import Image

from fixtures_images import gradient
from styletransfer.inference.blend import OutputBlend
from styletransfer.inference.stylize import _eager, _run_tiled, stylize
from styletransfer import TransformerNet, save_model
from styletransfer.apps.cli import main
from styletransfer.apps.cli.main import build_parser
from styletransfer.models.layers.attention import style_pooling
from styletransfer.inference.prepare import prepare_model
from styletransfer.inference.image_statistics import MomentSums, _stages, hold_image_statistics
from styletransfer.inference.tiling import in_step_memory_budget
from styletransfer.models.layers.held_norm import hold_statistics, statistics_blocks
from test_stylize import lively, max_pixel_difference, mean_pixel_difference, one_thread  # noqa: F401

CPU = torch.device("cpu")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
VARIANTS = {"bn+srm": ("batch", "srm"), "in": ("instance", "none"), "bn+se": ("batch", "se")}


def network(variant: str, **options: object) -> TransformerNet:
    """One residual block: a 45 px receptive field, so 128×128 tiles work."""
    torch.manual_seed(0)
    norm, attention = VARIANTS[variant]
    net = lively(TransformerNet(norm, attention, residual_blocks=1, **options))
    with torch.no_grad():  # SRM gates that depend on the image
        for module in net.modules():
            if hasattr(module, "cfc"):
                module.cfc.normal_(0, 1)
    return net


@pytest.mark.parametrize("mode", ["global", "image"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_tiles_with_the_whole_images_statistics_match_the_untiled_result(variant, mode):
    net = network(variant)
    image = gradient((200, 160))
    whole = stylize(net, image, precision="fp32")
    own = stylize(net, image, precision="fp32", tile_pixels=128 * 128, tile_statistics="tile")
    shared = stylize(net, image, precision="fp32", tile_pixels=128 * 128, tile_statistics=mode)
    assert max_pixel_difference(own, whole) > 2  # each tile's own statistics show
    assert max_pixel_difference(shared, whole) <= 1  # float rounding only
    assert mean_pixel_difference(shared, whole) < 0.01


@pytest.mark.parametrize("mode", ["global", "image"])
def test_attention_in_the_sampling_layers_is_measured_at_every_stride(mode):
    net = network("bn+srm", sampling_attention=True)  # SRM at strides 1, 2, 4, 2, 1
    image = gradient((210, 170))  # sides that are not multiples of 4
    whole = stylize(net, image, precision="fp32")
    shared = stylize(net, image, precision="fp32", tile_pixels=128 * 128, tile_statistics=mode)
    assert max_pixel_difference(shared, whole) <= 1


def test_a_network_without_per_image_statistics_is_used_as_it_is():
    net = prepare_model(TransformerNet("batch", "none", residual_blocks=1), torch.device("cpu"))
    assert hold_image_statistics(net, gradient((64, 64)), torch.device("cpu"), ([], []), lambda *_: None) is net


def test_moment_sums_over_parts_give_the_whole_maps_mean_and_variance():
    features = torch.randn(1, 5, 12, 20) * 3 + 1
    sums = MomentSums()
    sums.add(features[:, :, :7])
    sums.add(features[:, :, 7:, :9])
    sums.add(features[:, :, 7:, 9:])
    mean, variance = sums.mean_and_variance()
    expected_mean, expected_std = style_pooling(features)
    assert sums.count == 12 * 20
    assert torch.allclose(mean, expected_mean[0], atol=1e-5)
    assert torch.allclose(torch.sqrt(variance + 1e-5), expected_std[0], atol=1e-5)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_moment_sums_keep_a_small_spread_on_a_large_mean(dtype, memory_format):
    """Summing in float32, E[x²] − E[x]² would lose a spread of 0.01 on a mean of 50; the shift
    keeps the variance to a fraction of a percent (checked against float64)."""
    torch.manual_seed(0)
    features = (torch.randn(1, 4, 96, 80) * 0.01 + 50).to(dtype).contiguous(memory_format=memory_format)
    sums = MomentSums()
    for part in (features[:, :, :40], features[:, :, 40:, :30], features[:, :, 40:, 30:]):
        sums.add(part)
    mean, variance = sums.mean_and_variance()
    exact = features.double()
    assert torch.allclose(mean.double(), exact.mean(dim=(0, 2, 3)), rtol=0, atol=1e-5)
    assert torch.allclose(variance.double(), exact.var(dim=(0, 2, 3), correction=0), rtol=1e-3, atol=0)


def test_unknown_tile_statistics_are_refused():
    with pytest.raises(ValueError, match="unknown tile_statistics 'frame'; expected one of global, tile, image"):
        stylize(network("bn+srm"), gradient((32, 32)), tile_statistics="frame")


def test_the_stylize_command_takes_tile_statistics(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    save_model(network("in"), tmp_path / "home" / "models" / "tiny.safetensors")
    gradient((200, 160)).save(tmp_path / "photo.png")
    common = [str(tmp_path / "photo.png"), "--style", "tiny", "--precision", "fp32"]
    assert main(["stylize", *common, "-o", str(tmp_path / "whole")]) == 0
    assert main(["stylize", *common, "-o", str(tmp_path / "tiled"), "--tile-pixels", "16384",
                 "--tile-statistics", "image"]) == 0
    whole, tiled = (Image.open(tmp_path / folder / "photo_tiny.png").convert("RGB") for folder in ("whole", "tiled"))
    assert max_pixel_difference(whole, tiled) <= 1


def test_the_default_is_the_whole_images_statistics_in_one_pass():
    assert inspect.signature(stylize).parameters["tile_statistics"].default == "global"
    assert build_parser().parse_args(["stylize", "x.png", "--style", "s", "-o", "out"]).tile_statistics == "global"
    net = network("bn+srm")
    image = gradient((200, 160))
    assert max_pixel_difference(stylize(net, image, precision="fp32", tile_pixels=128 * 128),
                                stylize(net, image, precision="fp32")) <= 1


@pytest.mark.parametrize("variant", [*VARIANTS, "sampling", "blend"])
def test_a_network_run_stage_by_stage_equals_its_forward(variant):
    if variant == "sampling":
        net = network("bn+srm", sampling_attention=True)
    elif variant == "blend":
        net = OutputBlend([network("bn+srm"), network("in")], [0.3, 0.7])
    else:
        net = network(variant)
    held = hold_statistics(prepare_model(net, CPU) if variant != "blend" else net, momentum=0.0)
    x = torch.rand(1, 3, 70, 90)
    with torch.inference_mode():
        expected = held(x)  # the first call measures and holds x's statistics
        stages = _stages(held, [x])
        reached = []
        try:
            while True:
                block, features = next(stages)
                reached.append(block)
        except StopIteration as done:
            result = done.value
    assert reached == statistics_blocks(held)
    assert torch.equal(result, expected)


class Wrapped(torch.nn.Module):
    """A module the stage-by-stage run does not know."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_a_network_that_cannot_run_stage_by_stage_is_measured_first_instead():
    net = Wrapped(prepare_model(network("bn+srm"), CPU))
    image = gradient((200, 160))
    with torch.inference_mode():
        whole = _run_tiled(net, image, CPU, 10 ** 9, _eager)
        tiled = _run_tiled(net, image, CPU, 128 * 128, _eager, "global")
        own = _run_tiled(net, image, CPU, 128 * 128, _eager, "tile")
    assert max_pixel_difference(own, whole) > 2
    assert max_pixel_difference(tiled, whole) <= 1


def test_a_shipped_style_tiled_agrees_with_the_untiled_image():
    # Target of issue 24: tiled within a mean of 1 and at most 24 levels of the untiled image.
    photo = Image.open(EXAMPLES / "red_panda.jpg").convert("RGB").resize((320, 240), Image.LANCZOS)
    whole = stylize("composition_viii", photo)
    own = stylize("composition_viii", photo, tile_pixels=240 * 240, tile_statistics="tile")
    tiled = stylize("composition_viii", photo, tile_pixels=240 * 240)
    assert max_pixel_difference(own, whole) > 24  # the seams that per-tile statistics leave
    assert mean_pixel_difference(tiled, whole) <= 1
    assert max_pixel_difference(tiled, whole) <= 24


def test_tiles_that_would_hold_too_much_memory_are_measured_first_instead(monkeypatch):
    stylize_module = importlib.import_module("styletransfer.inference.stylize")
    measured = []

    def measure_first(*args, **kwargs):
        measured.append(True)
        return hold_image_statistics(*args, **kwargs)

    monkeypatch.setattr(stylize_module, "in_step_memory_budget", lambda device: 1000)
    monkeypatch.setattr(stylize_module, "hold_image_statistics", measure_first)
    net = network("bn+srm")
    image = gradient((200, 160))
    tiled = stylize(net, image, precision="fp32", tile_pixels=128 * 128)
    assert measured
    assert max_pixel_difference(tiled, stylize(net, image, precision="fp32")) <= 1


def test_the_memory_budget_is_a_quarter_of_the_machines_memory():
    budget = in_step_memory_budget(CPU)
    assert 2 ** 28 <= budget <= 2 ** 44


@pytest.mark.parametrize(("memory", "one_pass"), [(16 * 1024 ** 3, True), (8 * 1024 ** 3, True),
                                                  (4 * 1024 ** 3, False), (None, False)])
def test_the_default_tile_follows_the_image_and_the_machines_memory(memory, one_pass, monkeypatch):
    """A photo of up to 2048² goes through in one pass where memory allows (8 GiB or more); a
    larger one, or any on a small machine or one whose memory is unknown, in 1024² tiles; CUDA
    always takes 2048²."""
    import styletransfer.inference.tiling as tiling
    monkeypatch.setattr(tiling, "machine_memory", lambda: memory)
    for device in (CPU, torch.device("mps")):
        for pixels in (512 * 512, 1920 * 1080, 2048 * 2048):
            assert tiling.default_tile_pixels(device, pixels) == (2048 * 2048 if one_pass else 1024 * 1024)
        assert tiling.default_tile_pixels(device, 2048 * 2048 + 1) == 1024 * 1024
        assert tiling.default_tile_pixels(device) == 1024 * 1024
    assert tiling.default_tile_pixels(torch.device("cuda"), 6000 * 4000) == 2048 * 2048
    assert tiling.in_step_memory_budget(CPU) == (memory or 8 * 1024 ** 3) // 4


def test_a_1080p_photo_goes_through_the_network_in_one_pass_by_default(monkeypatch):
    import styletransfer.inference.tiling as tiling
    stylize_module = importlib.import_module("styletransfer.inference.stylize")
    monkeypatch.setattr(tiling, "machine_memory", lambda: 16 * 1024 ** 3)
    net = TransformerNet(norm="batch", attention="none", residual_blocks=1, width=4).eval()
    folded = prepare_model(net, CPU)
    shapes = []
    folded.register_forward_pre_hook(lambda _, args: shapes.append(tuple(args[0].shape)))
    monkeypatch.setattr(stylize_module, "prepare_model", lambda model, device, dtype=torch.float32: folded)
    stylize(net, Image.new("RGB", (1920, 1080)), precision="fp32")
    assert shapes == [(1, 3, 1080, 1920)]
