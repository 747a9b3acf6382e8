"""styletransfer.losses."""
