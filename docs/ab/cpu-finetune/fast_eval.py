"""evaluate without the texture score (VGG relu5_1 at 512 px is most of evaluate's time on 2
cores): palette, structure, layout exactly as styletransfer evaluate computes them; texture NaN.
usage: fast_eval.py PHOTOS OUT.json MODEL...
Superseded since session 12 by `styletransfer evaluate --no-texture`, which gives the same three scores."""
import sys, math
import torch
import styletransfer.evaluation.evaluate as ev

class NoVGG(torch.nn.Module):
    def __init__(self, *a, **k):
        super().__init__()
ev.VGGFeatures = NoVGG
ev.texture_features = lambda vgg, x: []
ev.texture_feature_distance = lambda a, b: math.nan
result = ev.evaluate(sys.argv[1], sys.argv[3:], size=512, device="cpu")
open(sys.argv[2], "w").write(result.to_json())
for s in result.styles:
    print(s.label, f"{s.palette:.3f} {s.structure:.2f} {s.layout:.2f}")
