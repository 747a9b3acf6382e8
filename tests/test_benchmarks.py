"""The benchmark scripts run end to end with tiny settings and produce the documented tables
and JSON (timings are not checked: these are not measurements)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
REFERENCE = REPO.parent / "shared" / "bench" / "reference.py"


def run(script: str, *args: str, tmp_path: Path) -> tuple[str, dict]:
    out = tmp_path / f"{script}.json"
    proc = subprocess.run([sys.executable, str(BENCH / script), "--quick", *args, "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def check_tables(data: dict, titles: list[str]) -> None:
    assert {"machine", "settings", "tables", "targets", "results"} <= set(data)
    assert {"cpu", "cores", "torch", "device"} <= set(data["machine"])
    for title in titles:
        table = next((t for t in data["tables"] if t["title"].startswith(title)), None)
        assert table is not None, f"no table {title!r} in {[t['title'] for t in data['tables']]}"
        assert table["rows"] and all(len(row) == len(table["headers"]) for row in table["rows"])
    for target in data["targets"]:
        assert set(target) == {"target", "goal", "measured", "met"}


def needs_reference():
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} not present")


def test_inference(tmp_path):
    needs_reference()
    stdout, data = run("bench_inference.py", "--sizes", "64", "--formats", "contiguous", "--no-compile",
                       tmp_path=tmp_path)
    check_tables(data, ["Inference", "Visual difference", "SRM's cost"])
    rows = data["results"]["inference"]
    assert {r["precision"] for r in rows} >= {"fp32", "bf16"}
    assert all(r["reference_seconds"] and r["speedup"] for r in rows)
    assert "| px | network |" in stdout and "### Targets" in stdout


def test_inference_without_reference(tmp_path):
    stdout, data = run("bench_inference.py", "--sizes", "64", "--formats", "contiguous", "--tables", "speed",
                       "--reference", str(tmp_path / "missing.py"), tmp_path=tmp_path)
    rows = data["results"]["inference"]
    assert rows and all(r["speedup"] is None for r in rows)
    assert "n/a" in stdout


def test_memory(tmp_path):
    stdout, data = run("bench_memory.py", "--megapixels", "0.05", tmp_path=tmp_path)
    check_tables(data, ["Peak memory"])
    ours = [r for r in data["results"]["memory"] if r["network"] == "stylize()"]
    assert len(ours) == 2 and all(r["peak_mb"] >= r["before_mb"] > 0 for r in ours)
    assert data["targets"][0]["met"] in (True, False)


def test_training(tmp_path):
    needs_reference()
    stdout, data = run("bench_training.py", "--size", "32", "--loss-steps", "2", "--train-steps", "1",
                       tmp_path=tmp_path)
    check_tables(data, ["One training step", "Loss agreement", "A real train() run"])
    assert data["results"]["train"]["steps"] == 1
    assert {t["target"].split(" ")[0] for t in data["targets"]} >= {"training"}


def test_run_all(tmp_path):
    out = tmp_path / "all.json"
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--quick", "--only", "memory",
                           "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "### Targets" in proc.stdout and "Machine:" in proc.stdout
    data = json.loads(out.read_text())
    assert data["targets"] and "memory" in data["runs"]


def test_video(tmp_path):
    pytest.importorskip("av")
    stdout, data = run("bench_video.py", "--clips", "generated,pan_zoom", "--configurations", "0,3",
                       tmp_path=tmp_path)
    check_tables(data, ["Video flicker"])
    rows = data["results"]["video"]
    assert [(r["clip"], r["configuration"].split(" ")[0]) for r in rows] == [
        ("generated", "off"), ("generated", "previous-output"), ("pan_zoom", "off"), ("pan_zoom", "previous-output")]
    assert all(r["ratio"] > 0 and r["input_change"] > 0 for r in rows)
    assert rows[0]["drift"] == 0 and rows[1]["drift"] > 0  # off is the drift's reference
    assert data["targets"][0]["target"] == "video flicker with --stable"
