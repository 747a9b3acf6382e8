"""Reflection padding's cost: the kernel or the fresh tensor it allocates (page faults)?
And what the reused-buffer padding of styletransfer.models.layers.padding buys in stylize().

    .venv/bin/python benchmarks/bench_padding.py [--size 512] [--quick] [--json out.json]

Tables:
1. Each padding layer of the full network at ``--size`` px (as stylize() runs it: the
   device's default precision, channels-last), alone: torch's ops into a fresh tensor
   (``[F.interpolate →] F.pad``, what the layers did before), ``reflection_pad`` into a fresh
   tensor, ``reflection_pad`` into a reused buffer, and ``clone()`` of the padded tensor (a
   plain copy into a fresh tensor): fastest of the alternating rounds, page faults and system
   CPU time per call.
2. ``stylize()`` of the full network at ``--size`` px and of the slim one at ``--slim-sizes``,
   with the reused-buffer padding on and off (off: the layers one by one, torch's padding), in
   alternating rounds: median seconds and page faults per call.

Our process calls keep_freed_memory() as the CLI does, unless --no-keep-freed-memory.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from styletransfer.models.layers import padding  # noqa: E402
from styletransfer.core.device import pick_device, pick_precision, precision_name  # noqa: E402
from styletransfer.modelfiles.format import save_model  # noqa: E402
from styletransfer.models.transformer import SIZES  # noqa: E402
from styletransfer.inference.stylize import stylize  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--size", type=int, help="image side for both tables (default 512; quick 64)")
    parser.add_argument("--slim-sizes", help="comma list of image sides for the slim network (default 512,1024; "
                                             "quick 64)")
    parser.add_argument("--repeats", type=int, help="timed rounds (default 7; quick 1)")
    args = parser.parse_args(argv)
    args.size = args.size or (64 if args.quick else 512)
    args.slim_sizes = [int(s) for s in (args.slim_sizes or ("64" if args.quick else "512,1024")).split(",")]
    args.repeats = args.repeats or (1 if args.quick else 7)
    return args


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _system_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def measured(fn):
    """A candidate for common.alternate that also records page faults and system time per call."""
    record = {"faults": [], "system": []}

    def run() -> float:
        faults, system = _faults(), _system_seconds()
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
        record["faults"].append(_faults() - faults)
        record["system"].append(_system_seconds() - system)
        return seconds
    run.record = record
    return run


def pad_layers(size: int, width: int = 32) -> list[tuple[str, tuple[int, int, int], int, int]]:
    """(name, (C, H, W) of the layer's input, pad, upsample factor) of every padding layer."""
    c1, c2, c4, half, quarter = width, 2 * width, 4 * width, (size + 1) // 2, (size + 3) // 4
    return [("down 9×9", (3, size, size), 4, 1), ("down 3×3 s2", (c1, size, size), 1, 1),
            ("down 3×3 s2 (2)", (c2, half, half), 1, 1), ("residual 3×3 (×10)", (c4, quarter, quarter), 1, 1),
            ("up 2× + 3×3", (c4, quarter, quarter), 1, 2), ("up 2× + 3×3 (2)", (c2, half, half), 1, 2),
            ("head 9×9", (c1, size, size), 4, 1)]


def kernel_table(report, args, dtype) -> None:
    rows, results = [], []
    for name, (c, h, w), pad, scale in pad_layers(args.size):
        x = torch.rand(1, c, h, w).to(dtype).contiguous(memory_format=torch.channels_last)
        pads = (pad,) * 4
        shape = padding.padded_shape(x.shape, pads, scale)
        buffer = torch.empty(shape, dtype=dtype).contiguous(memory_format=torch.channels_last)
        padded = padding.reflection_pad(x, pads, scale=scale)

        def torch_ops(x=x, pads=pads, scale=scale):
            return F.pad(F.interpolate(x, scale_factor=scale, mode="nearest") if scale > 1 else x, pads,
                         mode="reflect")
        candidates = {"torch ops, fresh tensor": measured(torch_ops),
                      "reflection_pad, fresh tensor": measured(lambda x=x, p=pads, s=scale:
                                                               padding.reflection_pad(x, p, scale=s)),
                      "reflection_pad, reused buffer": measured(lambda x=x, p=pads, s=scale, b=buffer:
                                                                padding.reflection_pad(x, p, scale=s, out=b)),
                      "clone() of the padded tensor": measured(padded.clone)}
        with torch.inference_mode():
            timings = common.alternate(candidates, args.repeats * 3)
        megabytes = padded.numel() * padded.element_size() / 1e6
        for method, timing in timings.items():
            record = candidates[method].record
            faults = sorted(record["faults"])[len(record["faults"]) // 2]
            system_ms = sorted(record["system"])[len(record["system"]) // 2] * 1e3
            best_ms = min(timing["times"]) * 1e3
            rows.append((name, f"{c}×{h}×{w}", f"{megabytes:.1f}", method, best_ms, faults, system_ms))
            results.append({"layer": name, "input": [c, h, w], "pad": pad, "scale": scale, "megabytes": megabytes,
                            "method": method, "best_ms": best_ms, "faults": faults, "system_ms": system_ms})
    report.data["results"]["layers"] = results
    report.table(f"Padding layers of the full network at {args.size} px, alone ({precision_name(dtype)}, "
                 "channels-last)",
                 ["layer", "input C×H×W", "padded MB", "method", "best ms", "page faults/call", "system ms/call"],
                 rows, f"Fastest of {args.repeats * 3} alternating rounds; page faults and system CPU time per call "
                       "are medians. 'torch ops' is F.pad (after F.interpolate for the up layers), what the "
                       "layers ran before.")


def stylize_table(report, args, device) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench_padding_"))
    fast_path = padding.uses_fast_path
    rows, results = [], []
    runs = [("full", args.size)] + [("slim", side) for side in args.slim_sizes]
    for network, side in runs:
        path = folder / f"{network}.safetensors"
        if not path.exists():
            save_model(common.untrained_model(**SIZES[network]), path)
        image = common.example_image(side, side)

        def run(on: bool, path=path, image=image) -> None:
            padding.uses_fast_path = fast_path if on else (lambda x: False)
            try:
                stylize(path, image, device=device)
            finally:
                padding.uses_fast_path = fast_path
        candidates = {"torch padding (before)": measured(lambda: run(False)),
                      "reused buffer (after)": measured(lambda: run(True))}
        timings = common.alternate(candidates, args.repeats)
        before = timings["torch padding (before)"]["median"]
        for method, timing in timings.items():
            faults = sorted(candidates[method].record["faults"])[args.repeats // 2]
            rows.append((network, f"{side}²", method, timing["median"], faults, before / timing["median"]))
            results.append({"network": network, "size": side, "method": method, "seconds": timing["median"],
                            "times": timing["times"], "faults": faults, "speedup": before / timing["median"]})
    report.data["results"]["stylize"] = results
    report.table("stylize() with the reused-buffer padding off and on",
                 ["network", "size", "padding", "median s", "page faults/call", "speed-up"], rows,
                 f"Median of {args.repeats} alternating rounds (off, on, off, on...); default precision and "
                 f"memory format; keep_freed_memory {'on' if report.data['settings']['keep_freed_memory'] else 'off'}.")


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = common.setup_ours(args)
    device = pick_device(args.device)
    report = common.Report("bench_padding", args, settings)
    if device.type == "cpu":
        kernel_table(report, args, pick_precision(device))
    stylize_table(report, args, device)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
