import importlib
import os

import pytest
import torch
from PIL import Image, ImageChops, ImageStat

from fixtures_images import gradient
from styletransfer import TransformerNet, save_model
from styletransfer.core.device import pick_precision
from styletransfer.core.images import float_to_pixels
from styletransfer.inference.prepare import _load_prepared, prepare_model
from styletransfer.inference.stylize import _eager, _run_tiled, stylize
from styletransfer.inference.tiling import BLEND_PIXELS, receptive_field, split_axis, tile_context


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two OpenMP threads on a shared two-core machine spend most of a small pass waiting
    for each other; one thread keeps these tests fast."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def lively(net: TransformerNet) -> TransformerNet:
    """An untrained network whose output varies visibly across the image: PyTorch's default
    init shrinks activations layer by layer (a fresh network gives nearly flat grey), so the
    conv weights are scaled to He initialization (×√6) and the biases zeroed. Eval mode."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(6 ** 0.5)
                module.bias.zero_()
    return net.eval()


def max_pixel_difference(a: Image.Image, b: Image.Image) -> int:
    return max(band.getextrema()[1] for band in ImageChops.difference(a, b).split())


def mean_pixel_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference over all pixels and bands, in 0..255 units."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


def test_receptive_field_and_context_come_from_the_layers():
    assert receptive_field(TransformerNet()) == (109, 4)
    assert tile_context(TransformerNet()) == 60
    assert receptive_field(TransformerNet(residual_blocks=1)) == (109 - 4 * 2 * 8, 4)


@pytest.mark.parametrize("length", [300, 301, 1000, 4099])
def test_split_axis_covers_the_axis_with_weights_summing_to_one(length):
    tile, context, stride = 200, 60, 4
    segments = split_axis(length, tile, context, stride)
    total = torch.zeros(length)
    for segment in segments:
        assert segment.crop_end - segment.crop_start <= tile
        assert segment.crop_start % stride == 0
        inner_left = segment.crop_start if segment.crop_start == 0 else segment.crop_start + context
        inner_right = segment.crop_end if segment.crop_end == length else segment.crop_end - context
        assert inner_left <= segment.keep_start and segment.keep_end <= inner_right
        total[segment.keep_start:segment.keep_end] += segment.weights()
    assert torch.allclose(total, torch.ones(length), atol=1e-6)
    assert split_axis(150, 200, context, stride) == [split_axis(150, 200, context, stride)[0]]


def test_too_small_tiles_are_refused_with_the_minimum():
    with pytest.raises(ValueError, match=f"at least {2 * BLEND_PIXELS + 2 * 60} px"):
        split_axis(1000, 150, 60, 4)


def test_tiled_matches_untiled_for_a_batchnorm_network():
    # One residual block: receptive field 45 px, 28 px of context, so 128×128 tiles work.
    torch.manual_seed(0)
    net = lively(TransformerNet(norm="batch", attention="none", residual_blocks=1))
    image = gradient((200, 160))
    whole = stylize(net, image, precision="fp32")
    assert sum(ImageStat.Stat(whole).stddev) > 30
    tiled = stylize(net, image, precision="fp32", tile_pixels=128 * 128)
    # Each output pixel sees only its receptive field: equal up to float rounding (measured 0).
    assert max_pixel_difference(whole, tiled) <= 1


def test_tiles_go_through_the_network_one_at_a_time_within_the_budget(monkeypatch):
    stylize_module = importlib.import_module("styletransfer.inference.stylize")  # the package re-exports the function `stylize`
    net = TransformerNet(norm="batch", attention="none", residual_blocks=1).eval()
    shapes = []
    folded = prepare_model(net, torch.device("cpu"))
    folded.register_forward_pre_hook(lambda _, args: shapes.append(tuple(args[0].shape)))
    monkeypatch.setattr(stylize_module, "prepare_model", lambda model, device, dtype=torch.float32: folded)
    stylize(net, gradient((300, 130)), precision="fp32", tile_pixels=128 * 128)
    assert len(shapes) > 4
    assert all(shape[0] == 1 and shape[2] * shape[3] <= 128 * 128 for shape in shapes)


def test_strength_zero_returns_the_input_pixels_and_keeps_alpha():
    rgba = gradient((40, 30), "RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((40, 30)))
    net = TransformerNet(norm="batch", attention="srm")
    same = stylize(net, rgba, strength=0.0)
    assert same.mode == "RGBA" and same.tobytes() == rgba.tobytes()
    rgb = gradient((40, 30))
    unchanged = stylize(net, rgb, strength=0.0)
    assert unchanged.tobytes() == rgb.tobytes()
    unchanged.putpixel((0, 0), (1, 2, 3))  # the result is the caller's to change: a copy, not the input
    assert rgb.getpixel((0, 0)) != (1, 2, 3) and stylize(net, rgb).getpixel((0, 0)) is not None


def test_alpha_is_put_back_and_strength_blends():
    net = lively(TransformerNet(norm="batch", attention="none"))
    rgba = gradient((48, 32), "RGBA")
    alpha = Image.linear_gradient("L").resize((48, 32))
    rgba.putalpha(alpha)
    full = stylize(net, rgba, precision="fp32")
    assert full.mode == "RGBA" and full.size == (48, 32)
    assert full.getchannel("A").tobytes() == alpha.tobytes()
    half = stylize(net, rgba, strength=0.5, precision="fp32").convert("RGB")
    expected = Image.blend(rgba.convert("RGB"), full.convert("RGB"), 0.5)
    assert max_pixel_difference(half, expected) <= 1


def test_preserve_color_takes_luminance_from_the_stylized_image_and_chroma_from_the_original():
    net = lively(TransformerNet(norm="batch", attention="none"))
    # Muted colors: a saturated original with a new luminance would leave the RGB gamut.
    image = Image.blend(gradient((48, 40)), Image.new("RGB", (48, 40), (128, 128, 128)), 0.7)
    styled = stylize(net, image, precision="fp32").convert("YCbCr")
    kept = stylize(net, image, precision="fp32", preserve_color=True).convert("YCbCr")
    original = image.convert("YCbCr")
    # Rounding in the YCbCr→RGB→YCbCr round trip, and clipping where a very dark or bright
    # stylized pixel with the original's chroma falls outside the RGB gamut.
    assert mean_pixel_difference(kept.getchannel("Y"), styled.getchannel("Y")) < 1.5
    assert mean_pixel_difference(kept.getchannel("Cb"), original.getchannel("Cb")) < 1.5
    assert mean_pixel_difference(kept.getchannel("Cr"), original.getchannel("Cr")) < 1.5
    assert mean_pixel_difference(styled.getchannel("Cb"), original.getchannel("Cb")) > 5


def test_resizing_options():
    net = TransformerNet(norm="batch", attention="none")
    image = gradient((120, 60))
    assert stylize(net, image, max_size=50).size == (50, 25)
    assert stylize(net, image, scale=0.25).size == (30, 15)
    assert stylize(net, image, max_size=500).size == (120, 60)
    with pytest.raises(ValueError, match="not both"):
        stylize(net, image, max_size=50, scale=0.5)
    with pytest.raises(ValueError, match="strength"):
        stylize(net, image, strength=1.5)


def test_bf16_looks_like_fp32():
    net = lively(TransformerNet(norm="batch", attention="srm"))
    image = gradient((96, 64))
    fp32 = stylize(net, image, precision="fp32")
    bf16 = stylize(net, image, precision="bf16")
    assert mean_pixel_difference(fp32, bf16) < 2  # 0..255 units


def test_models_given_by_path_or_name_are_loaded_once_and_reloaded_when_rewritten(tmp_path, monkeypatch):
    prepare_module = importlib.import_module("styletransfer.inference.prepare")
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path))
    path = save_model(TransformerNet(norm="batch", attention="srm"), tmp_path / "models" / "tiny.safetensors",
                      title="Tiny")
    loads = []
    real_load = prepare_module.load_model
    monkeypatch.setattr(prepare_module, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    _load_prepared.cache_clear()
    image = gradient((16, 16))
    first = stylize(path, image)
    stylize(str(path), image)
    stylize("tiny", image)
    assert len(loads) == 1
    cpu = torch.device("cpu")
    prepared = prepare_model("tiny", cpu, pick_precision(cpu))  # the one stylize() cached
    assert not any(type(m).__name__ in ("SRM", "BatchNorm2d") for m in prepared.modules())
    stat = path.stat()
    save_model(TransformerNet(norm="batch", attention="none"), path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert stylize(path, image).size == first.size
    assert len(loads) == 2


def stroke_network() -> TransformerNet:
    torch.manual_seed(0)
    return lively(TransformerNet(norm="batch", attention="srm", residual_blocks=1))


@pytest.mark.parametrize("stroke_scale", [0.5, 1, 2])
def test_stroke_scale_keeps_the_output_size(stroke_scale):
    rgba = gradient((90, 67), "RGBA")  # odd sides, and transparency
    result = stylize(stroke_network(), rgba, precision="fp32", stroke_scale=stroke_scale, preserve_color=True)
    assert result.size == (90, 67) and result.mode == "RGBA"


def test_stroke_scale_one_is_the_stylization_as_before():
    net = stroke_network()
    image = gradient((90, 67))
    with torch.inference_mode():
        before = _run_tiled(prepare_model(net, torch.device("cpu")), image, torch.device("cpu"), 10 ** 9, _eager)
    assert stylize(net, image, precision="fp32", stroke_scale=1.0).tobytes() == before.tobytes()
    assert stylize(net, image, precision="fp32").tobytes() == before.tobytes()


def test_stroke_scale_two_stylizes_a_half_size_copy_and_enlarges_it():
    net = stroke_network()
    image = gradient((120, 84))
    larger = stylize(net, image, precision="fp32", stroke_scale=2)
    half = stylize(net, image.resize((60, 42), Image.Resampling.LANCZOS), precision="fp32")
    assert larger.tobytes() == half.resize((120, 84), Image.Resampling.LANCZOS).tobytes()
    assert mean_pixel_difference(larger, stylize(net, image, precision="fp32")) > 2


@pytest.mark.parametrize("stroke_scale", [0, -1, 0.2, 5, float("nan"), float("inf"), "big", None])
def test_a_bad_stroke_scale_is_a_one_line_value_error(stroke_scale):
    with pytest.raises(ValueError, match="stroke_scale must be (a number )?between 0.25 and 4, not ") as raised:
        stylize(stroke_network(), gradient((32, 32)), stroke_scale=stroke_scale)
    assert "\n" not in str(raised.value)


def test_nan_check_catches_any_nan_and_only_nan():
    from styletransfer.inference.stylize import NAN_ERROR
    float_to_pixels(torch.rand(3, 8, 8, dtype=torch.bfloat16), nan_error=NAN_ERROR)
    float_to_pixels(torch.tensor([float("inf"), 0.5]), nan_error=NAN_ERROR)  # infinities are clamped, not NaN
    float_to_pixels(torch.tensor([float("inf"), float("-inf")]), nan_error=NAN_ERROR)  # a NaN sum, but no NaN value
    for bad in ([0.5, float("nan")], [float("inf"), float("nan")]):
        with pytest.raises(ValueError, match="NaN"):
            float_to_pixels(torch.tensor(bad), nan_error=NAN_ERROR)

@pytest.mark.parametrize("tile_pixels", [None, 128 * 128])
def test_a_network_that_outputs_nan_is_a_one_line_error_whole_or_tiled(tile_pixels):
    """A damaged model (here: one NaN weight in the last layer) must not become a black or
    speckled picture: stylize() refuses it, whether the image is one tile or many."""
    net = TransformerNet(norm="batch", attention="none", residual_blocks=1).eval()
    with torch.no_grad():
        last = [p for p in net.parameters() if p.dim() == 4][-1]
        last[0, 0, 0, 0] = float("nan")
    kwargs = {} if tile_pixels is None else {"tile_pixels": tile_pixels}
    with pytest.raises(ValueError, match="the network produced NaN values") as raised:
        stylize(net, gradient((300, 130)), precision="fp32", **kwargs)
    assert "\n" not in str(raised.value)
