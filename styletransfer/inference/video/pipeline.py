"""Stylize video files: decode with PyAV, run the frames through the network in batches,
encode, and copy the audio.

    from styletransfer.inference.video.pipeline import stylize_video
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
change tone as things move; :mod:`~styletransfer.models.layers.held_norm` keeps a running value of them
instead, and :class:`~styletransfer.inference.video.temporal.PreviousOutputBlend` keeps the painted texture
still where the input did not move. The result reports the flicker
(:class:`~styletransfer.inference.video.temporal.Flicker`) of the frames written and, when
``warping_every`` asks for it, their warping error
(:class:`~styletransfer.inference.video.warping.WarpingError`, which needs OpenCV).

**Safety.** The output is written to a hidden temporary file beside the target and renamed at
the end; any error or interruption (including one raised by the ``progress`` callback) removes
it, so the target is either the complete new video or untouched. Problems with the files are
one :class:`VideoError` line naming the file.

PyAV is an optional dependency (``pip install 'styletransfer[video]'``); it is imported only
when a video is read or written.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from styletransfer.core.device import pick_device, pick_precision, precision_name
from styletransfer.inference.blend import StyleMix
from styletransfer.inference.margin import check_margin
from styletransfer.inference.prepare import prepare_model
from styletransfer.inference.video.av_io import (VideoError, _add_video_stream, _AudioTranscoder, _can_copy,
                                                 _ffmpeg_problem, _frame_count, _frame_rate, _turned,
                                                 _first_rotation, _open_input, _open_output, _shown_size,
                                                 import_av, output_size, partial_path, upright)
from styletransfer.inference.video.frames import FrameStylizer, Stability, default_batch_size
from styletransfer.inference.video.temporal import Flicker
from styletransfer.inference.video.warping import WarpingError, import_cv2
from styletransfer.models.transformer import TransformerNet

ProgressCallback = Callable[[int, "int | None"], None]
"""``progress(frames_done, frames_total)``; the total is None when the file does not say."""



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
    warping_error: WarpingError | None = None
    """The output's warping error and the input's; None when not measured (or under two frames)."""

    @property
    def frames_per_second(self) -> float:
        """Stylization speed: frames written per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "frames": self.frames, "width": self.size[0], "height": self.size[1],
                "fps": float(self.fps), "audio": self.audio, "flicker": self.flicker.as_dict(),
                "seconds": self.seconds, "frames_per_second": self.frames_per_second,
                "device": str(self.device), "precision": self.precision, "batch_size": self.batch_size,
                "warping_error": None if self.warping_error is None else self.warping_error.as_dict()}


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
    warping_every: int | None = None,
    margin: int | None = None,
) -> VideoResult:
    """Stylize every frame of the video ``source`` into the video file ``target``.

    Args:
        model: a network, a model file path or style name, or a blend of styles (a
            :class:`~styletransfer.inference.blend.StyleMix` or ``{model: weight}``).
        source: any video FFmpeg can read.
        target: the file to write; its suffix picks the container (see the module docs). An
            existing file is replaced (only once the new one is complete).
        max_size: shrink frames so the longer side is at most this many pixels.
        device, precision: as for :func:`~styletransfer.inference.stylize.stylize`.
        batch_size: frames per pass through the network; None: :func:`default_batch_size`.
            The result does not depend on it.
        stability: how frames are kept alike (:class:`Stability`; ``Stability.off()`` for none).
        blend: how a mix of styles is blended (``"output"`` or ``"weights"``).
        progress: called after each batch with (frames done, frames expected or None); it may
            raise (for example to cancel), which removes the partial output.
        warping_every: also measure the warping error
            (:mod:`~styletransfer.inference.video.warping`) of the pairs of frames (t−1, t) whose
            t is a multiple of this (1: every pair); None (the default): not measured.
        margin: the reflected margin in pixels around each frame
            (:mod:`styletransfer.inference.margin`); None: the one the model file records.

    Returns:
        What was written, with the flicker of the output against the (resized) input frames
        and, if asked, the warping error.

    Raises:
        VideoError: unreadable or damaged input, unwritable output, PyAV missing.
        MissingDependencyError: ``warping_every`` given and OpenCV not installed.
        ModelFileError, StyleMixError, ValueError: a bad model, mix, size, device, precision or margin.
    """
    av = import_av()
    source, target = Path(source), Path(target)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    margin = None if margin is None else check_margin(margin)
    if warping_every is not None:
        if not (isinstance(warping_every, int) and warping_every >= 1):
            raise ValueError(f"warping_every must be a whole number of at least 1, not {warping_every!r}")
        import_cv2()  # before any work
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
        stylizer = FrameStylizer(net, torch_device, stability, warping_every, margin)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(target)
        try:
            with _open_output(av, partial, target) as output:
                frames_written, audio = _transcode(av, container, output, video_in, size, fps, stylizer, batch,
                                                   total, progress, source, target, rotation)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    warping = None if stylizer.warping is None else stylizer.warping.result()
    return VideoResult(target, frames_written, size, fps, audio, stylizer.meter.result(),
                       time.perf_counter() - started, torch_device, precision_name(dtype), batch, warping)


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
