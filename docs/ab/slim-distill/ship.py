"""Ship a distilled slim twin from its run folder into styles/ as int8 (the painting already
there, so the file names it instead of a copy; styles/runs/ keeps the GPU run's logs), and keep
the CPU run's logs in docs/ab/slim-distill/runs/ (or LOGS_DIR when given: session 29's twins of the
style-weight-30 Starry Night keep theirs in docs/ab/cpu-long-style3x/slim/runs). Run from the
repository root:

    .venv/bin/python docs/ab/slim-distill/ship.py RUN_DIR NAME [LOGS_DIR]
"""
import shutil
import sys
from pathlib import Path

import torch

from styletransfer.apps.publish import publish_model

run, name = Path(sys.argv[1]), sys.argv[2]
painting = Path("styles") / f"{name.removesuffix('_slim')}.jpg"
target = publish_model(run / "model.safetensors", "styles", name, painting=painting, dtype=torch.int8)
logs = (Path(sys.argv[3]) if len(sys.argv) > 3 else Path(__file__).resolve().parent / "runs") / name
logs.mkdir(parents=True, exist_ok=True)
for file_name in ("metrics.csv", "val.csv", "curves.png", "config.json"):
    if (run / file_name).is_file():
        shutil.copyfile(run / file_name, logs / file_name)
print(target)
