"""Timers around each step of one untiled 1080p stylize() call (bf16, the_scream): where the time
outside the network goes. Run from the repository root: .venv/bin/python docs/benchmarks/outside_breakdown.py"""
import time, functools, sys, torch, numpy as np
sys.path.insert(0, "benchmarks")  # run from the repository root
from styletransfer.core.device import keep_freed_memory
keep_freed_memory()
import common
import styletransfer.inference.stylize as S
import styletransfer.inference.prepare as P
acc = {}
def wrap(mod, name):
    f = getattr(mod, name)
    @functools.wraps(f)
    def g(*a, **k):
        t = time.perf_counter(); r = f(*a, **k); acc[name] = acc.get(name, 0) + time.perf_counter() - t; return r
    setattr(mod, name, g)
for n in ["image_to_pixels", "_to_image", "split_alpha", "merge_alpha", "resize_longest", "prepare_model", "network_input", "_forward", "float_to_pixels", "pixels_to_image"]:
    wrap(S, n)
img = common.example_image(1920, 1080)
print(img.mode, type(img), img.info.keys())
net = P.prepare_model("the_scream", torch.device("cpu"), torch.bfloat16)
cls = type(net); of = cls.forward
def fwd(self, x):
    t = time.perf_counter(); r = of(self, x); acc["NET"] = acc.get("NET", 0) + time.perf_counter() - t; return r
cls.forward = fwd
S.stylize("the_scream", img, tile_pixels=1920*1080)
rows = []
for _ in range(9):
    acc.clear(); t = time.perf_counter(); S.stylize("the_scream", img, tile_pixels=1920*1080); total = time.perf_counter() - t
    rows.append({**acc, "TOTAL": total})
for k in rows[0]:
    print(f"{k:18s} {np.median([r[k] for r in rows])*1000:8.2f} ms")
print("outside", np.median([r["TOTAL"] - r["NET"] for r in rows]) * 1000)
