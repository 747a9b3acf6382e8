"""styletransfer.inference."""
