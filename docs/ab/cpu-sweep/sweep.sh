#!/bin/bash
# The CPU sweep of The Great Wave: six fine-tunes from the shipped weights, one recipe change each,
# judge photos kept out (.gpu/session/photos holds the 341 training photos). Run from the repository root.
set -e
source .venv/bin/activate
S=great_wave
run() { name=$1; shift
  python train_transfer.py --style .gpu/session/paintings/$S.jpg --images .gpu/session/photos \
    --out /tmp/ft/$S-$name --init $S --steps 200 --batch-size 4 --lr 2e-4 --style-size 512 \
    --val-images 0 --checkpoint-every 50 --preview-every 0 --val-every 0 --seed 1 "$@" > /tmp/ft/$S-$name.log 2>&1
}
run same
run c20 --content-weight 20
run c20tv1 --content-weight 20 --tv-weight 1e5
run c20s256 --content-weight 20 --style-size 256
run c20nodeep --content-weight 20 --style-layers relu1_1,relu2_1,relu3_1
run c40tv1 --content-weight 40 --tv-weight 1e5
