"""Inference speed: stylize() against the reference network, bf16 vs fp32 difference, SRM's
cost, and what torch.compile buys.

    .venv/bin/python benchmarks/bench_inference.py [--quick] [--json out.json]

Tables:
1. seconds and megapixels/s per image at 256, 512, 1024, 2048 px for the reference network
   (its own process, default settings, fp32, a 0..255 tensor in, no conversions) and for
   ``stylize()`` (a Pillow image in and out, so conversions and tiling are included) in every
   precision and memory format that applies to the device, timed in alternating rounds;
   speed-up = reference seconds / ours.
2. bf16 vs fp32: mean and max absolute difference of the output, in 0..255 units.
3. SRM's cost at 512 px: the bare network with BN only, BN+SRM folded (what stylize runs) and
   BN+SRM unfolded (eval), in alternating rounds.
4. Time outside the network: per stylize() call at 512² and 1920×1080, what is not spent in the
   network's modules (forward hooks time them).
5. torch.compile: compile time, seconds per image compiled vs eager, and after how many
   images of one size the compile time is paid back (each new image size compiles again).
6. The border margin's cost: ``stylize()`` at 4:3 sizes with a reflected margin of 0, 32 and 48 px
   (what some model files record, styletransfer.inference.margin), in alternating rounds.

The network is an untrained BN+SRM TransformerNet (seeded weights, SRM gates perturbed so
they are not all 0.5), saved to a temporary model file and passed to stylize() by path, as the
CLI and the app do (loaded, folded and cached once).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from styletransfer.models.layers.attention import fold_attention  # noqa: E402
from styletransfer.core.device import autocast, pick_device, pick_precision, precision_name  # noqa: E402
from styletransfer.core.images import image_to_tensor  # noqa: E402
from styletransfer.modelfiles.format import save_model  # noqa: E402
from styletransfer.inference.prepare import inference_memory_format, network_input, prepare_model
from styletransfer.inference.stylize import stylize  # noqa: E402
from styletransfer.inference.tiling import default_tile_pixels  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")],
                        help="image sides in px (default 256,512,1024,2048; quick 64,128)")
    parser.add_argument("--repeats", type=int, help="timed rounds (default 5, halved above 1024 px; quick 1)")
    parser.add_argument("--precisions", help="comma list of fp32,bf16,fp16 (default: those that apply)")
    parser.add_argument("--formats", default="contiguous,channels_last",
                        help="memory formats of the weights (default contiguous,channels_last)")
    parser.add_argument("--srm-size", type=int, help="image side of the SRM table (default 512; quick 64)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile table")
    parser.add_argument("--tables", default="speed,difference,srm,outside,compile,margin",
                        help="which tables to make (default speed,difference,srm,outside,compile,margin)")
    parser.add_argument("--margin-sizes", type=lambda s: [int(v) for v in s.split(",")],
                        help="longer sides (4:3 images) of the margin table (default 384,512,1024; quick 96)")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or ([64, 128] if args.quick else [256, 512, 1024, 2048])
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.srm_size = args.srm_size or (64 if args.quick else 512)
    args.margin_sizes = args.margin_sizes or ([96] if args.quick else [384, 512, 1024])
    return args


def default_precisions(device: torch.device) -> list[str]:
    return ["fp32", "bf16", "fp16"] if device.type == "cuda" else ["fp32", "bf16"]


def speed_table(report, args, device, model_paths, reference) -> None:
    precisions = args.precisions.split(",") if args.precisions else default_precisions(device)
    formats = args.formats.split(",")
    default = precision_name(pick_precision(device))
    default_format = "channels_last" if inference_memory_format(device) == torch.channels_last else "contiguous"
    rows, results = [], []
    for size in args.sizes:
        image = common.example_image(size, size)
        megapixels = size * size / 1e6
        candidates = {}
        if reference is not None:
            reference.prepare(f"infer{size}", "infer", size=size)
            candidates["reference"] = lambda size=size: reference.time(f"infer{size}")
        for fmt in formats:
            for precision in precisions:
                path = model_paths[fmt]
                candidates[f"{precision}/{fmt}"] = common.timed(
                    lambda path=path, precision=precision: stylize(path, image, device=device, precision=precision),
                    device.type)
        repeats = args.repeats if size <= 1024 else max(1, (args.repeats + 1) // 2)
        timings = common.alternate(candidates, repeats)
        if reference is not None:
            reference.drop(f"infer{size}")
        ref_s = timings.get("reference", {}).get("median")
        if ref_s is not None:
            rows.append((size, "reference (fp32, eager, IN)", "contiguous", "", ref_s, megapixels / ref_s, ref_s,
                         megapixels / ref_s, 1.0))
        for name, timing in timings.items():
            if name == "reference":
                continue
            precision, fmt = name.split("/")
            ours = timing["median"]
            is_default = precision == default and fmt == default_format
            rows.append((size, f"stylize() {precision}", fmt, is_default, ours, megapixels / ours, ref_s,
                         None if ref_s is None else megapixels / ref_s, common.ratio(ref_s, ours)))
            results.append({"size": size, "precision": precision, "format": fmt, "default": is_default,
                            "seconds": ours, "times": timing["times"], "reference_seconds": ref_s,
                            "speedup": common.ratio(ref_s, ours)})
    report.data["results"]["inference"] = results
    report.table("Inference: stylize() vs the reference network",
                 ["px", "network", "memory format", "default", "ours s", "ours MP/s", "ref s", "ref MP/s",
                  "speed-up"], rows,
                 f"Median of {args.repeats} alternating rounds (ref, ours, ref, ours...), the reference in its "
                 f"own process with default settings. 'default' marks what stylize() picks on this device "
                 f"({default}, {default_format}). Images above "
                 f"{default_tile_pixels(torch.device('cpu'), 2048 ** 2) / 1e6:.1f} MP are tiled on this CPU (default_tile_pixels).")
    at_512 = [r for r in results if r["size"] == 512 and r["default"]]
    if at_512:
        speedup = at_512[0]["speedup"]
        report.target("stylize() 512 px speed-up over the reference", speedup, ">=", 4, "x")


def difference_table(report, args, device, model_path) -> None:
    size = 128 if args.quick else 512
    image = common.example_image(size, size)
    models = [("untrained BN+SRM (seeded)", model_path)]
    trained = common.trained_model_path()
    if trained is not None:
        models.append((f"trained {trained.name}", trained))
    rows, results = [], []
    lower = "fp16" if device.type == "cuda" else "bf16"
    precisions = ["bf16", "fp16"] if device.type == "cuda" else ["bf16"]
    for label, path in models:
        reference = np.asarray(stylize(path, image, device=device, precision="fp32"), dtype=np.float64)
        for precision in precisions:
            other = np.asarray(stylize(path, image, device=device, precision=precision), dtype=np.float64)
            diff = np.abs(other - reference)
            rows.append((label, size, f"{precision} vs fp32", float(diff.mean()), float(diff.max()),
                         float((diff > 8).mean() * 100)))
            results.append({"model": label, "size": size, "precision": precision, "mean_abs": float(diff.mean()),
                            "max_abs": float(diff.max())})
    report.data["results"]["difference"] = results
    report.table("Visual difference of reduced precision (output in 0..255 units)",
                 ["model", "px", "compared", "mean abs diff", "max abs diff", "% pixels > 8"], rows,
                 "No trained model in styles/*.safetensors: measured on the untrained network only."
                 if trained is None else "")
    chosen = results[-1] if trained is not None else results[0]
    chosen = next(r for r in results if r["model"] == chosen["model"] and r["precision"] == lower)
    report.target(f"{lower} vs fp32 mean abs diff, 0..255 ({chosen['model']})", chosen["mean_abs"], "<", 2,
                  kind="accuracy")


def srm_table(report, args, device) -> None:
    size = args.srm_size
    x = image_to_tensor(common.example_image(size, size)).to(device)
    srm = common.untrained_model("srm")
    networks = {"BN": common.untrained_model("none").to(device),
                "BN+SRM folded": fold_attention(srm).to(device),
                "BN+SRM unfolded (eval)": srm.to(device)}
    default = pick_precision(device)
    dtypes = [default] if default == torch.float32 else [default, torch.float32]
    rows, results = [], []
    for dtype in dtypes:
        def forward(net, dtype=dtype):
            with torch.inference_mode(), autocast(device, dtype):
                net(x)
        candidates = {name: common.timed(lambda net=net: forward(net), device.type) for name, net in networks.items()}
        timings = common.alternate(candidates, args.repeats * 2 + 1)
        base = timings["BN"]["median"]
        for name, timing in timings.items():
            overhead = (timing["median"] / base - 1) * 100
            rows.append((precision_name(dtype), name, timing["median"], overhead))
            results.append({"precision": precision_name(dtype), "network": name, "seconds": timing["median"],
                            "overhead_percent": overhead})
    report.data["results"]["srm"] = results
    report.table(f"SRM's cost: the bare network at {size} px",
                 ["precision", "network", "s", "over BN %"], rows,
                 f"Median of {args.repeats * 2 + 1} alternating rounds, one (1, 3, {size}, {size}) image, inference mode.")
    folded = next(r for r in results if r["network"] == "BN+SRM folded" and r["precision"] == precision_name(default))
    report.target(f"folded SRM overhead over BN at {size} px ({precision_name(default)})",
                  folded["overhead_percent"], "<=", 3 if device.type == "cpu" else 5, " %")


class NetworkClock:
    """Seconds spent inside a network's modules, from forward hooks on every module that count
    only the outermost call (a module inside another adds nothing). Whatever ``stylize()`` does
    between those calls (image to tensor, dtype and layout conversions, the NaN check, rounding
    to uint8, tile blending, back to an image) is the time outside the network. On CUDA the
    clock synchronizes at the outermost calls' edges, so queued work is counted where it runs."""

    def __init__(self, net: torch.nn.Module, device: torch.device):
        self.device, self.depth, self.started, self.seconds = device, 0, 0.0, 0.0
        self.handles = []
        # Plain functions, not bound methods: a deep copy of the network (tiles in step run on
        # one) shares functions but would copy a bound method's object, and with it the clock.
        clock = self

        def enter(*_):
            if clock.depth == 0:
                common.synchronize(clock.device.type)
                clock.started = time.perf_counter()
            clock.depth += 1

        def leave(*_):
            clock.depth -= 1
            if clock.depth == 0:
                common.synchronize(clock.device.type)
                clock.seconds += time.perf_counter() - clock.started

        for module in net.modules():
            self.handles.append(module.register_forward_pre_hook(enter))
            self.handles.append(module.register_forward_hook(leave))

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def outside_table(report, args, device, model_path) -> None:
    """Time per stylize() call spent outside the network, at 512² and 1920×1080 (untiled, and
    in 1024² tiles: the CPU's default tiles, for images above 2048² or machines under 8 GiB), with the default
    precision."""
    dtype = pick_precision(device)
    net = prepare_model(model_path, device, dtype)  # the cached object stylize() will run
    cases = [(64, 64, "one pass")] if args.quick else [(512, 512, "one pass"), (1920, 1080, "one pass"),
                                                        (1920, 1080, "1024² tiles")]
    rows, results = [], []
    clock = NetworkClock(net, device)
    try:
        for width, height, mode in cases:
            image = common.example_image(width, height)
            tile_pixels = width * height if mode == "one pass" else 1024 * 1024
            run = lambda: stylize(model_path, image, device=device, tile_pixels=tile_pixels)  # noqa: E731
            run()  # warm-up
            totals, outside = [], []
            for _ in range(args.repeats * 2 + 1):
                clock.seconds = 0.0
                common.synchronize(device.type)
                start = time.perf_counter()
                run()
                common.synchronize(device.type)
                total = time.perf_counter() - start
                totals.append(total)
                outside.append(total - clock.seconds)
            total_s, outside_s = float(np.median(totals)), float(np.median(outside))
            rows.append((f"{width}×{height}", mode, total_s, outside_s * 1000, min(outside) * 1000,
                         outside_s / total_s * 100))
            results.append({"width": width, "height": height, "mode": mode, "seconds": total_s,
                            "outside_ms": outside_s * 1000, "outside_ms_min": min(outside) * 1000})
    finally:
        clock.close()
    report.data["results"]["outside"] = results
    report.table(f"Time per stylize() call outside the network ({precision_name(dtype)})",
                 ["image", "network", "stylize() s", "outside ms (median)", "outside ms (min)", "outside %"], rows,
                 f"Median of {args.repeats * 2 + 1} calls; the network's time comes from forward hooks on "
                 f"its modules (outermost calls only), the rest is stylize()'s own work: a Pillow image "
                 f"in, conversions, checks, tile blending, a Pillow image out. 'one pass': tile_pixels "
                 f"set to the image's area.")
    for result in results:
        if result["mode"] == "one pass" and not args.quick:
            report.target(f"time outside the network per call, {result['width']}×{result['height']}",
                          result["outside_ms"], "<=", 5, " ms")


def compile_table(report, args, device, model_path) -> None:
    import time
    size = 64 if args.quick else 512
    dtype = pick_precision(device)
    net = prepare_model(model_path, device, dtype)  # as stylize() runs it: folded, cast, its memory format
    x = network_input(net, image_to_tensor(common.example_image(size, size)), device)

    def runner(module):
        def run():
            with torch.inference_mode():
                module(x)
        return run

    try:
        compiled = torch.compile(net)
        common.synchronize(device.type)
        start = time.perf_counter()
        runner(compiled)()
        common.synchronize(device.type)
        first = time.perf_counter() - start
    except Exception as error:  # no compiler, unsupported platform...
        report.table("torch.compile", ["result"], [(f"failed: {type(error).__name__}: {str(error)[:200]}",)])
        return
    timings = common.alternate({"eager": common.timed(runner(net), device.type),
                                "compiled": common.timed(runner(compiled), device.type)}, args.repeats * 2 + 1)
    eager, fast = timings["eager"]["median"], timings["compiled"]["median"]
    compile_s = max(0.0, first - fast)
    gain = eager - fast
    pays_after = compile_s / gain if gain > 0 else None
    report.data["results"]["compile"] = {"size": size, "precision": precision_name(dtype), "compile_seconds": compile_s,
                                         "eager_seconds": eager, "compiled_seconds": fast,
                                         "pays_after_images": pays_after}
    report.table(f"torch.compile of the folded network at {size} px ({precision_name(dtype)})",
                 ["compile s", "eager s/image", "compiled s/image", "speed-up", "pays back after (images)"],
                 [(compile_s, eager, fast, eager / fast, "never" if pays_after is None else f"{pays_after:.0f}")],
                 "Compile time = first compiled call minus a steady one. Each new image size recompiles "
                 "(or goes dynamic), so it pays only for many images of one size (video frames, a server "
                 "with a fixed size); stylize() does not compile.")


MARGINS = (0, 32, 48)


def margin_table(report, args, device, model_path) -> None:
    """stylize() with each of :data:`MARGINS`, alternating, per 4:3 size."""
    rows, results = [], []
    for width in args.margin_sizes:
        height = width * 3 // 4
        image = common.example_image(width, height)
        candidates = {margin: common.timed(lambda margin=margin: stylize(model_path, image, device=device,
                                                                           margin=margin), device.type)
                      for margin in MARGINS}
        timings = common.alternate(candidates, args.repeats * 2 + 1)
        base = timings[0]["median"]
        for margin, timing in timings.items():
            pixels = (width + 2 * margin) * (height + 2 * margin) / (width * height)
            rows.append((f"{width}x{height}", margin, timing["median"], timing["median"] / base, pixels))
            results.append({"width": width, "height": height, "margin": margin, "seconds": timing["median"],
                            "time_ratio": timing["median"] / base, "pixel_ratio": pixels})
    report.data["results"]["margin"] = results
    report.table("The border margin's cost: stylize() with a reflected margin",
                 ["image", "margin px", "s", "× no margin", "pixels ×"], rows,
                 f"Median of {args.repeats * 2 + 1} alternating rounds per size, the default precision; "
                 "the margin is mirrored around the image, run through the network and cropped off.")


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = common.setup_ours(args)
    device = pick_device(args.device)
    report = common.Report("bench_inference", args, settings)
    with tempfile.TemporaryDirectory(prefix="bench_inference_") as tmp:
        net = common.untrained_model("srm")
        model_paths = {}
        for fmt in args.formats.split(","):
            path = Path(tmp) / f"untrained_{fmt}.safetensors"
            save_model(net, path, name=f"untrained-{fmt}")
            model_paths[fmt] = path
            if fmt not in ("contiguous", "channels_last"):
                raise SystemExit(f"unknown memory format {fmt}")
            memory_format = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
            for dtype in (torch.float32, torch.bfloat16, torch.float16):
                # loaded, folded and cached as the CLI does; the cached network itself is converted
                prepare_model(path, device, dtype).to(memory_format=memory_format)
        tables = args.tables.split(",")
        if "speed" in tables:
            reference = common.ReferenceProcess.start(args.reference, args.device)
            try:
                speed_table(report, args, device, model_paths, reference)
            finally:
                if reference is not None:
                    report.data["settings"]["reference_threads"] = reference.info["threads"]
                    reference.close()
        if "difference" in tables:
            difference_table(report, args, device, model_paths["contiguous" if "contiguous" in model_paths
                                                                 else next(iter(model_paths))])
        if "srm" in tables:
            srm_table(report, args, device)
        if "outside" in tables:
            outside_table(report, args, device, model_paths["channels_last" if "channels_last" in model_paths
                                                              else next(iter(model_paths))])
        if "compile" in tables and not args.no_compile:
            compile_table(report, args, device, next(iter(model_paths.values())))
        if "margin" in tables:
            margin_table(report, args, device, model_paths["channels_last" if "channels_last" in model_paths
                                                             else next(iter(model_paths))])
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
