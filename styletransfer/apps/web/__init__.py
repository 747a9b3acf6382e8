"""The web app (Gradio): :mod:`.app` holds the page's state and event handlers, :mod:`.tabs`
lays out one tab per function, :mod:`.options` the command-line options (``styletransfer app``).
Importing this package does not import Gradio; :mod:`.app` and :mod:`.tabs` do."""
