"""The shells over the library: the command line (:mod:`.cli`, ``styletransfer ...``), the
Gradio web app (:mod:`.webapp`, ``styletransfer app`` or ``python app.py``) and what they share
(:mod:`.jobs`: the app's UI-free work; :mod:`.publish`: a finished run into a style folder).

They parse arguments, print and exit; the library below them never does.
"""
