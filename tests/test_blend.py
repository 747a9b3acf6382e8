"""Blended styles: StyleMix weights and spec strings, output-space and weight-space blending,
and the CLI's ``--style a:0.6,b:0.4``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures_images import gradient
from styletransfer.inference.stylize import stylize
from styletransfer import TransformerNet, save_model
from styletransfer.inference.blend import OutputBlend, StyleMix, StyleMixError, interpolate_networks, parse_style
from styletransfer.apps.cli import main
from styletransfer.inference.prepare import prepare_mix, prepare_model
from styletransfer.inference.tiling import receptive_field
from test_stylize import lively, max_pixel_difference, mean_pixel_difference, one_thread  # noqa: F401

CPU = torch.device("cpu")


def pixels(image: Image.Image) -> torch.Tensor:
    """(H, W, 3) float32 0..255 pixel values of an RGB image."""
    return torch.from_numpy(np.array(image.convert("RGB"))).float()


def tiny(seed: int, **config: object) -> TransformerNet:
    torch.manual_seed(seed)
    return lively(TransformerNet(**{"norm": "batch", "attention": "srm", "residual_blocks": 1, **config}))


@pytest.fixture
def styles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three user styles: ``one`` and ``two`` (BN+SRM, one residual block), ``plain`` (BN only)."""
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "models"
    save_model(tiny(1), folder / "one.safetensors")
    save_model(tiny(2), folder / "two.safetensors")
    save_model(tiny(3, attention="none"), folder / "plain.safetensors")
    return ["one", "two", "plain"]


def test_weights_are_normalized_and_zero_weights_dropped():
    mix = StyleMix.from_weights({"a": 3, "b": 1, "c": 0})
    assert mix.models == ["a", "b"]
    assert mix.weights == [0.75, 0.25]
    assert StyleMix.parse("a:0.6,b:0.4").weights == pytest.approx([0.6, 0.4])
    assert StyleMix.parse("a,b").weights == [0.5, 0.5]
    assert StyleMix.parse("a:0.6,b:0.4").label == "a-60+b-40"


def test_plain_names_stay_names_and_mixes_are_parsed():
    assert parse_style("starry_night") == "starry_night"
    assert isinstance(parse_style("starry_night:1"), StyleMix)
    assert parse_style("a:0.25, b:0.75").parts == (("a", 0.25), ("b", 0.75))


def test_an_existing_file_with_a_colon_in_its_name_is_a_model_file(tmp_path):
    path = tmp_path / "v1:final.safetensors"
    path.write_bytes(b"")
    assert parse_style(str(path)) == str(path)
    assert StyleMix.parse(f"{path}:0.5,b:0.5").models == [str(path), "b"]


@pytest.mark.parametrize("spec, problem", [
    ("a:x,b:0.4", "'x' (for a) is not a weight"),
    ("a:0.6,,b:0.4", "an empty style between commas"),
    (":0.5,b:0.5", "a weight without a style name"),
    ("a:-1,b:2", "must be a number >= 0"),
    ("a:nan,b:1", "must be a number >= 0"),
    ("a:inf,b:1", "must be a number >= 0"),
    ("a:0,b:0", "must not all be zero"),
    ("a:1,a:2", "a is given twice"),
])
def test_bad_spec_strings_give_one_line_naming_the_spec(spec, problem):
    with pytest.raises(StyleMixError) as error:
        StyleMix.parse(spec)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"style mix {spec!r}: ")
    assert problem in message


def test_a_style_at_full_weight_is_that_style_alone(styles):
    image = gradient((48, 40))
    alone = stylize("one", image, precision="fp32")
    assert stylize({"one": 1.0}, image, precision="fp32").tobytes() == alone.tobytes()
    assert stylize(StyleMix.parse("one:1.0"), image, precision="fp32", blend="weights").tobytes() == alone.tobytes()
    # A zero weight drops its style: one pass, the same pixels.
    assert stylize({"one": 1.0, "two": 0.0}, image, precision="fp32").tobytes() == alone.tobytes()


def test_an_even_output_blend_is_the_mean_of_the_two_outputs(styles):
    batch = torch.rand(2, 3, 40, 48)
    one, two = prepare_model("one", CPU), prepare_model("two", CPU)
    blended = prepare_mix({"one": 0.5, "two": 0.5}, CPU)
    assert isinstance(blended, OutputBlend)
    with torch.inference_mode():
        expected = (one(batch) + two(batch)) / 2
        assert torch.allclose(blended(batch), expected, atol=1e-6)
        assert (one(batch) - two(batch)).abs().mean() > 0.05  # the two styles do differ
    image = gradient((48, 40))
    mean = (pixels(stylize("one", image, precision="fp32")) + pixels(stylize("two", image, precision="fp32"))) / 2
    mixed = pixels(stylize(StyleMix.parse("one:0.5,two:0.5"), image, precision="fp32"))
    assert (mixed - mean).abs().max() <= 1.0  # each of the three images is rounded to whole levels


def test_uneven_output_blend_weights_each_style(styles):
    image = gradient((48, 40))
    one = stylize("one", image, precision="fp32")
    mostly_one = stylize({"one": 0.9, "two": 0.1}, image, precision="fp32")
    mostly_two = stylize({"one": 0.1, "two": 0.9}, image, precision="fp32")
    assert mean_pixel_difference(mostly_one, one) < mean_pixel_difference(mostly_two, one)


def test_an_output_blend_is_tiled_with_its_members_receptive_field(styles):
    blended = prepare_mix({"one": 0.5, "two": 0.5}, CPU)
    assert receptive_field(blended) == receptive_field(prepare_model("one", CPU))
    image = gradient((200, 160))
    whole = stylize({"one": 0.5, "plain": 0.5}, image, precision="fp32")
    tiled = stylize({"one": 0.5, "plain": 0.5}, image, precision="fp32", tile_pixels=128 * 128)
    assert mean_pixel_difference(whole, tiled) < 2  # SRM statistics differ per tile


def test_weight_blending_averages_every_weight_and_buffer():
    first, second = tiny(1), tiny(2)
    for net in (first, second):  # give BatchNorm running statistics that differ
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
    blended = interpolate_networks([first, second], [0.25, 0.75])
    states = first.state_dict(), second.state_dict()
    for key, value in blended.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, 0.25 * states[0][key] + 0.75 * states[1][key]), key
    with torch.inference_mode():
        batch = torch.rand(1, 3, 32, 32)
        assert not torch.allclose(blended(batch), (first(batch) + second(batch)) / 2, atol=1e-3)


def test_weight_blending_of_files_is_one_network_of_the_same_architecture(styles):
    net = prepare_mix({"one": 0.5, "two": 0.5}, CPU, blend="weights")
    assert isinstance(net, TransformerNet)
    assert net.metadata == {"name": "one-50+two-50", "path": None, "blend": "weights", "border_margin": 0}
    assert prepare_mix({"one": 0.5, "two": 0.5}, CPU, blend="weights") is net  # cached


def test_weight_blending_of_different_architectures_is_refused_with_a_clear_error(styles):
    with pytest.raises(StyleMixError, match=r"cannot blend the weights of one and plain: their architectures "
                                            r"differ \(attention srm vs none\).*use output blending"):
        stylize({"one": 0.5, "plain": 0.5}, gradient((32, 32)), blend="weights")
    with pytest.raises(StyleMixError, match="residual_blocks 1 vs 2"):
        interpolate_networks([tiny(1), tiny(2, residual_blocks=2)], [0.5, 0.5])
    with pytest.raises(StyleMixError, match="unknown blend 'pixels'"):
        stylize("one", gradient((32, 32)), blend="pixels")


def test_cli_blends_styles_and_names_the_output_after_the_mix(styles, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    gradient((48, 40)).save(photo)
    out = tmp_path / "out"
    assert main(["stylize", str(photo), "--style", "one:0.6,two:0.4", "-o", str(out), "--precision", "fp32"]) == 0
    written = out / "photo_one-60+two-40.png"
    expected = stylize({"one": 0.6, "two": 0.4}, gradient((48, 40)), precision="fp32")
    assert max_pixel_difference(Image.open(written).convert("RGB"), expected) == 0
    assert main(["stylize", str(photo), "--style", "one,two", "--blend", "weights", "-o", str(out),
                 "--precision", "fp32"]) == 0
    assert (out / "photo_one-50+two-50.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--style", "one:abc,two"], "styletransfer: error: style mix 'one:abc,two': 'abc' (for one) is not a weight"),
    (["--style", "one,plain", "--blend", "weights"], "styletransfer: error: cannot blend the weights of one and plain"),
    (["--style", "one,nothing"], "styletransfer: error: nothing: no such model file or style name"),
])
def test_cli_bad_mixes_give_one_line_and_exit_2(styles, tmp_path, capsys, args, message):
    photo = tmp_path / "photo.png"
    gradient((32, 32)).save(photo)
    assert main(["stylize", str(photo), "-o", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(message)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
