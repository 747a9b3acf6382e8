"""The web app's command-line options (``styletransfer app`` and ``python app.py`` take the same
ones); no Gradio import, so the CLI builds its parser without loading the app."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

TRAIN_IMAGES_ENV = "STYLETRANSFER_TRAIN_IMAGES"
"""The environment variable naming the Train tab's photo folder."""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def add_app_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--host``, ``--port``, ``--share`` and ``--train-images`` to ``parser``."""
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST,
                        help="address to listen on; 0.0.0.0: every interface (default: $GRADIO_SERVER_NAME, "
                             f"else {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT),
                        help=f"default: $GRADIO_SERVER_PORT, else {DEFAULT_PORT}")
    parser.add_argument("--share", type=str.lower, nargs="?", const="true", choices=("true", "false"),
                        default="false", help="also open a public gradio.live link (needs the internet); "
                                              "'--share' alone or '--share true'")
    parser.add_argument("--train-images", type=Path, default=None, metavar="DIR",
                        help=f"folder of training photos for the Train tab (default: ${TRAIN_IMAGES_ENV}, "
                             "else the example photos)")
    return parser
