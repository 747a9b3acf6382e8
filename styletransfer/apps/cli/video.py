"""``video``: stylize a video file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from styletransfer.inference.blend import BLEND_MODES, parse_style
from styletransfer.core.device import DEVICE_NAMES, PRECISIONS

from styletransfer.apps.cli.common import (EXIT_OK, UsageError, _momentum, _positive_int, margin_option,
                                           note_emulated_precision)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``video``."""
    video = commands.add_parser(
        "video", help="stylize a video file (frames, timing and audio kept)",
        description="Stylize every frame of a video with PyAV (pip install av): same frame count, frame rate and "
                    "duration, audio copied (re-encoded only where the output container cannot hold it). The "
                    "output's suffix picks the container (.mp4, .mkv, .mov, .webm, .avi). Reports the flicker: "
                    "the mean change between consecutive output frames over the same for the input; with "
                    "--warping-error also the warping error (Lai et al. 2018; needs OpenCV: pip install "
                    "opencv-python-headless).")
    video.add_argument("input", type=Path, metavar="IN", help="the video to stylize")
    video.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="the video file to write")
    video.add_argument("--style", required=True, metavar="NAME[:W,NAME:W...]",
                       help="style name or model file; several with weights blend them")
    video.add_argument("--blend", choices=BLEND_MODES, default="output", help="how blended styles mix")
    video.add_argument("--max-size", type=_positive_int, metavar="PX", help="shrink the longer side to PX first")
    video.add_argument("--margin", metavar="PX",
                       help="mirror each frame outwards by PX pixels before the network and crop them off after "
                            "(default: the margin the model file records, else 0)")
    video.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    video.add_argument("--precision", choices=tuple(PRECISIONS), help="default: the fastest safe one for the device")
    video.add_argument("--batch", type=_positive_int, metavar="N",
                       help="frames per pass through the network (default: as many as fit the device's tile "
                            "budget, at most 16)")
    video.add_argument("--stable", action=argparse.BooleanOptionalAction, default=True,
                       help="steady the frames: blend the previous output in where the input did not move "
                            "(default: on)")
    video.add_argument("--hold-statistics", type=_momentum, metavar="MOMENTUM",
                       help="also hold SRM/InstanceNorm statistics across frames as a running mean, each new "
                            "frame weighing MOMENTUM (0..1; 0 keeps the first frame's) (default: per frame)")
    video.add_argument("--warping-error", action="store_true",
                       help="also measure the warping error: the mean squared difference (RGB 0..1) between each "
                            "output frame and the previous one warped onto it by the input's optical flow, over "
                            "non-occluded pixels, beside the same for the input (needs OpenCV; see docs/video.md)")
    video.add_argument("--warping-every", type=_positive_int, default=1, metavar="N",
                       help="with --warping-error, measure only every Nth pair of frames (default: every pair)")
    video.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    video.add_argument("--json", action="store_true",
                       help="print the result (with the flicker and warping error) as JSON on stdout")
    video.set_defaults(handler=run_video)


def run_video(args: argparse.Namespace) -> int:
    import json

    from styletransfer.inference.video.av_io import probe_video

    from styletransfer.inference.video.frames import Stability

    from styletransfer.inference.video.pipeline import stylize_video

    margin = margin_option(args.margin)
    info = probe_video(args.input)  # VideoError (an unreadable file, PyAV missing): exit 2 before any work
    if args.output.exists() and not args.overwrite:
        raise UsageError(f"{args.output} exists; add --overwrite to replace it")
    style = parse_style(args.style)
    note_emulated_precision(args.device, args.precision)
    stability = Stability(statistics_momentum=args.hold_statistics, blend_weight=Stability().blend_weight
                          if args.stable else 0.0)
    # Shown after a second: an error in the first moments (an unwritable output) prints no empty bar.
    with tqdm(total=info.frames, desc="video", unit="frame", delay=1) as bar:
        def progress(done: int, total: int | None) -> None:
            bar.total = max(total, done) if total else None
            bar.update(done - bar.n)

        result = stylize_video(style, args.input, args.output, max_size=args.max_size, device=args.device,
                               precision=args.precision, batch_size=args.batch, stability=stability,
                               blend=args.blend, progress=progress,
                               warping_every=args.warping_every if args.warping_error else None, margin=margin)
    width, height = result.size
    print(f"wrote {result.path}: {result.frames} frames, {width}x{height} at {float(result.fps):g} fps, audio "
          f"{', '.join(result.audio) or 'none'}; {result.flicker}; "
          f"{'' if result.warping_error is None else f'{result.warping_error}; '}{result.seconds:.1f} s "
          f"({result.frames_per_second:.1f} frames/s on {result.device.type}, {result.precision})",
          file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result.as_dict()))
    return EXIT_OK
