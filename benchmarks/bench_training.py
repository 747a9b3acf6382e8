"""Training speed: one step of ours vs the reference step, loss agreement of the fast
settings with fp32, and images/s of a short real train() run.

    .venv/bin/python benchmarks/bench_training.py [--quick] [--json out.json]

Tables:
1. One optimizer step at batch 4, 256 px: the project's own step
   (:func:`styletransfer.training.trainer.training_step`, which the Trainer runs: BN+SRM network, VGG19
   perceptual loss, autocast in the device's default precision, keep_freed_memory in this
   process) in the default precision and in fp32, against ``make_reference_train_step()`` in its
   own process with default settings; alternating rounds, median seconds, speed-up.
2. Loss agreement: the same seeded network trained for 30 steps on the same batches (random
   crops of examples/) with the fast settings and in fp32; relative difference of the mean
   total loss over the last 10 steps.
3. A real ``train()`` run on examples/ for a few dozen steps in a temporary run folder:
   images/s as the trainer reports it, and the wall time including start-up.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from styletransfer.core.device import pick_device, pick_precision  # noqa: E402
from styletransfer.losses.perceptual import PerceptualLoss  # noqa: E402
from styletransfer.models.transformer import TransformerNet  # noqa: E402
from styletransfer.training.trainer import make_grad_scaler, training_step  # noqa: E402
from styletransfer.training import (DEFAULT_CONTENT_WEIGHT, DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT,  # noqa: E402
                                    TrainingConfig, train)

NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
LOSS_TOLERANCE = 0.05


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, help="crop side in px (default 256; quick 64)")
    parser.add_argument("--repeats", type=int, help="timed rounds of the step (default 5; quick 1)")
    parser.add_argument("--loss-steps", type=int, help="steps of the loss agreement runs (default 30; quick 4)")
    parser.add_argument("--train-steps", type=int, help="steps of the real train() run (default 24; quick 2)")
    args = parser.parse_args(argv)
    args.size = args.size or (64 if args.quick else 256)
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.loss_steps = args.loss_steps or (4 if args.quick else 30)
    args.train_steps = args.train_steps or (2 if args.quick else 24)
    return args


class OurStep:
    """The project's training step on a fixed network, loss and optimizer, as Trainer builds them."""

    def __init__(self, device: torch.device, dtype: torch.dtype, size: int, seed: int = 0):
        self.device, self.dtype = device, dtype
        self.channels_last = device.type == "cuda"  # as Trainer
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        torch.manual_seed(seed)
        self.net = TransformerNet("batch", "srm").to(device, memory_format=memory_format)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.scaler = make_grad_scaler(device, dtype)
        style = common.example_image(size, size, sorted(common.EXAMPLES.glob("*.jpg"))[-1])
        from styletransfer.core.images import image_to_tensor
        self.loss_fn = PerceptualLoss(image_to_tensor(style), content_weight=DEFAULT_CONTENT_WEIGHT,
                                      style_weight=DEFAULT_STYLE_WEIGHT,
                                      tv_weight=DEFAULT_TV_WEIGHT).to(device, memory_format=memory_format)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return training_step(self.net, self.loss_fn, self.optimizer, self.scaler, images, device=self.device,
                             dtype=self.dtype, channels_last=self.channels_last)


def photo_batches(count: int, batch: int, size: int, seed: int = 0) -> list[torch.Tensor]:
    """``count`` batches of seeded random crops of the example photos, RGB 0..1."""
    from styletransfer.core.images import image_to_tensor
    generator = torch.Generator().manual_seed(seed)
    photos = [common.example_image(2 * size, 2 * size, p) for p in sorted(common.EXAMPLES.glob("*.jpg"))]
    batches = []
    for _ in range(count):
        crops = []
        for _ in range(batch):
            photo = photos[torch.randint(len(photos), (1,), generator=generator).item()]
            left, top = (torch.randint(size + 1, (2,), generator=generator)).tolist()
            crops.append(image_to_tensor(photo.crop((left, top, left + size, top + size))))
        batches.append(torch.cat(crops))
    return batches


def step_table(report, args, device, fast) -> None:
    images = photo_batches(1, args.batch, args.size)[0]
    ours = {NAMES[dtype]: OurStep(device, dtype, args.size) for dtype in dict.fromkeys([fast, torch.float32])}
    candidates = {}
    reference = common.ReferenceProcess.start(args.reference, args.device)
    try:
        if reference is not None:
            reference.prepare("train", "train", batch=args.batch, size=args.size)
            candidates["reference"] = lambda: reference.time("train")
        for name, step in ours.items():
            candidates[name] = common.timed(lambda step=step: step(images).tolist(), device.type)
        timings = common.alternate(candidates, args.repeats)
    finally:
        if reference is not None:
            reference.close()
    ref_s = timings.get("reference", {}).get("median")
    rows, results = [], []
    if ref_s is not None:
        rows.append(("reference (fp32, IN, eager)", ref_s, args.batch / ref_s, 1.0))
    for name in ours:
        seconds = timings[name]["median"]
        speedup = common.ratio(ref_s, seconds)
        rows.append((f"ours {name}" + (" (default)" if name == NAMES[fast] else ""), seconds, args.batch / seconds,
                     speedup))
        results.append({"precision": name, "default": name == NAMES[fast], "seconds": seconds,
                        "times": timings[name]["times"], "reference_seconds": ref_s, "speedup": speedup})
    report.data["results"]["step"] = results
    report.table(f"One training step, batch {args.batch}, {args.size} px",
                 ["step", "s", "images/s", "speed-up"], rows,
                 f"Median of {args.repeats} alternating rounds (after one untimed round), the reference in its own "
                 f"process with default settings. Ours: BN+SRM network, styletransfer.training.trainer.training_step.")
    default = next(r for r in results if r["default"])
    report.target(f"training step b{args.batch} {args.size} px speed-up over the reference", default["speedup"],
                  ">=", 2, "x")


def loss_table(report, args, device, fast) -> None:
    batches = photo_batches(args.loss_steps, args.batch, args.size, seed=1)
    last = max(1, min(10, args.loss_steps // 3))
    curves = {}
    for dtype in dict.fromkeys([torch.float32, fast]):
        step = OurStep(device, dtype, args.size, seed=0)
        curves[NAMES[dtype]] = [float(step(images).sum()) for images in batches]
    means = {name: statistics.fmean(curve[-last:]) for name, curve in curves.items()}
    rows, fp32 = [], means["fp32"]
    for name, mean in means.items():
        rows.append((name, curves[name][0], mean, (mean / fp32 - 1) * 100))
    difference = abs(means[NAMES[fast]] / fp32 - 1)
    report.data["results"]["loss"] = {"curves": curves, "last_steps": last, "means": means,
                                      "relative_difference": difference}
    report.table(f"Loss agreement over {args.loss_steps} steps (batch {args.batch}, {args.size} px, same batches)",
                 ["precision", "first loss", f"mean loss, last {last}", "vs fp32 %"], rows,
                 "Total loss (content + style + tv) of the same seeded network on the same crops of examples/.")
    report.target(f"{NAMES[fast]} loss vs fp32, relative (mean of last {last} of {args.loss_steps} steps)",
                  difference, "<=", LOSS_TOLERANCE, kind="accuracy")


def train_table(report, args, device) -> None:
    photos = sorted(common.EXAMPLES.glob("*.jpg"))
    with tempfile.TemporaryDirectory(prefix="bench_training_") as tmp:
        config = TrainingConfig(style=str(photos[-1]), out_dir=str(Path(tmp) / "run"), images=str(common.EXAMPLES),
                                steps=args.train_steps, batch_size=args.batch, image_size=args.size,
                                style_size=args.size * 2, device=args.device, val_images=0,
                                checkpoint_every=0, val_every=0, preview_every=0)
        start = time.perf_counter()
        result = train(config)
        wall = time.perf_counter() - start
    report.data["results"]["train"] = {"steps": result.step, "images_per_second": result.images_per_second,
                                       "wall_seconds": wall}
    report.table(f"A real train() run: {result.step} steps on examples/ (batch {args.batch}, {args.size} px)",
                 ["steps", "images/s (trainer)", "wall s incl. start-up and saving"],
                 [(result.step, result.images_per_second, wall)],
                 "Includes data loading (workers as train() picks them) and the per-step bookkeeping.")


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = common.setup_ours(args)
    device = pick_device(args.device)
    fast = pick_precision(device, training=True)
    settings["precision"] = NAMES[fast]
    report = common.Report("bench_training", args, settings)
    step_table(report, args, device, fast)
    loss_table(report, args, device, fast)
    train_table(report, args, device)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
