#!/usr/bin/env bash
# CI check that a pip user gets a working package: build the wheel from this checkout (its
# front-end built, e.g. by scripts/setup.sh), install it into a new venv outside the repository
# with no Node.js on PATH (the CPU build of torch first), and run scripts/check_wheel.py there
# from a folder outside the repository. (--no-compile: byte-compiling all of torch costs more
# than the few modules the check imports.)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== building the wheel (pip wheel --no-deps)"
.venv/bin/python -m pip wheel --disable-pip-version-check -q --no-deps -w "$work/dist" "$repo"
wheel=$(ls "$work"/dist/nnwidgets-*.whl)
echo "$(basename "$wheel"): $(du -k "$wheel" | cut -f1) KB"

echo "== a new venv in $work/venv, no Node.js on PATH: torch==$TORCH_VERSION, then the wheel"
"$PYTHON" -m venv "$work/venv"
# PATH holds the venv's python, pip and console scripts, nothing else
in_venv=(env "PATH=$work/venv/bin" "$work/venv/bin/python")
started=$SECONDS
"${in_venv[@]}" -m pip --disable-pip-version-check -q install --no-compile "torch==$TORCH_VERSION"
echo "torch installed in $(( SECONDS - started )) s"
started=$SECONDS
"${in_venv[@]}" -m pip --disable-pip-version-check -q install --no-compile "$wheel"
echo "the wheel and its dependencies installed in $(( SECONDS - started )) s"

echo "== scripts/check_wheel.py from $work"
cd "$work"
"${in_venv[@]}" "$repo/scripts/check_wheel.py"
