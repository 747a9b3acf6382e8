"""The library's version: written into every model file and shown by ``styletransfer info``."""
__version__ = "0.1.0"
