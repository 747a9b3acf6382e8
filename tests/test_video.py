"""Video files: a short clip with audio, generated with PyAV, through a tiny random network;
timing and audio kept, the flicker measure, interruption and bad files."""
from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from styletransfer import TransformerNet, save_model
from styletransfer.apps.cli import main
from styletransfer.inference.video.temporal import Flicker, frame_change, measure_flicker
from styletransfer.inference.video.av_io import PYAV_MISSING, VideoError, output_size, partial_path, probe_video, read_frames
from styletransfer.inference.video.frames import Stability
from styletransfer.inference.video.pipeline import stylize_video
from test_stylize import lively, one_thread  # noqa: F401  (one_thread: autouse fixture)

av = pytest.importorskip("av")

FRAMES, WIDTH, HEIGHT, FPS = 12, 64, 48, 12
SAMPLE_RATE = 44100


def make_clip(path: Path, *, frames: int = FRAMES, size: tuple[int, int] = (WIDTH, HEIGHT), fps: int = FPS,
              audio: bool = True, noise: float = 0.0, rotation: int = 0) -> Path:
    """A clip of a bar sliding over a gradient (H.264, dark on the left), with a 440 Hz sine
    (AAC) as long as the video; ``noise`` adds that many levels of random noise per frame (like
    a camera's); ``rotation`` stores a display rotation, as phones do for portrait video."""
    width, height = size
    generator = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "10"}
        if rotation:
            video.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audio else None
        ramp = np.linspace(0, 200, width)[None, :, None]
        for index in range(frames):
            pixels = np.broadcast_to(ramp, (height, width, 3)).copy()
            pixels[:, (index * 4) % width: (index * 4) % width + 8, 1] = 250
            pixels += generator.normal(0, noise, pixels.shape) if noise else 0
            frame = av.VideoFrame.from_ndarray(pixels.clip(0, 255).astype(np.uint8), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            samples = round(SAMPLE_RATE * frames / fps)
            wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / SAMPLE_RATE)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(wave[None, start: start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = SAMPLE_RATE, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def video_timing(path: Path) -> tuple[int, Fraction, float]:
    """(decoded frame count, average frame rate, duration in seconds: last frame's time plus
    one frame) of a file's video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * stream.time_base) for frame in container.decode(stream)]
        rate = stream.average_rate
    return len(times), rate, times[-1] - times[0] + 1 / float(rate)


def audio_payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(container.streams.audio[0]) if packet.size]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "clip.mp4")


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An untrained BN+SRM network (one residual block, SRM gates that depend on the image),
    saved as the user style ``tiny``."""
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    torch.manual_seed(0)
    net = lively(TransformerNet(norm="batch", attention="srm", residual_blocks=1))
    with torch.no_grad():
        for module in net.modules():
            if hasattr(module, "cfc"):
                module.cfc.normal_(0, 1)
    save_model(net, tmp_path / "home" / "models" / "tiny.safetensors")
    return "tiny"


def test_the_stylized_video_keeps_frames_rate_duration_and_audio(clip, tiny, tmp_path):
    target = tmp_path / "out" / "styled.mp4"
    result = stylize_video(tiny, clip, target, precision="fp32")
    assert result.path == target and target.is_file()
    assert result.frames == FRAMES and result.size == (WIDTH, HEIGHT) and result.fps == FPS
    frames, rate, duration = video_timing(target)
    source_frames, source_rate, source_duration = video_timing(clip)
    assert (frames, rate) == (source_frames, source_rate) == (FRAMES, FPS)
    assert abs(duration - source_duration) < 1 / FPS and abs(duration - FRAMES / FPS) < 1 / FPS
    info = probe_video(target)
    assert info.audio_codecs == ["aac"] and result.audio == ["copied aac"]
    assert audio_payloads(target) == audio_payloads(clip)  # remuxed packet for packet, not re-encoded
    stylized, original = next(read_frames(target)), next(read_frames(clip))
    assert np.abs(stylized.astype(int) - original.astype(int)).mean() > 20
    assert not list(tmp_path.glob("out/.*"))  # no temporary file left beside it


@pytest.mark.parametrize("suffix, video_codec, audio_codec, encoder", [
    (".webm", "vp9", "opus", "libopus"),  # WebM holds no AAC
    (".avi", "mpeg4", "mp3float", "libmp3lame"),  # AVI cannot start audio before the video
])
def test_a_container_that_cannot_hold_the_audio_gets_it_re_encoded(clip, tiny, tmp_path, suffix, video_codec,
                                                                   audio_codec, encoder):
    target = tmp_path / f"styled{suffix}"
    result = stylize_video(tiny, clip, target, precision="fp32")
    assert result.audio == [f"re-encoded aac as {encoder}"]
    info = probe_video(target)
    assert info.video_codec == video_codec and info.audio_codecs == [audio_codec]
    frames, rate, duration = video_timing(target)
    assert (frames, rate) == (FRAMES, FPS) and abs(duration - FRAMES / FPS) < 1 / FPS


def test_a_phone_video_with_a_display_rotation_comes_out_upright(tiny, tmp_path):
    """Stored 64×48 landscape frames with a 90° display rotation show as 48×64 portrait: they
    are read, stylized and written upright, with no rotation left in the output."""
    phone = make_clip(tmp_path / "phone.mp4", rotation=90)
    info = probe_video(phone)
    assert (info.width, info.height, info.rotation) == (HEIGHT, WIDTH, 90)
    first = next(read_frames(phone))
    assert first.shape == (WIDTH, HEIGHT, 3)
    # The stored frame is dark on its left; turned 90° counter-clockwise that edge is the bottom.
    assert first[-8:, :, 0].mean() < 30 < 170 < first[:8, :, 0].mean()  # red: the sliding bar is green
    assert next(read_frames(phone, size=(24, 32))).shape == (32, 24, 3)
    result = stylize_video(tiny, phone, tmp_path / "out.mp4", stability=Stability.off())
    assert result.size == (HEIGHT, WIDTH) and result.frames == FRAMES
    written = probe_video(result.path)
    assert (written.width, written.height, written.rotation) == (HEIGHT, WIDTH, 0)
    assert audio_payloads(result.path) == audio_payloads(phone)


def test_max_size_shrinks_to_even_sides(tiny, tmp_path):
    assert output_size(64, 48, 40) == (40, 30)
    assert output_size(101, 51, None) == (100, 50)
    assert output_size(640, 360, 100) == (100, 56)
    source = make_clip(tmp_path / "silent.mkv", size=(64, 48), audio=False)
    result = stylize_video(tiny, source, tmp_path / "small.mkv", max_size=40, precision="fp32")
    assert result.size == (40, 30) and result.audio == []
    assert next(read_frames(tmp_path / "small.mkv")).shape == (30, 40, 3)


def test_the_batch_size_does_not_change_the_frames(clip, tiny, tmp_path):
    everything = Stability(statistics_momentum=0.3, blend_weight=0.7)  # held statistics and the blend
    one = stylize_video(tiny, clip, tmp_path / "one.mkv", precision="fp32", batch_size=1, stability=everything)
    five = stylize_video(tiny, clip, tmp_path / "five.mkv", precision="fp32", batch_size=5, stability=everything)
    assert (one.batch_size, five.batch_size) == (1, 5)
    assert one.flicker == pytest.approx(five.flicker)
    for a, b in zip(read_frames(tmp_path / "one.mkv"), read_frames(tmp_path / "five.mkv"), strict=True):
        assert np.array_equal(a, b)


def test_a_margin_changes_the_frames_and_the_cli_refuses_a_bad_one(clip, tiny, tmp_path, capsys):
    off = Stability.off()
    plain = stylize_video(tiny, clip, tmp_path / "plain.mkv", precision="fp32", stability=off)
    again = stylize_video(tiny, clip, tmp_path / "again.mkv", precision="fp32", stability=off, margin=0)
    padded = stylize_video(tiny, clip, tmp_path / "padded.mkv", precision="fp32", stability=off, margin=16)
    assert plain.size == padded.size
    frames = [list(read_frames(tmp_path / f"{name}.mkv")) for name in ("plain", "again", "padded")]
    assert all(np.array_equal(a, b) for a, b in zip(frames[0], frames[1], strict=True))  # no margin recorded
    assert any(not np.array_equal(a, b) for a, b in zip(frames[0], frames[2], strict=True))
    assert main(["video", str(clip), "-o", str(tmp_path / "bad.mkv"), "--style", tiny, "--margin", "x"]) == 2
    assert capsys.readouterr().err.strip() == ("styletransfer: error: --margin must be a whole number of pixels "
                                               "from 0 to 256, not 'x'")
    assert not (tmp_path / "bad.mkv").exists()


def test_held_statistics_change_the_frames_after_the_first(clip, tiny, tmp_path):
    plain = stylize_video(tiny, clip, tmp_path / "plain.mkv", precision="fp32", stability=Stability.off())
    held = stylize_video(tiny, clip, tmp_path / "held.mkv", precision="fp32",
                         stability=Stability(statistics_momentum=0.0, blend_weight=0.0))
    assert plain.flicker != held.flicker
    pairs = list(zip(read_frames(tmp_path / "plain.mkv"), read_frames(tmp_path / "held.mkv")))
    assert np.array_equal(*pairs[0])  # the first frame sets the statistics
    assert np.abs(pairs[-1][0].astype(int) - pairs[-1][1]).mean() > 0.5


def test_stability_reduces_flicker_on_a_noisy_clip(tiny, tmp_path):
    source = make_clip(tmp_path / "noisy.mp4", noise=6.0, audio=False)
    plain = stylize_video(tiny, source, tmp_path / "plain.mp4", precision="fp32", stability=Stability.off())
    steady = stylize_video(tiny, source, tmp_path / "steady.mp4", precision="fp32")
    assert plain.flicker.input_change == pytest.approx(steady.flicker.input_change)
    assert steady.flicker.ratio < 0.8 * plain.flicker.ratio


def test_flicker_is_output_change_over_input_change():
    dark, light = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 10, np.uint8)
    assert frame_change([dark, light, dark]) == 10
    half = light.copy()
    half[:2] = 0
    assert frame_change([dark, half]) == 5
    small_dark, small_light = np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 30, np.uint8)  # sizes may differ
    flicker = measure_flicker([dark, light, dark], [small_dark, small_light, small_dark])
    assert flicker == Flicker(10.0, 30.0) and flicker.ratio == 3.0
    assert Flicker(0.0, 2.0).ratio is None
    with pytest.raises(ValueError, match="at least two frames"):
        frame_change([dark])
    with pytest.raises(ValueError, match="3 input frames but 2 output frames"):
        measure_flicker([dark] * 3, [dark] * 2)


def test_an_interrupted_run_leaves_no_file(clip, tiny, tmp_path):
    target = tmp_path / "out" / "styled.mp4"

    def cancel(done: int, total: int | None) -> None:
        assert total == FRAMES
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stylize_video(tiny, clip, target, batch_size=2, progress=cancel)
    assert list(target.parent.iterdir()) == []
    target.write_bytes(b"an older video")
    with pytest.raises(KeyboardInterrupt):
        stylize_video(tiny, clip, target, batch_size=2, progress=cancel)
    assert target.read_bytes() == b"an older video"  # untouched until a new video is complete
    assert not partial_path(target).exists()


def write_damaged(folder: Path, clip: Path) -> dict[str, tuple[Path, str]]:
    """Files that are not usable videos, with the problem each should report."""
    folder.mkdir()
    (folder / "text.mp4").write_text("this is not a video\n")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "cut.mp4").write_bytes(clip.read_bytes()[: len(clip.read_bytes()) // 2])
    with av.open(str(folder / "sound.m4a"), "w") as container:
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = SAMPLE_RATE, 0
        container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    return {"text": (folder / "text.mp4", "not a video file FFmpeg can read"),
            "empty": (folder / "empty.mp4", "the file is empty"),
            "cut": (folder / "cut.mp4", "not a video file FFmpeg can read"),
            "sound": (folder / "sound.m4a", "has no video stream"),
            "missing": (folder / "missing.mp4", "no such file")}


def test_bad_files_give_one_line_naming_the_file_and_exit_2(clip, tiny, tmp_path, capsys):
    for name, (path, problem) in write_damaged(tmp_path / "bad", clip).items():
        target = tmp_path / f"{name}_out.mp4"
        assert main(["video", str(path), "-o", str(target), "--style", tiny]) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"styletransfer: error: {path}: {problem}") and "\n" not in err, (name, err)
        assert not target.exists() and not partial_path(target).exists()
    assert main(["video", str(clip), "-o", str(tmp_path / "out.txt"), "--style", tiny]) == 2
    assert capsys.readouterr().err.startswith(f"styletransfer: error: {tmp_path / 'out.txt'}: cannot write .txt videos")
    with pytest.raises(VideoError, match="is the input video"):
        stylize_video(tiny, clip, clip)


def test_missing_pyav_is_one_line_with_the_pip_command(clip, tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    assert main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--style", tiny]) == 2
    assert capsys.readouterr().err == f"styletransfer: error: {PYAV_MISSING}\n"
    assert "pip install av" in PYAV_MISSING


def test_cli_writes_the_video_and_reports_the_flicker(clip, tiny, tmp_path, capsys):
    target = tmp_path / "styled.mp4"
    assert main(["video", str(clip), "-o", str(target), "--style", tiny, "--precision", "fp32", "--json",
                 "--batch", "4"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["frames"] == FRAMES and report["batch_size"] == 4 and report["audio"] == ["copied aac"]
    assert report["warping_error"] is None  # not asked for
    assert report["flicker"]["ratio"] == pytest.approx(report["flicker"]["output_change"]
                                                       / report["flicker"]["input_change"])
    assert "flicker" in err and f"wrote {target}" in err
    assert main(["video", str(clip), "-o", str(target), "--style", tiny]) == 2
    assert "exists; add --overwrite" in capsys.readouterr().err
    assert main(["video", str(clip), "-o", str(target), "--style", f"{tiny}:0.5,{tiny}_missing:0.5",
                 "--overwrite"]) == 2
    assert "no such model file or style name" in capsys.readouterr().err
    assert main(["video", str(clip), "-o", str(target), "--style", tiny, "--no-stable", "--overwrite",
                 "--hold-statistics", "0.2"]) == 0
    assert "flicker" in capsys.readouterr().out
    assert main(["video", str(clip), "-o", str(target), "--style", tiny, "--hold-statistics", "2"]) == 2
    assert "--hold-statistics: must be between 0 and 1, not 2" in capsys.readouterr().err


def test_cli_reports_the_warping_error_when_asked(clip, tiny, tmp_path, capsys):
    pytest.importorskip("cv2")
    target = tmp_path / "styled.mp4"
    assert main(["video", str(clip), "-o", str(target), "--style", tiny, "--precision", "fp32", "--json",
                 "--warping-error"]) == 0
    out, err = capsys.readouterr()
    warping = json.loads(out)["warping_error"]
    assert warping["pairs"] == FRAMES - 1 and 0 < warping["visible"] <= 1
    assert warping["output"] > 0 and warping["ratio"] == pytest.approx(warping["output"] / warping["input"])
    assert "warping error" in err
    assert main(["video", str(clip), "-o", str(target), "--style", tiny, "--json", "--warping-error",
                 "--warping-every", "4", "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["warping_error"]["pairs"] == 2  # (3, 4) and (7, 8) of 12 frames


def test_without_opencv_video_works_and_the_warping_error_is_one_line(clip, tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    result = stylize_video(tiny, clip, tmp_path / "plain.mp4", precision="fp32")
    assert result.warping_error is None and result.as_dict()["warping_error"] is None
    target = tmp_path / "measured.mp4"
    assert main(["video", str(clip), "-o", str(target), "--style", tiny, "--warping-error"]) == 2
    assert capsys.readouterr().err == ("styletransfer: error: the warping error needs the optional package cv2: "
                                       "pip install opencv-python-headless\n")
    assert not target.exists() and not partial_path(target).exists()
