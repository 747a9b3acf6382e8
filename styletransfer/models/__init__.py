"""styletransfer.models."""
