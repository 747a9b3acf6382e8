"""Video flicker with and without the stability measures, on two clips made here.

    .venv/bin/python benchmarks/video_flicker.py [--style starry_night] [--precision fp32] [--keep DIR]

Clips (H.264, CRF 20, 24 fps, 48 frames):
1. generated: a 256×192 gradient with a bar sliding across and mild noise (σ = 2 levels), like
   a camera's;
2. pan/zoom: a shared photo (palapeli castle_maintenon, 640×426) seen through a 256×256 window
   that pans slowly right (160 px of the photo over the clip) while zooming in 15 %;
3. wobble: the same pan/zoom with the exposure wobbling ±4 % (a 12-frame sine), like a camera's
   automatic exposure: the whole picture changes, which per-frame statistics follow.

Each is stylised with every configuration of :class:`styletransfer.video.Stability`, one after
the other in this process. The table gives the mean change between consecutive frames of the
input and of the output (levels of 255), the flicker (their ratio, lower is steadier) and the
drift: the mean difference of each output frame from the frame stylised alone (decoded from the
written files, so about a level of it is the encoder's), which shows what steadiness costs in
faithfulness to each frame (ghosting where things move).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import av  # noqa: E402

from styletransfer.video import Stability, read_frames, stylize_video  # noqa: E402

PHOTO = Path("/work/shared/data/photos/palapeli-data_castle_maintenon.jpg")
FRAMES, FPS = 48, 24

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


def generated_frames() -> list[np.ndarray]:
    generator = np.random.default_rng(0)
    width, height = 256, 192
    ramp = np.stack(np.meshgrid(np.linspace(30, 220, width), np.linspace(60, 180, height)), axis=2)
    base = np.concatenate([ramp, ramp[..., :1] * 0.5 + 60], axis=2)
    frames = []
    for index in range(FRAMES):
        pixels = base.copy()
        left = 20 + index * 4
        pixels[40:150, left: left + 24] = (240, 200, 40)
        pixels += generator.normal(0, 2, pixels.shape)
        frames.append(pixels.clip(0, 255).astype(np.uint8))
    return frames


def pan_zoom_frames(photo: Path = PHOTO, side: int = 256) -> list[np.ndarray]:
    image = Image.open(photo).convert("RGB")
    frames = []
    for index in range(FRAMES):
        progress = index / (FRAMES - 1)
        window = image.height * (1 - 0.15 * progress)  # zoom in 15 %
        left = 40 + 160 * progress
        top = (image.height - window) / 2
        box = (left, top, left + window, top + window)
        frames.append(np.asarray(image.transform((side, side), Image.Transform.EXTENT, box,
                                                 Image.Resampling.BICUBIC)))
    return frames


def wobble_frames() -> list[np.ndarray]:
    gains = 1 + 0.04 * np.sin(2 * np.pi * np.arange(FRAMES) / 12)
    return [(frame * gain).clip(0, 255).astype(np.uint8) for frame, gain in zip(pan_zoom_frames(), gains)]


CLIPS = {"generated": ("generated (256×192)", generated_frames),
         "pan_zoom": ("pan/zoom photo (256×256)", pan_zoom_frames),
         "wobble": ("pan/zoom, exposure ±4 %", wobble_frames)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--keep", type=Path, help="keep the clips and outputs in this folder")
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma list of %(default)s")
    parser.add_argument("--configurations", default=",".join(str(n) for n in range(len(CONFIGURATIONS))),
                        help="comma list of configuration numbers (default: all; 0 is 'off')")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="flicker-"))
    folder.mkdir(parents=True, exist_ok=True)
    clips = {CLIPS[key][0]: write_clip(folder / f"{key}.mp4", CLIPS[key][1]()) for key in args.clips.split(",")}
    chosen = {int(number) for number in args.configurations.split(",")}
    print(f"style {args.style}, {args.precision}, {FRAMES} frames at {FPS} fps; flicker = output change / input change")
    print("| clip | stability | input change | output change | flicker | drift |")
    print("|---|---|---:|---:|---:|---:|")
    for clip_name, clip in clips.items():
        plain: list[np.ndarray] = []
        for number, (name, stability) in enumerate(CONFIGURATIONS.items()):
            if number not in chosen:
                continue
            output = folder / f"{clip.stem}_{number}.mp4"
            result = stylize_video(args.style, clip, output, device=args.device, precision=args.precision,
                                   stability=stability)
            frames = list(read_frames(output))
            plain = plain or frames  # drift is measured from the first configuration run (0: "off")
            drift = np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(frames, plain)])
            flicker = result.flicker
            print(f"| {clip_name} | {name} | {flicker.input_change:.2f} | {flicker.output_change:.2f} | "
                  f"{flicker.ratio:.2f} | {drift:.2f} |", flush=True)


if __name__ == "__main__":
    main()
