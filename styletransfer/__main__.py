"""``python -m styletransfer``: the command line (see :mod:`styletransfer.apps.cli`)."""
import sys

try:
    from .apps.cli import main
except KeyboardInterrupt:  # Ctrl-C while torch is still importing
    sys.exit(130)

sys.exit(main())
