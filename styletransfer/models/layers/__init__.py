"""styletransfer.models.layers."""
