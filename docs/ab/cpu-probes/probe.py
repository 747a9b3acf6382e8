"""Recipe probes (session 12): fine-tune a shipped style 100 steps x batch 4 from its shipped
weights with one recipe change each (on top of the shipped recipe: content 20, relu1_1/2_1/3_1).
Run from the repository root:

    .venv/bin/python docs/ab/cpu-probes/probe.py STYLE colour10x,style4x,c5 [OUT_DIR]

OUT_DIR defaults to /tmp/explore/ft; each probe goes to OUT_DIR/STYLE-PROBE."""
import sys
from pathlib import Path
from styletransfer.core.device import keep_freed_memory
from styletransfer.training.config import TrainingConfig
from styletransfer.training.runs import resume_training, train

keep_freed_memory()  # as the CLI does: about 30 % faster on this CPU (docs/training.md)

RECIPES = {
    "colour10x": dict(color_weight=3e8),
    "style4x": dict(style_weight=40.0),
    "c5": dict(content_weight=5.0),
}
style = sys.argv[1]
names = sys.argv[2].split(",")
out = Path(sys.argv[3] if len(sys.argv) > 3 else "/tmp/explore/ft")
for r in names:
    d = out / f"{style}-{r}"
    if (d / "model.safetensors").is_file():
        continue
    kw = dict(content_weight=20.0, style_layers=["relu1_1", "relu2_1", "relu3_1"])
    kw.update(RECIPES[r])
    config = TrainingConfig(style=f"styles/{style}.jpg", out_dir=str(d), images=".gpu/session/photos",
                            norm="batch", attention="srm", init=style, steps=100, batch_size=4, lr=2e-4,
                            style_size=512, seed=1, workers=1, val_images=0, val_every=0, preview_every=0,
                            checkpoint_every=25, name=f"{style}-{r}", **kw)
    res = resume_training(d) if (d / "checkpoint.pt").is_file() else train(config)
    print(style, r, f"{res.images_per_second:.2f} img/s", flush=True)
