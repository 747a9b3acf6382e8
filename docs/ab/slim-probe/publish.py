"""Ship the probe's the_scream_bn_slim (150 + 250 steps with the relu2_2 feature term) into
styles/, with metadata that says how it was made: the steps of this chain, its loss weights (no TV
term in the probe), the last 10 steps' mean losses, and the script. Run from the repository root:

    .venv/bin/python docs/ab/slim-probe/publish.py PROBE_DIR/features400/the_scream_bn_slim.safetensors
"""
import datetime, json, statistics, sys
from pathlib import Path

import torch

from styletransfer.modelfiles.catalogue import load_model
from styletransfer.modelfiles.format import read_header, save_model

HERE = Path(__file__).resolve().parent
source = Path(sys.argv[1])
target = Path("styles/the_scream_bn_slim.safetensors")
_, before = read_header(target)
net = load_model(source)
logs = [json.loads((HERE / name).read_text()) for name in ("log_features50.json", "log_features400.json")]
last = logs[1][-10:]
losses = {key: statistics.mean(row[key] for row in last) for key in ("pixel", "palette", "features")}
metadata = {key: value for key, value in before.items() if key not in ("probe", "date", "library_version")}
metadata.update(
    steps=len(logs[0]) + len(logs[1]), batch_size=8, lr=3e-4, tv_weight=0.0, init="the_scream_bn_slim",
    distill_feature_weight=50.0, distill_feature_layers=["relu2_2"],
    final_losses={"content": 0.0, "style": 0.0, "tv": 0.0, "color": 0.0,
                  "distill": losses["pixel"] + losses["palette"] + losses["features"],
                  "total": losses["pixel"] + losses["palette"] + losses["features"]},
    images_per_second=round(8 * len(logs[1]) / logs[1][-1]["seconds"], 2),
    trained_by="docs/ab/slim-probe/probe.py (150 steps, then 250 more from that model; session 14)",
    date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
save_model(net, target, dtype=torch.int8, **metadata)
print(target, json.dumps({k: metadata[k] for k in ("steps", "distill_feature_weight", "final_losses")}))
