"""Probe (issue #23, slim twins): does a perceptual term towards the teacher close the slim
twins' structure gap faster than the pixel distillation alone?

From the shipped ``NAME_slim`` weights, STEPS steps of batch 8 at 256 px (lr 3e-4, seed 1, the
341 training photos, judge photos left out), the distillation loss of docs/ab/cpu-finetune
(pixel MSE 1e8 + paired palette 3e9 to the teacher's output), and with ``--features W`` also
W × the MSE between the VGG19 relu2_2 features of the student's and the teacher's output (the
Johnson content loss with the teacher's picture as the target, not the photo). Writes
OUT/NAME_slim.safetensors (int8, the shipped file's metadata, ``steps`` added) and OUT/log.json.

    .venv/bin/python docs/ab/slim-probe/probe.py NAME STEPS OUT [--features W]

``--init FILE --start-step N`` continues from an earlier probe's model file, with the photos'
order continued from step N (Adam starts afresh).
"""
import argparse, json, random, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F

from styletransfer.core.device import keep_freed_memory
from styletransfer.losses.color import paired_color_distance
from styletransfer.modelfiles.catalogue import load_model
from styletransfer.modelfiles.format import read_header, save_model
from styletransfer.models.folding import fold_batchnorm
from styletransfer.models.vgg import VGGFeatures
from styletransfer.training.data import ImageFolderDataset

keep_freed_memory()
parser = argparse.ArgumentParser()
parser.add_argument("name"); parser.add_argument("steps", type=int); parser.add_argument("out", type=Path)
parser.add_argument("--features", type=float, default=0.0)
parser.add_argument("--lr", type=float, default=3e-4)
parser.add_argument("--init", help="start from this model file instead of the shipped twin")
parser.add_argument("--start-step", type=int, default=0, help="continue the photos' order from this step")
args = parser.parse_args()
torch.manual_seed(1); random.seed(1)
student = load_model(args.init or f"styles/{args.name}_slim.safetensors").train()
teacher = fold_batchnorm(load_model(f"styles/{args.name}.safetensors")).eval().requires_grad_(False)
vgg = VGGFeatures(["relu2_2"]) if args.features else None
data = ImageFolderDataset(".gpu/session/photos", 256)
order = torch.randperm(len(data)).tolist()
opt = torch.optim.Adam(student.parameters(), lr=args.lr)
log, started = [], time.time()
for step in range(args.start_step, args.start_step + args.steps):
    idx = [order[(step * 8 + i) % len(order)] for i in range(8)]
    photos = torch.stack([data[i] for i in idx])
    with torch.no_grad():
        target = teacher(photos)
    out = student(photos)
    pixel = 1e8 * F.mse_loss(out, target)
    palette = 3e9 * paired_color_distance(out, target)
    loss = pixel + palette
    feat = torch.zeros(())
    if vgg is not None:
        with torch.no_grad():
            wanted = vgg(target)["relu2_2"]
        feat = args.features * F.mse_loss(vgg(out)["relu2_2"], wanted)
        loss = loss + feat
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    log.append({"step": step + 1, "pixel": pixel.item(), "palette": palette.item(), "features": feat.item(),
                "seconds": round(time.time() - started, 1)})
    if step % 10 == 0:
        print(log[-1], flush=True)
args.out.mkdir(parents=True, exist_ok=True)
_, meta = read_header(f"styles/{args.name}_slim.safetensors")
meta = dict(meta, probe=f"steps {args.start_step}-{args.start_step + args.steps}, features {args.features:g}, "
                        f"lr {args.lr:g}")
save_model(student.eval(), args.out / f"{args.name}_slim.safetensors", dtype=torch.int8, **meta)
(args.out / "log.json").write_text(json.dumps(log))
