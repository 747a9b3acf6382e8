#!/usr/bin/env bash
# The install path a user takes: build the wheel, install it into a fresh venv, and from a folder
# outside the repository list the styles, stylize a photo (a file, and a pipe through - and -o -),
# print `info`, and start the web app until it answers HTTP 200.
#
#   bash tests/wheel_check.sh            (CI runs it from .ci/run; a few minutes)
#
# PYTHON builds the wheel (default: .venv/bin/python, which has setuptools) and makes the venv.
# The venv gets torch from a CPU wheel on this machine's disk when there is one (/opt/wheels, or
# WHEEL_CHECK_TORCH=path/to/torch.whl), not the several-GB CUDA build; the rest comes from the
# package index as `pip install styletransfer-*.whl` would fetch it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/wheel-check.XXXXXX")
app_pid=""
cleanup() {
    if [ -n "$app_pid" ]; then kill "$app_pid" 2>/dev/null || true; wait "$app_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
step() { echo "wheel check: $*"; }
fail() { echo "wheel check FAILED: $*" >&2; exit 1; }

step "copy the sources (tracked and new files; no build/ or .venv/ leftovers)"
mkdir -p "$work/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$work/src"

step "build the wheel"
if ! "$python" -m pip wheel --no-deps --no-build-isolation -q -w "$work/dist" "$work/src" >"$work/build.log" 2>&1; then
    "$python" -m pip wheel --no-deps -q -w "$work/dist" "$work/src" >>"$work/build.log" 2>&1 \
        || { cat "$work/build.log" >&2; fail "the wheel did not build"; }
fi
wheel=$(ls "$work"/dist/styletransfer-*.whl)
"$python" - "$wheel" "$work/src" <<'EOF' || fail "the wheel lacks files"
import pathlib, sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
src = pathlib.Path(sys.argv[2])
# Every module of the source tree (a sub-package left out of pyproject's list would be missing
# here), plus the data files the app and the CLI read.
needed = sorted(path.relative_to(src).as_posix() for path in (src / "styletransfer").rglob("*.py"))
needed += ["styletransfer/styles/manifest.csv", "styletransfer/examples/manifest.csv"]
# The run logs the app draws its curves from: setuptools ships these folders as package data
# with a warning that it may stop (they are importable names missing from `packages`).
needed += sorted(f"styletransfer/styles/runs/{path.parent.name}/metrics.csv"
                 for path in (src / "styles" / "runs").glob("*/metrics.csv"))
assert "styletransfer/apps/cli/main.py" in needed and "styletransfer/apps/web/app.py" in needed, needed
missing = [name for name in needed if name not in names]
models = [name for name in names if name.startswith("styletransfer/styles/") and name.endswith(".safetensors")]
assert not missing and models, f"missing {missing}, {len(models)} style models"
# The licence travels with the wheel (pyproject's license-files), where pip show -f finds it.
assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), "the wheel has no LICENSE"
print(f"wheel check: {sys.argv[1].rsplit('/', 1)[-1]}: {len(names)} files, {len(models)} styles")
EOF

step "install it into a fresh venv"
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install -q --disable-pip-version-check)
torch_wheel=${WHEEL_CHECK_TORCH:-$(ls /opt/wheels/torch-*cpu*.whl 2>/dev/null | sort | tail -n 1 || true)}
if [ -n "$torch_wheel" ]; then
    "${pip[@]}" "$torch_wheel"
fi
"${pip[@]}" "$wheel"
bin="$work/venv/bin"

mkdir -p "$work/outside" "$work/home"
cd "$work/outside"
export STYLETRANSFER_HOME="$work/home" GRADIO_ANALYTICS_ENABLED=False PYTHONNOUSERSITE=1
unset PYTHONPATH || true

step "the package comes from the venv, not the repository"
"$bin/python" -c "import styletransfer, sys; assert sys.prefix in styletransfer.__file__, styletransfer.__file__"

step "styletransfer styles"
"$bin/styletransfer" styles | tee "$work/styles.txt"
grep -q "^great_wave " "$work/styles.txt" || fail "styles does not list the shipped great_wave"
"$bin/styletransfer" styles --json >"$work/styles.json"
"$bin/python" - "$work/styles.json" <<'EOF' || fail "styles --json"
import json, sys
styles = json.load(open(sys.argv[1]))
assert {"great_wave", "starry_night"} <= {style["name"] for style in styles}, styles
assert all(sys.prefix in style["path"] for style in styles)
EOF

step "styletransfer stylize (a file, then a pipe)"
cp "$("$bin/python" -c 'from styletransfer.core.resources import EXAMPLES_DIR; print(EXAMPLES_DIR / "cat.jpg")')" photo.jpg
"$bin/styletransfer" stylize photo.jpg --style great_wave -o out --max-size 128
"$bin/styletransfer" stylize - --style starry_night -o - --max-size 96 --format png <photo.jpg >piped.png
"$bin/python" - <<'EOF' || fail "stylize wrote no usable image"
from PIL import Image
assert Image.open("out/photo_great_wave.jpg").size == (128, 96)
piped = Image.open("piped.png")
assert piped.format == "PNG" and piped.size == (96, 72)
EOF

step "styletransfer info --json"
"$bin/styletransfer" info --json >"$work/info.json"
"$bin/python" -c "
import json, sys
info = json.load(open(sys.argv[1]))
assert 'great_wave' in info['styles'] and info['devices'][0]['available'], info
" "$work/info.json" || fail "info --json"

step "styletransfer app answers HTTP 200"
port=$("$bin/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$bin/styletransfer" app --port "$port" >"$work/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 240); do
    if ! kill -0 "$app_pid" 2>/dev/null; then cat "$work/app.log" >&2; fail "the app exited"; fi
    if "$bin/python" -c "
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$port/', timeout=2).status == 200 else 1)
" 2>/dev/null; then
        step "passed (the app answered on port $port)"
        exit 0
    fi
    sleep 0.5
done
cat "$work/app.log" >&2
fail "the app did not answer within 120 s"
