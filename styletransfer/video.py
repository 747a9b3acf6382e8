"""Stylize video files: decode with PyAV, run the frames through the network in batches,
encode, and copy the audio.

    from styletransfer.video import stylize_video
    result = stylize_video("starry_night", "clip.mp4", "clip_starry.mp4", max_size=512)
    print(result.frames, result.flicker)

**Timing.** Every output frame keeps its input frame's presentation time (same time base), so
frame count, frame rate and duration are the input's, variable frame rates included. (AVI, a
constant-rate container, gets the frames numbered at the input's average frame rate.)

**Orientation.** Phones store portrait video as landscape frames plus a display rotation in
the container. The frames are turned upright before they are stylized (so the painting's
strokes are upright too) and written upright, without a rotation: the output shows the same
way in every player, whether or not it reads rotations.

**Size.** ``max_size`` shrinks the longer side first. Both sides are then rounded down to even
numbers, which the 4:2:0 color subsampling of H.264, HEVC and VP9 needs (an odd-sized input
loses one row or column).

**Audio.** Every audio stream is copied packet for packet (no re-encoding) when the output
container can hold its codec; otherwise it is re-encoded to the container's default audio
codec (for example Opus in WebM, MP3 in AVI, which never copies). Subtitles and data streams
are dropped.

**Codecs.** The output container follows the target's suffix (``.mp4``, ``.mkv``, ``.mov``,
``.webm``, ``.avi``, ...) and its default video codec: H.264 (libx264, CRF 18) in MP4, MOV and
Matroska, VP9 in WebM, MPEG-4 Part 2 in AVI.

**Stability** (:class:`Stability`): per-frame statistics in SRM/InstanceNorm make whole frames
change tone as things move; :mod:`~styletransfer.held_statistics` keeps a running value of them
instead, and :class:`~styletransfer.temporal.PreviousOutputBlend` keeps the painted texture
still where the input did not move. The result reports the flicker
(:class:`~styletransfer.temporal.Flicker`) of the frames written.

**Safety.** The output is written to a hidden temporary file beside the target and renamed at
the end; any error or interruption (including one raised by the ``progress`` callback) removes
it, so the target is either the complete new video or untouched. Problems with the files are
one :class:`VideoError` line naming the file.

PyAV is an optional dependency (``pip install 'styletransfer[video]'``); it is imported only
when a video is read or written.
"""
from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .errors import StyleTransferError
from .blend import StyleMix
from .device import pick_device, pick_precision, precision_name
from .held_statistics import hold_statistics
from .network import TransformerNet
from .stylize import default_tile_pixels, network_input, prepare_model
from .temporal import Flicker, FlickerMeter, PreviousOutputBlend

PYAV_MISSING = "reading and writing video needs PyAV: pip install av (or pip install 'styletransfer[video]')"
MAX_BATCH = 16
"""Most frames stylized in one batch when the batch size is chosen automatically."""

ProgressCallback = Callable[[int, "int | None"], None]
"""``progress(frames_done, frames_total)``; the total is None when the file does not say."""


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
class Stability:
    """How :func:`stylize_video` keeps consecutive frames alike (see :mod:`styletransfer.temporal`).

    The default blends with the previous output where nothing moved and leaves the statistics
    per frame: measured on the shipped SRM styles (benchmarks/video_flicker.py), holding the
    statistics did not lower the flicker (1.12 → 1.12 on a pan/zoom clip, 1.09 → 1.09 with a
    wobbling exposure, 4.41 → 4.35 on a noisy generated clip) while it moved the frames 3–5
    levels away from their own stylization; the blend lowered it to 0.85 and 2.43.

    Attributes:
        statistics_momentum: the weight of each new frame in the running SRM/InstanceNorm/SE
            statistics (:func:`~styletransfer.held_statistics.hold_statistics`); None (the
            default) computes them afresh on every frame, as the plain network does.
        blend_weight: the previous output's share where the input did not move
            (:class:`~styletransfer.temporal.PreviousOutputBlend`); 0 turns blending off.
        motion_threshold: input change (0..1 units) at which a pixel counts as moving.
    """

    statistics_momentum: float | None = None
    blend_weight: float = 0.7
    motion_threshold: float = 0.04

    @classmethod
    def off(cls) -> Stability:
        """Every frame stylized on its own, as :func:`~styletransfer.stylize.stylize` would."""
        return cls(statistics_momentum=None, blend_weight=0.0)


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


@dataclass(frozen=True)
class VideoResult:
    """What :func:`stylize_video` wrote."""

    path: Path
    frames: int
    size: tuple[int, int]
    fps: Fraction
    audio: list[str]
    """Per audio stream: ``"copied <codec>"``, ``"re-encoded <codec> as <codec>"`` or ``"dropped <codec>"``."""
    flicker: Flicker
    seconds: float
    device: torch.device
    precision: str
    batch_size: int

    @property
    def frames_per_second(self) -> float:
        """Stylization speed: frames written per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "frames": self.frames, "width": self.size[0], "height": self.size[1],
                "fps": float(self.fps), "audio": self.audio, "flicker": self.flicker.as_dict(),
                "seconds": self.seconds, "frames_per_second": self.frames_per_second,
                "device": str(self.device), "precision": self.precision, "batch_size": self.batch_size}


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


# ---------------------------------------------------------------------------------------------
# Stylizing
# ---------------------------------------------------------------------------------------------

def default_batch_size(device: torch.device, size: tuple[int, int]) -> int:
    """Frames per batch: as many as fit in :func:`~styletransfer.stylize.default_tile_pixels`
    (the activation budget of one pass), at most :data:`MAX_BATCH`, at least 1."""
    return max(1, min(MAX_BATCH, default_tile_pixels(device) // (size[0] * size[1])))


def partial_path(target: Path) -> Path:
    """The hidden temporary file beside ``target`` that :func:`stylize_video` writes first
    (same suffix, so the container format is the target's)."""
    return target.with_name(f".{target.stem}.partial{target.suffix}")


class FrameStylizer:
    """Stylizes a sequence of frames of one size, batch by batch, in order: the network (with
    held statistics when ``stability`` asks), the previous-output blend, and the flicker meter
    (``.meter``). Used for video files and for the app's webcam stream.

    Args:
        net: a prepared network (:func:`~styletransfer.stylize.prepare_model`).
        device: where it runs.
        stability: see :class:`Stability`.
    """

    def __init__(self, net: nn.Module, device: torch.device, stability: Stability = Stability()):
        self.net = net if stability.statistics_momentum is None else hold_statistics(net, stability.statistics_momentum)
        self.device = device
        self.blend = (PreviousOutputBlend(stability.blend_weight, stability.motion_threshold)
                      if stability.blend_weight > 0 else None)
        self.meter = FlickerMeter()

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        """(H, W, 3) uint8 RGB frames → (N, H, W, 3) uint8 stylized frames."""
        pixels = torch.from_numpy(np.stack(frames))
        with torch.inference_mode():
            batch = pixels.to(self.device).permute(0, 3, 1, 2).float().div_(255)
            styled = self.net(network_input(self.net, batch, self.device)).float()
            if self.blend is not None:
                styled = self.blend(batch, styled)
            result = styled.clamp_(0, 1).mul_(255).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for before, after in zip(frames, result):
            self.meter.add(before, after)
        return result


def stylize_video(
    model: TransformerNet | str | os.PathLike[str] | StyleMix,
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    max_size: int | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    batch_size: int | None = None,
    stability: Stability = Stability(),
    blend: str = "output",
    progress: ProgressCallback | None = None,
) -> VideoResult:
    """Stylize every frame of the video ``source`` into the video file ``target``.

    Args:
        model: a network, a model file path or style name, or a blend of styles (a
            :class:`~styletransfer.blend.StyleMix` or ``{model: weight}``).
        source: any video FFmpeg can read.
        target: the file to write; its suffix picks the container (see the module docs). An
            existing file is replaced (only once the new one is complete).
        max_size: shrink frames so the longer side is at most this many pixels.
        device, precision: as for :func:`~styletransfer.stylize.stylize`.
        batch_size: frames per pass through the network; None: :func:`default_batch_size`.
            The result does not depend on it.
        stability: how frames are kept alike (:class:`Stability`; ``Stability.off()`` for none).
        blend: how a mix of styles is blended (``"output"`` or ``"weights"``).
        progress: called after each batch with (frames done, frames expected or None); it may
            raise (for example to cancel), which removes the partial output.

    Returns:
        What was written, with the flicker of the output against the (resized) input frames.

    Raises:
        VideoError: unreadable or damaged input, unwritable output, PyAV missing.
        ModelFileError, StyleMixError, ValueError: a bad model, mix, size, device or precision.
    """
    av = import_av()
    source, target = Path(source), Path(target)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise VideoError(target, "is the input video; choose another output file")
    started = time.perf_counter()
    torch_device = pick_device(device)
    dtype = pick_precision(torch_device, precision)
    net = prepare_model(model, torch_device, dtype, blend=blend)
    rotation = _first_rotation(av, source)
    with _open_input(av, source) as container:
        video_in = container.streams.video[0]
        video_in.thread_type = "AUTO"
        size = output_size(*_shown_size(video_in, rotation), max_size)
        fps = _frame_rate(video_in)
        total = _frame_count(container, video_in)
        batch = batch_size or default_batch_size(torch_device, size)
        stylizer = FrameStylizer(net, torch_device, stability)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(target)
        try:
            with _open_output(av, partial, target) as output:
                frames_written, audio = _transcode(av, container, output, video_in, size, fps, stylizer, batch,
                                                   total, progress, source, target, rotation)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return VideoResult(target, frames_written, size, fps, audio, stylizer.meter.result(),
                       time.perf_counter() - started, torch_device, precision_name(dtype), batch)


def _transcode(av: ModuleType, container: Any, output: Any, video_in: Any, size: tuple[int, int], fps: Fraction,
               stylizer: FrameStylizer, batch_size: int, total: int | None, progress: ProgressCallback | None,
               source: Path, target: Path, rotation: int = 0) -> tuple[int, list[str]]:
    """Demux ``container``; stylize its first video stream's frames, turned upright by
    ``rotation`` (``size`` is the upright size), and encode them into ``output``; copy or
    re-encode its audio streams. Returns (frames written, what happened to each audio stream)."""
    try:
        video_out, keeps_timestamps = _add_video_stream(output, video_in, size, fps)
    except (av.FFmpegError, ValueError) as error:
        raise VideoError(target, f"cannot encode video here ({_ffmpeg_problem(error)})") from None
    copies: dict[int, Any] = {}
    transcoders: dict[int, _AudioTranscoder] = {}
    audio: list[str] = []
    for stream in container.streams.audio:
        name = stream.codec_context.name if stream.codec_context else "unknown"
        if _can_copy(av, output.format.name, stream):
            copies[stream.index] = output.add_stream_from_template(stream)
            audio.append(f"copied {name}")
        elif output.default_audio_codec and output.default_audio_codec != "none" and stream.codec_context:
            transcoders[stream.index] = _AudioTranscoder(av, output, stream)
            audio.append(f"re-encoded {name} as {transcoders[stream.index].stream.codec_context.name}")
        else:
            audio.append(f"dropped {name}")
    audio_in = [stream for stream in container.streams.audio if stream.index in copies or stream.index in transcoders]

    pending: list[tuple[np.ndarray, int | None]] = []  # decoded frames waiting for a batch, with their pts
    written = 0
    fallback_step = 1 / (fps * video_in.time_base) if video_in.time_base else None
    decoded_width, decoded_height = _turned(size, rotation)  # the stored orientation, turned upright below
    frame_time_base = video_in.time_base if keeps_timestamps else video_out.codec_context.time_base

    def mux(packets: Any) -> None:
        try:
            for packet in packets:
                output.mux(packet)
        except av.FFmpegError as error:
            raise VideoError(target, f"cannot be encoded or written ({_ffmpeg_problem(error)})") from None

    def encode_pending() -> None:
        nonlocal written
        frames = [pixels for pixels, _ in pending]
        for pixels, (_, pts) in zip(stylizer(frames), pending):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if not keeps_timestamps:
                frame.pts = written
            else:
                frame.pts = pts if pts is not None else (round(written * fallback_step) if fallback_step else written)
            frame.time_base = frame_time_base
            mux(video_out.encode_lazy(frame))  # lazy: encoder errors arise inside mux's error handling
            written += 1
        pending.clear()
        if progress is not None:
            progress(written, total)

    try:
        for packet in container.demux(video_in, *audio_in):
            if packet.stream.type == "audio":
                if packet.dts is None:  # an empty flush packet
                    continue
                if packet.stream.index in copies:
                    packet.stream = copies[packet.stream.index]
                    mux([packet])
                else:
                    mux(transcoders[packet.stream.index].packets(packet))
                continue
            for frame in packet.decode():
                pixels = frame.to_ndarray(format="rgb24", width=decoded_width, height=decoded_height,
                                          interpolation="AREA")
                pending.append((upright(pixels, rotation), frame.pts))
                if len(pending) == batch_size:
                    encode_pending()
    except av.FFmpegError as error:
        raise VideoError(source, f"the video is damaged after {written + len(pending)} frames "
                                 f"({_ffmpeg_problem(error)})") from None
    if pending:
        encode_pending()
    if written == 0:
        raise VideoError(source, "has no video frames")
    mux(video_out.encode_lazy(None))
    for transcoder in transcoders.values():
        mux(transcoder.flush())
    return written, audio
