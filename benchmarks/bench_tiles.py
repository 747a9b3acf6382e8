"""Seamless tiles (issue 24): how far a tiled image is from the untiled one, and what it costs,
for every shipped style (``styles/*.safetensors``), per ``tile_statistics`` mode.

    .venv/bin/python benchmarks/bench_tiles.py [--size 1600x1000] [--tile 512] [--markdown PATH]

One photo (the largest of ``../shared/data/photos``, else ``examples/``; ``--photo``) is resized
and cropped to ``--size``. Each style stylizes it untiled (``tile_pixels`` above the image) and
tiled in ``--tile``² tiles with ``tile_statistics="tile"`` (each tile its own statistics, the
old default) and ``"global"`` (the whole image's, the new default); ``--modes`` adds
``"image"``. Differences are mean and max absolute differences from the untiled image in
levels of 255 over all pixels and channels. Times are ``stylize()`` end to end (a Pillow image
in and out, the model by name, cached after the untiled call, the device's default
precision), after one untimed tiled call, alternating modes ABBA over ``--rounds`` rounds. Two
ratios to per-tile statistics: wall clock, the median of each round's two back-to-back calls'
ratio, and the process's CPU time, the ratio of the totals (other processes on a shared machine
move it less). The table and the machine go to stdout and, with ``--markdown``, to a file.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from styletransfer.inference.stylize import stylize  # noqa: E402

PHOTOS = common.REPO.parent / "shared" / "data" / "photos"
TARGET_MEAN, TARGET_MAX, TARGET_RATIO = 1.0, 24, 1.3
QUICK_STYLES = ("composition_viii_slim", "great_wave_bn_slim")


def largest_photo() -> Path | None:
    """The photo with the most pixels in ../shared/data/photos, else examples/ (None: neither)."""
    from PIL import Image
    for folder in (PHOTOS, common.EXAMPLES):
        best = None
        for path in sorted(folder.glob("*.jpg")) if folder.is_dir() else []:
            try:
                with Image.open(path) as image:
                    pixels = image.width * image.height
            except OSError:
                continue
            if best is None or pixels > best[0]:
                best = (pixels, path)
        if best:
            return best[1]
    return None


def difference(a, b) -> tuple[float, int]:
    delta = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16))
    return float(delta.mean()), int(delta.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--size", default="1600x1000", help="WxH of the test image (default: %(default)s)")
    parser.add_argument("--tile", type=int, default=512, help="tile side: tile_pixels = TILE² (default: %(default)s)")
    parser.add_argument("--photo", type=Path, help="the photo (default: the largest of ../shared/data/photos)")
    parser.add_argument("--styles", help="comma list (default: every styles/*.safetensors)")
    parser.add_argument("--modes", default="tile,global", help="tile_statistics modes (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds per mode (default: %(default)s)")
    parser.add_argument("--markdown", type=Path, help="also write the table and the machine here")
    args = parser.parse_args()
    if args.quick:
        args.size, args.tile, args.rounds = "320x240", 240, 1
        args.styles = args.styles or ",".join(QUICK_STYLES)
    settings = common.setup_ours(args)
    width, height = (int(side) for side in args.size.lower().split("x"))
    modes = args.modes.split(",")
    if "tile" not in modes:
        modes.insert(0, "tile")
    styles = args.styles.split(",") if args.styles else sorted(p.stem for p in (common.REPO / "styles").glob("*.safetensors"))
    photo = args.photo or largest_photo()
    image = common.example_image(width, height, photo)
    tile_pixels = args.tile * args.tile
    settings.update(size=f"{width}x{height}", tile_pixels=tile_pixels, photo=photo.name if photo else "noise",
                    rounds=args.rounds)
    report = common.Report("bench_tiles", args, settings)

    rows, results = [], []
    for style in styles:
        whole = stylize(style, image, device=args.device, tile_pixels=width * height)
        stylize(style, image, device=args.device, tile_pixels=tile_pixels, tile_statistics="tile")  # warm-up: tile shapes
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        cpu_times: dict[str, list[float]] = {mode: [] for mode in modes}
        outputs = {}
        for round_index in range(args.rounds):
            for mode in (modes if round_index % 2 == 0 else modes[::-1]):
                common.synchronize(args.device)
                start, cpu_start = time.perf_counter(), time.process_time()
                outputs[mode] = stylize(style, image, device=args.device, tile_pixels=tile_pixels,
                                        tile_statistics=mode)
                common.synchronize(args.device)
                times[mode].append(time.perf_counter() - start)
                cpu_times[mode].append(time.process_time() - cpu_start)
        result = {"style": style, "seconds": times, "cpu_seconds": cpu_times}
        row = [style]
        for mode in modes:
            mean, largest = difference(outputs[mode], whole)
            # Each round's ratio pairs two calls made back to back: the median of those resists
            # the bursts of a shared machine better than a ratio of totals.
            paired = statistics.median(ours / tiled for ours, tiled in zip(times[mode], times["tile"]))
            cpu = sum(cpu_times[mode]) / sum(cpu_times["tile"])
            result[mode] = {"mean": mean, "max": largest, "ratio": paired, "cpu_ratio": cpu}
            row += [f"{mean:.2f}", largest]
            if mode != "tile":
                row += [f"{paired:.2f}×", f"{cpu:.2f}×"]
        row.append(f"{statistics.median(times['tile']):.2f}")
        rows.append(row)
        results.append(result)
        print(" | ".join(str(cell) for cell in row), flush=True)

    summary = ["all styles: worst difference, median time"]
    for mode in modes:
        summary += [f"{max(r[mode]['mean'] for r in results):.2f}", max(r[mode]["max"] for r in results)]
        if mode != "tile":
            summary += [f"{statistics.median(r[mode]['ratio'] for r in results):.2f}×",
                        f"{statistics.median(r[mode]['cpu_ratio'] for r in results):.2f}×"]
    rows.append(summary + [""])
    headers = ["style"]
    for mode in modes:
        headers += [f"{mode}: mean", f"{mode}: max"] + ([f"{mode}: time", f"{mode}: CPU time"] if mode != "tile" else [])
    headers.append("tile: s (median)")
    machine = common.describe_machine(report.data["machine"])
    note = (f"{width}×{height} px ({settings['photo']}), {args.tile}² tiles, differences from the untiled "
            f"image in levels of 255 (mean, max), time relative to per-tile statistics "
            f"(wall clock: median of {args.rounds} ABBA-alternating rounds' paired ratios; CPU time of the process: "
            f"ratio of the totals, less sensitive to other processes on a shared machine). Machine: {machine}.")
    report.table("Seamless tiles", headers, rows, note)
    report.data["results"]["tiles"] = results
    for mode in (m for m in modes if m != "tile"):
        report.target(f"{mode}: worst mean difference", max(r[mode]["mean"] for r in results), "<=", TARGET_MEAN,
                      kind="accuracy")
        report.target(f"{mode}: worst max difference", max(r[mode]["max"] for r in results), "<=", TARGET_MAX,
                      kind="accuracy")
    for mode in (m for m in modes if m != "tile"):
        ratios = [r[mode]["ratio"] for r in results]
        report.target(f"{mode}: time / per-tile, median of the styles", statistics.median(ratios), "<=",
                      TARGET_RATIO, "×")
        report.target(f"{mode}: time / per-tile, worst style", max(ratios), "<=", TARGET_RATIO, "×")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(f"# Seamless tiles\n\n`benchmarks/bench_tiles.py {' '.join(sys.argv[1:])}`\n\n"
                                 f"{common.markdown_table(headers, rows)}\n\n{note}\n")
    report.finish()


if __name__ == "__main__":
    main()
