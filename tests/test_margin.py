"""The reflected border margin (styletransfer.inference.margin): padding and cropping, the margin a
model file records, and every way a network is run (stylize, blends, frames, CLI, ONNX)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from fixtures_images import gradient
from styletransfer import TransformerNet, save_model
from styletransfer.apps.cli import main
from styletransfer.inference.margin import (BORDER_MARGIN_KEY, MAX_BORDER_MARGIN, WithMargin, check_margin, crop_margin,
                                            network_margin, pad_reflect, recorded_margin)
from styletransfer.inference.prepare import prepare_model
from styletransfer.inference.stylize import stylize
from styletransfer.inference.video.frames import FrameStylizer, Stability
from styletransfer.modelfiles.format import ModelFileError, read_header, update_metadata
from test_cli import onnx_and_torch
from test_stylize import lively, max_pixel_difference, one_thread  # noqa: F401  (one_thread: autouse fixture)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two lively BN networks (no per-image statistics) as files: one recording a margin of 12 px,
    one recording none."""
    folder = tmp_path_factory.mktemp("margin")
    torch.manual_seed(3)
    plain = save_model(lively(TransformerNet(norm="batch", attention="none")), folder / "plain.safetensors")
    torch.manual_seed(4)
    banded = save_model(lively(TransformerNet(norm="batch", attention="none")), folder / "banded.safetensors",
                        **{BORDER_MARGIN_KEY: 12})
    return {"plain": plain, "banded": banded}


@pytest.mark.parametrize("margin", [0, 1, 5, 7, 30])
@pytest.mark.parametrize("size", [(1, 1), (1, 6), (6, 8)])
def test_pad_reflect_mirrors_like_numpy_at_any_margin(margin, size):
    pixels = torch.arange(3 * size[0] * size[1], dtype=torch.uint8).reshape(3, *size)
    padded = pad_reflect(pixels, margin)
    mode = "edge" if 1 in size else "reflect"  # numpy cannot reflect one pixel; it is repeated either way
    if 1 in size and size != (1, 1):
        expected = np.pad(pixels.numpy(), ((0, 0), (margin, margin), (0, 0)), mode="edge")
        expected = np.pad(expected, ((0, 0), (0, 0), (margin, margin)), mode="reflect")
    else:
        expected = np.pad(pixels.numpy(), ((0, 0), (margin, margin), (margin, margin)), mode=mode)
    assert padded.dtype == torch.uint8
    assert np.array_equal(padded.numpy(), expected)
    assert torch.equal(crop_margin(padded, margin), pixels)


@pytest.mark.parametrize("bad", [-1, 3.5, MAX_BORDER_MARGIN + 1, "x", float("nan"), True, None, [4]])
def test_a_bad_margin_is_one_line(bad):
    with pytest.raises(ValueError, match=f"whole number of pixels from 0 to {MAX_BORDER_MARGIN}") as error:
        check_margin(bad)
    assert "\n" not in str(error.value)


def test_a_margin_reads_from_numbers_and_text():
    assert [check_margin(value) for value in (0, 16, 16.0, "32", np.int64(8), MAX_BORDER_MARGIN)] == [
        0, 16, 16, 32, 8, 256]
    assert recorded_margin({}) == recorded_margin(None) == recorded_margin({BORDER_MARGIN_KEY: None}) == 0
    assert recorded_margin({BORDER_MARGIN_KEY: 48}) == 48
    with pytest.raises(ValueError, match="the model's border_margin"):
        recorded_margin({BORDER_MARGIN_KEY: -3})


def test_stylize_uses_the_margin_the_model_file_records(model_files):
    image = gradient((70, 50))
    assert network_margin(prepare_model(model_files["banded"], torch.device("cpu"))) == 12
    recorded = stylize(model_files["banded"], image, device="cpu", precision="fp32")
    assert recorded.size == image.size
    assert max_pixel_difference(recorded, stylize(model_files["banded"], image, device="cpu", precision="fp32",
                                                  margin=12)) == 0
    without = stylize(model_files["banded"], image, device="cpu", precision="fp32", margin=0)
    assert max_pixel_difference(recorded, without) > 10  # the margin changes the edges...
    # ...and is what stylizing the mirrored image and cropping it would give
    padded = Image.fromarray(np.pad(np.asarray(image), ((12, 12), (12, 12), (0, 0)), mode="reflect"))
    by_hand = stylize(model_files["banded"], padded, device="cpu", precision="fp32", margin=0)
    assert max_pixel_difference(recorded, by_hand.crop((12, 12, 82, 62))) == 0


def test_a_model_without_a_recorded_margin_runs_without_one(model_files):
    image = gradient((64, 48))
    plain = stylize(model_files["plain"], image, device="cpu", precision="fp32")
    assert max_pixel_difference(plain, stylize(model_files["plain"], image, device="cpu", precision="fp32",
                                               margin=0)) == 0
    assert max_pixel_difference(plain, stylize(model_files["plain"], image, device="cpu", precision="fp32",
                                               margin=8)) > 0


def test_the_margin_is_at_the_network_scale_with_stroke_scale_tiles_and_alpha(model_files):
    image = gradient((400, 250)).convert("RGBA")
    result = stylize(model_files["banded"], image, device="cpu", precision="fp32", stroke_scale=2)
    assert result.size == image.size and result.mode == "RGBA"
    whole = stylize(model_files["banded"], image.convert("RGB"), device="cpu", precision="fp32")
    tiled = stylize(model_files["banded"], image.convert("RGB"), device="cpu", precision="fp32", tile_pixels=200 * 200)
    assert max_pixel_difference(whole, tiled) <= 2  # a BN network tiles exactly up to rounding, margin or not


def test_a_blend_uses_the_largest_margin_of_its_members(model_files):
    mix = {str(model_files["plain"]): 0.5, str(model_files["banded"]): 0.5}
    for blend in ("output", "weights"):
        assert network_margin(prepare_model(mix, torch.device("cpu"), blend=blend)) == 12
    assert network_margin(prepare_model({str(model_files["plain"]): 1.0}, torch.device("cpu"))) == 0


def test_frames_get_the_same_margin_as_stylize(model_files):
    net = prepare_model(model_files["banded"], torch.device("cpu"))
    frame = np.asarray(gradient((64, 48)))
    for margin in (None, 0, 20):
        stylizer = FrameStylizer(net, torch.device("cpu"), Stability.off(), margin=margin)
        assert stylizer.margin == (12 if margin is None else margin)
        (styled,) = stylizer([frame])
        expected = stylize(model_files["banded"], Image.fromarray(frame), device="cpu", precision="fp32",
                           margin=margin)
        assert styled.shape == frame.shape
        assert np.abs(styled.astype(int) - np.asarray(expected).astype(int)).max() <= 1


def test_update_metadata_keeps_the_tensors_byte_for_byte(model_files, tmp_path):
    path = tmp_path / "copy.safetensors"
    save_model(lively(TransformerNet(norm="batch", attention="none")), path, dtype=torch.int8, name="copy",
               **{BORDER_MARGIN_KEY: 4})
    with safe_open(str(path), framework="pt") as handle:
        before = {key: handle.get_tensor(key) for key in handle.keys()}
    metadata = update_metadata(path, **{BORDER_MARGIN_KEY: 40, "note": "measured"})
    assert read_header(path)[1] == metadata
    assert (metadata[BORDER_MARGIN_KEY], metadata["note"], metadata["name"]) == (40, "measured", "copy")
    with safe_open(str(path), framework="pt") as handle:
        assert handle.metadata()["format_version"] == "2"
        assert set(handle.keys()) == set(before)
        assert all(torch.equal(handle.get_tensor(key), value) for key, value in before.items())
    assert BORDER_MARGIN_KEY not in update_metadata(path, **{BORDER_MARGIN_KEY: None})
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="junk.safetensors"):
        update_metadata(tmp_path / "junk.safetensors", **{BORDER_MARGIN_KEY: 8})


def test_the_cli_takes_a_margin_and_refuses_a_bad_one(model_files, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    gradient((64, 48)).save(photo)
    assert main(["stylize", str(photo), "--style", str(model_files["plain"]), "-o", str(tmp_path / "out"),
                 "--margin", "10", "--precision", "fp32", "--device", "cpu"]) == 0
    written = Image.open(tmp_path / "out" / "photo_plain.png")
    expected = stylize(model_files["plain"], gradient((64, 48)), device="cpu", precision="fp32", margin=10)
    assert max_pixel_difference(written.convert("RGB"), expected) == 0
    capsys.readouterr()
    assert main(["stylize", str(photo), "--style", str(model_files["plain"]), "-o", str(tmp_path / "bad"),
                 "--margin", "-4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"styletransfer: error: --margin must be a whole number of pixels from 0 to {MAX_BORDER_MARGIN}, "
                   "not '-4'"]
    assert not (tmp_path / "bad").exists()


def test_an_exported_network_carries_its_margin(model_files, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    assert main(["export-onnx", "--style", str(model_files["banded"]), str(tmp_path / "banded.onnx")]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "banded.onnx"), providers=["CPUExecutionProvider"])
    prepared = prepare_model(model_files["banded"], torch.device("cpu"))
    assert not prepared.training  # the export left the cached network in eval mode
    for shape, actual, expected in onnx_and_torch(session, WithMargin(prepared, 12)):
        assert actual.shape == shape
        assert torch.allclose(torch.from_numpy(actual), expected, atol=1e-4)
