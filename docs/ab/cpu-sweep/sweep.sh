#!/bin/bash
# CPU mini-sweep on The Great Wave: fine-tunes from the shipped weights, judge photos kept out.
cd /work/main && source .venv/bin/activate
S=great_wave
run() { name=$1; shift
  python train_transfer.py --style .gpu/session/paintings/$S.jpg --images .gpu/session/photos \
    --out /tmp/ft/$S-$name --init $S --steps 200 --batch-size 4 --lr 2e-4 --style-size 512 \
    --val-images 0 --checkpoint-every 50 --preview-every 0 --val-every 0 --seed 1 "$@" > /tmp/ft/$S-$name.log 2>&1
}
run same
run c20 --content-weight 20
run c20tv1 --content-weight 20 --tv-weight 1e5
echo done > /tmp/ft/sweep.done
