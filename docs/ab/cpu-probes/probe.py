"""Recipe probes (session 12): fine-tune a shipped style 100 steps x batch 4 from its shipped
weights with one recipe change each (on top of the shipped recipe: content 20, relu1_1/2_1/3_1).
Run from the repository root:

    .venv/bin/python docs/ab/cpu-probes/probe.py STYLE colour10x,style4x,c5 [OUT_DIR]

OUT_DIR defaults to /tmp/explore/ft; each probe goes to OUT_DIR/STYLE-PROBE."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cpu-finetune"))
from finetune import finetune_config  # noqa: E402  (also calls keep_freed_memory())
from styletransfer.training.runs import resume_training, train  # noqa: E402

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
    config = finetune_config(style, d, 100, name=f"{style}-{r}", **RECIPES[r])
    res = resume_training(d) if (d / "checkpoint.pt").is_file() else train(config)
    print(style, r, f"{res.images_per_second:.2f} img/s", flush=True)
