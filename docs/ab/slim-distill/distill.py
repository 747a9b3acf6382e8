"""Distil a slim twin again with the trainer's feature term (session 15, issue #23): from its
shipped weights, towards its shipped full model, the recipe that the session-14 probe found
(docs/ab/slim-probe): pixel MSE 1e8 + teacher palette 3e9 + 50 x the VGG19 relu2_2 feature MSE to
the teacher's output, no content, style, colour or TV term, batch 8 at 256 px, lr 3e-4, seed 1,
400 steps, the 341 training photos (the judge photos left out). Then the run is published as an
int8 candidate and scored on the 32 judge photos at 512 px.

Run from the repository root (a stopped run, Ctrl-C or killed, continues from its last
checkpoint, every 50 steps, when run again):

    .venv/bin/python docs/ab/slim-distill/distill.py NAME [STEPS] [OUT] [SCORES_DIR] [TRAINER OPTIONS...]

writes OUT/runs/NAME_slim (the run folder), OUT/candidates/NAME_slim.safetensors and
SCORES_DIR/scores_NAME_slim.json (``styletransfer evaluate --json``; SCORES_DIR defaults to this
folder, new-teachers/ holds session 19's twins distilled again from changed full models).
Anything after SCORES_DIR goes to ``styletransfer train`` after the recipe's options, so it
overrides them (session 23: ``--distill-palette-weight 1e10``).
"""
import subprocess
import sys
from pathlib import Path

name = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 400
out = Path(sys.argv[3] if len(sys.argv) > 3 else ".gpu/slim-distill")  # git-ignored
here = Path(__file__).resolve().parent
scores_dir = Path(sys.argv[4]) if len(sys.argv) > 4 else here
extra = sys.argv[5:]  # trainer options after the recipe's, e.g. --distill-palette-weight 1e10
cli = str(Path(sys.executable).with_name("styletransfer"))
slim, run = f"{name}_slim", out / "runs" / f"{name}_slim"
attention = "none" if name.endswith("_bn") else "srm"
if not (run / "model.safetensors").is_file():
    if (run / "checkpoint.pt").is_file():
        subprocess.run([cli, "resume", str(run)], check=True)
    else:
        subprocess.run([cli, "train", "--style", f"styles/{name}.jpg", "--images", ".gpu/session/photos",
                        "--out", str(run), "--init", slim, "--teacher", name, "--width", "12",
                        "--residual-blocks", "3", "--attention", attention, "--content-weight", "0",
                        "--style-weight", "0", "--color-weight", "0", "--tv-weight", "0",
                        "--distill-feature-weight", "50", "--steps", str(steps), "--batch-size", "8",
                        "--lr", "3e-4", "--seed", "1", "--name", slim, "--checkpoint-every", "50", *extra],
                       check=True)
candidates = out / "candidates"
subprocess.run([cli, "publish", str(run), "--name", slim, "--int8", "-o", str(candidates)], check=True)
scores = subprocess.run([cli, "evaluate", ".gpu/session/judge", "--style", str(candidates / f"{slim}.safetensors"),
                         "--painting", f"styles/{name}.jpg", "--size", "512", "--no-texture", "--json"],
                        check=True, capture_output=True, text=True).stdout
scores_dir.mkdir(parents=True, exist_ok=True)
(scores_dir / f"scores_{slim}.json").write_text(scores)
print(slim, scores[:400])
