"""The package's layers (docs/architecture.md): every import inside ``styletransfer`` -- at the top
of a module or inside a function, relative or absolute -- points to the importing module's own
layer or one below it, and no modules import each other in a circle.

    root (errors, version) <- core <- models <- modelfiles <- losses <- inference <- training
        <- evaluation <- apps

The package ``__init__`` (the lazy public API) and ``__main__`` sit above everything.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "styletransfer"
LAYERS = ["errors", "version", "core", "models", "modelfiles", "losses", "inference", "training", "evaluation",
          "apps"]
ROOT_MODULES = {"__init__.py", "__main__.py", "errors.py", "version.py"}
TOP = len(LAYERS)  # the package __init__ and __main__


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return TOP
    return LAYERS.index(parts[1])


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (child for orelse in node.orelse for child in [orelse, *_runtime_nodes(orelse)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_in(source: str, module: str, is_package: bool = False) -> set[str]:
    """The styletransfer modules that the code ``source`` of ``module`` imports anywhere (at the
    top, in functions, relative or absolute; an imported name that is a module counts as that
    module), leaving out ``if TYPE_CHECKING:`` blocks."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "styletransfer")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "styletransfer":
                continue
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
    found.discard(module)
    return found


def imports(module: str) -> set[str]:
    path = MODULES[module]
    return imports_in(path.read_text(), module, path.name == "__init__.py")


def test_the_package_root_holds_only_the_api_the_entry_point_errors_and_version():
    assert {path.name for path in PACKAGE.glob("*.py")} == ROOT_MODULES
    assert {path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"} \
        <= set(LAYERS) | {"styles", "examples"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module):
    upward = sorted(target for target in imports(module) if layer(target) > layer(module))
    assert not upward, f"{module} (layer {LAYERS[layer(module)] if layer(module) < TOP else 'top'}) imports {upward}"


def test_no_import_circles():
    graph = {module: {target for target in imports(module) if target in MODULES} for module in MODULES}
    # A package's __init__ that re-exports its own modules is not a circle with them.
    for module, targets in graph.items():
        if MODULES[module].name == "__init__.py":
            graph[module] = {t for t in targets if not t.startswith(module + ".")}
    circles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                circles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not circles, "import circles: " + "; ".join(" -> ".join(circle) for circle in circles)


def test_the_checker_sees_every_kind_of_import_but_type_checking_ones():
    source = (
        "import styletransfer.core.files\n"
        "from ...losses import color\n"
        "def late():\n"
        "    from styletransfer.apps.cli import main\n"
        "class Block:\n"
        "    def method(self):\n"
        "        from .conv import ConvLayer\n"
        "if TYPE_CHECKING:\n"
        "    from styletransfer.evaluation.evaluate import evaluate\n"
    )
    assert imports_in(source, "styletransfer.models.layers.norm") == {
        "styletransfer.core.files", "styletransfer.losses.color", "styletransfer.apps.cli.main",
        "styletransfer.models.layers.conv"}
    assert layer("styletransfer.apps.cli") > layer("styletransfer.models.layers.norm")  # so it would fail
