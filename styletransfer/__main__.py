"""``python -m styletransfer``: the command line (see :mod:`styletransfer.apps.cli.main`)."""
import sys

try:
    from styletransfer.apps.cli import main
except KeyboardInterrupt:  # Ctrl-C while torch is still importing
    sys.exit(130)

sys.exit(main())
