"""Shared code of the benchmarks: the reference in its own process, alternating timing,
machine description, markdown tables and JSON output.

The reference (``../shared/bench/reference.py``, never copied or changed) is timed in a child
process started with this file as its script (``python common.py reference-worker PATH``): it
imports only torch and the reference, keeps torch's default settings (threads, allocator) and
answers one JSON line per command on stdin. The parent times its own configurations between the
child's runs, so both share the machine's state at the same moments (ref, ours, ref, ours...).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_REFERENCE = REPO.parent / "shared" / "bench" / "reference.py"
EXAMPLES = REPO / "examples"


# ---------------------------------------------------------------- command line and output

def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                        help="the fixed baseline reference.py (default: ../shared/bench/reference.py "
                             "relative to the repo); missing: the ratio columns are skipped")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 1-2 repeats: checks that the script runs, not a measurement")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, ... (our side and the reference's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads for our side (default: torch's own choice); the "
                             "reference process always keeps torch's default")
    parser.add_argument("--no-keep-freed-memory", action="store_true",
                        help="do not call styletransfer.core.device.keep_freed_memory() in our process "
                             "(the CLI, the app and training call it)")


def setup_ours(args: argparse.Namespace) -> dict[str, Any]:
    """Process-level settings for our side, as the CLI and app set them; returns what was set."""
    from styletransfer.core.device import keep_freed_memory
    kept = False if args.no_keep_freed_memory else keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    return {"keep_freed_memory": kept, "threads": torch.get_num_threads()}


def machine_info(device: str = "cpu") -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "device": device,
            "torch_threads": torch.get_num_threads(),
            "cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    try:
        info["load_average"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def describe_machine(info: dict[str, Any]) -> str:
    text = (f"{info['cpu']}, {info['cores']} cores, torch {info['torch']} ({info['cpu_capability']}), "
            f"device {info['device']}")
    if "gpu" in info:
        text += f" ({info['gpu']})"
    if "load_average" in info:
        text += f", load average {info['load_average']:.2f} at start"
    return text


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "n/a"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


TARGET_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda value, threshold: value >= threshold, "<=": lambda value, threshold: value <= threshold,
    "<": lambda value, threshold: value < threshold, ">": lambda value, threshold: value > threshold,
}


class Report:
    """Tables, targets and raw results of one script; printed as markdown, written as JSON."""

    def __init__(self, script: str, args: argparse.Namespace, settings: dict[str, Any]):
        self.data: dict[str, Any] = {"script": script, "quick": args.quick, "machine": machine_info(args.device),
                                     "settings": settings, "tables": [], "targets": [], "results": {}}
        self.args = args

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "") -> None:
        self.data["tables"].append({"title": title, "headers": list(headers), "rows": [list(r) for r in rows],
                                    "note": note})
        print(f"\n### {title}\n\n{markdown_table(headers, rows)}")
        if note:
            print(f"\n{note}")
        sys.stdout.flush()

    def target(self, name: str, value: float | None, op: str, threshold: float, unit: str = "",
               kind: str = "speed") -> None:
        """A target: ``value op threshold`` (op one of TARGET_OPS), in ``unit``; ``kind`` is
        "speed" or "memory" (met only on a quiet machine of the named kind: never asserted in
        tests) or "accuracy" (a property of the code: tests assert it even with --quick).
        ``value`` None (no reference to compare with) leaves ``met`` None."""
        met = None if value is None else TARGET_OPS[op](value, threshold)
        self.data["targets"].append({
            "target": name, "goal": f"{op} {threshold:g}{unit}",
            "measured": None if value is None else f"{value:.3g}{unit}", "met": met,
            "value": value, "op": op, "threshold": threshold, "kind": kind})

    def finish(self) -> None:
        if self.data["targets"]:
            rows = [(t["target"], t["goal"], t["measured"], t["met"]) for t in self.data["targets"]]
            print(f"\n### Targets\n\n{markdown_table(['target', 'goal', 'measured', 'met'], rows)}")
        print(f"\nMachine: {describe_machine(self.data['machine'])}; ours: {self.data['settings']}")
        if self.args.quick:
            print("(--quick: tiny sizes and repeats; these numbers are not measurements)")
        if self.args.json:
            self.args.json.parent.mkdir(parents=True, exist_ok=True)
            self.args.json.write_text(json.dumps(self.data, indent=2, default=str))
            print(f"wrote {self.args.json}")


# ---------------------------------------------------------------- models and images

def untrained_model(attention: str = "srm", norm: str = "batch", seed: int = 0, **size: int):
    """A TransformerNet in eval mode with random but fixed weights (``size``: its ``width`` and
    ``residual_blocks``, see styletransfer.models.transformer.SIZES; default full).

    SRM's CFC weights (zero at init, which makes every gate a constant 0.5) are drawn at
    random, then every BatchNorm's running statistics are set from one batch of example
    photos, as training would leave them: activations keep a sane scale, the output is an
    image rather than a saturated 0/1 mask, and the SRM gates vary by channel and image.
    """
    from styletransfer.models.layers.attention import SRM
    from styletransfer.core.images import image_to_tensor
    from styletransfer.models.transformer import TransformerNet
    torch.manual_seed(seed)
    net = TransformerNet(norm, attention, **size)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, SRM):
                module.cfc.normal_(0.0, 1.0)
        if norm == "batch" or attention == "srm":
            norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
            for module in norms:
                module.reset_running_stats()
                module.momentum = None  # a plain average over the calibration batch
            photos = sorted(EXAMPLES.glob("*.jpg"))[:4]
            batch = torch.cat([image_to_tensor(example_image(128, 128, photo)) for photo in photos]) \
                if len(photos) >= 2 else torch.rand(4, 3, 128, 128)
            net.train()(batch)
            for module in norms:
                module.momentum = 0.1
    return net.eval()


def trained_model_path() -> Path | None:
    """The first styles/*.safetensors, if the repo holds one."""
    files = sorted((REPO / "styles").glob("*.safetensors"))
    return files[0] if files else None


def example_image(width: int, height: int, photo: Path | None = None):
    """An example photo (the first of examples/ by default) resized and cropped to exactly
    width×height, RGB."""
    from PIL import Image
    photos = sorted(EXAMPLES.glob("*.jpg"))
    if photo is None and not photos:
        return Image.effect_noise((width, height), 64).convert("RGB")
    image = Image.open(photo or photos[0]).convert("RGB")
    scale = max(width / image.width, height / image.height)
    image = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))),
                         Image.Resampling.BICUBIC)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ---------------------------------------------------------------- the reference in its own process

def load_reference(path: Path):
    """Import reference.py by path; None (with a message) when it is missing."""
    if not path.is_file():
        print(f"NOTE: reference {path} not found: the reference columns and ratios are skipped "
              f"(give --reference PATH)", file=sys.stderr)
        return None
    spec = importlib.util.spec_from_file_location("bench_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ReferenceProcess:
    """The reference network / train step in a child process with default settings.

    ``prepare(key, kind, **options)`` builds a callable there; ``time(key)`` runs it once and
    returns the seconds it took, measured in the child around the call alone.
    """

    def __init__(self, path: Path, device: str = "cpu"):
        self.path = path
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "reference-worker", str(path),
                                      device], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._call({"op": "info"})

    @classmethod
    def start(cls, path: Path, device: str = "cpu") -> ReferenceProcess | None:
        if not path.is_file():
            print(f"NOTE: reference {path} not found: the reference columns and ratios are skipped "
                  f"(give --reference PATH)", file=sys.stderr)
            return None
        return cls(path, device)

    def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the reference process ended (exit {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"reference process: {reply['error']}")
        return reply

    def prepare(self, key: str, kind: str, **options: Any) -> None:
        self._call({"op": "prepare", "key": key, "kind": kind, **options})

    def time(self, key: str) -> float:
        return self._call({"op": "time", "key": key})["seconds"]

    def drop(self, key: str) -> None:
        self._call({"op": "drop", "key": key})

    def peak_rss_mb(self) -> float:
        return self._call({"op": "rss"})["peak_rss_mb"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._call({"op": "quit"})
            except (RuntimeError, BrokenPipeError):
                pass
            self.proc.wait(timeout=60)

    def __enter__(self) -> ReferenceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def peak_rss_mb() -> float:
    """This process's resident-memory high-water mark (VmHWM) in MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _move_step_to(step: Callable, module: Any, device: str) -> None:
    """Move the tensors and modules a reference train step closes over onto ``device``
    (reference.py builds them on the CPU). Adam keeps the same Parameter objects."""
    for cell in step.__closure__ or ():
        value = cell.cell_contents
        if isinstance(value, torch.nn.Module):
            value.to(device)
        elif isinstance(value, torch.Tensor):
            cell.cell_contents = value.to(device)
        elif isinstance(value, dict) and all(isinstance(v, torch.Tensor) for v in value.values()):
            cell.cell_contents = {k: v.to(device) for k, v in value.items()}
    module._BGR_MEAN = module._BGR_MEAN.to(device)


def _reference_worker(path: str, device: str) -> None:
    module = load_reference(Path(path))
    out = sys.stdout
    sys.stdout = sys.stderr  # anything the reference prints must not break the protocol
    jobs: dict[str, Callable[[], Any]] = {}
    for line in sys.stdin:
        message = json.loads(line)
        try:
            op = message["op"]
            if op == "info":
                reply = {"threads": torch.get_num_threads(), "torch": torch.__version__}
            elif op == "prepare":
                if message["kind"] == "infer":
                    size = message["size"]
                    torch.manual_seed(0)
                    net = module.ReferenceTransformerNet().eval().to(device)
                    x = (torch.rand(1, 3, size, size) * 255).to(device)

                    def run(net=net, x=x):
                        with torch.inference_mode():
                            net(x)
                        synchronize(device)
                    jobs[message["key"]] = run
                elif message["kind"] == "train":
                    step = module.make_reference_train_step(message["batch"], message["size"])
                    if device != "cpu":
                        _move_step_to(step, module, device)

                    def run(step=step):
                        step()
                        synchronize(device)
                    jobs[message["key"]] = run
                else:
                    raise ValueError(f"unknown kind {message['kind']}")
                reply = {}
            elif op == "time":
                fn = jobs[message["key"]]
                start = time.perf_counter()
                fn()
                reply = {"seconds": time.perf_counter() - start}
            elif op == "drop":
                jobs.pop(message["key"], None)
                reply = {}
            elif op == "rss":
                reply = {"peak_rss_mb": peak_rss_mb()}
            elif op == "quit":
                out.write("{}\n")
                out.flush()
                return
            else:
                raise ValueError(f"unknown op {op}")
        except Exception as error:  # reported to the parent, which raises it
            reply = {"error": f"{type(error).__name__}: {error}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


# ---------------------------------------------------------------- alternating timing

def alternate(candidates: dict[str, Callable[[], float]], repeats: int, warmup: int = 1) -> dict[str, dict[str, Any]]:
    """Run every candidate once per round, in turn, for ``warmup`` untimed and ``repeats``
    timed rounds. Each candidate returns the seconds of its own run (ours: measured around the
    call; the reference: measured in its process). Returns name → {median, times}."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            times[name].append(fn())
    return {name: {"median": statistics.median(ts), "times": ts} for name, ts in times.items()}


def timed(fn: Callable[[], Any], device: str = "cpu") -> Callable[[], float]:
    """A candidate for :func:`alternate`: runs ``fn`` and returns its seconds."""
    def run() -> float:
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        return time.perf_counter() - start
    return run


def ratio(reference: float | None, ours: float | None) -> float | None:
    """Speed-up of ours over the reference (reference seconds / our seconds)."""
    if reference is None or ours is None or ours <= 0:
        return None
    return reference / ours


def run_script_json(script: str, extra: Sequence[str], json_path: Path) -> dict[str, Any]:
    """Run another benchmark script (its output passes through) and read its JSON."""
    subprocess.run([sys.executable, str(BENCH_DIR / script), *extra, "--json", str(json_path)], check=True)
    return json.loads(json_path.read_text())


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "reference-worker":
        _reference_worker(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: common.py reference-worker PATH DEVICE (started by the benchmarks)")
