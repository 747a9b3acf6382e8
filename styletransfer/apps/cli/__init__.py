"""The command line, ``styletransfer COMMAND ...``: :mod:`.main` builds the parser and runs a
command; each other module adds one group of commands (see :mod:`.main` for how)."""
from styletransfer.apps.cli.main import main

__all__ = ["main"]
