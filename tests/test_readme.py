"""The README's figures come from the code, not from a keyboard."""
import re

from styletransfer import VARIANTS, TransformerNet, count_parameters

from conftest import REPO


def test_parameter_table_matches_the_networks():
    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- parameter-table -->")[1].split("<!-- /parameter-table -->")[0]
    rows = re.findall(r"\| `([^`]+)` \| `[^`]+` \| ([\d,]+) \| ([+\-][\d,]+) \|", table)
    assert {name for name, _, _ in rows} == set(VARIANTS)
    base = count_parameters(TransformerNet.variant("bn"))
    for name, params, delta in rows:
        count = count_parameters(TransformerNet.variant(name))
        assert int(params.replace(",", "")) == count, name
        assert int(delta.replace(",", "")) == count - base, name


def test_readme_starts_with_the_two_setup_commands():
    readme = (REPO / "README.md").read_text()
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
