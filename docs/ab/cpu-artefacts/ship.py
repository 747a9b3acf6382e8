"""Ship an artefact probe into styles/ as int8 (the painting already there; the twin named as the
shipped file names it), and keep the CPU run's logs in docs/ab/cpu-artefacts/runs/ (styles/runs/
keeps the GPU run's), or in LOGS_DIR when given (docs/ab/cpu-long/runs for session 27's long
fine-tune). Run from the repository root:

    .venv/bin/python docs/ab/cpu-artefacts/ship.py RUN_DIR NAME [LOGS_DIR]
"""
import shutil
import sys
from pathlib import Path

import torch

from styletransfer.apps.publish import publish_model
from styletransfer.modelfiles.catalogue import load_model

run, name = Path(sys.argv[1]), sys.argv[2]
twin = load_model(name).metadata.get("twin")  # the shipped file's twin, before it is replaced
target = publish_model(run / "model.safetensors", "styles", name, painting=Path("styles") / f"{name}.jpg",
                       twin=twin, dtype=torch.int8)
logs = (Path(sys.argv[3]) if len(sys.argv) > 3 else Path(__file__).resolve().parent / "runs") / run.name
logs.mkdir(parents=True, exist_ok=True)
for file_name in ("metrics.csv", "curves.png", "config.json", "summary.json"):
    if (run / file_name).is_file():
        shutil.copyfile(run / file_name, logs / file_name)
print(target, "twin:", twin)
