"""Train a style network for one painting, or compare network variants (a thin shell over
``styletransfer train | resume | compare``, which take the same options).

    python train_transfer.py --style PAINTING.jpg --images DIR --out runs/NAME [options]
    python train_transfer.py --style PAINTING.jpg --coco-root COCO --out runs/NAME [options]
    python train_transfer.py --resume runs/NAME [--steps N]
    python train_transfer.py --style A.jpg --style B.jpg --images DIR --out runs/BANK  # one network per
        painting in one process (a bank): runs/BANK/A/, runs/BANK/B/; --resume runs/BANK continues it
    python train_transfer.py compare --style PAINTING.jpg --images DIR --variants bn,bn+srm \\
        --steps N --out runs/NAME

Under ``torchrun --nproc_per_node=N`` the same commands train on N processes (DDP). Exit codes:
0 done, 2 bad options or inputs (one line), 3 the training diverged, 130 interrupted.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from styletransfer.apps.cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:
        return cli_main(argv, prog="train_transfer.py")
    return cli_main(["train", *argv], prog="train_transfer.py")


if __name__ == "__main__":
    sys.exit(main())
