"""Reading and writing video files with PyAV (an optional dependency, imported only when a video
is read or written): probing, decoding frames upright, encoding, copying or re-encoding audio,
and the typed one-line :class:`VideoError`."""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from styletransfer.errors import StyleTransferError

PYAV_MISSING = "reading and writing video needs PyAV: pip install av (or pip install 'styletransfer[video]')"


class VideoError(StyleTransferError, ValueError):
    """A video that cannot be read or written; the message is ``"{path}: {problem}"`` (just the
    problem when no file is concerned). ``.path`` and ``.problem`` hold the parts."""

    def __init__(self, path: str | os.PathLike[str] | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{self.path}: {problem}")


def import_av() -> ModuleType:
    """The ``av`` module (PyAV).

    Raises:
        VideoError: PyAV is not installed (the message gives the pip command).
    """
    try:
        import av
    except ImportError:
        raise VideoError(None, PYAV_MISSING) from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found in a file."""

    path: Path
    width: int
    height: int
    frames: int | None
    """Frame count from the container; None when it does not say."""
    fps: Fraction
    duration: float | None
    """Seconds, from the container; None when it does not say."""
    video_codec: str
    audio_codecs: list[str] = field(default_factory=list)
    rotation: int = 0
    """Degrees (0, 90, 180, 270) the stored frames are turned counter-clockwise to show
    upright (a phone's portrait video: 90 or 270); ``width`` and ``height`` are as shown."""


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

def _ffmpeg_problem(error: Exception) -> str:
    """FFmpeg's own words for an error, without PyAV's errno and path decorations."""
    return str(getattr(error, "strerror", None) or error).strip() or type(error).__name__


def _open_input(av: ModuleType, path: Path) -> Any:
    """An opened input container with a decodable video stream; VideoError otherwise."""
    if not path.exists():
        raise VideoError(path, "no such file")
    if path.is_dir():
        raise VideoError(path, "is a folder, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "the file is empty")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as error:
        raise VideoError(path, f"not a video file FFmpeg can read ({_ffmpeg_problem(error)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(path, "has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.width or not stream.codec_context.height:
        container.close()
        raise VideoError(path, f"its video stream ({stream.codec_context.name if stream.codec_context else '?'}) "
                               "cannot be decoded here")
    return container


def _frame_rate(stream: Any) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else Fraction(25)


def _frame_count(container: Any, stream: Any) -> int | None:
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base * _frame_rate(stream)))
    if container.duration:
        return round(container.duration / 1_000_000 * float(_frame_rate(stream)))
    return None


def display_rotation(frame: Any) -> int:
    """Degrees (0, 90, 180 or 270) a decoded PyAV frame must be turned counter-clockwise to
    show upright, from its display matrix (0 without one)."""
    angle = getattr(frame, "rotation", 0) or 0
    return round(angle / 90) % 4 * 90


def upright(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """(H, W, C) pixels turned ``rotation`` degrees counter-clockwise (contiguous)."""
    return np.ascontiguousarray(np.rot90(pixels, k=rotation // 90)) if rotation else pixels


def _first_rotation(av: ModuleType, path: Path) -> int:
    """The display rotation of the first frame of the video file ``path``, read on a container
    of its own (0 when no frame decodes: the damage is reported where the frames are read)."""
    with _open_input(av, path) as container:
        try:
            for frame in container.decode(container.streams.video[0]):
                return display_rotation(frame)
        except av.FFmpegError:
            pass
    return 0


def _turned(size: tuple[int, int], rotation: int) -> tuple[int, int]:
    """A (width, height) after turning by ``rotation`` degrees: swapped for 90 and 270. It maps
    the stored size to the shown one and back."""
    return (size[1], size[0]) if rotation in (90, 270) else size


def _shown_size(stream: Any, rotation: int) -> tuple[int, int]:
    """(width, height) of a video stream's frames as shown."""
    return _turned((stream.codec_context.width, stream.codec_context.height), rotation)


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Size (as shown, see ``rotation``), frame count, frame rate, duration, codecs and the
    display rotation of a video file (the headers and the first frame).

    Raises:
        VideoError: no such file, not a video, no video stream, PyAV missing.
    """
    av = import_av()
    path = Path(path)
    rotation = _first_rotation(av, path)
    with _open_input(av, path) as container:
        stream = container.streams.video[0]
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        return VideoInfo(path, *_shown_size(stream, rotation), _frame_count(container, stream), _frame_rate(stream),
                         duration, stream.codec_context.name,
                         [audio.codec_context.name for audio in container.streams.audio], rotation)


def output_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """The stylized frame size: shrunk so the longer side is at most ``max_size`` (never
    enlarged), then each side rounded down to an even number (at least 2)."""
    if max_size is not None:
        if max_size < 2:
            raise ValueError(f"max_size must be at least 2 pixels, not {max_size}")
        scale = min(1.0, max_size / max(width, height))
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    return max(2, width - width % 2), max(2, height - height % 2)


def read_frames(path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """The video frames of a file as (H, W, 3) uint8 RGB arrays, upright (see the module
    docs), resized to ``size`` (width, height, as shown) when given.

    Raises:
        VideoError: the file cannot be read.
    """
    av = import_av()
    path = Path(path)
    rotation = _first_rotation(av, path)
    with _open_input(av, path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = _turned(size, rotation) if size is not None else (None, None)
        try:
            for frame in container.decode(stream):
                yield upright(frame.to_ndarray(format="rgb24", width=width, height=height), rotation)
        except av.FFmpegError as error:
            raise VideoError(path, f"the video is damaged ({_ffmpeg_problem(error)})") from None


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def _open_output(av: ModuleType, partial: Path, target: Path) -> Any:
    try:
        container = av.open(str(partial), "w")
    except (av.FFmpegError, ValueError) as error:
        suffix = target.suffix or "(no suffix)"
        raise VideoError(target, f"cannot write {suffix} videos ({_ffmpeg_problem(error)}); "
                                 "use .mp4, .mkv, .mov, .webm or .avi") from None
    if not container.default_video_codec or container.default_video_codec == "none":
        container.close()
        raise VideoError(target, f"{target.suffix} files hold no video; use .mp4, .mkv, .mov, .webm or .avi")
    return container


TIMESTAMP_CODECS = ("libx264", "libx265", "libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1")
"""Encoders that take any time base, so the input's timestamps carry over unchanged. Others
(MPEG-4 Part 2 in AVI, a constant-frame-rate container) get frames numbered at the average rate."""


def _add_video_stream(container: Any, source: Any, size: tuple[int, int], fps: Fraction) -> tuple[Any, bool]:
    """An encoder stream for the stylized frames: the container's default codec at good
    quality. Returns (stream, whether it keeps the source's timestamps): in the source's time
    base when the codec takes any (:data:`TIMESTAMP_CODECS`, not in AVI), else in 1/fps."""
    stream = container.add_stream(container.default_video_codec, rate=fps)
    stream.width, stream.height = size
    codec = stream.codec_context.codec
    formats = [video_format.name for video_format in (codec.video_formats or ())]
    stream.pix_fmt = "yuv420p" if not formats or "yuv420p" in formats else formats[0]
    name = codec.name
    keeps_timestamps = name in TIMESTAMP_CODECS and container.format.name != "avi" and source.time_base is not None
    stream.codec_context.time_base = source.time_base if keeps_timestamps else 1 / fps
    if name in ("libx264", "libx265"):
        stream.options = {"crf": "18", "preset": "medium"}
    elif name in ("libvpx-vp9", "libvpx"):
        stream.options = {"crf": "24", "b": "0"}
    else:  # e.g. mpeg4 in AVI: a generous bit rate (0.25 bit per pixel per frame)
        stream.codec_context.bit_rate = int(size[0] * size[1] * float(fps) * 0.25)
    return stream, keeps_timestamps


def _can_copy(av: ModuleType, container_format: str, template: Any) -> bool:
    """Whether ``container_format`` takes ``template``'s audio codec as it is: tried on a
    throwaway in-memory file (the muxers' own lists are not reliable). Never in AVI: it cannot
    hold the negative start time of AAC or Opus priming, and shifting it would shift the video."""
    if container_format == "avi":
        return False
    try:
        with av.open(io.BytesIO(), "w", format=container_format) as probe:
            probe.add_stream_from_template(template)
            probe.start_encoding()
        return True
    except (av.FFmpegError, ValueError, TypeError, OSError):
        return False


class _AudioTranscoder:
    """Decodes one audio stream and encodes it with the output container's audio codec."""

    def __init__(self, av: ModuleType, container: Any, source: Any):
        codec_name = container.default_audio_codec
        probe = av.codec.Codec(codec_name, "w")
        rates = list(probe.audio_rates or ())
        rate = source.rate if not rates or source.rate in rates else (48000 if 48000 in rates else rates[0])
        layout = source.layout.name if source.layout and source.layout.name else "stereo"
        self.stream = container.add_stream(codec_name, rate=rate, layout=layout)
        formats = list(probe.audio_formats or ())
        sample_format = formats[0].name if formats else "fltp"
        self.stream.format = sample_format
        self.resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        self.container = container
        self.source = source

    def packets(self, packet: Any) -> Iterator[Any]:
        for frame in packet.decode():
            frame.pts = None  # let the resampler and encoder count samples from the start
            for resampled in self.resampler.resample(frame):
                yield from self.stream.encode(resampled)

    def flush(self) -> Iterator[Any]:
        for resampled in self.resampler.resample(None):
            yield from self.stream.encode(resampled)
        yield from self.stream.encode(None)


def partial_path(target: Path) -> Path:
    """The hidden temporary file beside ``target`` that :func:`stylize_video` writes first
    (same suffix, so the container format is the target's)."""
    return target.with_name(f".{target.stem}.partial{target.suffix}")
