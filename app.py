"""The styletransfer web app (a thin shell; the page is :mod:`styletransfer.apps.web`).

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--train-images DIR]

The same as ``styletransfer app``; a Hugging Face Space runs this file (it reads
requirements.txt, sets $GRADIO_SERVER_NAME and $GRADIO_SERVER_PORT, and on ZeroGPU hardware the
stylizing runs under ``spaces.GPU``).
"""
import sys

try:  # On a ZeroGPU Space `spaces` must be imported before torch touches CUDA.
    import spaces  # noqa: F401
except ImportError:
    pass

from styletransfer.apps.cli import main

if __name__ == "__main__":
    sys.exit(main(["app", *sys.argv[1:]]))
