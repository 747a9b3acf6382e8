"""The README is a short front door, its links lead somewhere, and the figures that README and
docs/*.md take from the code (not from a measurement) still match the code."""
import importlib.util
import re
import unicodedata
from pathlib import Path

from styletransfer import VARIANTS, TransformerNet, count_parameters
from styletransfer.models.layers.attention import attention_class, attention_names, needs_batch_statistics

from conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 300

# The pages the sections of the old 934-line README moved to; the README links each of them.
DOCS_PAGES = ("app", "architecture", "cli", "comparison", "gpu", "method", "model-format", "performance",
              "scoring", "slim", "styles", "training", "video")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _between(text: str, start: str, end: str) -> str:
    assert text.count(start) == 1 and text.count(end) == 1, f"{start} / {end}"
    return text.split(start)[1].split(end)[0]


def _without_code(text: str) -> str:
    """The Markdown outside fenced code blocks and inline code spans."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _links(text: str) -> list[str]:
    """Targets of Markdown links and images, and of HTML <img src> / <a href>, outside code."""
    prose = _without_code(text)
    return (re.findall(r"\]\(([^)\s]+)\)", prose)
            + re.findall(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", prose))


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = heading.strip().lower()
    kept = "".join(c for c in heading
                   if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M), re.M):
        anchor, n = _anchor(heading), 0
        while (anchor if n == 0 else f"{anchor}-{n}") in found:
            n += 1
        found.add(anchor if n == 0 else f"{anchor}-{n}")
    return found


def _broken_links(page: Path) -> list[str]:
    broken = []
    for target in _links(_read(page)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(_read(resolved)):
            broken.append(f"{target} (no such heading)")
    return broken


# --- the README as a front door --------------------------------------------------------------

def test_readme_is_a_front_door_of_at_most_300_lines():
    lines = len(_read(README).splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move details to docs/*.md"


def test_readme_keeps_the_hugging_face_space_front_matter_on_top():
    readme = _read(README)
    assert readme.startswith("---\n"), "the Space's front matter must be the README's first lines"
    front = dict(line.split(": ", 1) for line in readme.split("---\n")[1].strip().splitlines())
    assert front["sdk"] == "gradio" and front["sdk_version"].split(".")[0] == "6"  # pyproject: gradio>=6,<7
    assert (REPO / front["app_file"]).is_file()
    assert front["title"] == "styletransfer" and front["license"] == "mit"
    assert readme.split("---\n", 2)[2].lstrip().startswith("# styletransfer\n")


def test_readme_starts_with_the_two_setup_commands():
    readme = _read(README)
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert "```" not in readme.split("```bash", 1)[0], "no other code block may come before them"


def test_readme_links_every_docs_page_and_each_exists():
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#[^)]*)?\)", _without_code(_read(README))))
    missing = sorted(link for link in linked if not (REPO / link).is_file())
    assert not missing, f"README links docs pages that do not exist: {missing}"
    assert {f"docs/{page}.md" for page in DOCS_PAGES} <= linked


def test_every_relative_link_and_image_in_the_readme_and_docs_resolves():
    pages = [README, *sorted(DOCS.glob("*.md"))]
    assert len(pages) > len(DOCS_PAGES)
    broken = {page.relative_to(REPO).as_posix(): _broken_links(page) for page in pages}
    assert not {page: links for page, links in broken.items() if links}


def test_the_link_checker_sees_a_broken_file_and_a_broken_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A `code` heading, with commas\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-code-heading-with-commas) [ok](#page) ![x](missing.png)\n"
                    "[bad](other.md#nowhere) `[code](ignored.md)`\n\n# Page\n")
    assert _broken_links(page) == ["missing.png (no such file)", "other.md#nowhere (no such heading)"]


# --- figures in docs/ that come from the code ------------------------------------------------

def test_parameter_table_matches_the_networks():
    """docs/method.md: every variant's parameter count and its difference to BN."""
    table = _between(_read(DOCS / "method.md"), "<!-- parameter-table -->", "<!-- /parameter-table -->")
    rows = re.findall(r"\| `([^`]+)` \| `[^`]+` \| ([\d,]+) \| ([+\-][\d,]+) \|", table)
    assert {name for name, _, _ in rows} == set(VARIANTS)
    base = count_parameters(TransformerNet.variant("bn"))
    for name, params, delta in rows:
        count = count_parameters(TransformerNet.variant(name))
        assert int(params.replace(",", "")) == count, name
        assert int(delta.replace(",", "")) == count - base, name


def test_attention_block_table_matches_the_registry():
    """docs/comparison.md: every block's parameters at C = 128 and whether it needs a batch >= 2."""
    text = _read(DOCS / "comparison.md")
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|.*\| ([\d,]+) \| (yes|no) \|$", text, re.M)
    assert {name for name, _, _ in rows} == set(attention_names()) - {"none"}
    for name, params, batch in rows:
        assert int(params.replace(",", "")) == attention_class(name).parameter_count(128), name
        assert (batch == "yes") == needs_batch_statistics(name), name


def test_variant_comparison_table_gives_each_networks_parameters():
    """docs/comparison.md, the GPU comparison: the parameters column of every variant."""
    text = _read(DOCS / "comparison.md")
    rows = dict(re.findall(r"^\| (BN|IN|BN\+[A-Za-z-]+) \| ([\d,]+) \|", text, re.M))
    assert {label.lower() for label in rows} == set(VARIANTS)
    for label, params in rows.items():
        assert int(params.replace(",", "")) == count_parameters(TransformerNet.variant(label.lower())), label


def _docs_script(path: Path):
    """The script at ``path`` (under docs/, not a package) imported as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slim_scores_table_is_built_from_every_shipped_twins_scores(monkeypatch):
    """docs/slim.md, "Scores": the table is what docs/slim/make_current_table.py builds, and that
    script names a score file for every slim twin in styles/ (a twin shipped without its row
    fails here, as does a table edited by hand)."""
    monkeypatch.syspath_prepend(str(DOCS / "slim"))  # the script imports make_table.py beside it
    module = _docs_script(DOCS / "slim" / "make_current_table.py")
    shipped = {path.stem for path in (REPO / "styles").glob("*_slim.safetensors")}
    assert set(module.SOURCES) == shipped
    for line in module.table().splitlines():
        assert line in _read(DOCS / "slim.md").splitlines(), line


def test_the_zoom_pictures_scale_the_photo_to_their_size_up_or_down():
    """docs/make_zoom.py (and zoom_sheet.py, which imports it): "at 1024 px" must mean the photo
    stylized at 1024 px, also for the 640 px example photos (Image.thumbnail never scales up)."""
    from PIL import Image

    module = _docs_script(DOCS / "make_zoom.py")
    photo = Image.new("RGB", (640, 360), "gray")
    assert module.fit_longest(photo, 1024).size == (1024, 576)
    assert module.fit_longest(photo, 320).size == (320, 180)
    zoomed = module.centre_zoom(module.fit_longest(photo, 1024), crop=256)
    assert zoomed.size == (512, 512)


def test_the_zoom_sheet_has_a_row_per_size_and_a_column_per_style(monkeypatch):
    """make_zoom.py --size 512 --size 1024: each row stylizes the photo at its own size (the
    network sees 512 px, then 1024 px), each column is one style, and the crops land in order."""
    from PIL import Image

    module = _docs_script(DOCS / "make_zoom.py")
    seen = []
    shades = {"before.safetensors": (200, 0, 0), "after.safetensors": (0, 0, 200)}

    def fake_stylize(name, photo):
        seen.append((name, photo.size))
        return Image.new("RGB", photo.size, shades[name])

    monkeypatch.setattr(module, "stylize", fake_stylize)
    sheet = module.zoom_rows(Image.new("RGB", (640, 360), "gray"), list(shades), [512, 1024], crop=40)
    assert seen == [("before.safetensors", (512, 288)), ("after.safetensors", (512, 288)),
                    ("before.safetensors", (1024, 576)), ("after.safetensors", (1024, 576))]
    assert sheet.size == (2 * 80, 2 * (80 + module.LABEL))
    for row in range(2):
        y = row * (80 + module.LABEL) + module.LABEL + 40
        assert sheet.getpixel((40, y)) == (200, 0, 0)
        assert sheet.getpixel((120, y)) == (0, 0, 200)
