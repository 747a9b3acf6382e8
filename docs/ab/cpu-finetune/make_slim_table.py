"""The slim twins' table (docs/ab/cpu-finetune/README.md, "The slim twins"): each slim twin's
palette / structure / layout on the 32 judge photos against its full model's (the shipped CPU
fine-tune, scores_finetuned.json) and the target of docs/slim.md: palette at most 10 % further
from the painting than the full model's, structure within 10 % of it.

    .venv/bin/python docs/ab/cpu-finetune/make_slim_table.py [scores_slim.json]
"""
import sys
from pathlib import Path

from make_table import HERE, by_label  # the folder of this script is on sys.path when it runs


def main() -> None:
    slims = by_label(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "scores_slim.json")
    full = by_label(HERE / "scores_finetuned.json")
    lines = ["| slim twin | slim: palette / structure / layout | full model | palette vs full | structure vs full | "
             "within 10 % |", "|---|---|---|---:|---:|:-:|"]
    for name, slim in slims.items():
        teacher = full[name.removesuffix("_slim")]
        palette = (slim["palette"] / teacher["palette"] - 1) * 100
        structure = (slim["structure"] / teacher["structure"] - 1) * 100
        met = palette <= 10 and abs(structure) <= 10
        lines.append(f"| `{name}` | {slim['palette']:.3f} / {slim['structure']:.2f} / {slim['layout']:.2f} | "
                     f"{teacher['palette']:.3f} / {teacher['structure']:.2f} / {teacher['layout']:.2f} | "
                     f"{palette:+.1f} % | {structure:+.1f} % | {'**yes**' if met else 'no'} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
