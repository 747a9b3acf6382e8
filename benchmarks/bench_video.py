"""Video flicker and warping error with and without the stability measures, on clips made here.

    .venv/bin/python benchmarks/bench_video.py [--style starry_night[,starry_night_slim]] [--precision fp32]
        [--clips generated,pan_zoom,wobble] [--configurations 0,1,2,3,4] [--size 256] [--keep DIR]
        [--json PATH]

Clips (H.264, CRF 20, 24 fps, 48 frames; ``--quick``: 8 frames at a quarter of the size):
1. generated: a 256×192 gradient with a bar sliding across and mild noise (σ = 2 levels), like
   a camera's (``--size`` scales it);
2. pan_zoom: a photo (the shared palapeli castle_maintenon, 640×426, or ``--photo``) seen
   through a 256×256 window (``--size``) that pans slowly right (160 px of the photo over the
   clip) while zooming in 15 %;
3. wobble: the same pan/zoom with the exposure wobbling ±4 % (a 12-frame sine), like a camera's
   automatic exposure: the whole picture changes, which per-frame statistics follow.

Each is stylized with every configuration of :class:`styletransfer.inference.video.pipeline.Stability`, one after
the other in this process. The table gives the mean change between consecutive frames of the
input and of the output (levels of 255), the flicker (their ratio, lower is steadier) and the
drift: the mean difference of each output frame from the same frame with stability off (decoded
from the written files), which shows what steadiness costs in faithfulness to each frame
(ghosting where things move), and the warping error (Lai et al. 2018,
:mod:`styletransfer.inference.video.warping`, every pair of frames, measured in the pipeline
before encoding) of the output and of the input, in units of 10⁻³. Flicker, drift and warping
error do not depend on the machine's load; the frames/s column (stylizing alone, the warping
measurement's time taken out) and the measurement's ms per pair do.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import av  # noqa: E402
import cv2  # noqa: E402,F401  (the warping error; pip install opencv-python-headless)

from styletransfer.inference.video.av_io import read_frames

from styletransfer.inference.video.frames import Stability

from styletransfer.inference.video.pipeline import stylize_video  # noqa: E402

SHARED_PHOTO = common.REPO.parent / "shared" / "data" / "photos" / "palapeli-data_castle_maintenon.jpg"
FALLBACK_PHOTO = common.EXAMPLES / "mont_saint_michel.jpg"
FPS = 24

CONFIGURATIONS = {
    "off (every frame alone)": Stability.off(),
    "held statistics, running mean (momentum 0.1)": Stability(statistics_momentum=0.1, blend_weight=0.0),
    "held statistics, first frame's (momentum 0)": Stability(statistics_momentum=0.0, blend_weight=0.0),
    "previous-output blend (weight 0.7; the default, --stable)": Stability(),
    "both (--stable --hold-statistics 0.1)": Stability(statistics_momentum=0.1, blend_weight=0.7),
}


def write_clip(path: Path, frames: list[np.ndarray]) -> Path:
    height, width, _ = frames[0].shape
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20"}
        for pixels in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def generated_frames(count: int, scale: float, photo: Path) -> list[np.ndarray]:
    """``scale``: the size over 256 px."""
    generator = np.random.default_rng(0)
    width, height = round(256 * scale), round(192 * scale)
    ramp = np.stack(np.meshgrid(np.linspace(30, 220, width), np.linspace(60, 180, height)), axis=2)
    base = np.concatenate([ramp, ramp[..., :1] * 0.5 + 60], axis=2)
    frames = []
    for index in range(count):
        pixels = base.copy()
        left = round((20 + index * 4) * scale)
        pixels[round(40 * scale): round(150 * scale), left: left + round(24 * scale)] = (240, 200, 40)
        pixels += generator.normal(0, 2, pixels.shape)
        frames.append(pixels.clip(0, 255).astype(np.uint8))
    return frames


def pan_zoom_frames(count: int, scale: float, photo: Path) -> list[np.ndarray]:
    image = Image.open(photo).convert("RGB")
    side = round(256 * scale)
    frames = []
    for index in range(count):
        progress = index / max(1, count - 1)
        window = min(image.height, image.width - 200) * (1 - 0.15 * progress)  # zoom in 15 %
        left = 40 + 160 * progress
        top = (image.height - window) / 2
        box = (left, top, left + window, top + window)
        frames.append(np.asarray(image.transform((side, side), Image.Transform.EXTENT, box,
                                                 Image.Resampling.BICUBIC)))
    return frames


def wobble_frames(count: int, scale: float, photo: Path) -> list[np.ndarray]:
    gains = 1 + 0.04 * np.sin(2 * np.pi * np.arange(count) / 12)
    return [(frame * gain).clip(0, 255).astype(np.uint8)
            for frame, gain in zip(pan_zoom_frames(count, scale, photo), gains)]


CLIPS = {"generated": ("generated", generated_frames),
         "pan_zoom": ("pan/zoom photo", pan_zoom_frames),
         "wobble": ("pan/zoom, exposure ±4 %", wobble_frames)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_arguments(parser)
    parser.add_argument("--style", default="starry_night",
                        help="style name or model file, or a comma list of them (default: %(default)s)")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--photo", type=Path, default=SHARED_PHOTO if SHARED_PHOTO.is_file() else FALLBACK_PHOTO,
                        help="the photo of the pan/zoom clips (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=256, help="the clips' width in pixels (default: %(default)s)")
    parser.add_argument("--keep", type=Path, help="keep the clips and outputs in this folder")
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma list of %(default)s")
    parser.add_argument("--configurations", default=",".join(str(n) for n in range(len(CONFIGURATIONS))),
                        help="comma list of configuration numbers (default: all; 0, 'off', is the drift's reference)")
    args = parser.parse_args()
    settings = common.setup_ours(args)
    frames, scale = (8, 0.25) if args.quick else (args.frames, args.size / 256)
    settings.update(style=args.style, precision=args.precision, frames=frames, fps=FPS, photo=str(args.photo),
                    width=round(256 * scale))
    report = common.Report("bench_video", args, settings)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_video_"))
    folder.mkdir(parents=True, exist_ok=True)
    chosen = sorted({int(number) for number in args.configurations.split(",")} | {0})
    rows, results = [], []
    gains: dict[str, tuple[float, float]] = {}
    styles = args.style.split(",")
    for key in args.clips.split(","):
        label, make = CLIPS[key]
        clip = write_clip(folder / f"{key}.mp4", make(frames, scale, args.photo))
        for style in styles:
            plain: list[np.ndarray] = []
            off_ratio: float | None = None
            for number, (name, stability) in enumerate(CONFIGURATIONS.items()):
                if number not in chosen:
                    continue
                output = folder / f"{key}_{Path(style).stem}_{number}.mp4"
                result = stylize_video(style, clip, output, device=args.device, precision=args.precision,
                                       stability=stability, warping_every=1)
                written = list(read_frames(output))
                plain = plain or written
                drift = float(np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(written, plain)]))
                flicker, warping = result.flicker, result.warping_error
                stylizing = result.frames / max(1e-9, result.seconds - (warping.seconds if warping else 0.0))
                rows.append((label, Path(style).stem, name, flicker.input_change, flicker.output_change,
                             flicker.ratio, drift, None if warping is None else warping.output * 1e3,
                             None if warping is None else warping.input * 1e3,
                             None if warping is None else warping.ratio, stylizing,
                             None if warping is None else warping.seconds / warping.pairs * 1e3))
                results.append({"clip": key, "style": style, "configuration": name, **flicker.as_dict(),
                                "drift": drift, "frames_per_second": stylizing,
                                "warping_error": None if warping is None else warping.as_dict()})
                if number == 0:
                    off_ratio = flicker.ratio
                elif stability == Stability() and off_ratio is not None and flicker.ratio is not None:
                    gains[f"{key} {style}"] = (off_ratio, flicker.ratio)
    report.table(f"Video flicker: {args.style}, {args.precision}, {frames} frames at {FPS} fps, "
                 f"{round(256 * scale)} px wide",
                 ["clip", "style", "stability", "input change", "output change", "flicker", "drift",
                  "warping error ×10⁻³", "input's ×10⁻³", "warping ratio", "frames/s", "warping ms/pair"], rows,
                 note="flicker = output change / input change (lower is steadier); drift = mean difference "
                      "from the frames stylized with stability off (levels of 255); warping error: mean squared "
                      "difference (RGB 0..1) of each output frame from the previous one warped onto it by the "
                      "input's DIS optical flow, over non-occluded pixels (Lai et al. 2018); input's: the same "
                      "for the input frames; ratio: output's over input's; frames/s: stylizing without the "
                      "warping measurement, whose cost per pair of frames is the last column")
    report.data["results"]["video"] = results
    if gains:
        worst = max(steady / off for off, steady in gains.values())
        report.target("video flicker with --stable over flicker off (worst clip)", worst, "<", 1, kind="accuracy")
    report.finish()


if __name__ == "__main__":
    main()
