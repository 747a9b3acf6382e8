"""The styletransfer web app: stylize photos with the shipped styles, compare SRM with its
plain twin, and train new styles in the background.

    styletransfer app [--host 127.0.0.1] [--port 7860] [--share] [--train-images DIR]
    python app.py ...            (the same, from a checkout or a Hugging Face Space)

The Gradio page and its event handlers; the work behind them is in :mod:`.jobs` and the styles
come from :mod:`styletransfer.modelfiles.catalogue`. Nothing is fetched from the internet: no analytics,
no web fonts, no CDN. On a ZeroGPU Space the stylizing handlers run under ``spaces.GPU``.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse  # noqa: E402
import html  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from styletransfer.inference.blend import StyleMix  # noqa: E402
from styletransfer.modelfiles.catalogue import load_catalogue  # noqa: E402
from styletransfer.core.device import keep_freed_memory, pick_device  # noqa: E402
from styletransfer.errors import StyleTransferError  # noqa: E402
from styletransfer.core.images import ImageError  # noqa: E402
from styletransfer.inference.live import LiveStylizer  # noqa: E402
from styletransfer.modelfiles.format import ModelFileError  # noqa: E402
from styletransfer.core.resources import EXAMPLES_DIR, STYLES_DIR  # noqa: E402
from styletransfer.apps.jobs import (TrainingManager, TrainingRequest, check_model_upload,  # noqa: E402
                   default_output_size, new_output_dir, open_upload, plot_runs, stylize_live_frame, stylize_photo)
from styletransfer.apps.web import tabs  # noqa: E402
from styletransfer.apps.web.tabs import example_photos, gallery_items, pair_choices, catalogue_note, style_choices  # noqa: E402,F401
from styletransfer.training.estimate import describe_training_time  # noqa: E402
from styletransfer.apps.web.options import DEFAULT_HOST, DEFAULT_PORT, TRAIN_IMAGES_ENV  # noqa: E402
from styletransfer.apps.zerogpu import gpu_function  # noqa: E402

VARIANT_LABELS = {"bn+srm": "BN + SRM", "bn": "BN"}
"""The Train tab's variants as it names them."""
COMPARISON_DIR = "comparison"
"""Sub-folder of the shipped styles with the variant comparison (figure.jpg, comparison.png/.md, and
summary.md: what it shows, in words)."""
COMPARISON_TEXT = """Every variant was trained on the same photos in the same order for each seed, so
their differences are paired; the table gives the mean ± std over seeds and the difference to BN with
a 95 % confidence interval. The project's docs/comparison.md gives the budget and what it shows."""



def upload_path(payload: dict[str, Any] | None) -> tuple[str, str] | None:
    """(server path, the user's file name) of an uploaded file, None when nothing was sent."""
    if not payload or not payload.get("path"):
        return None
    return payload["path"], payload.get("orig_name") or Path(payload["path"]).name


class WebApp:
    """The page's state (device, result folder, training jobs) and its event handlers.

    Args:
        train_images: the photos the Train tab trains on (default: ${TRAIN_IMAGES_ENV}, else the
            example photos).
        device: where stylization runs (default: the best one here).
    """

    def __init__(self, *, train_images: Path | None = None, device: torch.device | None = None):
        self.device = device if device is not None else pick_device("auto")
        self.default_size = default_output_size(self.device)
        self.output_dir = new_output_dir()
        self.jobs = TrainingManager(Path(train_images or os.environ.get(TRAIN_IMAGES_ENV) or EXAMPLES_DIR))
        # ZeroGPU attaches a GPU only inside these calls (a no-op elsewhere).
        self.run_stylize = gpu_function(self.run_stylize)
        self.run_srm = gpu_function(self.run_srm)
        self.run_webcam = gpu_function(self.run_webcam)

    @property
    def on_gpu(self) -> bool:
        return self.device.type != "cpu"

    def open_photo(self, payload: dict[str, Any] | None) -> Image.Image:
        """The uploaded photo, or gr.Error naming the user's file and the problem."""
        uploaded = upload_path(payload)
        if uploaded is None:
            raise gr.Error("Upload a photo first (or click one of the examples).")
        try:
            return open_upload(*uploaded)
        except ImageError as error:
            raise gr.Error(f"That photo cannot be used: {error}") from None

    def chosen_model(self, style: str | None, model_file: dict[str, Any] | None) -> tuple[str, str]:
        """(model path or style name, a label for it): an uploaded model file wins over the style."""
        uploaded = upload_path(model_file)
        if uploaded is not None:
            try:
                metadata = check_model_upload(*uploaded)
            except ModelFileError as error:
                raise gr.Error(f"That model file cannot be used: {error}") from None
            return uploaded[0], str(metadata.get("title") or uploaded[1])
        if not style:
            raise gr.Error("Pick a style (click a painting) or upload a model file.")
        entry = load_catalogue().get(style)
        if entry is None:
            raise gr.Error(f"There is no style named {style!r} (any more).")
        return str(entry.path), entry.caption

    def mixed_model(self, model: str, label: str, second_style: str | None,
                    mix: float) -> tuple[str | StyleMix, str]:
        """The chosen model blended (in output space) with ``second_style`` at share ``mix`` (0..1)."""
        if not second_style or mix <= 0:
            return model, label
        second, second_label = self.chosen_model(second_style, None)
        if mix >= 1 or second == model:
            return second, second_label
        return (StyleMix(((model, 1 - mix), (second, mix))),
                f"{label} {1 - mix:.0%} + {second_label} {mix:.0%}")

    def run_stylize(self, photo: dict[str, Any] | None, style: str | None, model_file: dict[str, Any] | None,
                    strength: float, preserve_color: bool, size: float, second_style: str | None = None,
                    mix: float = 0.5, stroke_scale: float = 1.0) -> tuple[tuple[str, str], str, str]:
        """Stylize the photo: (original, stylized) for the slider, the PNG, and a summary line.
        ``stroke_scale`` (the brush-stroke size) is the endpoint's last input, so callers that
        leave it out get the network's own strokes."""
        model, label = self.mixed_model(*self.chosen_model(style, model_file), second_style, float(mix))
        image = self.open_photo(photo)
        try:
            result = stylize_photo(model, image, strength=float(strength), preserve_color=bool(preserve_color),
                                   max_size=int(size), device=self.device, out_dir=self.output_dir,
                                   stroke_scale=1.0 if stroke_scale is None else float(stroke_scale))
        except ModelFileError as error:
            raise gr.Error(f"That model file cannot be used: {error.problem}") from None
        except ValueError as error:
            raise gr.Error(str(error)) from None
        return (str(result.original), str(result.stylized)), str(result.png), f"**{label}** · {result.summary()}"

    def run_webcam(self, frame: Any, style: str | None, stylizer: LiveStylizer | None) -> tuple[Any, str, Any]:
        """One frame of the camera stream: the stylized frame, the frame-rate line, the session state."""
        if frame is None:
            return gr.skip(), gr.skip(), stylizer
        try:
            return stylize_live_frame(frame, style, stylizer, self.device)
        except ModelFileError as error:
            raise gr.Error(f"That style cannot be used: {error.problem}") from None
        except ValueError as error:
            raise gr.Error(str(error)) from None

    def run_srm(self, photo: dict[str, Any] | None, size: float) -> list[tuple[str, str]]:
        """The photo through each BN+SRM model and its twin: gallery items, two per style."""
        pairs = load_catalogue().srm_pairs()
        if not pairs:
            raise gr.Error("No style has both a BN+SRM model and its no-SRM twin yet.")
        image = self.open_photo(photo)
        items = []
        for srm, plain in pairs:
            for entry, label in ((srm, "with SRM"), (plain, "without SRM")):
                result = stylize_photo(str(entry.path), image, strength=1.0, preserve_color=False,
                                       max_size=int(size), device=self.device, out_dir=self.output_dir)
                items.append((str(result.stylized), f"{srm.title} — {label} ({result.seconds:.2f} s)"))
        return items

    def srm_curves(self, name: str | None) -> str | None:
        """Training curves of the chosen BN+SRM model and its twin (a PNG)."""
        pair = next(((srm, plain) for srm, plain in load_catalogue().srm_pairs() if srm.name == name), None)
        if pair is None:
            return None
        png = plot_runs([("with SRM", pair[0].run_dir), ("without SRM", pair[1].run_dir)], self.output_dir)
        return str(png) if png else None

    def refresh_styles(self) -> tuple[gr.Gallery, list[str], gr.Dropdown, str, gr.Dropdown, gr.Dropdown,
                                      gr.Dropdown, gr.Dropdown]:
        """Fresh catalogue for every list of styles on the page."""
        catalogue = load_catalogue()
        items, names = gallery_items(catalogue)
        choices = style_choices(catalogue)
        pairs = pair_choices(catalogue)
        paintings = [(entry.caption, entry.name) for entry in catalogue.gallery() if entry.painting is not None]
        return (gr.Gallery(value=items), names, gr.Dropdown(choices=choices), catalogue_note(catalogue),
                gr.Dropdown(choices=pairs, value=pairs[0][1] if pairs else None), gr.Dropdown(choices=paintings),
                gr.Dropdown(choices=choices), gr.Dropdown(choices=choices))

    def training_view(self) -> tuple[str, str | None, str | None, gr.Timer]:
        """Status, progress bar, loss curves, latest preview and whether to keep polling."""
        status = self.jobs.status()
        bar = "" if status.state == "idle" else (
            f"<progress value='{status.step}' max='{max(1, status.total_steps)}' style='width:100%'></progress>")
        curves = plot_runs(status.runs, self.output_dir)
        preview = status.latest_preview()
        return (f"{bar}<p>{html.escape(status.message)}</p>", str(curves) if curves else None,
                str(preview) if preview else None, gr.Timer(active=status.active))

    def start_training(self, painting_upload: dict[str, Any] | None, shipped_painting: str | None, title: str,
                       artist: str, steps: float, image_size: float,
                       variants: list[str]) -> tuple[str, str | None, str | None, gr.Timer]:
        """Start training the uploaded (or a shipped) painting; refused while a job runs."""
        uploaded = upload_path(painting_upload)
        if uploaded is not None:
            painting, default_title = Path(uploaded[0]), Path(uploaded[1]).stem.replace("_", " ")
        elif shipped_painting:
            entry = load_catalogue().get(shipped_painting)
            if entry is None or entry.painting is None:
                raise gr.Error(f"The painting of {shipped_painting!r} is not available.")
            painting, default_title = entry.painting, f"{entry.title} (retrained)"
            artist = artist or entry.artist
        else:
            raise gr.Error("Upload a painting or pick one of the shipped paintings.")
        request = TrainingRequest(painting=painting, title=title.strip() or default_title, artist=artist.strip(),
                                  steps=int(steps), image_size=int(image_size), variants=tuple(variants or ()))
        try:
            self.jobs.start(request)
        except StyleTransferError as error:  # busy, or a bad request
            raise gr.Error(str(error)) from None
        return self.training_view()

    def cancel_training(self) -> tuple[str, str | None, str | None, gr.Timer]:
        """Ask the running job to stop (it keeps its checkpoint)."""
        if not self.jobs.cancel():
            gr.Info("No training job is running.")
        return self.training_view()

    def poll_training(self) -> tuple[Any, ...]:
        """The timer's tick: the training view, plus the style lists once a job has ended."""
        view = self.training_view()
        if self.jobs.status().active:
            return (*view, *(gr.skip() for _ in range(8)))
        return (*view, *self.refresh_styles())

    def variant_comparison(self) -> None:
        """The shipped comparison of the network variants over several seeds (styles/comparison/:
        the paper's figure made from our own models, the curves with bands and the ± table),
        when the package has one."""
        folder = STYLES_DIR / COMPARISON_DIR
        figure, curves, table = folder / "figure.jpg", folder / "comparison.png", folder / "comparison.md"
        summary = folder / "summary.md"
        if not (figure.is_file() and curves.is_file() and table.is_file()):
            return
        with gr.Accordion("BN, BN+SE, BN+SRM, IN and the SRM ablations, trained side by side", open=False,
                          elem_id="variant-comparison"):
            gr.Markdown(COMPARISON_TEXT)
            if summary.is_file():
                gr.Markdown(summary.read_text(encoding="utf-8"), elem_id="variant-summary")
            gr.Image(str(figure), label="The same held-out photos through each variant (seed 0)",
                     interactive=False, elem_id="variant-figure")
            gr.Image(str(curves), label="Losses: mean over seeds, min-max band", interactive=False)
            gr.Markdown(table.read_text(encoding="utf-8"))

    def training_estimate(self, steps: float, image_size: float, variants: list[str] | None) -> str:
        """How long the Train tab's choice takes on this machine, said before it starts (the
        first time for a size and variant, a few steps are timed: seconds on a CPU)."""
        chosen = [variant for variant in (variants or []) if variant in VARIANT_LABELS]
        if not chosen:
            return "Choose at least one variant to see how long training takes here."
        rates = {}
        for variant in chosen:
            try:
                rate = self.jobs.training_rate(int(image_size), variant, self.device)
            except (RuntimeError, StyleTransferError) as error:  # e.g. a GPU that is not attached right now
                return f"How long training takes could not be measured here: {error}"
            if rate is None:
                return "How long this takes is measured once the running job has finished."
            rates[VARIANT_LABELS[variant]] = rate
        return describe_training_time(int(steps), rates, self.device)

    def training_data_note(self) -> str:
        """Where the Train tab's photos come from and where new models go."""
        return (f"Training photos: `{self.jobs.images_dir}` (`--train-images DIR` or ${TRAIN_IMAGES_ENV} to "
                f"change). New models are saved in `{self.jobs.models_dir}`. One job runs at a time; cancelling "
                "keeps the last checkpoint.")

    def build(self) -> gr.Blocks:
        """The page: Stylize, SRM, Webcam and Train tabs (:mod:`.tabs`, one function each), with
        their named API endpoints, and the events that span tabs."""
        catalogue = load_catalogue()
        examples = example_photos()
        with gr.Blocks(title="styletransfer", delete_cache=(3600, 3600)) as demo:
            gr.Markdown("# Neural style transfer\nFeed-forward style networks (Johnson et al. 2016) with SRM "
                        "(Lee et al. 2019). Everything runs on this machine "
                        f"({self.device.type.upper()}).")
            stylize = tabs.stylize_tab(self, catalogue, examples)
            srm = tabs.srm_tab(self, catalogue, examples)
            webcam = tabs.webcam_tab(self, catalogue)
            train = tabs.train_tab(self, catalogue)

            training_outputs = [train["status"], train["curves"], train["preview"], train["timer"]]
            style_outputs = [stylize["gallery"], stylize["gallery_names"], stylize["style"], stylize["style_note"],
                             srm["pair"], train["shipped"], stylize["second_style"], webcam["style"]]
            train["timer"].tick(self.poll_training, None, training_outputs + style_outputs, api_name="train_status",
                                show_progress="hidden", queue=False)
            demo.load(self.training_view, None, training_outputs, api_visibility="private")
            demo.load(self.refresh_styles, None, style_outputs, api_visibility="private")
            demo.load(self.training_data_note, None, [train["data_note"]], api_visibility="private")

        # One stylization at a time per endpoint (each already uses every core or the whole GPU); up to
        # 64 requests wait their turn in the queue.
        demo.queue(default_concurrency_limit=1, max_size=64)
        return demo


def build_demo(*, train_images: Path | None = None, device: torch.device | None = None) -> tuple[gr.Blocks, WebApp]:
    """The Gradio page and the state behind it (see :class:`WebApp`)."""
    app = WebApp(train_images=train_images, device=device)
    return app.build(), app


def launch(demo: gr.Blocks, app: WebApp, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
           share: bool = False, prevent_thread_lock: bool = False) -> None:
    """Serve the page (blocks until the server stops, unless ``prevent_thread_lock``). The
    server may hand out files of the shipped styles, the user's models and the examples only."""
    demo.launch(server_name=host, server_port=port, share=share, theme=gr.themes.Default(),
                max_file_size="100mb", prevent_thread_lock=prevent_thread_lock,
                allowed_paths=[str(STYLES_DIR), str(app.jobs.models_dir), str(EXAMPLES_DIR)],
                footer_links=["api", "settings"])


def serve(args: argparse.Namespace) -> None:
    """Build the page with the options of :func:`add_app_options` and serve it.

    Raises:
        StyleTransferError: ``--train-images`` is not a folder.
    """
    if args.train_images is not None and not args.train_images.is_dir():
        raise StyleTransferError(f"--train-images {args.train_images}: not a folder")
    keep_freed_memory()
    demo, app = build_demo(train_images=args.train_images)
    launch(demo, app, host=args.host, port=args.port, share=args.share == "true")
