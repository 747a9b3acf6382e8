"""A pytest plugin: under CI (``CI=true``), a skipped test fails the run unless its skip reason
is one this machine legitimately cannot help (no GPU). Locally, skips stay skips. The benchmark
tests need ``../shared/bench/reference.py``, which CI has beside its clone: they must run there.

CI must not pass because the browser test skipped for want of Chromium, the app tests for want
of gradio_client, or the video and warping-error tests for want of PyAV or OpenCV (the ``test``
extra installs both): those skips are what this catches. ``-rs`` lists every skip with its
reason either way.
"""
from __future__ import annotations

import os
import re

import pytest

ALLOWED_IN_CI = (
    re.compile(r"\b(CUDA|GPU|MPS)\b"),           # tests of hardware CI does not have
)
"""Skip reasons that do not fail a CI run."""


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not running_in_ci():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    forbidden = [(report.nodeid, _reason(report)) for report in reporter.stats.get("skipped", [])
                 if not any(pattern.search(_reason(report)) for pattern in ALLOWED_IN_CI)]
    if not forbidden:
        return
    reporter.write_sep("=", f"CI: {len(forbidden)} test(s) skipped that must run", red=True)
    for nodeid, reason in forbidden:
        reporter.write_line(f"SKIPPED IN CI {nodeid or '(module)'}: {reason}")
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
