"""Drive a real JupyterLab 4 / Notebook 7 in headless Chromium from pytest.

The fixtures in ``conftest.py`` give a test a running server (``server``), a fresh
browser tab (``page``) and the front-end name (``frontend``: ``"lab"`` unless the test
parametrizes it). :func:`open_notebook` writes a notebook, starts its kernel, opens it,
runs every cell through the Run menu and returns a :class:`Notebook` to poke at::

    import pytest
    from harness import FRONTENDS, open_notebook

    @pytest.mark.browser
    @pytest.mark.parametrize("frontend", FRONTENDS)  # omit to run in JupyterLab only
    def test_counter(server, page):
        nb = open_notebook(server, page, ["from mywidgets import Counter", "w = Counter()\\nw"])
        button = nb.widget("button")
        button.click()
        nb.run_code("print(w.count)", until="1")  # Python saw the click
        nb.wait_for_attr(nb.widget("canvas"), "data-drawn", lambda v: int(v) >= 2)
        assert nb.canvas_pixels(nb.widget("canvas"))["nonblank"] > 0
        nb.click_canvas(nb.widget("canvas"), 10, 20)  # CSS px from the canvas's corner
        nb.screenshot("after-click")  # test-artifacts/browser/test_counter-after-click-lab.png

Facts this relies on (see ``/work/shared/TESTING.md``): the kernel session is created
over REST *before* the page opens (else a "Select Kernel" dialog races Run All); the
notebook toolbar's execution indicator reads ``idle`` before the kernel is attached, so
readiness also needs the kernel name shown; canvases can sit at fractional offsets, so
clicks go to integer page coordinates.

Timeouts in this module are in **seconds** (Playwright's own API uses milliseconds).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client import BlockingKernelClient
from playwright.sync_api import BrowserContext, Locator, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

FRONTENDS = ("lab", "notebook")
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("NNWIDGETS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Widget views sit in an output area without a data-mime-type (text outputs have one).
WIDGET_OUTPUT = ".jp-OutputArea-output"
RUN_ALL = re.compile(r"^Run All Cells$")  # menu label, the same in Lab and Notebook 7

# (label, seconds) measured during the session; conftest prints them in the summary.
TIMINGS: list[tuple[str, float]] = []


def record_timing(label: str, seconds: float) -> None:
    """Keep a measured duration for the end-of-session summary and print it now (``-s``)."""
    TIMINGS.append((label, seconds))
    print(f"[timing] {label}: {seconds * 1000:.0f} ms")


# --------------------------------------------------------------------------- server


@dataclass
class JupyterServer:
    """A ``jupyter lab`` or ``jupyter notebook`` process serving ``root`` on ``url``."""

    frontend: str
    url: str
    root: Path
    runtime_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] = field(repr=False)
    open_notebooks: list[Notebook] = field(default_factory=list, repr=False)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API (``/api/...``) and return the decoded JSON (None if empty)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def notebook_url(self, path: str) -> str:
        """Where the front end shows notebook ``path`` (relative to ``root``)."""
        if self.frontend == "lab":
            return f"{self.url}/lab/tree/{path}?reset"
        return f"{self.url}/notebooks/{path}"

    def close_sessions(self) -> None:
        """Close every notebook opened through this server (shuts their kernels down)."""
        while self.open_notebooks:
            self.open_notebooks.pop().close()

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the server's log (for failure reports)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the server process by its PID (it shuts its kernels down first)."""
        self.close_sessions()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _prepare_dirs(base: Path) -> dict[str, str]:
    """Make an isolated Jupyter home under ``base`` and return the environment for it."""
    config, data = base / "config", base / "jupyter-path"
    # The kernel is *this* interpreter, whatever kernelspecs the machine has elsewhere:
    # JUPYTER_PATH comes first in the kernelspec search.
    _write_json(
        data / "kernels" / "python3" / "kernel.json",
        {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "metadata": {"debugger": True},
        },
    )
    settings = config / "lab" / "user-settings" / "@jupyterlab"
    # No news toast over the widgets; every cell attached to the DOM (no windowing).
    _write_json(
        settings / "apputils-extension" / "notification.jupyterlab-settings",
        {"fetchNews": "false", "checkForUpdates": False},
    )
    _write_json(
        settings / "notebook-extension" / "tracker.jupyterlab-settings", {"windowingMode": "none"}
    )
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_PATH=str(data),
        IPYTHONDIR=str(base / "ipython"),
        # Notebooks import the package from this checkout (also when it is not installed).
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p),
    )
    return env


def start_server(frontend: str, base: Path, timeout: float = 60) -> JupyterServer:
    """Start ``jupyter lab`` (``frontend="lab"``) or Notebook 7 (``"notebook"``) under ``base``.

    Binds a free 127.0.0.1 port, waits until ``/api/status`` answers and checks that the
    ``python3`` kernelspec runs this interpreter.
    """
    if frontend not in FRONTENDS:
        raise ValueError(f"frontend must be one of {FRONTENDS}, not {frontend!r}")
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    env = _prepare_dirs(base)
    app = "LabApp" if frontend == "lab" else "JupyterNotebookApp"
    module = "jupyterlab" if frontend == "lab" else "notebook"
    for attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        command = [
            sys.executable, "-m", module,
            "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
            "--allow-root", "--ServerApp.disable_check_xsrf=True",
            "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
            f"--{app}.workspaces_dir={base / 'workspaces'}",
            # Notebook 7 also loads the jupyterlab server extension: keep it quiet too.
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]  # fmt: skip
        log_path = base / f"server-{frontend}-{attempt}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = JupyterServer(
            frontend, f"http://127.0.0.1:{port}", root, base / "runtime", log_path, proc
        )
        started = time.perf_counter()
        while proc.poll() is None and time.perf_counter() - started < timeout:
            try:
                server.api("GET", "/api/status")
                break
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        if proc.poll() is None:
            if time.perf_counter() - started >= timeout:
                server.stop()
                raise RuntimeError(f"{frontend} server did not answer:\n{server.log_tail()}")
            record_timing(f"server start ({frontend})", time.perf_counter() - started)
            _check_kernelspec(server)
            return server
        if "already in use" not in server.log_tail():
            break
    raise RuntimeError(f"{frontend} server exited:\n{server.log_tail()}")


def _check_kernelspec(server: JupyterServer) -> None:
    spec = server.api("GET", "/api/kernelspecs")["kernelspecs"]["python3"]["spec"]
    if spec["argv"][0] != sys.executable:
        server.stop()
        raise RuntimeError(f"python3 kernel runs {spec['argv'][0]}, not {sys.executable}")


class ServerPool:
    """Starts at most one server per front end, on first use; stops them all at the end."""

    def __init__(self, base: Path):
        self.base = base
        self.servers: dict[str, JupyterServer] = {}

    def get(self, frontend: str) -> JupyterServer:
        """The running server for ``frontend``, started now if needed."""
        server = self.servers.get(frontend)
        if server is None or server.proc.poll() is not None:
            server = self.servers[frontend] = start_server(frontend, self.base / frontend)
        return server

    def stop_all(self) -> None:
        """Stop every server this pool started."""
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


# --------------------------------------------------------------------------- browser


def launch_browser(playwright: Playwright, profile_dir: Path) -> BrowserContext:
    """Headless Debian Chromium, HiDPI (device scale 2), 1400x1000 viewport."""
    return playwright.chromium.launch_persistent_context(
        str(profile_dir),
        executable_path=CHROMIUM,
        headless=True,
        chromium_sandbox=False,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000},
        device_scale_factor=2,
    )


class BrowserLog:
    """Console messages and uncaught page errors of one tab."""

    def __init__(self, page: Page):
        self.entries: list[tuple[str, str]] = []
        page.on("console", lambda msg: self.entries.append((msg.type, msg.text)))
        page.on("pageerror", lambda exc: self.entries.append(("pageerror", str(exc))))

    @property
    def errors(self) -> list[str]:
        """Texts of ``console.error`` calls and uncaught exceptions."""
        return [text for kind, text in self.entries if kind in ("error", "pageerror")]

    def format(self, limit: int = 80) -> str:
        """Errors and warnings, one a line, newest ``limit`` of them."""
        lines = [f"[{k}] {t}" for k, t in self.entries if k in ("error", "pageerror", "warning")]
        return "\n".join(lines[-limit:])


def current_test_name(drop: str | None = None) -> str:
    """The running test's name, with its parameter ids but without ``drop`` (a front end)."""
    node = os.environ.get("PYTEST_CURRENT_TEST", "test").split("::")[-1].rsplit(" (", 1)[0]
    name, _, params = node.partition("[")
    parts = [p for p in params.rstrip("]").split("-") if p and p != drop]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join([name, *parts]))


# --------------------------------------------------------------------------- notebook

_UI_STATE = """() => {
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  const kernel = document.querySelector('.jp-KernelName');
  const dialog = document.querySelector('.jp-Dialog');
  return {
    status: indicator ? indicator.dataset.status : null,
    kernel: kernel ? kernel.textContent.trim() : '',
    dialog: dialog ? dialog.innerText.slice(0, 300) : null,
    prompts: [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
      .map(p => p.textContent.trim()),
    errors: [...document.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map(e => e.innerText.slice(-2000)),
  };
}"""

_CANVAS_PIXELS = """(canvas, [background, region]) => {
  const copy = document.createElement('canvas');
  copy.width = canvas.width; copy.height = canvas.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(canvas, 0, 0);
  const [x, y, w, h] = region || [0, 0, canvas.width, canvas.height];
  const d = ctx.getImageData(x, y, w, h).data;
  const bg = background || [d[0], d[1], d[2], d[3]];
  let nonblank = 0, hash = 0x811c9dc5;
  const sum = [0, 0, 0, 0], colours = new Set();
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] !== bg[0] || d[i + 1] !== bg[1] || d[i + 2] !== bg[2] || d[i + 3] !== bg[3]) {
      nonblank++;
    }
    for (let k = 0; k < 4; k++) {
      sum[k] += d[i + k];
      hash = Math.imul(hash ^ d[i + k], 0x01000193) >>> 0;
    }
    colours.add(((d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3]) >>> 0);
  }
  const n = Math.max(1, d.length / 4);
  return {
    width: canvas.width, height: canvas.height, css_width: canvas.clientWidth,
    css_height: canvas.clientHeight, background: bg, nonblank, colours: colours.size,
    mean: sum.map(s => s / n), hash: hash.toString(16).padStart(8, '0'),
  };
}"""


class KernelError(RuntimeError):
    """Code sent with :meth:`Notebook.run_code` raised in the kernel."""


class NotebookError(RuntimeError):
    """The notebook did not open or its cells did not all run."""


@dataclass
class Notebook:
    """An open notebook whose cells have all run; made by :func:`open_notebook`."""

    server: JupyterServer = field(repr=False)
    page: Page = field(repr=False)
    path: str
    session_id: str
    kernel_id: str
    test_name: str
    _client: BlockingKernelClient | None = field(default=None, repr=False)

    @property
    def frontend(self) -> str:
        """``"lab"`` or ``"notebook"``."""
        return self.server.frontend

    def widget(self, selector: str) -> Locator:
        """Locator for ``selector`` inside the notebook's cell outputs (where widgets render)."""
        return self.page.locator(WIDGET_OUTPUT).locator(selector)

    # -- Python side ---------------------------------------------------------

    def run_code(
        self,
        code: str,
        until: str | Callable[[str], bool] | None = None,
        timeout: float = 30,
    ) -> str:
        """Run ``code`` in the notebook's kernel (same namespace) and return its text output.

        The output is stdout plus the ``text/plain`` of results, stripped; stderr is left
        out. Nothing shows in the page. Raises :class:`KernelError` if the code raises.

        A click's message may still be on its way to the kernel when this runs. Pass
        ``until`` (the expected output, or a predicate on it) to re-run ``code`` until it
        matches, e.g. ``run_code("print(w.count)", until="2")``; AssertionError after
        ``timeout`` seconds.
        """
        deadline = time.perf_counter() + timeout
        while True:
            output = self._execute(code, timeout)
            if until is None:
                return output
            if until(output) if callable(until) else output == until:
                return output
            if time.perf_counter() > deadline:
                raise AssertionError(f"{code!r} printed {output!r}, waited for {until!r}")
            time.sleep(0.05)

    def _execute(self, code: str, timeout: float) -> str:
        if self._client is None:
            client = BlockingKernelClient(
                connection_file=str(self.server.runtime_dir / f"kernel-{self.kernel_id}.json")
            )
            client.load_connection_file()
            client.start_channels()
            client.wait_for_ready(timeout=timeout)
            self._client = client
        out: list[str] = []
        err: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                (out if content["name"] == "stdout" else err).append(content["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                err.append(re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(content["traceback"])))

        reply = self._client.execute_interactive(
            code, output_hook=hook, timeout=timeout, store_history=False, allow_stdin=False
        )
        if reply["content"]["status"] != "ok":
            raise KernelError(f"{code!r} failed:\n{''.join(err)}")
        return "".join(out).strip()

    # -- browser side --------------------------------------------------------

    def screenshot(self, name: str, show: Locator | None = None) -> Path:
        """Save a full-page PNG as ``test-artifacts/browser/<test>-<name>-<frontend>.png``.

        The notebook scrolls inside a fixed-size page, so ``show`` (default: the last cell
        output) is scrolled to the middle of the view first.
        """
        path = ARTIFACTS / f"{self.test_name}-{name}-{self.frontend}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        show = show or self.page.locator(WIDGET_OUTPUT).last
        if show.count():
            show.evaluate("e => e.scrollIntoView({block: 'center'})")
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def canvas_pixels(
        self,
        locator: Locator,
        background: Sequence[int] | None = None,
        region: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        """Summarise a canvas's pixels (2D or WebGL with ``preserveDrawingBuffer``).

        Returns ``width``/``height`` (image pixels), ``css_width``/``css_height``,
        ``nonblank`` (pixels differing from ``background``: RGBA, default the top-left
        pixel), ``colours`` (distinct RGBA values), ``mean`` (RGBA) and ``hash`` (FNV-1a of
        the RGBA bytes). ``region`` = ``(x, y, w, h)`` in image pixels limits it to a part.
        """
        region_arg = None if region is None else list(region)
        background_arg = None if background is None else list(background)
        return locator.evaluate(_CANVAS_PIXELS, [background_arg, region_arg])

    def canvas_point(self, locator: Locator, x_css: int, y_css: int) -> tuple[int, int]:
        """Integer page coordinates of CSS pixel ``(x_css, y_css)`` of an element.

        The element is scrolled into view first. Its box can start at a fractional
        coordinate; rounding the corner up keeps the point inside CSS pixel
        ``(x_css, y_css)``, so ``floor((clientX - rect.left) * canvas.width / rect.width)``
        in the widget maps it to the matching image pixel. Use with ``page.mouse`` for drags.
        """
        locator.scroll_into_view_if_needed()
        box = locator.bounding_box()
        if box is None:
            raise AssertionError(f"{locator} is not visible")
        return math.ceil(box["x"]) + x_css, math.ceil(box["y"]) + y_css

    def click_canvas(self, locator: Locator, x_css: int, y_css: int, **kwargs: Any) -> None:
        """Click CSS pixel ``(x_css, y_css)`` of ``locator`` (see :meth:`canvas_point`)."""
        self.page.mouse.click(*self.canvas_point(locator, x_css, y_css), **kwargs)

    def wait_for_attr(
        self,
        locator: Locator,
        name: str,
        expected: str | int | Callable[[str | None], bool],
        timeout: float = 15,
    ) -> str | None:
        """Wait until attribute ``name`` of ``locator`` equals ``expected`` or satisfies it.

        ``expected`` is compared as a string (``wait_for_attr(c, "data-drawn", 7)``) or is a
        predicate on the value, which is None while the attribute is missing
        (``lambda v: v is not None and int(v) >= 7``). Returns the value; AssertionError
        after ``timeout`` seconds.
        """
        deadline = time.perf_counter() + timeout
        value, seen = None, False
        while True:
            left_ms = (deadline - time.perf_counter()) * 1000
            try:
                value = locator.get_attribute(name, timeout=max(100.0, left_ms))
                seen = True
                ok = expected(value) if callable(expected) else value == str(expected)
                if ok:
                    return value
            except PlaywrightTimeout:  # no such element (yet)
                pass
            if time.perf_counter() > deadline:
                found = f"{name}={value!r}" if seen else "never appeared"
                raise AssertionError(f"{locator}: {found}; waited {timeout} s for {expected!r}")
            time.sleep(0.03)

    # -- teardown ------------------------------------------------------------

    def close(self) -> None:
        """Stop the kernel client and delete the kernel session (stops the kernel)."""
        if self._client is not None:
            self._client.stop_channels()
            self._client = None
        try:
            self.server.api("DELETE", f"/api/sessions/{self.session_id}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise


def open_notebook(
    server: JupyterServer,
    page: Page,
    cells: Sequence[str],
    name: str | None = None,
    timeout: float = 120,
) -> Notebook:
    """Write ``cells`` (code) into a notebook, open it in ``page`` and run all its cells.

    The kernel session is created over REST first, the page waits for the kernel to be
    idle, Run → Run All Cells is clicked, and this returns once every cell has an
    execution count. Raises :class:`NotebookError` (with the error output) if a cell
    fails. The session is deleted when the ``server`` fixture tears down.
    """
    test_name = current_test_name(drop=server.frontend)
    if name is None:
        name = f"{test_name}-{uuid.uuid4().hex[:6]}"
    path = name if name.endswith(".ipynb") else name + ".ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(notebook, server.root / path)
    session = server.api(
        "POST",
        "/api/sessions",
        {"path": path, "type": "notebook", "name": path, "kernel": {"name": "python3"}},
    )
    nb = Notebook(server, page, path, session["id"], session["kernel"]["id"], test_name)
    server.open_notebooks.append(nb)

    started = time.perf_counter()
    page.goto(server.notebook_url(path))
    # The execution indicator reads "idle" before a kernel is attached: also wait for the
    # kernel's name in the toolbar.
    page.wait_for_function(
        f"""() => {{ const s = ({_UI_STATE})();
            return s.status === 'idle' && s.kernel !== '' && s.kernel !== 'No Kernel'; }}""",
        timeout=timeout * 1000,
    )
    ready = time.perf_counter()
    record_timing(f"notebook open ({server.frontend})", ready - started)
    _run_all(nb, len(cells), timeout)
    record_timing(f"run all {len(cells)} cells ({server.frontend})", time.perf_counter() - ready)
    return nb


def _run_all(nb: Notebook, n_cells: int, timeout: float) -> None:
    page = nb.page
    deadline = time.perf_counter() + timeout
    clicked_at = None
    stalled_since = None
    while time.perf_counter() < deadline:
        state = page.evaluate(_UI_STATE)
        if state["dialog"]:
            nb.screenshot("unexpected-dialog")
            raise NotebookError(f"unexpected dialog: {state['dialog']}")
        prompts = state["prompts"]
        done = [p for p in prompts if re.fullmatch(r"\[\d+\]:", p)]
        if len(prompts) == n_cells and len(done) == n_cells:
            return
        now = time.perf_counter()
        if clicked_at is None or (not done and "[*]:" not in prompts and now - clicked_at > 10):
            # First click, or a click that started nothing in 10 s: (re)do Run All.
            if clicked_at is not None:
                print(f"[open_notebook] Run All started nothing in 10 s, clicking again: {state}")
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.locator(".lm-Menu-itemLabel").filter(has_text=RUN_ALL).click()
            clicked_at = now
        elif done and "[*]:" not in prompts and state["status"] == "idle":
            # Run All stops at a failing cell and leaves the rest unnumbered.
            stalled_since = stalled_since or now
            if now - stalled_since > 2:
                nb.screenshot("run-all-failed")
                errors = "\n".join(state["errors"]) or "(no error output)"
                raise NotebookError(f"cells did not all run: {prompts}\n{errors}")
        else:
            stalled_since = None
        time.sleep(0.1)
    nb.screenshot("run-all-timeout")
    raise NotebookError(f"cells still running after {timeout} s: {page.evaluate(_UI_STATE)}")
