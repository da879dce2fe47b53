#!/bin/sh
# Build casetrail's wheel from this source tree and install it, with no
# extras, into the virtual environment VENV (created when missing).
# The Dockerfile installs the image this way, and so does the test of the
# base install (tests/e2e/test_e2e_base_install.py), so both get exactly
# what `pip install casetrail` gives a user. The wheel is built from a copy
# of the packaged files, so nothing stale (a build/ folder) can slip in.
#   usage: sh scripts/install_wheel.sh VENV [PYTHON]
set -eu
venv=${1:?usage: install_wheel.sh VENV [PYTHON]}
python=${2:-python3}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src" "$work/wheels"
for item in pyproject.toml README.md domain projections api scripts; do
    cp -R "$src/$item" "$work/src/"
done
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
test -x "$venv/bin/python" || "$python" -m venv "$venv"
"$venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$work/wheels" "$work/src"
"$venv/bin/python" -m pip install --quiet "$work/wheels"/casetrail-*.whl
