"""styletransfer.core."""
