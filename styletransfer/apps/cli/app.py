"""``app``: serve the web app (:mod:`styletransfer.apps.web`)."""
from __future__ import annotations

from styletransfer.apps.web.options import add_app_options

import argparse



from styletransfer.apps.cli.common import EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``app``."""
    app = commands.add_parser("app", help="start the web app (Gradio)",
                              description="Serve the web app: stylize, compare SRM, train new styles.")
    add_app_options(app)
    app.set_defaults(handler=run_app)


def run_app(args: argparse.Namespace) -> int:
    from styletransfer.apps.web.app import serve  # imports gradio: only for this command

    serve(args)
    return EXIT_OK
