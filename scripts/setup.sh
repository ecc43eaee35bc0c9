#!/usr/bin/env bash
# Set up everything nnwidgets needs on a fresh Debian/Ubuntu machine (idempotent):
#   scripts/setup.sh          `make demo`: Python venv (.venv) with the CPU build of torch, the JS
#                             bundle, the package with its demo and export extras (JupyterLab,
#                             Notebook 7, the exporter's nbconvert stack)
#   scripts/setup.sh --test   `make test`: the same with the test extras (which hold the demo's and
#                             the exporter's) and Debian's Chromium for browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[[ "${1:-}" == "--test" ]] && with_tests=1
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

if (( with_tests )) && [[ ! -x /usr/bin/chromium ]]; then
  echo "== installing Debian's Chromium (browser tests drive it; never 'playwright install')"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

# The CPU build first: an unpinned torch (or anything pulling torchvision) fetches a multi-GB CUDA build.
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "== installing torch==$TORCH_VERSION (CPU)"
  "${pip[@]}" install "torch==$TORCH_VERSION"
fi

echo "== building the front-end (npm ci && npm run build)"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build

extras="[demo,export]"
(( with_tests )) && extras="[test]"
echo "== installing nnwidgets$extras (editable)"
"${pip[@]}" install -e ".$extras"
