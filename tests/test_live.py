"""Live stylization of a camera stream (the app's Webcam tab): the LiveStylizer and the
streaming handler's library side (styletransfer.apps.jobs.stylize_live_frame)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from styletransfer import TransformerNet, save_model
from styletransfer.core.device import pick_precision
from styletransfer.inference.live import LiveStylizer, default_live_size
from styletransfer.inference.prepare import prepare_model
from styletransfer.inference.video.frames import Stability
from styletransfer.apps.jobs import live_style, load_catalogue, stylize_live_frame
from test_stylize import lively, one_thread  # noqa: F401  (one_thread: autouse fixture)

CPU = torch.device("cpu")


@pytest.fixture
def styles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """User styles ``tiny`` and ``other``, and ``tiny_slim``, the slim twin of ``tiny``."""
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "models"
    for seed, name in enumerate(("tiny", "tiny_slim", "other")):
        torch.manual_seed(seed)
        save_model(lively(TransformerNet("batch", "none", residual_blocks=1)), folder / f"{name}.safetensors",
                   title=name.replace("_", " ").title())
    return folder


def camera_frame(shift: int = 0, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """An (H, W, 3) uint8 frame: a gradient with a bright square ``shift`` px from the left."""
    height, width = size
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    frame[20:50, shift + 10: shift + 40] = 250
    return frame


class FakeClock:
    """Returns the given times in turn (LiveStylizer reads it before and after each frame)."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def test_frames_are_shrunk_to_the_live_size_and_stylized_like_the_network_does(styles):
    stylizer = LiveStylizer(CPU, max_size=64, stability=Stability.off())
    frame = camera_frame()
    result = stylizer(frame, styles / "tiny.safetensors")
    assert result.image.shape == (48, 64, 3) and result.image.dtype == np.uint8
    net = prepare_model(styles / "tiny.safetensors", CPU, pick_precision(CPU))  # what the stylizer runs
    shrunk = torch.from_numpy(np.array(stylizer.shrink(frame))).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        expected = net(shrunk.to(next(net.parameters()).dtype)).float()
    expected = expected.clamp(0, 1).mul(255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.abs(result.image.astype(int) - expected).max() <= 1
    assert LiveStylizer(CPU, max_size=200)(frame, "tiny").image.shape == (96, 128, 3)  # never enlarged
    assert default_live_size(CPU) == 320 and default_live_size(torch.device("cuda")) == 640


def test_the_frame_rate_is_a_moving_average_of_the_intervals_between_frames(styles):
    # Frame 1 takes 0.1 s; frames 2 and 3 end 0.5 s and then 0.25 s after the one before.
    stylizer = LiveStylizer(CPU, max_size=32, clock=FakeClock(0.0, 0.1, 0.5, 0.6, 0.75, 0.85))
    first = stylizer(camera_frame(), "tiny")
    assert first.frames_per_second == pytest.approx(10.0) and first.milliseconds == pytest.approx(100.0)
    second = stylizer(camera_frame(2), "tiny")
    assert second.frames_per_second == pytest.approx(2.0)
    third = stylizer(camera_frame(4), "tiny")
    assert third.frames_per_second == pytest.approx(1 / (0.5 + 0.2 * (0.25 - 0.5)))
    assert "frames/s" in third.summary() and "32×24 px" in third.summary()


def test_still_parts_of_the_picture_keep_the_previous_output(styles):
    steady = LiveStylizer(CPU, max_size=64)
    plain = LiveStylizer(CPU, max_size=64, stability=Stability.off())
    noisy = [np.clip(camera_frame().astype(int) + np.random.default_rng(seed).integers(-4, 5, (96, 128, 3)),
                     0, 255).astype(np.uint8) for seed in range(4)]
    changes = []
    for stylizer in (plain, steady):
        outputs = [stylizer(frame, "tiny").image.astype(int) for frame in noisy]
        changes.append(np.mean([np.abs(b - a).mean() for a, b in zip(outputs, outputs[1:])]))
    assert changes[1] < 0.7 * changes[0]


def test_a_new_style_or_frame_size_starts_afresh_and_bad_frames_are_refused(styles):
    stylizer = LiveStylizer(CPU, max_size=64)
    tiny = stylizer(camera_frame(), "tiny").image
    other = stylizer(camera_frame(), "other").image
    assert np.abs(tiny.astype(int) - other).mean() > 5
    assert np.array_equal(LiveStylizer(CPU, max_size=64)(camera_frame(), "other").image, other)
    assert stylizer(camera_frame(size=(64, 64)), "other").image.shape == (64, 64, 3)
    rgba = np.dstack([camera_frame(), np.full((96, 128), 255, np.uint8)])
    assert stylizer(rgba, "other").image.shape == (48, 64, 3)
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 RGB frame"):
        stylizer(np.zeros((10, 10), np.uint8), "other")


def test_the_webcam_runs_the_slim_twin_on_the_cpu_and_the_style_itself_on_a_gpu(styles):
    catalogue = load_catalogue()
    assert live_style(catalogue, "tiny", CPU).name == "tiny_slim"
    assert live_style(catalogue, "tiny", torch.device("cuda")).name == "tiny"
    assert live_style(catalogue, "other", CPU).name == "other"
    with pytest.raises(ValueError, match="Pick a style"):
        live_style(catalogue, None, CPU)
    with pytest.raises(ValueError, match="no style named 'nope'"):
        live_style(catalogue, "nope", CPU)


def test_the_streaming_handler_keeps_its_stylizer_across_frames(styles):
    image, line, session = stylize_live_frame(camera_frame(), "tiny", None, CPU)
    assert isinstance(session, LiveStylizer) and image.shape == (96, 128, 3)
    assert line.startswith("**Tiny Slim** · ") and "frames/s" in line
    _, _, again = stylize_live_frame(camera_frame(3), "tiny", session, CPU)
    assert again is session
