"""Export notebooks as self-contained web pages whose widgets still respond, offline.

The page embeds the notebook's saved widget state and loads the widget manager, require.js and
the widgets' front-ends from files written next to it, so the folder works from any web server
and from ``file://`` with no network. Widgets answer from their state (hover, scrub, clicks on
a swept image); controls that need a kernel are disabled with a note.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static" / "export"
#: How to install what the exporter needs beyond nnwidgets itself.
INSTALL_HINT = 'pip install "nnwidgets[export]"'
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
#: AMD front-ends of the widget libraries the page loads, by module name.
FRONT_ENDS = ("anywidget", "bqplot", "bqscales")
#: Marker the widgets' front-ends read to know that no kernel is behind the page.
STATIC_MARKER = "<script>window.__nnwidgetsStatic = true;</script>"
#: An empty icon, so that a page asks its server for no favicon.ico.
NO_FAVICON = '<link rel="icon" href="data:,">'
#: Where the widget manager's bundles look for their Font Awesome files, relative to the page:
#: each bundle resolves its fonts next to the URL require.js gives its own module id.
FONT_DIRS = ("@jupyter-widgets", "@jupyter-widgets/html-manager/dist")


@dataclass
class WidgetSize:
    """Bytes one widget model takes in the page."""

    model_id: str
    name: str
    bytes: int


@dataclass
class ExportReport:
    """What an export wrote and how big the widgets' state is."""

    page: Path
    page_bytes: int
    widgets: list[WidgetSize] = field(default_factory=list)

    @property
    def state_bytes(self) -> int:
        """Bytes of every widget's state together."""
        return sum(w.bytes for w in self.widgets)

    def format(self) -> str:
        """Return a short table of the page and its largest widgets, for the terminal."""
        page, state = self.page_bytes / 1e6, self.state_bytes / 1e6
        lines = [f"{self.page}: {page:.2f} MB page, {state:.2f} MB of widget state"]
        for widget in sorted(self.widgets, key=lambda w: -w.bytes)[:8]:
            lines.append(f"  {widget.bytes / 1e3:9.1f} KB  {widget.name} ({widget.model_id[:8]})")
        return "\n".join(lines)


def _front_end(module: str) -> Path:
    from jupyter_core.paths import jupyter_path

    for folder in jupyter_path("nbextensions"):
        candidate = Path(folder) / module / "index.js"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"the front-end of {module!r} (nbextensions/{module}/index.js) is not installed; "
        f"reinstall the {module} Python package"
    )


def _copy_assets(out_dir: Path) -> None:
    if not all((STATIC / name).exists() for name in ("require.js", "html-manager", "fonts")):
        raise FileNotFoundError(
            f"the export assets in {STATIC} are missing: this looks like a source checkout that "
            "was never built. Run `npm install && npm run build` in the repository."
        )
    shutil.copy2(STATIC / "require.js", out_dir / "require.js")
    shutil.copytree(STATIC / "html-manager", out_dir / "html-manager", dirs_exist_ok=True)
    for folder in FONT_DIRS:
        shutil.copytree(STATIC / "fonts", out_dir / folder, dirs_exist_ok=True)
    for module in FRONT_ENDS:
        shutil.copy2(_front_end(module), out_dir / f"{module}.js")


def _export_stack(execute: bool):
    """Return nbformat, NotebookClient and HTMLExporter; say how to install them if missing."""
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbconvert import HTMLExporter
    except ImportError as error:
        raise ImportError(
            f"{error.name or 'nbconvert'} is not installed; the exporter needs it: {INSTALL_HINT}"
        ) from error
    if execute and importlib.util.find_spec("ipykernel") is None:
        raise ImportError(
            f"ipykernel is not installed; the exporter runs notebooks with it: {INSTALL_HINT}"
        )
    return nbformat, NotebookClient, HTMLExporter


def _holds(values: dict, path: list) -> bool:
    """Whether ``path[:-1]`` leads to a dict or list in ``values`` (where a buffer goes)."""
    node: object = values
    for key in path[:-1]:
        try:
            node = node[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(node, dict | list)


def _drop_stale_buffers(state: dict) -> None:
    """Remove saved buffers whose trait was later set to None.

    nbclient records every state update of a widget; a buffer sent for a trait that a later
    update cleared stays in the saved list, and the widget manager fails on it.
    """
    for model in state.get("state", {}).values():
        if "buffers" in model:
            values = model.get("state", {})
            model["buffers"] = [b for b in model["buffers"] if _holds(values, b.get("path", []))]


def _sizes(state: dict) -> list[WidgetSize]:
    sizes = []
    for model_id, model in state.get("state", {}).items():
        inner = model.get("state", {})
        name = inner.get("_anywidget_id") or model.get("model_name", "?")
        size = len(json.dumps(model))
        sizes.append(WidgetSize(model_id, str(name).rsplit(".", 1)[-1], size))
    return sizes


def export_notebook(
    path: str | Path,
    out_dir: str | Path,
    *,
    execute: bool = True,
    timeout: float = 600,
    max_state_mb: float | None = None,
) -> ExportReport:
    """Write ``out_dir/<notebook>.html`` and the assets it needs; return the size report.

    Parameters
    ----------
    path : str or Path
        The notebook.
    out_dir : str or Path
        Folder of the page (created if missing); the assets go next to it.
    execute : bool
        Run the notebook first (in its own folder); False exports the widget state it saved.
    timeout : float
        Seconds a cell may run.
    max_state_mb : float, optional
        Fail if the widgets' state is larger than this many megabytes.

    Raises
    ------
    ImportError
        If nbformat, nbclient, nbconvert (or, to execute, ipykernel) is not installed; the
        message says ``pip install "nnwidgets[export]"``.
    """
    nbformat, NotebookClient, HTMLExporter = _export_stack(execute)
    path, out_dir = Path(path), Path(out_dir)
    nb = nbformat.read(path, as_version=4)
    if execute:
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=timeout,
            resources={"metadata": {"path": str(path.resolve().parent)}},
        )
        client.execute()
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    if not state or not state.get("state"):
        raise ValueError(
            f"{path.name} has no saved widget state: export it with execution (drop --no-execute) "
            "or save it in Jupyter with Settings > Save Widget State Automatically"
        )
    _drop_stale_buffers(state)
    widgets = _sizes(state)
    total = sum(w.bytes for w in widgets)
    if max_state_mb is not None and total > max_state_mb * 1e6:
        raise ValueError(
            f"{path.name}: the widgets' state is {total / 1e6:.1f} MB, over the limit of "
            f"{max_state_mb} MB; precompute fewer units (NeuronExplorer(precompute=False)), "
            "lower resolutions, or show fewer widgets"
        )
    exporter = HTMLExporter(
        template_name="lab",
        require_js_url="require.js",
        widget_renderer_url="html-manager/embed-amd.js",
        mathjax_url="",
    )
    body, _ = exporter.from_notebook_node(nb)
    body = body.replace("<head>", f"<head>\n{STATIC_MARKER}\n{NO_FAVICON}", 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_assets(out_dir)
    page = out_dir / f"{path.stem}.html"
    page.write_text(body, encoding="utf-8")
    return ExportReport(page, page.stat().st_size, widgets)
