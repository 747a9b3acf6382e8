"""Style-fidelity scores: the four metrics as a specification, then evaluate() on a tiny folder
(a tiny random model and another tool's outputs) and the ``evaluate`` command."""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import example_photos, photo_tensor
from fixtures_images import gradient
from styletransfer.evaluation.evaluate import evaluate
from styletransfer import Evaluation, EvaluationError, ModelFileError, OutputFolder, TransformerNet, save_model
from styletransfer.apps.cli import main
from styletransfer.core.images import ImageError, tensor_to_image
from styletransfer.evaluation.metrics import (TEXTURE_LAYERS, edge_map, layout_kept, luma_thumbnail, palette_distance,
                                              sliced_wasserstein, structure_kept, texture_distance)
from styletransfer.models.vgg import VGGFeatures
from test_stylize import lively, one_thread  # noqa: F401  (one_thread: autouse fixture)

SIZE = 64


@pytest.fixture(scope="module")
def vgg() -> VGGFeatures:
    return VGGFeatures(TEXTURE_LAYERS)


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """(1, 3, 64, 64) real photo, RGB 0..1."""
    return photo_tensor(example_photos()[0], SIZE).unsqueeze(0)


@pytest.fixture(scope="module")
def other_photo() -> torch.Tensor:
    return photo_tensor(example_photos()[1], SIZE).unsqueeze(0)


def stripes(size: int = SIZE, period: int = 8, offset: int = 0) -> torch.Tensor:
    """(1, 3, size, size) black and white vertical stripes."""
    columns = ((torch.arange(size) + offset) // (period // 2)) % 2
    return columns.float().expand(1, 3, size, size).clone()


# --- palette -----------------------------------------------------------------------------------


def test_palette_of_an_image_with_itself_is_zero(photo: torch.Tensor) -> None:
    assert palette_distance(photo, photo.clone()) == 0.0


def test_palette_grows_with_a_color_shift(photo: torch.Tensor) -> None:
    base = photo * 0.6 + 0.1  # room to shift without clipping
    shift = torch.tensor([1.0, 0.5, -0.5]).view(1, 3, 1, 1)
    distances = [palette_distance(base + amount * shift, base) for amount in (0.02, 0.05, 0.1, 0.2)]
    assert 0 < distances[0] < distances[1] < distances[2] < distances[3]
    # A uniform shift moves every projection by the same amount: the distance is linear in it.
    assert distances[3] == pytest.approx(10 * distances[0], rel=0.02)


def test_palette_ignores_where_the_colors_are(photo: torch.Tensor) -> None:
    shuffled = photo.flatten(2)[:, :, torch.randperm(SIZE * SIZE)].view_as(photo)
    assert palette_distance(shuffled, photo) < 1e-3
    assert palette_distance(photo.flip(3), photo) < 1e-3


def test_palette_compares_images_of_different_sizes(photo: torch.Tensor) -> None:
    upscaled = torch.nn.functional.interpolate(photo, scale_factor=2, mode="nearest")  # same colors
    assert palette_distance(upscaled, photo) < 2e-3
    assert palette_distance(upscaled, 1 - photo) > 0.1


def test_palette_of_large_images_uses_a_fixed_sample(photo: torch.Tensor) -> None:
    large = torch.nn.functional.interpolate(photo, size=(300, 300), mode="bilinear")  # 90 000 pixels
    assert palette_distance(large, large.clone()) == 0.0
    torch.manual_seed(1)
    first = palette_distance(large, photo)
    torch.manual_seed(2)
    assert palette_distance(large, photo) == first


def test_sliced_wasserstein_of_one_dimensional_clouds_is_the_wasserstein_distance() -> None:
    cloud = torch.rand(500, 1)
    # A shift by 0.3 along the only axis: every unit direction is ±1, so the distance is 0.3.
    assert sliced_wasserstein(cloud + 0.3, cloud) == pytest.approx(0.3, rel=1e-4)
    with pytest.raises(ValueError, match="point clouds"):
        sliced_wasserstein(torch.rand(5, 3), torch.rand(5, 2))


# --- structure ---------------------------------------------------------------------------------


def test_structure_of_an_image_with_itself_is_one(photo: torch.Tensor) -> None:
    assert structure_kept(photo, photo.clone()) == pytest.approx(1.0, abs=1e-9)


def test_structure_ignores_contrast_and_brightness(photo: torch.Tensor) -> None:
    assert structure_kept(photo * 0.5 + 0.2, photo) == pytest.approx(1.0, abs=1e-6)


def test_structure_falls_as_the_photo_is_lost(photo: torch.Tensor, other_photo: torch.Tensor) -> None:
    blurred = torch.nn.functional.avg_pool2d(photo, 5, stride=1, padding=2, count_include_pad=False)
    mixed = 0.3 * photo + 0.7 * other_photo
    kept = [structure_kept(image, photo) for image in (photo, blurred, mixed, other_photo)]
    assert kept[0] > kept[1] > kept[3] and kept[0] > kept[2] > kept[3]
    assert abs(kept[3]) < 0.3  # two unrelated photos share few edges


def test_a_constant_image_has_no_edges_and_no_structure(photo: torch.Tensor) -> None:
    grey = torch.full((1, 3, SIZE, SIZE), 0.4)
    edges = edge_map(grey)
    assert edges.shape == (SIZE, SIZE)
    assert torch.count_nonzero(edges) == 0  # the border is replicated, not padded with zeros
    for first, second in ((grey, photo), (photo, grey), (grey, grey.clone())):
        score = structure_kept(first, second)
        assert not math.isnan(score) and score == 0.0


def test_edge_map_finds_a_step() -> None:
    step = torch.zeros(1, 3, 8, 8)
    step[..., 4:] = 1.0
    edges = edge_map(step)
    assert torch.all(edges[:, 3:5] > 0) and torch.all(edges[:, :3] == 0) and torch.all(edges[:, 5:] == 0)


def test_structure_needs_the_same_size(photo: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="same size"):
        structure_kept(photo[..., :32], photo)


# --- layout ------------------------------------------------------------------------------------


def test_layout_of_the_photo_itself_is_one(photo: torch.Tensor) -> None:
    assert layout_kept(photo, photo.clone()) == pytest.approx(1.0, abs=1e-9)


def test_layout_ignores_brightness_and_contrast(photo: torch.Tensor) -> None:
    for gain, offset in ((0.5, 0.2), (0.3, 0.0), (1.0, -0.1)):
        assert layout_kept(photo * gain + offset, photo) == pytest.approx(1.0, abs=1e-9)
    assert layout_kept(1 - photo, photo) == pytest.approx(-1.0, abs=1e-9)  # the negative: masses swapped


def test_layout_of_noise_is_near_zero(photo: torch.Tensor) -> None:
    for seed in range(3):
        noise = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))
        assert abs(layout_kept(noise, photo)) < 0.15


def test_layout_is_low_for_a_flipped_photo(photo: torch.Tensor) -> None:
    assert layout_kept(photo.flip(2), photo) < 0.3  # the cat upside down: measured 0.06


def test_layout_is_blind_to_blur_and_fine_strokes(photo: torch.Tensor) -> None:
    blurred = torch.nn.functional.avg_pool2d(photo, 5, stride=1, padding=2, count_include_pad=False)
    strokes = photo * 0.7 + 0.3 * stripes(period=2)  # 1 px strokes: a thumbnail cell (2 px) averages them out
    assert layout_kept(blurred, photo) > 0.95  # measured 0.97 (structure: 0.82)
    assert layout_kept(strokes, photo) == pytest.approx(1.0, abs=1e-9)


def test_layout_thumbnail_is_the_area_mean_of_the_luma(photo: torch.Tensor) -> None:
    image = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    thumbnail = luma_thumbnail(image)
    luma = 0.299 * image[0, 0] + 0.587 * image[0, 1] + 0.114 * image[0, 2]
    assert thumbnail.shape == (32, 32)
    assert float(thumbnail[3, 5]) == pytest.approx(float(luma[6:8, 15:18].double().mean()), abs=1e-6)
    assert layout_kept(torch.full((1, 3, SIZE, SIZE), 0.4), image) == 0.0  # a flat image keeps no masses
    half = torch.nn.functional.avg_pool2d(photo, 2)  # 32 px: every cell one pixel
    assert layout_kept(half, photo) == pytest.approx(1.0, abs=1e-9)  # sizes may differ


# --- texture -----------------------------------------------------------------------------------


def test_texture_of_an_image_with_itself_is_zero(photo: torch.Tensor, vgg: VGGFeatures) -> None:
    assert texture_distance(photo, photo.clone(), vgg) == pytest.approx(0.0, abs=1e-6)


def test_texture_is_small_for_the_same_texture_and_large_for_another(vgg: VGGFeatures) -> None:
    painting = stripes()
    same_texture_moved = stripes(offset=3)
    finer_stripes = stripes(period=4)
    noise = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    moved, finer, noisy = (texture_distance(image, painting, vgg)
                           for image in (same_texture_moved, finer_stripes, noise))
    assert moved < 0.5 * finer and moved < 0.5 * noisy


def test_texture_tells_a_painting_from_a_photo(photo: torch.Tensor, vgg: VGGFeatures) -> None:
    painting = photo_tensor(Path(__file__).resolve().parent.parent / "styles" / "starry_night.jpg", 128)
    left, right = painting[..., :SIZE], painting[..., SIZE:]  # two parts of the same painting
    assert texture_distance(left, right, vgg) < texture_distance(photo, right, vgg)


def test_scores_are_deterministic(photo: torch.Tensor, other_photo: torch.Tensor, vgg: VGGFeatures) -> None:
    def scores() -> tuple[float, float, float]:
        return (palette_distance(photo, other_photo), texture_distance(photo, other_photo, vgg),
                structure_kept(photo, other_photo))
    torch.manual_seed(123)
    first = scores()
    torch.manual_seed(456)
    assert scores() == first


# --- evaluate() on folders -----------------------------------------------------------------------


@pytest.fixture
def photos_dir(tmp_path: Path) -> Path:
    """Two 64 px photos and one gradient of another aspect ratio."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in example_photos()[:2]:
        tensor_to_image(photo_tensor(path, SIZE)).save(folder / f"{path.stem}.jpg", quality=95)
    gradient((64, 40)).save(folder / "gradient.png")
    (folder / ".hidden.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.fixture
def tiny_style(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An untrained (but lively) BN+SRM model saved as the user style ``tiny``, with its
    painting beside it as ``tiny.jpg``."""
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "models"
    torch.manual_seed(0)
    path = save_model(lively(TransformerNet(norm="batch", attention="srm")), folder / "tiny.safetensors",
                      title="Tiny Waves", style_image="tiny.jpg")
    tensor_to_image(stripes(48)).save(folder / "tiny.jpg")
    return path


def test_evaluate_scores_a_model_on_every_photo(photos_dir: Path, tiny_style: Path) -> None:
    seen: list[tuple[str, str, tuple[int, int]]] = []
    result = evaluate(photos_dir, ["tiny"], size=SIZE,
                      on_output=lambda label, photo, output: seen.append((label, photo.name, output.size)))
    assert isinstance(result, Evaluation) and result.size == SIZE
    assert [Path(photo).name for photo in result.photos] == ["cat.jpg", "eiffel_tower.jpg", "gradient.png"]
    (style,) = result.styles
    assert style.label == "tiny" and Path(style.source) == tiny_style
    assert Path(style.painting) == tiny_style.with_suffix(".jpg")
    assert seen == [("tiny", "cat.jpg", (64, 64)), ("tiny", "eiffel_tower.jpg", (64, 64)),
                    ("tiny", "gradient.png", (64, 40))]
    for score in style.photos:
        assert score.palette > 0 and score.texture > 0 and -1 <= score.structure < 1 and -1 <= score.layout < 1
    assert style.palette == pytest.approx(sum(score.palette for score in style.photos) / 3)
    assert style.structure == pytest.approx(sum(score.structure for score in style.photos) / 3)
    assert style.layout == pytest.approx(sum(score.layout for score in style.photos) / 3)
    assert evaluate(photos_dir, ["tiny"], size=SIZE) == result  # deterministic
    decoded = json.loads(result.to_json())
    assert decoded["styles"][0]["palette"] == style.palette
    assert [row["photo"] for row in decoded["styles"][0]["photos"]] == list(result.photos)
    assert decoded["styles"][0]["layout"] == style.layout
    assert [row["layout"] for row in decoded["styles"][0]["photos"]] == [score.layout for score in style.photos]
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert [row["photo"] for row in rows] == [*result.photos, "mean"]
    assert list(rows[0]) == ["label", "photo", "palette", "texture", "structure", "layout"]
    assert float(rows[-1]["texture"]) == pytest.approx(style.texture, abs=1e-6)
    assert float(rows[-1]["layout"]) == pytest.approx(style.layout, abs=1e-6)
    assert float(rows[0]["layout"]) == pytest.approx(style.photos[0].layout, abs=1e-6)


def test_outside_outputs_are_matched_to_the_photos_by_stem(tmp_path: Path, photos_dir: Path) -> None:
    outputs = tmp_path / "peer"
    outputs.mkdir()
    for photo in sorted(photos_dir.glob("*.*")):
        if not photo.name.startswith(".") and photo.suffix != ".txt":
            Image.open(photo).convert("RGB").resize((128, 128 * Image.open(photo).height // 64)).save(
                outputs / f"{photo.stem}.png")  # another tool's outputs: twice the size, as PNG
    painting = photos_dir / "cat.jpg"
    result = evaluate(photos_dir, outputs=[OutputFolder(outputs, painting, label="peer")], size=SIZE)
    (style,) = result.styles
    assert style.label == "peer" and style.painting == str(painting)
    by_name = {Path(score.photo).name: score for score in style.photos}
    assert all(score.structure > 0.95 for score in style.photos)  # the outputs are the photos
    assert all(score.layout > 0.99 for score in style.photos)
    assert by_name["cat.jpg"].palette < 0.01 and by_name["cat.jpg"].texture < 0.05  # ... and cat is the painting
    assert by_name["eiffel_tower.jpg"].palette > 0.05


def test_a_missing_output_names_the_photo(tmp_path: Path, photos_dir: Path) -> None:
    outputs = tmp_path / "peer"
    outputs.mkdir()
    shutil.copy(photos_dir / "cat.jpg", outputs / "cat.jpg")
    with pytest.raises(EvaluationError, match=r"peer: no output for the photo eiffel_tower\.jpg"):
        evaluate(photos_dir, outputs=[OutputFolder(outputs, photos_dir / "cat.jpg")], size=SIZE)


def test_photos_whose_outputs_cannot_be_told_apart_are_refused(tmp_path: Path, photos_dir: Path) -> None:
    shutil.copy(photos_dir / "cat.jpg", photos_dir / "cat.png")
    with pytest.raises(EvaluationError, match=r"cat\.jpg: another photo has the same name stem \(cat\.png\)"):
        evaluate(photos_dir, outputs=[OutputFolder(photos_dir, photos_dir / "cat.jpg")], size=SIZE)


def test_bad_inputs_fail_with_one_line_naming_the_file(tmp_path: Path, photos_dir: Path, tiny_style: Path) -> None:
    with pytest.raises(EvaluationError, match="nope: no such folder of photos"):
        evaluate(tmp_path / "nope", ["tiny"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match="empty: no image files"):
        evaluate(tmp_path / "empty", ["tiny"])
    with pytest.raises(ModelFileError, match="no_such_style: no such model file or style name"):
        evaluate(photos_dir, ["no_such_style"])
    with pytest.raises(EvaluationError, match="nothing to evaluate"):
        evaluate(photos_dir)
    with pytest.raises(EvaluationError, match="missing.jpg: no such painting file"):
        evaluate(photos_dir, outputs=[OutputFolder(photos_dir, tmp_path / "missing.jpg")])
    (photos_dir / "broken.jpg").write_text("not a picture")
    with pytest.raises(ImageError, match="broken.jpg: not an image file"):
        evaluate(photos_dir, ["tiny"], size=SIZE)


def test_a_model_without_its_painting_takes_the_one_given(tmp_path: Path, photos_dir: Path,
                                                          tiny_style: Path) -> None:
    run_model = tmp_path / "run" / "model.safetensors"
    run_model.parent.mkdir()
    shutil.copy(tiny_style, run_model)
    with pytest.raises(ModelFileError, match="model.safetensors: no painting found"):
        evaluate(photos_dir, [run_model], size=SIZE)
    result = evaluate(photos_dir, [run_model], painting=photos_dir / "cat.jpg", size=SIZE)
    assert result.styles[0].painting == str(photos_dir / "cat.jpg")


# --- the command -------------------------------------------------------------------------------


def test_cli_json_csv_and_sheet(tmp_path: Path, photos_dir: Path, tiny_style: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    csv_file, sheet_file = tmp_path / "out" / "scores.csv", tmp_path / "out" / "sheet.png"
    code = main(["evaluate", str(photos_dir), "--style", "tiny", "--outputs", str(photos_dir),
                 "--painting", str(photos_dir / "cat.jpg"), "--label", "photo", "--size", str(SIZE),
                 "--json", "--csv", str(csv_file), "--sheet", str(sheet_file)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    decoded = json.loads(captured.out)  # stdout holds the JSON and nothing else
    assert [style["label"] for style in decoded["styles"]] == ["tiny", "photo"]
    assert decoded["styles"][1]["structure"] == pytest.approx(1.0)
    assert decoded["styles"][1]["layout"] == pytest.approx(1.0)
    assert "layout" in decoded["styles"][0]["photos"][0]
    assert "evaluate" in captured.err and "100%" in captured.err  # the progress bar
    assert len(csv_file.read_text().splitlines()) == 1 + 2 * (3 + 1)
    assert Image.open(sheet_file).size == (170 + 3 * 256, 3 * 256)  # photos + 2 styles, 3 photos


def test_cli_table(photos_dir: Path, tiny_style: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(photos_dir), "--style", "tiny", "--size", str(SIZE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("3 photos at 64 px")
    assert lines[1].split()[:5] == ["style", "palette", "texture", "structure", "layout"]
    assert -1 <= float(lines[2].split()[4]) <= 1
    assert lines[2].split()[0] == "tiny" and lines[2].split()[-1].endswith("tiny.jpg")


def test_texture_can_be_left_out_and_the_other_scores_stay_the_same(photos_dir: Path, tiny_style: Path,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-texture: no VGG is built (the slow part on a CPU), texture is None / null / empty
    / "-", and palette, structure and layout are exactly those of a full evaluation."""
    full = evaluate(photos_dir, ["tiny"], size=SIZE)
    import styletransfer.evaluation.evaluate as module

    def no_vgg(*args, **kwargs):
        raise AssertionError("VGG built without texture")

    monkeypatch.setattr(module, "VGGFeatures", no_vgg)
    quick = evaluate(photos_dir, ["tiny"], size=SIZE, texture=False)
    (style,), (full_style,) = quick.styles, full.styles
    assert style.texture is None and all(score.texture is None for score in style.photos)
    assert [(s.palette, s.structure, s.layout) for s in style.photos] == [
        (s.palette, s.structure, s.layout) for s in full_style.photos]
    assert json.loads(quick.to_json())["styles"][0]["texture"] is None
    assert list(csv.DictReader(io.StringIO(quick.to_csv())))[-1]["texture"] == ""
    assert main(["evaluate", str(photos_dir), "--style", "tiny", "--size", str(SIZE), "--no-texture"]) == 0
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row[0] == "tiny" and row[2] == "-" and float(row[1]) == pytest.approx(style.palette, abs=1e-3)


@pytest.mark.parametrize(("arguments", "message"), [
    (["{tmp}/nope", "--style", "tiny"], "nope: no such folder of photos"),
    (["{tmp}/photos", "--style", "no_such_style"], "no_such_style: no such model file or style name"),
    (["{tmp}/photos"], "needs at least one --style or --outputs"),
    (["{tmp}/photos", "--outputs", "{tmp}/photos"], "--outputs needs the --painting"),
    (["{tmp}/photos", "--outputs", "{tmp}/photos", "--painting", "{tmp}/photos/cat.jpg", "--label", "a",
      "--label", "b"], "2 --label for 1 --outputs; give one per --outputs"),
    (["{tmp}/photos", "--style", "tiny", "--painting", "{tmp}/photos/cat.jpg", "--painting",
      "{tmp}/photos/cat.jpg"], "give at most one --painting without --outputs"),
    (["{tmp}/photos", "--outputs", "{tmp}/empty", "--painting", "{tmp}/photos/cat.jpg"],
     "empty: no output for the photo cat.jpg"),
    (["{tmp}/photos", "--style", "tiny", "--sheet", "{tmp}/sheet.gif"], "use a .png, .jpg or .webp"),
    (["{tmp}/broken", "--style", "tiny"], "broken/text.jpg: not an image file"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, photos_dir: Path, tiny_style: Path,
                                             capsys: pytest.CaptureFixture[str], arguments: list[str],
                                             message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "text.jpg").write_text("not a picture")
    code = main(["evaluate", *(argument.format(tmp=tmp_path) for argument in arguments), "--size", str(SIZE)])
    error_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("styletransfer:")]
    assert code == 2
    assert len(error_lines) == 1 and message in error_lines[0], error_lines
    assert not (tmp_path / "sheet.gif").exists()
