"""Hugging Face Spaces: the requirements a Space installs, and ZeroGPU's ``spaces.GPU`` around
the app's GPU work when the ``spaces`` package is there (and nothing when it is not)."""
from __future__ import annotations

import re
import sys
import tomllib
import types
from pathlib import Path

import pytest

from styletransfer.apps.zerogpu import gpu_function

REPO = Path(__file__).resolve().parent.parent


def fake_spaces(calls: list[str]) -> types.ModuleType:
    """A stand-in for the ``spaces`` package: GPU marks the function it decorates."""
    module = types.ModuleType("spaces")

    def GPU(function):  # noqa: N802 (the real decorator's name)
        def on_gpu(*args, **kwargs):
            calls.append(function.__name__)
            return function(*args, **kwargs)
        on_gpu.on_zero_gpu = True
        return on_gpu

    module.GPU = GPU
    return module


def test_with_spaces_the_function_runs_under_spaces_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "spaces", fake_spaces(calls))

    def work(x: int) -> int:
        return 2 * x

    wrapped = gpu_function(work)
    assert getattr(wrapped, "on_zero_gpu", False) and wrapped(21) == 42 and calls == ["work"]


def test_without_spaces_the_function_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spaces", None)  # import spaces -> ImportError

    def work() -> str:
        return "cpu"

    assert gpu_function(work) is work


@pytest.mark.parametrize("with_spaces", [True, False])
def test_the_app_stylizes_under_spaces_gpu_only_with_spaces(with_spaces: bool, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gradio")
    from styletransfer.apps.web.app import WebApp

    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "spaces", fake_spaces(calls) if with_spaces else None)
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path))
    app = WebApp(train_images=tmp_path)
    for handler in (app.run_stylize, app.run_srm):
        assert getattr(handler, "on_zero_gpu", False) == with_spaces
    with pytest.raises(Exception, match="Upload a photo first"):  # gr.Error: the handler itself ran
        app.run_stylize(None, "great_wave", None, 1.0, False, 128)
    assert calls == (["run_stylize"] if with_spaces else [])


def requirement_name(line: str) -> str:
    return re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()


def test_space_requirements_match_the_package_dependencies() -> None:
    """requirements.txt (read by a Space) lists the package's dependencies with the same
    bounds, except gradio, which a Space installs itself from its sdk_version."""
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    requirements = {requirement_name(line): line.replace(" ", "") for line in lines if line}
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    expected = {requirement_name(dep): dep.replace(" ", "") for dep in dependencies if requirement_name(dep) != "gradio"}
    assert requirements == expected
