"""styletransfer.evaluation."""
