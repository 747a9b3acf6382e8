"""Peak memory of stylize() on large images, each in a fresh process.

    .venv/bin/python benchmarks/bench_memory.py [--quick] [--json out.json]

For 1, 4 and 24 megapixel images (4:3) a fresh child process loads the untrained BN+SRM
network (saved to a model file, as the CLI loads one), makes the image, records its resident
memory high-water mark (VmHWM) so far, runs ``stylize()`` once with its defaults (tiling on:
``default_tile_pixels``, the device's default precision) and records VmHWM again. The table
shows both: "before" is Python + torch + the model + the input image; "peak" is the process's
whole high-water mark, which is what the < 4 GB target is about. Each size is measured with and
without ``keep_freed_memory()`` (the CLI, the app and training call it). For 1 and 4 MP the
reference network (whole image at once, fp32) is measured the same way for comparison.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGET_MB = 4096


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--megapixels", type=lambda s: [float(v) for v in s.split(",")],
                        help="image sizes in megapixels (default 1,4,24; quick 0.05,0.2)")
    parser.add_argument("--tile-pixels", type=int, help="stylize()'s tile_pixels (default: its own default; "
                                                        "quick: 256*256)")
    parser.add_argument("--precision", help="stylize()'s precision (default: the device's default)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.megapixels = args.megapixels or ([0.05, 0.2] if args.quick else [1, 4, 24])
    if args.quick and args.tile_pixels is None:
        args.tile_pixels = 256 * 256
    return args


def image_size(megapixels: float) -> tuple[int, int]:
    """A 4:3 image of about this many megapixels, sides multiples of 4."""
    height = round((megapixels * 1e6 * 3 / 4) ** 0.5 / 4) * 4
    return height * 4 // 3 // 4 * 4, height


def child(spec: dict) -> None:
    """One measurement in this fresh process; prints one JSON line."""
    if spec["keep_freed_memory"]:
        from styletransfer.core.device import keep_freed_memory
        keep_freed_memory()
    import torch
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    width, height = spec["width"], spec["height"]
    image = common.example_image(width, height)
    if spec["network"] == "reference":
        reference = common.load_reference(Path(spec["reference"]))
        torch.manual_seed(0)
        net = reference.ReferenceTransformerNet().eval().to(spec["device"])
        from styletransfer.core.images import image_to_tensor
        x = (image_to_tensor(image) * 255).to(spec["device"])
        before = common.peak_rss_mb()
        start = time.perf_counter()
        with torch.inference_mode():
            net(x)
    else:
        from styletransfer.inference.prepare import prepare_model
        from styletransfer.inference.stylize import stylize
        prepare_model(spec["model"], torch.device(spec["device"]))
        before = common.peak_rss_mb()
        start = time.perf_counter()
        stylize(spec["model"], image, device=spec["device"], precision=spec["precision"],
                tile_pixels=spec["tile_pixels"])
    seconds = time.perf_counter() - start
    result = {"before_mb": before, "peak_mb": common.peak_rss_mb(), "seconds": seconds}
    if spec["device"].startswith("cuda"):
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def measure(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    report = common.Report("bench_memory", args, {"threads": args.threads, "tile_pixels": args.tile_pixels,
                                                  "precision": args.precision or "device default"})
    have_reference = args.reference.is_file()
    if not have_reference:
        print(f"NOTE: reference {args.reference} not found: its rows are skipped", file=sys.stderr)
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        from styletransfer.modelfiles.format import save_model
        model = Path(tmp) / "untrained.safetensors"
        save_model(common.untrained_model("srm"), model, name="untrained")
        for megapixels in args.megapixels:
            width, height = image_size(megapixels)
            base = {"width": width, "height": height, "device": args.device, "threads": args.threads,
                    "model": str(model), "precision": args.precision, "tile_pixels": args.tile_pixels,
                    "reference": str(args.reference)}
            variants = [("stylize()", True), ("stylize()", False)]
            if have_reference and megapixels <= 4:
                variants.append(("reference", False))
            for network, keep in variants:
                result = measure({**base, "network": network, "keep_freed_memory": keep})
                label = network if network == "reference" else f"stylize(){' + keep_freed_memory' if keep else ''}"
                label += " (whole image, fp32)" if network == "reference" else ""
                results.append({"megapixels": width * height / 1e6, "width": width, "height": height,
                                "network": network, "keep_freed_memory": keep, **result})
                if "error" in result:
                    rows.append((round(width * height / 1e6, 2), f"{width}x{height}", label, None, None, None,
                                 f"failed: {result['error'][:120]}"))
                else:
                    rows.append((round(width * height / 1e6, 2), f"{width}x{height}", label, result["before_mb"],
                                 result["peak_mb"], result["seconds"], ""))
    report.data["results"]["memory"] = results
    report.table("Peak memory (RSS high-water mark of a fresh process)",
                 ["MP", "pixels", "run", "before MiB", "peak MiB", "s", "note"], rows,
                 "'before': the process after importing torch, loading the model and making the image; "
                 "'peak': its high-water mark after one stylize() call (tiled above the tile size).")
    largest = max(args.megapixels)
    candidates = [r for r in results if r["network"] == "stylize()" and r["keep_freed_memory"]
                  and abs(r["megapixels"] - largest) < 0.5 * largest and "peak_mb" in r]
    if candidates:
        peak = candidates[0]["peak_mb"]
        report.target(f"peak RSS at {candidates[0]['megapixels']:.1f} MP (stylize, as the CLI)",
                      peak, "<", TARGET_MB, " MiB", kind="memory")
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
