"""styletransfer.modelfiles."""
