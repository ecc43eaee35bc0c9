#!/usr/bin/env bash
# CI check of the README's first command, `make demo`: run its setup (`make demo-setup`, what
# `make demo` runs first) and then its server (`make serve`, what it runs next) on a free port
# with --no-browser; fail unless JupyterLab starts without an error in its log, answers its API
# with the widget front-ends and a Python kernel, and serves the notebooks.
# Run it before anything installs the test extras: it must find what the demo path installs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== make demo-setup"
make --no-print-directory demo-setup

for command in jupyter-lab jupyter-notebook; do
  if [[ ! -x .venv/bin/$command ]]; then
    echo "check_demo: the demo setup did not install .venv/bin/$command" >&2
    exit 1
  fi
done

work=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(16))')
log=$work/server.log
server=""
stop() {
  if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
    kill -TERM -- "-$server" 2>/dev/null || true  # the server's own process group (setsid)
    for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

echo "== make serve on port $port"
JUPYTER_TOKEN=$token JUPYTER_RUNTIME_DIR=$work/runtime setsid \
  make --no-print-directory serve \
  LAB_ARGS="--no-browser --ip=127.0.0.1 --port=$port --ServerApp.port_retries=0" >"$log" 2>&1 &
server=$!

get() {  # GET an API path with the token; print the body
  .venv/bin/python - "$port" "$token" "$1" <<'EOF'
import sys
import urllib.request

port, token, path = sys.argv[1:]
request = urllib.request.Request(
    f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {token}"}
)
with urllib.request.urlopen(request, timeout=10) as response:
    sys.stdout.write(response.read().decode())
EOF
}

started=$SECONDS
until get /api/status >"$work/status.json" 2>/dev/null; do
  if ! kill -0 "$server" 2>/dev/null || (( SECONDS - started > 90 )); then
    echo "check_demo: JupyterLab did not answer on port $port; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "answered /api/status after $(( SECONDS - started )) s: $(cat "$work/status.json")"

failed=0
check() {  # check DESCRIPTION PATH PYTHON-EXPRESSION-ON-body
  local body
  body=$(get "$2")
  if ! BODY=$body .venv/bin/python -c "import json, os; body = os.environ['BODY']; assert $3"; then
    echo "check_demo: $1 (GET $2)" >&2
    failed=1
  fi
}
check "no python3 kernel" /api/kernelspecs '"python3" in json.loads(body)["kernelspecs"]'
check "notebooks/ is not served" /api/contents \
  'any(item["name"].endswith(".ipynb") for item in json.loads(body)["content"])'
check "a widget front-end is missing from JupyterLab" "/lab" \
  'all(name in body for name in ("@jupyter-widgets/jupyterlab-manager", "anywidget", "bqplot"))'

# A newcomer's terminal: the URL to open and no error (e.g. a builder's yarn failing under Node)
if ! grep -q "http://127.0.0.1:$port/lab?token=" "$log"; then
  echo "check_demo: the server did not print the URL to open" >&2
  failed=1
fi
if grep -nE '^\[E |Traceback|Error:|Fail to get' "$log" >&2; then
  echo "check_demo: JupyterLab's start printed the errors above" >&2
  failed=1
fi
if (( failed )); then
  echo "--- server log" >&2
  cat "$log" >&2
  exit 1
fi
echo "check_demo: make demo's setup and server work ($(wc -l <"$log") log lines, no error)"
