"""Check an installed nnwidgets wheel, as a pip user gets it (run by scripts/check_wheel.sh).

Run with the Python of a fresh venv holding only torch and the wheel, from a folder outside the
repository and with no Node.js on PATH: imports nnwidgets from that venv, builds each widget
headless on the shipped demos, checks that every front-end file a widget points at lies inside
the installed package and was read, that the exporter's assets and the demo weights were
shipped, and that `nnwidgets export` without the export extra says how to install it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nnwidgets as nw
from nnwidgets.export import INSTALL_HINT, STATIC

failures: list[str] = []


def bundle_path(cls: type, trait: str) -> Path:
    """The file a widget class declares for ``_esm`` or ``_css``.

    anywidget wraps a declared path in a ``FileContents`` (its ``_path``) on the class itself;
    instances get a plain string trait with the file's text.
    """
    declared = next(c.__dict__[trait] for c in cls.__mro__ if trait in c.__dict__)
    return Path(getattr(declared, "_path", declared)).resolve()


def check(ok: object, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


package = Path(nw.__file__).resolve().parent
check(Path(sys.prefix).resolve() in package.parents, f"nnwidgets imported from the venv: {package}")
check(shutil.which("node") is None, "no Node.js on PATH")

demo = nw.zoo.digits()
text_demo = nw.zoo.char_rnn()
widgets = {
    nw.OcclusionExplorer: lambda: nw.OcclusionExplorer(demo.model, demo.images[0]),
    nw.NeuronExplorer: lambda: nw.NeuronExplorer(
        demo.model, "conv2", dataset=demo.images[:20], precompute=False
    ),
    nw.MLPExplorer: lambda: nw.MLPExplorer(data="xor"),
    nw.ActivationExplorer: lambda: nw.ActivationExplorer(
        demo.model, demo.images[0], dataset=demo.images[:20]
    ),
    nw.FilterExplorer: lambda: nw.FilterExplorer(demo.model, "conv2"),
    nw.TextNeuronExplorer: lambda: nw.TextNeuronExplorer(
        text_demo.model, text_demo.text[:400], text_demo.vocab
    ),
}
for cls, build in widgets.items():
    name = cls.__name__
    widget = build()
    for trait in ("_esm", "_css"):
        path = bundle_path(cls, trait)
        check(
            package in path.parents and path.is_file() and path.stat().st_size > 0,
            f"{name}.{trait} is a file in the package: {path.relative_to(package)}",
        )
        check(getattr(widget, trait) == path.read_text(), f"{name}.{trait} was read from it")
    state = widget.get_state()
    check(state.get("_anywidget_id", "").endswith(name), f"{name} builds and serializes its state")
    widget.close()

for asset in ("require.js", "html-manager/embed-amd.js"):
    check((STATIC / asset).is_file(), f"export asset shipped: {asset}")
check(list((STATIC / "fonts").glob("*.woff2")), "export fonts shipped")
weights = package / "zoo" / "weights"
shipped = sorted(p.name for p in weights.glob("*.pt"))
check(
    {"digits_cnn.pt", "shapes_cnn.pt", "char_rnn.pt"} <= set(shipped),
    f"demo weights shipped in {weights}: {shipped}",
)

# Without the export extra the command names it (this venv has only the wheel's dependencies).
result = subprocess.run(
    [sys.executable, "-m", "nnwidgets", "export", "lesson.ipynb"], capture_output=True, text=True
)
check(
    result.returncode == 1 and INSTALL_HINT in result.stderr,
    f"`nnwidgets export` without the export extra says {INSTALL_HINT}: {result.stderr.strip()}",
)

if failures:
    sys.exit(f"check_wheel: {len(failures)} check(s) failed")
print("check_wheel: the installed wheel works")
