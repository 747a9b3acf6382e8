"""Placeholder until the Gradio app lands (issue 5)."""
if __name__ == "__main__":
    raise SystemExit("The Gradio app is not written yet; see the README.")
