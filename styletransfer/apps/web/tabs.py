"""The web app's tabs, one function each: it lays out the tab's components, wires the events
that stay inside it, and returns the components other tabs' events need, by name.

Each takes the :class:`~styletransfer.apps.web.app.WebApp` whose handlers the events call and
the style catalogue the page starts with. A new tab is one more function here, called from
:meth:`WebApp.build <styletransfer.apps.web.app.WebApp.build>`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import csv
from pathlib import Path

import gradio as gr

from styletransfer.apps.jobs import MAX_OUTPUT_SIZE
from styletransfer.core.resources import EXAMPLES_DIR
from styletransfer.modelfiles.catalogue import Catalogue

if TYPE_CHECKING:
    from styletransfer.apps.web.app import WebApp

SRM_TEXT = """
**What is SRM?** Inside the style network, every residual block works on feature channels:
think of them as detectors for particular textures, strokes and colors. SRM (the *Style-based
Recalibration Module*, Lee et al. 2019) looks at the *style* of each channel, the mean and the
spread of its values over the whole picture, and from those two numbers learns a weight between
0 and 1 that scales the channel. So, picture by picture, the network can turn up the channels
that carry the painting's style and turn down the others. It adds only four numbers per channel
(2,560 parameters on top of 1.68 million) and next to no work. Below, the same photo goes through
a BatchNorm network **with** SRM and its twin trained **without** it, on the same photos with the
same settings; the curves show how their training losses fell (lower is better).
"""


def example_photos() -> tuple[list[str], list[str]]:
    """The bundled photos and their credits, from ``examples/manifest.csv``."""
    manifest = EXAMPLES_DIR / "manifest.csv"
    if not manifest.is_file():
        return [], []
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return ([str(EXAMPLES_DIR / row["file"]) for row in rows],
            [f"{Path(row['file']).stem.replace('_', ' ')} — {row['licence']}" for row in rows])


def style_choices(catalogue: Catalogue) -> list[tuple[str, str]]:
    """(label, style name) for the style drop-down: every style, twins marked."""
    return [(f"{style.caption}{' · without SRM' if style.is_plain_twin else ''}", style.name)
            for style in catalogue.styles]


def gallery_items(catalogue: Catalogue) -> tuple[list[tuple[str, str]], list[str]]:
    """(painting, caption) for the gallery and the style name of each item."""
    shown = [style for style in catalogue.gallery() if style.painting is not None]
    return [(str(style.painting), style.caption) for style in shown], [style.name for style in shown]


def pair_choices(catalogue: Catalogue) -> list[tuple[str, str]]:
    """(label, style name) of the BN+SRM styles that have a no-SRM twin."""
    return [(srm.caption, srm.name) for srm, _ in catalogue.srm_pairs()]


def catalogue_note(catalogue: Catalogue) -> str:
    """The line above the gallery: how many styles, and the model files that could not be read."""
    if not catalogue.styles:
        note = ("No styles are installed yet. Upload a model file (`.safetensors`) below, "
                "or train one in the **Train** tab.")
    else:
        note = f"{len(catalogue.styles)} style(s). Click a painting to pick it."
    if catalogue.problems:
        note += "\n\nSkipped unreadable model files: " + "; ".join(catalogue.problems)
    return note


def pick_from_gallery(names: list[str], event: gr.SelectData) -> str:
    """The style name of the clicked painting."""
    return names[event.index]


Examples = tuple[list[str], list[str]]
"""The example photos' paths and labels."""


def stylize_tab(app: WebApp, catalogue: Catalogue, examples: Examples) -> dict[str, Any]:
    """A photo, a style (gallery, drop-down, a model file, or a mix of two), strength, colour,
    size and stroke size: the ``stylize`` endpoint."""
    items, names = gallery_items(catalogue)
    example_paths, example_labels = examples
    with gr.Tab("Stylize", id="stylize"):
        gallery_names = gr.State(names)
        with gr.Row():
            with gr.Column(scale=1):
                photo = gr.Image(sources=["upload", "clipboard", "webcam"], type="filepath", label="Photo",
                                 elem_id="photo")
                gr.Examples(example_paths, inputs=[photo], example_labels=example_labels,
                            label="Example photos (public domain / CC0)")
            with gr.Column(scale=1):
                style_note = gr.Markdown(catalogue_note(catalogue))
                gallery = gr.Gallery(items, label="Styles", columns=4, height=260, allow_preview=False,
                                     object_fit="cover", elem_id="styles")
                style = gr.Dropdown(style_choices(catalogue), label="Style",
                                    value=names[0] if names else None, elem_id="style")
                model_file = gr.File(label="…or a model file (.safetensors)", file_types=[".safetensors"],
                                     elem_id="model-file")
                with gr.Row():
                    second_style = gr.Dropdown(style_choices(catalogue), value=None,
                                               label="Mix with (optional)", elem_id="second-style")
                    mix = gr.Slider(0, 1, value=0.5, step=0.05, label="Share of the second style",
                                    elem_id="mix", info="the weighted mean of the two stylized images")
        with gr.Row():
            strength = gr.Slider(0, 1, value=1, step=0.05, label="Strength")
            preserve = gr.Checkbox(label="Preserve the photo's colors")
            size = gr.Slider(128, MAX_OUTPUT_SIZE, value=app.default_size, step=64,
                             label="Output size (longest side, px)",
                             info=f"{app.default_size} px is quick on this {app.device.type.upper()}; "
                                  "large sizes are tiled")
            stroke = gr.Slider(0.5, 3, value=1, step=0.25, label="Stroke size", elem_id="stroke-scale",
                               info="the network sees the photo at 1/this of the output size: "
                                    "2 paints larger strokes, 0.5 finer ones (and takes 4× the time)")
        go = gr.Button("Stylize", variant="primary", elem_id="go")
        comparison = gr.ImageSlider(label="Original vs stylized", elem_id="result")
        with gr.Row():
            summary = gr.Markdown(elem_id="summary")
            download = gr.File(label="Download (PNG, full resolution)", elem_id="download")
    gallery.select(pick_from_gallery, [gallery_names], [style], api_visibility="private")
    go.click(app.run_stylize, [photo, style, model_file, strength, preserve, size, second_style, mix, stroke],
             [comparison, download, summary], api_name="stylize", preprocess=False)
    return {"gallery": gallery, "gallery_names": gallery_names, "style": style, "style_note": style_note,
            "second_style": second_style}


def srm_tab(app: WebApp, catalogue: Catalogue, examples: Examples) -> dict[str, Any]:
    """One photo through a style with SRM and its twin without, their training curves, and the
    variant comparison: the ``srm_compare`` and ``srm_curves`` endpoints."""
    pairs = pair_choices(catalogue)
    example_paths, example_labels = examples
    with gr.Tab("SRM", id="srm"):
        gr.Markdown(SRM_TEXT)
        with gr.Row():
            with gr.Column(scale=1):
                srm_photo = gr.Image(sources=["upload", "clipboard", "webcam"], type="filepath", label="Photo",
                                     elem_id="srm-photo")
                gr.Examples(example_paths, inputs=[srm_photo], example_labels=example_labels, label="Example photos")
                srm_size = gr.Slider(128, 2048, value=app.default_size, step=64, label="Output size (longest side, px)")
                srm_go = gr.Button("Compare with and without SRM", variant="primary", elem_id="srm-go")
            with gr.Column(scale=2):
                srm_gallery = gr.Gallery(label="With SRM (left) and without (right)", columns=2, height=480,
                                         elem_id="srm-results")
        pair = gr.Dropdown(pairs, value=pairs[0][1] if pairs else None, label="Training curves of")
        curves = gr.Image(app.srm_curves(pairs[0][1] if pairs else None), label="Training losses (log scale)",
                          show_label=False, interactive=False, elem_id="srm-curves")
        app.variant_comparison()
    srm_go.click(app.run_srm, [srm_photo, srm_size], [srm_gallery], api_name="srm_compare", preprocess=False)
    pair.change(app.srm_curves, [pair], [curves], api_name="srm_curves")
    return {"pair": pair}


def webcam_tab(app: WebApp, catalogue: Catalogue) -> dict[str, Any]:
    """The camera stylized live: the ``webcam`` streaming endpoint."""
    _, names = gallery_items(catalogue)
    with gr.Tab("Webcam", id="webcam"):
        gr.Markdown("Your camera, stylized live on this machine"
                    + (" (the slim twin of a style when one is installed)." if not app.on_gpu else "."))
        with gr.Row():
            camera = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera", elem_id="camera")
            live = gr.Image(label="Stylized", interactive=False, elem_id="live")
        with gr.Row():
            live_style_choice = gr.Dropdown(style_choices(catalogue), value=names[0] if names else None,
                                            label="Style", elem_id="live-style")
            live_rate = gr.Markdown(elem_id="live-rate")
        live_session = gr.State(None)
    camera.stream(app.run_webcam, [camera, live_style_choice, live_session], [live, live_rate, live_session],
                  api_name="webcam", stream_every=0.1, time_limit=600, show_progress="hidden")
    return {"style": live_style_choice}


def train_tab(app: WebApp, catalogue: Catalogue) -> dict[str, Any]:
    """A new style from a painting, trained in the background with live previews: the
    ``train_start`` and ``train_cancel`` endpoints (``train_status`` is wired by the page, since
    it refreshes the other tabs' style lists too)."""
    with gr.Tab("Train", id="train") as tab:
        data_note = gr.Markdown(app.training_data_note())
        with gr.Row():
            with gr.Column():
                painting = gr.Image(sources=["upload", "clipboard"], type="filepath", label="Painting",
                                    elem_id="painting")
                shipped = gr.Dropdown([(entry.caption, entry.name) for entry in catalogue.gallery() if entry.painting],
                                      label="…or one of the shipped paintings")
                title = gr.Textbox(label="Title", placeholder="from the file name")
                artist = gr.Textbox(label="Artist")
            with gr.Column():
                steps = gr.Slider(10, 20000, value=2000 if app.on_gpu else 100, step=10, label="Steps")
                image_size = gr.Radio([128, 192, 256, 384, 512], value=256 if app.on_gpu else 192,
                                      label="Training image size (px)")
                variants = gr.CheckboxGroup([("BN + SRM", "bn+srm"), ("BN without SRM (its twin)", "bn")],
                                            value=["bn+srm"], label="Variants")
                estimate = gr.Markdown(elem_id="train-estimate")
                with gr.Row():
                    start = gr.Button("Start training", variant="primary", elem_id="train-start")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
        status_html = gr.HTML(elem_id="train-status")
        with gr.Row():
            preview = gr.Image(label="Latest preview (held-out photo, stylized below)", interactive=False,
                               elem_id="train-preview", scale=1)
            live_curves = gr.Image(label="Training losses (log scale)", show_label=False, interactive=False,
                                   elem_id="train-curves", scale=3)
        timer = gr.Timer(1.5, active=False)
    training_outputs = [status_html, live_curves, preview, timer]
    start.click(app.start_training, [painting, shipped, title, artist, steps, image_size, variants],
                training_outputs, api_name="train_start", preprocess=False)
    cancel.click(app.cancel_training, None, training_outputs, api_name="train_cancel")
    # How long the chosen budget takes here, said when the tab is opened (a few steps are timed
    # the first time for a size and variant: seconds on a CPU) and again on every change.
    choice = [steps, image_size, variants]
    tab.select(app.training_estimate, choice, estimate, api_name="train_estimate", concurrency_id="train_estimate",
               show_progress="minimal")
    for control in choice:
        control.change(app.training_estimate, choice, estimate, api_visibility="private",
                       concurrency_id="train_estimate", show_progress="minimal")
    return {"status": status_html, "curves": live_curves, "preview": preview, "timer": timer, "shipped": shipped,
            "data_note": data_note}
