"""The command line. Subprocess runs are few (each pays ~2 s of torch import): one over a
folder of good and broken images, checked thoroughly, and one as a torchrun worker; the
other options are checked by calling ``main()`` in this process."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from fixtures_images import gradient, jpeg_bytes, png_header_only, write_truncated_jpeg
from styletransfer.modelfiles import catalogue
from styletransfer import TransformerNet, __version__, save_model
from styletransfer.apps.cli import main
from styletransfer.apps.cli.stylize import collect_inputs, output_path, process_rank, share_of_process
from styletransfer.core.images import open_image
from styletransfer.inference.prepare import prepare_model
from test_stylize import lively, one_thread  # noqa: F401  (one_thread: autouse fixture)

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **extra_env}
    return subprocess.run([sys.executable, "-m", "styletransfer", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An untrained BN+SRM model saved as the user style ``tiny``."""
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    return save_model(TransformerNet(norm="batch", attention="srm"),
                      tmp_path / "home" / "models" / "tiny.safetensors",
                      title="Tiny Waves", artist="Nobody", year=1901, licence="CC0-1.0")


def make_messy_folder(folder: Path) -> None:
    """Good images and one of each kind of broken or awkward file."""
    folder.mkdir()
    (folder / "good.jpg").write_bytes(jpeg_bytes((64, 48)))
    gradient((40, 30)).save(folder / "good2.png")
    write_truncated_jpeg(folder / "truncated.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a picture\n")
    Image.new("RGB", (1, 1), (10, 200, 30)).save(folder / "dot.png")
    Image.new("I;16", (20, 10), 40000).save(folder / "deep.png")
    Image.new("CMYK", (30, 20), (0, 100, 200, 0)).save(folder / "cmyk.jpg")
    palette = Image.new("P", (24, 16), 1)
    palette.putpalette([0, 0, 0, 250, 120, 10] + [0] * 762)
    palette.paste(0, (0, 0, 12, 16))  # left half: index 0, transparent
    palette.save(folder / "palette.png", transparency=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    gradient((64, 48)).save(folder / "rotated.jpg", exif=exif)
    (folder / "huge.png").write_bytes(png_header_only(40000, 40000))
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    (folder / "sub").mkdir()
    (folder / "sub" / "nested.jpg").write_bytes(jpeg_bytes((32, 32)))
    (folder / "notes.txt").write_text("not an image suffix: ignored in folders\n")


def test_stylize_a_messy_folder(tmp_path: Path, model_file: Path) -> None:
    make_messy_folder(tmp_path / "messy")
    result = run_cli("stylize", "--style", "tiny", "messy", "-o", "out", "--recursive", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    out = tmp_path / "out"
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["cmyk_tiny.jpg", "deep_tiny.png", "dot_tiny.png", "good2_tiny.png", "good_tiny.jpg",
                       "palette_tiny.png", "rotated_tiny.jpg", "sub/nested_tiny.jpg"]
    assert open_image(out / "good_tiny.jpg").size == (64, 48)
    assert open_image(out / "dot_tiny.png").size == (1, 1)
    assert open_image(out / "rotated_tiny.jpg").size == (48, 64)  # EXIF rotation applied
    kept_alpha = Image.open(out / "palette_tiny.png")
    assert kept_alpha.mode == "RGBA"
    assert kept_alpha.getpixel((2, 2))[3] == 0 and kept_alpha.getpixel((20, 2))[3] == 255
    failures = {line.split(": ")[1]: line for line in result.stderr.splitlines()
                if line.startswith("styletransfer: ")}
    expected_failures = {"truncated.jpg": "truncated", "empty.jpg": "empty", "text.jpg": "not an image",
                         "huge.png": "--max-pixels", "animated.gif": "animated"}
    assert {Path(name).name for name in failures} == set(expected_failures)
    for name, reason in expected_failures.items():
        assert reason in failures[str(Path("messy") / name)]
    assert "8 done, 0 skipped (already there), 5 failed" in result.stdout


def test_rank_worker_takes_every_nth_image_and_prints_no_summary(tmp_path: Path, model_file: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(5):
        (folder / f"p{index}.jpg").write_bytes(jpeg_bytes((16 + index, 16)))
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    result = run_cli("stylize", "--style", str(model_file), "photos/*.jpg", "-o", "out", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p1_tiny.jpg", "p3_tiny.jpg"]


def test_share_of_process_splits_sorted_inputs_across_ranks() -> None:
    items = [f"image{index:02d}.jpg" for index in range(11)]
    shares = [share_of_process(items, rank, 3) for rank in range(3)]
    assert shares[0] == items[0::3] and shares[2] == ["image02.jpg", "image05.jpg", "image08.jpg"]
    assert sorted(sum(shares, [])) == items
    assert share_of_process(items, 0, 1) == items
    assert process_rank({}) == (0, 1, 0)
    assert process_rank({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (3, 4, 1)
    with pytest.raises(ValueError):
        share_of_process(items, 3, 3)


def test_collect_inputs_expands_folders_and_patterns(tmp_path: Path) -> None:
    make_messy_folder(tmp_path / "messy")
    flat = [str(relative) for _, relative in collect_inputs([str(tmp_path / "messy")])]
    assert "notes.txt" not in flat and "sub/nested.jpg" not in flat and "good.jpg" in flat
    deep = [str(relative) for _, relative in collect_inputs([str(tmp_path / "messy")], recursive=True)]
    assert "sub/nested.jpg" in deep
    pattern = collect_inputs([str(tmp_path / "messy" / "good*"), str(tmp_path / "messy" / "good.jpg")])
    assert [relative.name for _, relative in pattern] == ["good.jpg", "good2.png"]
    with pytest.raises(FileNotFoundError, match="no such file"):
        collect_inputs([str(tmp_path / "missing.jpg")])
    with pytest.raises(FileNotFoundError, match="no files match"):
        collect_inputs([str(tmp_path / "*.tif")])
    assert output_path(Path("o"), Path("a/b.jpeg"), "{stem}_{style}.{ext}", "s", None) == Path("o/a/b_s.jpeg")
    assert output_path(Path("o"), Path("b.gif"), "{stem}.{ext}", "s", None) == Path("o/b.png")


def test_skip_overwrite_template_format_and_strength_zero(tmp_path: Path, model_file: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes((40, 32)))
    gradient((20, 16)).save(tmp_path / "other.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny-other.png").write_bytes(b"already here")
    args = ["stylize", "--style", "tiny", str(tmp_path / "good.jpg"), str(tmp_path / "other.png"),
            "-o", str(out), "--name-template", "{style}-{stem}.{ext}", "--format", "png", "--strength", "0"]
    assert main(args) == 0
    assert "1 done, 1 skipped" in capsys.readouterr().out
    assert (out / "tiny-other.png").read_bytes() == b"already here"
    # strength 0: the decoded input, exactly, in the forced format
    assert open_image(out / "tiny-good.png").tobytes() == open_image(tmp_path / "good.jpg").tobytes()
    assert main([*args, "--overwrite"]) == 0
    assert "2 done, 0 skipped" in capsys.readouterr().out
    assert open_image(out / "tiny-other.png").size == (20, 16)
    assert main([*args[:-4], "--format", "webp", "--max-size", "10"]) == 0
    assert open_image(out / "tiny-good.webp").size == (10, 8)


def test_usage_problems_are_one_line_and_exit_2(tmp_path: Path, model_file: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(catalogue, "SHIPPED_STYLES_DIR", tmp_path / "no-shipped-styles")  # known styles: only tiny
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes((16, 16)))
    (tmp_path / "broken.safetensors").write_bytes(b"garbage")
    image = str(tmp_path / "good.jpg")
    out = str(tmp_path / "out")
    cases = {
        ("--style", "no-such-style"): "no-such-style: no such model file or style name (known styles: tiny)",
        ("--style", str(tmp_path / "broken.safetensors")): "broken.safetensors: not a model file",
        ("--style", "tiny", "--name-template", "{stem}_{color}.{ext}"): "unknown field {color}",
        ("--style", "tiny", str(tmp_path / "missing.png")): "missing.png: no such file or folder",
    }
    for extra, message in cases.items():
        assert main(["stylize", *extra, image, "-o", out]) == 2
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1, error
    assert main(["stylize", "--style", "tiny", image, "-o", out, "--strength", "2"]) == 2
    assert "must be between 0 and 1" in capsys.readouterr().err
    assert not Path(out).exists()


def test_ctrl_c_exits_130_without_traceback(tmp_path: Path, model_file: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import styletransfer.apps.cli.stylize as cli_module

    def interrupted(*args: object, **kwargs: object) -> Image.Image:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "stylize", interrupted)
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes((16, 16)))
    assert main(["stylize", "--style", "tiny", str(tmp_path / "good.jpg"), "-o", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err.strip().endswith("styletransfer: interrupted")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_styles_lists_metadata_without_loading_weights(model_file: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("listing styles built a network to load weights into")

    # Every way of loading weights builds a TransformerNet first, whichever module holds a
    # reference to load_model; reading a header does not.
    monkeypatch.setattr(TransformerNet, "__init__", no_network)
    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(line for line in lines if line.startswith("tiny "))
    assert "Tiny Waves - Nobody (1901), CC0-1.0 [batch/srm]" in line
    slim = next(line for line in lines if line.startswith("starry_night_slim "))  # a shipped slim twin
    assert slim.endswith("[batch/srm, slim, from starry_night]")


def test_export_onnx_agrees_with_pytorch(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    path = save_model(lively(TransformerNet(norm="batch", attention="srm")), tmp_path / "srm.safetensors")
    assert main(["export-onnx", "--style", str(path), str(tmp_path / "srm.onnx")]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "srm.onnx"), providers=["CPUExecutionProvider"])
    for shape, actual, expected in onnx_and_torch(session, prepare_model(path, torch.device("cpu"))):
        assert actual.shape == shape
        assert torch.allclose(torch.from_numpy(actual), expected, atol=1e-4)
        assert expected.std() > 0.01


def onnx_and_torch(session, net: torch.nn.Module) -> list[tuple[tuple[int, ...], object, torch.Tensor]]:
    """(shape, the ONNX session's output, ``net``'s output) for random inputs of two shapes that
    differ in batch, height and width (the export's dynamic axes)."""
    results = []
    for shape in [(1, 3, 48, 40), (2, 3, 21, 30)]:
        image = torch.rand(shape)
        with torch.inference_mode():
            expected = net(image)
        (actual,) = session.run(None, {"image": image.numpy()})
        results.append((shape, actual, expected))
    return results


def write_run(run_dir: Path, norm: str, attention: str, losses: list[float]) -> Path:
    """A minimal training run folder, as styletransfer.training.runfolder describes it."""
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"norm": norm, "attention": attention, "batch_size": 4}))
    lines = ["step,epoch,content,style,tv,total,lr,images_per_s,wall_time"]
    lines += [f"{step},0,{loss},{loss / 2},0.01,{loss * 1.5},0.001,8,{step * 0.5}"
              for step, loss in enumerate(losses, start=1)]
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    return run_dir


def test_compare_runs_writes_plot_and_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    runs = [write_run(tmp_path / "bn", "batch", "none", [5.0, 4.0, 3.5]),
            write_run(tmp_path / "srm", "batch", "srm", [5.0, 3.8, 3.0])]
    out = tmp_path / "cmp" / "comparison.png"
    assert main(["compare-runs", *map(str, runs), "-o", str(out), "--labels", "BN", "BN+SRM"]) == 0
    assert Image.open(out).format == "PNG"
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| BN | batch | none |" in table and "| BN+SRM | batch | srm |" in table
    assert (tmp_path / "cmp" / "comparison.csv").read_text().startswith("run,norm,attention")
    assert main(["compare-runs", str(tmp_path / "nope"), "-o", str(out)]) == 2
    assert "nope: no such run folder" in capsys.readouterr().err
    assert main(["compare-runs", *map(str, runs), "-o", str(out), "--labels", "one"]) == 2
    assert "1 labels for 2 runs" in capsys.readouterr().err


def test_contact_sheet_has_a_row_per_style_plus_the_photos(tmp_path: Path, model_file: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    photos = []
    for index in range(3):
        photo = tmp_path / f"p{index}.png"
        gradient((40 + 10 * index, 30)).save(photo)
        photos.append(str(photo))
    out = tmp_path / "sheet.png"
    assert main(["contact-sheet", *photos, "--styles", f"{model_file},{model_file}", "-o", str(out),
                 "--sizes", "48,64", "--cell", "32"]) == 0
    sheet = Image.open(out)
    assert sheet.size == (170 + 3 * 32, 5 * 32)  # photos + 2 styles x 2 sizes
    original_cell = sheet.crop((170, 0, 170 + 32, 32))
    styled_cell = sheet.crop((170, 32, 170 + 32, 64))
    assert original_cell.tobytes() != styled_cell.tobytes()
    assert main(["contact-sheet", str(tmp_path / "missing.jpg"), "--styles", str(model_file),
                 "-o", str(tmp_path / "x.png")]) == 2
    assert "missing.jpg" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_pipe_from_stdin_to_stdout_writes_only_the_image(tmp_path: Path, model_file: Path) -> None:
    photo = jpeg_bytes((40, 30))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    piped = subprocess.run([sys.executable, "-m", "styletransfer", "stylize", "-", "--style", "tiny", "-o", "-",
                            "--format", "png", "--max-size", "20"], input=photo, cwd=tmp_path, env=env,
                           capture_output=True, timeout=300)
    assert piped.returncode == 0, piped.stderr.decode()
    image = Image.open(io.BytesIO(piped.stdout))
    assert image.format == "PNG" and image.size == (20, 15)
    assert piped.stdout.endswith(b"IEND\xaeB`\x82")  # stdout holds the PNG and nothing after it
    assert b"Traceback" not in piped.stderr


def test_stdin_and_stdout_in_process(tmp_path: Path, model_file: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(jpeg_bytes((32, 24)))))
    assert main(["stylize", "-", "--style", "tiny", "-o", str(tmp_path / "out")]) == 0
    assert open_image(tmp_path / "out" / "stdin_tiny.jpg").size == (32, 24)  # the input's format: JPEG
    capsysbinary.readouterr()
    gradient((30, 20)).save(tmp_path / "in.png")
    assert main(["stylize", str(tmp_path / "in.png"), "--style", "tiny", "-o", "-"]) == 0
    out = capsysbinary.readouterr().out
    assert Image.open(io.BytesIO(out)).format == "PNG"  # the input's format
    for bad, message in ((["-", "also.jpg"], "'-' (standard input) must be the only INPUT"),
                         ([str(tmp_path / "in.png"), str(tmp_path / "in.png"), "--json"], "--json cannot go there")):
        assert main(["stylize", *bad, "--style", "tiny", "-o", "-"]) == 2
        assert message in capsysbinary.readouterr().err.decode()


def test_stylize_json_lists_each_input_and_its_result(tmp_path: Path, model_file: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes((24, 16)))
    (tmp_path / "bad.jpg").write_text("not a picture")
    assert main(["stylize", str(tmp_path / "good.jpg"), str(tmp_path / "bad.jpg"), "--style", "tiny",
                 "-o", str(tmp_path / "out"), "--json"]) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (summary["done"], summary["skipped"], summary["failed"], summary["style"]) == (1, 0, 1, "tiny")
    by_input = {Path(result["input"]).name: result for result in summary["results"]}
    assert by_input["good.jpg"]["status"] == "done" and by_input["good.jpg"]["size"] == [24, 16]
    assert by_input["good.jpg"]["output"] == str(tmp_path / "out" / "good_tiny.jpg")
    assert by_input["bad.jpg"]["status"] == "failed" and "not an image" in by_input["bad.jpg"]["error"]
    assert "not an image" in captured.err  # failures are still reported as lines


def test_styles_json_and_info(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["styles", "--json"]) == 0
    styles = {style["name"]: style for style in json.loads(capsys.readouterr().out)}
    assert styles["tiny"]["title"] == "Tiny Waves" and styles["tiny"]["variant"] == "bn+srm"
    assert styles["tiny"]["path"] == str(model_file) and styles["tiny"]["year"] == "1901"
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["styletransfer"] == __version__ and info["packages"]["torch"]
    assert "tiny" in info["styles"] and {"kind": "user", "path": str(model_file.parent), "exists": True} in \
        info["style_folders"]
    devices = {device["device"]: device for device in info["devices"]}
    assert devices["cpu"]["available"] and devices["cpu"]["default_precision"] in ("fp32", "bf16")
    assert devices["cuda"]["available"] == torch.cuda.is_available()
    assert info["default_device"] == ("cuda" if torch.cuda.is_available() else info["default_device"])
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"styletransfer {__version__} ") and str(model_file.parent) in text and "tiny" in text


def test_a_missing_optional_package_is_one_line_with_the_pip_command(tmp_path: Path, model_file: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError, as when not installed
    assert main(["export-onnx", "--style", "tiny", str(tmp_path / "tiny.onnx")]) == 2
    error = capsys.readouterr().err
    assert error.strip().splitlines() == [
        "styletransfer: error: export-onnx needs the optional package onnx: pip install 'styletransfer[onnx]'"
        "  (or: pip install onnx)"]
    assert not (tmp_path / "tiny.onnx").exists()


def test_expected_problems_exit_2_and_bugs_surface(model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import styletransfer.apps.cli.styles as cli_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes((16, 16)))
    assert main(["stylize", str(tmp_path / "good.jpg"), "--style", "tiny", "-o", str(tmp_path), "--device",
                 "cuda"]) == 2
    assert capsys.readouterr().err.strip() == ("styletransfer: error: device 'cuda' was asked for, but CUDA is "
                                               "not available on this machine")
    assert main(["stylize", str(tmp_path / "good.jpg"), "--style", "tiny", "-o", str(tmp_path), "--tile-pixels",
                 "10000"]) == 2
    assert "--tile-pixels 10000: tiles of 100 px are too small" in capsys.readouterr().err

    def buggy(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug, not the user's fault")

    monkeypatch.setattr(cli_module, "load_catalogue", buggy)
    with pytest.raises(ValueError, match="a bug"):  # a traceback, not a usage message
        main(["styles"])


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc (a folder nobody can write)")
def test_a_failed_write_names_the_file_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [write_run(tmp_path / "bn", "batch", "none", [5.0, 4.0]), write_run(tmp_path / "srm", "batch", "srm",
                                                                              [5.0, 3.0])]
    assert main(["compare-runs", *map(str, runs), "-o", "/proc/comparison.png"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("styletransfer: error: /proc/comparison.png: ") and len(error.splitlines()) == 1
    assert ".partial" not in error and ".tmp" not in error


def test_stroke_scale_keeps_the_size_and_a_bad_one_is_one_line_exit_2(tmp_path: Path, model_file: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    save_model(lively(TransformerNet(norm="batch", attention="srm", residual_blocks=1)),
               model_file.parent / "strokes.safetensors")  # untrained networks paint flat grey
    gradient((40, 30)).save(tmp_path / "photo.png")
    common = [str(tmp_path / "photo.png"), "--style", "strokes", "--precision", "fp32"]
    assert main(["stylize", *common, "-o", str(tmp_path / "plain")]) == 0
    assert main(["stylize", *common, "-o", str(tmp_path / "larger"), "--stroke-scale", "2"]) == 0
    plain, larger = (open_image(tmp_path / folder / "photo_strokes.png") for folder in ("plain", "larger"))
    assert larger.size == plain.size == (40, 30)
    assert larger.tobytes() != plain.tobytes()
    capsys.readouterr()
    for bad in ("0.1", "9", "nan", "big"):
        assert main(["stylize", *common, "-o", str(tmp_path / "bad"), "--stroke-scale", bad]) == 2
        error = capsys.readouterr().err
        assert error.strip().splitlines() == [
            f"styletransfer: error: --stroke-scale must be a number between 0.25 and 4, not {bad}"], error
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("emulated", [True, False])
def test_an_emulated_precision_asked_for_gets_one_note(tmp_path: Path, model_file: Path, emulated: bool,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from styletransfer.core import device as device_module
    monkeypatch.setattr(device_module, "emulated_precision", lambda device, dtype: emulated and dtype != torch.float32)
    image = tmp_path / "good.jpg"
    image.write_bytes(jpeg_bytes((40, 30)))
    out = str(tmp_path / "out")
    assert main(["stylize", "--style", "tiny", str(image), "-o", out, "--precision", "bf16", "--device", "cpu"]) == 0
    note = ("styletransfer: note: this CPU has no native bf16 arithmetic, so --precision bf16 is emulated and many "
            "times slower than fp32; leave --precision out for the fastest")
    assert (note in capsys.readouterr().err) is emulated
    for plain in (["--precision", "fp32"], []):  # fp32, or the default: never a note
        assert main(["stylize", "--style", "tiny", str(image), "-o", out, "--overwrite", *plain]) == 0
        assert "note:" not in capsys.readouterr().err
