"""The Gradio app: the real server (``python app.py --port N``) driven with gradio_client, and
the work behind it (styletransfer.apps.jobs).

Models are tiny untrained networks written into a temporary ``STYLETRANSFER_HOME``, so the
tests do not depend on the shipped styles.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import wait as wait_all
from pathlib import Path

import pytest
import torch
from PIL import Image

from fixtures_images import gradient, png_header_only, write_truncated_jpeg
from styletransfer.apps import jobs
from styletransfer.apps.jobs import (TrainingBusyError, TrainingManager, TrainingRequest, plot_runs, slug,
                                      stylize_photo)
from styletransfer import TransformerNet, save_model
from styletransfer.modelfiles.catalogue import load_catalogue
from styletransfer.core.device import pick_device
from styletransfer.core.images import open_image
from test_catalogue import make_styles

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO / "examples" / "cat.jpg"

gradio_client = pytest.importorskip("gradio_client")
AppError = gradio_client.exceptions.AppError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(home: Path, command: Sequence[str] = ("app.py",)) -> Iterator[str]:
    """``python app.py`` (or ``python COMMAND...``) on a free port with ``home`` as
    STYLETRANSFER_HOME; yields its URL."""
    port = free_port()
    env = {**os.environ, "STYLETRANSFER_HOME": str(home), "GRADIO_ANALYTICS_ENABLED": "False",
           "OMP_NUM_THREADS": "2"}
    log = open(home / "app.log", "w")
    process = subprocess.Popen([sys.executable, *command, "--port", str(port)], cwd=REPO, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited: {(home / 'app.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("app.py did not start listening within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    make_styles(home / "models")
    return home


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[gradio_client.Client]:
    with running_app(home) as url:
        yield gradio_client.Client(url, verbose=False)


def stylize(client: gradio_client.Client, photo: Path | None = PHOTO, style: str | None = "testwave",
            model_file: Path | None = None, strength: float = 1.0, preserve: bool = False, size: int = 128):
    """Call /stylize; returns (original, stylized, PNG) as Pillow images and the summary."""
    handle = gradio_client.handle_file
    (original, stylized), png, summary = client.predict(
        handle(str(photo)) if photo else None, style, handle(str(model_file)) if model_file else None,
        strength, preserve, size, api_name="/stylize")
    return Image.open(original).convert("RGB"), Image.open(stylized).convert("RGB"), Image.open(png), summary


def chroma(image: Image.Image) -> Image.Image:
    """The Cb and Cr channels of an image (as the first two of an RGB image)."""
    _, blue, red = image.convert("YCbCr").split()
    return Image.merge("RGB", (blue, red, Image.new("L", image.size)))


def mean_difference(first: Image.Image, second: Image.Image) -> float:
    a, b = (torch.frombuffer(bytearray(image.convert("RGB").tobytes()), dtype=torch.uint8).float()
            for image in (first, second))
    return (a - b).abs().mean().item()


# ---------------------------------------------------------------------------------------------
# The server, through gradio_client
# ---------------------------------------------------------------------------------------------

def test_endpoints_have_stable_names(client: gradio_client.Client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/stylize", "/srm_compare", "/srm_curves", "/train_start", "/train_cancel",
            "/train_status", "/train_estimate", "/webcam"} <= set(endpoints)


def test_the_train_tab_says_how_long_training_takes(client: gradio_client.Client) -> None:
    text = client.predict(20, 128, ["bn+srm", "bn"], api_name="/train_estimate")
    assert text.startswith("**About ") and f"on this {pick_device('auto').type.upper()}" in text
    assert "20 steps × 2 photos = 40 images at 128 px, 2 networks one after the other (BN + SRM " in text
    assert "would take ~" in text
    assert client.predict(20, 128, [], api_name="/train_estimate").startswith("Choose at least one variant")


def test_stylize_with_each_control(client: gradio_client.Client, home: Path) -> None:
    original, stylized, png, summary = stylize(client, size=160)
    assert png.format == "PNG" and max(png.size) == 160 and png.size == stylized.size == original.size
    assert png.size == (160, 120)  # the cat photo is 640x480
    # The app stylizes on the best device of this machine (the same one this process sees).
    assert "Test Wave" in summary and f"on {pick_device('auto').type.upper()}" in summary and " s " in summary
    assert mean_difference(stylized, original) > 5

    _, unchanged, _, _ = stylize(client, strength=0.0)
    _, half, _, _ = stylize(client, strength=0.5)
    _, full, _, _ = stylize(client, strength=1.0)
    original_128 = original.resize(unchanged.size)
    assert mean_difference(unchanged, original_128) < 3
    assert 1 < mean_difference(half, original_128) < mean_difference(full, original_128)

    _, kept, _, _ = stylize(client, preserve=True)
    assert mean_difference(chroma(kept), chroma(original_128)) < 2 < mean_difference(chroma(full), chroma(original_128))

    _, from_file, _, summary = stylize(client, style=None, model_file=home / "models" / "testwave_bn.safetensors")
    assert from_file.size == (128, 96) and "Test Wave" in summary


def test_the_stroke_size_slider_keeps_the_output_size(client: gradio_client.Client, home: Path) -> None:
    path = save_model(lively_network(3), home / "models" / "strokes.safetensors", title="Strokes")

    def stylize_strokes(*stroke_scale: float) -> Image.Image:
        _, png, _ = client.predict(gradio_client.handle_file(str(PHOTO)), "strokes", None, 1.0, False, 160,
                                   None, 0.5, *stroke_scale, api_name="/stylize")
        return Image.open(png).convert("RGB")

    try:
        plain, larger = stylize_strokes(1.0), stylize_strokes(2.0)
        assert plain.size == larger.size == (160, 120)
        assert stylize_strokes().tobytes() == plain.tobytes()  # left out: 1
        assert mean_difference(plain, larger) > 2
        with pytest.raises(AppError, match="stroke_scale must be between 0.25 and 4, not 9"):
            stylize_strokes(9.0)
    finally:
        path.unlink()


@pytest.mark.parametrize("name, content, message", [
    ("notes.jpg", b"this is not a picture", "not an image file"),
    ("cut.jpg", None, "truncated"),
    ("huge.png", png_header_only(40000, 40000), "over the limit of 50 megapixels; please upload a smaller image"),
    ("moving.gif", None, "animated images are not supported"),
])
def test_bad_photo_is_a_clear_error(client: gradio_client.Client, tmp_path: Path, name: str,
                                    content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    elif name.endswith(".gif"):
        frames = [gradient((32, 32)), gradient((32, 32)).rotate(90)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    else:
        write_truncated_jpeg(path, (256, 192))
    with pytest.raises(AppError) as raised:
        stylize(client, photo=path)
    text = str(raised.value)
    assert text.startswith(f"That photo cannot be used: {name}: ")
    assert message in text and "Traceback" not in text and str(tmp_path) not in text


def test_bad_model_file_and_missing_inputs_are_clear_errors(client: gradio_client.Client, tmp_path: Path) -> None:
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(AppError, match="That model file cannot be used: fake.safetensors: "):
        stylize(client, model_file=fake)
    with pytest.raises(AppError, match="Upload a photo first"):
        stylize(client, photo=None)
    with pytest.raises(AppError, match="Pick a style"):
        stylize(client, style=None)
    with pytest.raises(AppError, match="no style named 'nope'"):
        stylize(client, style="nope")
    with pytest.raises(AppError, match="the output size must be between 16 and 4096 px, not 99999"):
        stylize(client, size=99999)
    with pytest.raises(AppError, match="strength must be between 0 and 1"):
        stylize(client, strength=2.0)
    # The server is still up and serving after all of that.
    assert stylize(client)[1].size == (128, 96)


def test_twenty_simultaneous_requests_are_all_served(client: gradio_client.Client) -> None:
    handle = gradio_client.handle_file
    jobs = [client.submit(handle(str(PHOTO)), "testwave", None, 1.0, False, 64, api_name="/stylize") for _ in range(20)]
    wait_all([job.future for job in jobs], timeout=300)
    assert all(job.result()[2].startswith("**Test Wave") for job in jobs)


def test_srm_comparison_and_curves(client: gradio_client.Client) -> None:
    items = client.predict(gradio_client.handle_file(str(PHOTO)), 128, api_name="/srm_compare")
    ours = [item for item in items if item["caption"].startswith("Test Wave — ")]
    assert [item["caption"].split(" (")[0] for item in ours] == ["Test Wave — with SRM", "Test Wave — without SRM"]
    with_srm, without = (Image.open(item["image"]).convert("RGB") for item in ours)
    assert with_srm.size == without.size == (128, 96) and with_srm.tobytes() != without.tobytes()
    curves = Image.open(client.predict("testwave", api_name="/srm_curves"))
    assert curves.width > 2 * curves.height  # content, style and total side by side


def test_srm_tab_shows_the_shipped_variant_comparison_only_when_it_is_there(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from styletransfer.apps.web import app as webapp

    def element_ids(demo) -> set[str]:
        return {block.get("props", {}).get("elem_id") for block in demo.config["components"]}

    demo, _ = webapp.build_demo(device=torch.device("cpu"))
    assert {"variant-comparison", "variant-figure", "variant-summary"} <= element_ids(demo)  # shipped
    monkeypatch.setattr(webapp, "STYLES_DIR", tmp_path)  # a package without it
    demo, _ = webapp.build_demo(device=torch.device("cpu"))
    assert "variant-figure" not in element_ids(demo)


def wait_for_training(client: gradio_client.Client, done: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = client.predict(api_name="/train_status")[0]
        if done in message or "failed" in message:
            return message
        time.sleep(1)
    raise AssertionError(f"training did not reach {done!r} within {timeout} s: {message}")


def test_training_one_job_at_a_time_then_cancel(client: gradio_client.Client, home: Path) -> None:
    painting = gradio_client.handle_file(str(home / "models" / "testwave.jpg"))
    client.predict(painting, None, "Tiny Wave", "Me", 2, 64, ["bn+srm", "bn"], api_name="/train_start")
    with pytest.raises(AppError, match="a training job is already running"):
        client.predict(None, "testwave", "", "", 2, 64, ["bn"], api_name="/train_start")
    message = wait_for_training(client, "Finished")
    assert "tiny_wave, tiny_wave_bn saved" in message
    models = home / "models"
    assert (models / "tiny_wave.safetensors").is_file() and (models / "runs" / "tiny_wave_bn" / "metrics.csv").is_file()
    assert stylize(client, style="tiny_wave")[2].size == (128, 96)
    items = client.predict(gradio_client.handle_file(str(PHOTO)), 64, api_name="/srm_compare")
    assert [item["caption"].split(" (")[0] for item in items if item["caption"].startswith("Tiny Wave")] == [
        "Tiny Wave — with SRM", "Tiny Wave — without SRM"]

    client.predict(None, "testwave", "", "", 5000, 64, ["bn"], api_name="/train_start")
    wait_for_training(client, "step ")
    assert "Stopping" in client.predict(api_name="/train_cancel")[0]
    message = wait_for_training(client, "Cancelled")
    assert "its checkpoint is kept in" in message and "checkpoint.pt" in message
    assert not (models / "test_wave_retrained.safetensors").exists()
    assert (models / "runs" / "test_wave_retrained" / "checkpoint.pt").is_file()


def test_command_line_flags() -> None:
    result = subprocess.run([sys.executable, "app.py", "--help"], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}, timeout=120)
    assert result.returncode == 0
    assert all(flag in result.stdout for flag in ("--host", "--port", "--share", "--train-images"))


def test_styletransfer_app_serves_the_same_page(tmp_path: Path) -> None:
    """``styletransfer app``: what an installed package runs (no app.py there)."""
    with running_app(tmp_path, command=("-m", "styletransfer", "app")) as url:
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200 and b"styletransfer" in response.read()


def test_app_command_passes_its_options_to_launch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import gradio as gr

    from styletransfer.apps.cli import main
    from styletransfer.core.resources import STYLES_DIR

    launched: list[dict] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **options: launched.append(options))
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    photos = tmp_path / "photos"
    photos.mkdir()
    assert main(["app", "--host", "0.0.0.0", "--port", "8123", "--share", "--train-images", str(photos)]) == 0
    [options] = launched
    assert (options["server_name"], options["server_port"], options["share"]) == ("0.0.0.0", 8123, True)
    assert str(STYLES_DIR) in options["allowed_paths"]
    assert str(tmp_path / "home" / "models") in options["allowed_paths"]
    # A Hugging Face Space says where to listen through the environment; plain flags win over it.
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    assert main(["app", "--share", "false"]) == 0
    assert (launched[1]["server_name"], launched[1]["server_port"], launched[1]["share"]) == ("0.0.0.0", 7861, False)
    assert main(["app", "--train-images", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"styletransfer: error: --train-images {tmp_path / 'nowhere'}: not a folder"]
    assert len(launched) == 2


# ---------------------------------------------------------------------------------------------
# The work behind the page (styletransfer.apps.jobs) and the catalogue it shows
# ---------------------------------------------------------------------------------------------

def test_curves_are_drawn_once_per_change_and_names_are_slugs(tmp_path: Path) -> None:
    runs = make_styles(tmp_path / "models") / "runs"
    pair = [("with SRM", runs / "testwave"), ("without SRM", runs / "testwave_bn"), ("none", None)]
    png = plot_runs(pair, tmp_path)
    assert png is not None and png.is_file() and plot_runs(pair, tmp_path) == png
    with open(runs / "testwave" / "metrics.csv", "a") as metrics:
        metrics.write("11,0,0.5,4,1,5.5,0.001,4,11\n")
    assert plot_runs(pair, tmp_path) != png
    assert plot_runs([("empty", tmp_path / "nothing")], tmp_path) is None
    assert slug("La Nuit étoilée (1889)!") == "la_nuit_toil_e_1889" and slug("???") == "style"


def test_training_manager_refuses_a_second_job_and_bad_requests(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    painting = tmp_path / "painting.png"
    gradient((64, 64)).save(painting)
    manager = TrainingManager(REPO / "examples")
    with pytest.raises(ValueError, match="choose at least one variant"):
        manager.start(TrainingRequest(painting, "x", variants=()))
    (tmp_path / "bad.jpg").write_text("no")
    with pytest.raises(ValueError, match="the painting cannot be used"):
        manager.start(TrainingRequest(tmp_path / "bad.jpg", "x"))
    assert manager.start(TrainingRequest(painting, "My Style", steps=1000, image_size=64)) == "my_style"
    try:
        with pytest.raises(TrainingBusyError, match="already running"):
            manager.start(TrainingRequest(painting, "Other", steps=1, image_size=64))
    finally:
        assert manager.cancel()
        assert manager.wait(timeout=300)
    assert manager.status().state == "cancelled"
    assert manager.start(TrainingRequest(painting, "My Style", steps=1, image_size=64)) == "my_style_2"
    assert manager.wait(timeout=300)
    status = manager.status()
    assert status.state == "finished" and status.models == ["my_style_2"], status.message
    assert status.latest_preview() is not None and plot_runs(status.runs, tmp_path) is not None
    assert load_catalogue([tmp_path / "home" / "models"]).get("my_style_2").title == "My Style"


def test_stylizing_and_polling_while_a_training_job_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The app stylizes uploads while its training thread runs, and every open page polls the
    # job's curves (two pollers draw the same PNG at once).
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    models = make_styles(tmp_path / "models")
    out_dir = tmp_path / "out"
    photo, cpu = open_image(PHOTO), torch.device("cpu")

    def stylize_upload() -> Image.Image:
        result = stylize_photo(models / "testwave.safetensors", photo, strength=1.0, preserve_color=False,
                               max_size=64, device=cpu, out_dir=out_dir)
        return Image.open(result.png).convert("RGB")

    alone = stylize_upload()
    manager = TrainingManager(REPO / "examples", models_dir=tmp_path / "home" / "models")
    manager.start(TrainingRequest(models / "testwave.jpg", "Busy", steps=5000, image_size=32))
    poll_errors: list[BaseException] = []
    stop_polling = threading.Event()

    def poll() -> None:
        while not stop_polling.wait(0.05):
            try:
                plot_runs(manager.status().runs, out_dir)
            except BaseException as error:  # noqa: BLE001 - any failure is the test's finding
                poll_errors.append(error)
                return

    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for poller in pollers:
        poller.start()
    try:
        deadline = time.monotonic() + 120
        while manager.status().step < 2:
            assert manager.status().state == "running", manager.status().message
            assert time.monotonic() < deadline, "training did not reach step 2 within 120 s"
            time.sleep(0.1)
        for _ in range(3):
            stylized = stylize_upload()
            assert manager.status().state == "running", manager.status().message  # it ran alongside
            assert stylized.size == alone.size == (64, 48)
            assert mean_difference(stylized, alone) < 0.5  # the training thread changes nothing
    finally:
        stop_polling.set()
        for poller in pollers:
            poller.join()
        manager.cancel()
        assert manager.wait(timeout=300)
    assert poll_errors == []
    status = manager.status()
    assert status.state == "cancelled" and status.step >= 2, status.message
    assert plot_runs(status.runs, out_dir) is not None


def test_a_crashing_training_job_logs_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    painting = tmp_path / "painting.png"
    gradient((64, 64)).save(painting)

    def train_with_a_bug(config: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug deep in training")

    monkeypatch.setattr(jobs, "train", train_with_a_bug)
    manager = TrainingManager(REPO / "examples", models_dir=tmp_path / "models")
    with caplog.at_level(logging.INFO, logger="styletransfer.apps"):
        manager.start(TrainingRequest(painting, "Crash", steps=1, image_size=32))
        assert manager.wait(timeout=60)
    status = manager.status()
    assert status.state == "failed"
    assert status.message == "Training failed unexpectedly: ZeroDivisionError: a bug deep in training"
    [record] = [record for record in caplog.records if record.name == "styletransfer.apps"]
    assert record.levelno == logging.ERROR and "crash" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    assert "Traceback (most recent call last)" in caplog.text and "in train_with_a_bug" in caplog.text


def test_a_training_job_with_bad_input_logs_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    painting = tmp_path / "painting.png"
    gradient((64, 64)).save(painting)
    no_photos = tmp_path / "no_photos"
    no_photos.mkdir()
    manager = TrainingManager(no_photos, models_dir=tmp_path / "models")
    with caplog.at_level(logging.INFO, logger="styletransfer.apps"):
        manager.start(TrainingRequest(painting, "Empty", steps=1, image_size=32))
        assert manager.wait(timeout=120)
    status = manager.status()
    assert status.state == "failed" and status.message.startswith("Training failed: ") and "no_photos" in status.message
    [record] = [record for record in caplog.records if record.name == "styletransfer.apps"]
    assert record.levelno == logging.WARNING and record.exc_info is None  # the user's problem, not a bug
    assert "no_photos" in record.getMessage() and "\n" not in record.getMessage()


def lively_network(seed: int) -> TransformerNet:
    """Untrained networks paint flat grey; with He-scaled weights they paint visibly varied images."""
    torch.manual_seed(seed)
    net = TransformerNet("batch", "none", residual_blocks=1)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(6 ** 0.5)
    return net


def test_a_second_style_blends_in_with_the_mix_slider(client: gradio_client.Client, home: Path) -> None:
    models = home / "models"
    for seed, name in ((1, "mixone"), (2, "mixtwo")):
        save_model(lively_network(seed), models / f"{name}.safetensors", title=name.title())

    def stylize_mix(second: str | None, mix: float) -> tuple[torch.Tensor, str]:
        _, png, summary = client.predict(gradio_client.handle_file(str(PHOTO)), "mixone", None, 1.0, False, 128,
                                         second, mix, api_name="/stylize")
        pixels = torch.frombuffer(bytearray(Image.open(png).convert("RGB").tobytes()), dtype=torch.uint8)
        return pixels.float(), summary

    try:
        first, _ = stylize_mix(None, 0.5)
        second, _ = stylize_mix("mixtwo", 1.0)
        half, summary = stylize_mix("mixtwo", 0.5)
        assert (first - second).abs().mean() > 10  # the two styles differ
        assert (half - (first + second) / 2).abs().max() <= 1  # output-space blend, each image rounded
        assert "Mixone 50% + Mixtwo 50%" in summary
        assert torch.equal(stylize_mix("mixtwo", 0.0)[0], first)
    finally:
        for name in ("mixone", "mixtwo"):
            (models / f"{name}.safetensors").unlink()
