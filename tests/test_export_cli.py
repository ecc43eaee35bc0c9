"""The `nnwidgets export` command without a browser: errors, exit codes, the size report."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from nnwidgets.cli import main
from nnwidgets.export import FONT_DIRS, INSTALL_HINT, STATIC_MARKER, export_notebook


def notebook(path, cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def test_no_execute_without_saved_state_is_a_clear_error(tmp_path, capsys):
    path = notebook(tmp_path / "plain.ipynb", ["1 + 1"])
    status = main(["export", str(path), "-o", str(tmp_path / "site"), "--no-execute"])
    assert status == 1
    assert "no saved widget state" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no saved widget state"):
        export_notebook(path, tmp_path / "site", execute=False)


def test_export_writes_page_assets_and_report(tmp_path, capsys):
    cells = [
        "import nnwidgets as nw",
        "w = nw.MLPExplorer(data='xor', hidden=(2,))\nw",
    ]
    path = notebook(tmp_path / "lesson.ipynb", cells)
    out = tmp_path / "site"
    assert main(["export", str(path), "-o", str(out)]) == 0
    report = capsys.readouterr().out
    assert "lesson.html" in report and "MLPExplorer" in report and "MB of widget state" in report
    page = (out / "lesson.html").read_text()
    assert STATIC_MARKER in page
    assert 'src="require.js"' in page or "require.js" in page
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page
    for asset in (
        "require.js",
        "anywidget.js",
        "bqplot.js",
        "bqscales.js",
        "html-manager/embed-amd.js",
    ):
        assert (out / asset).exists(), asset
    for folder in FONT_DIRS:  # the widget manager's icon fonts, where its CSS looks for them
        assert list((out / folder).glob("*.woff2")), folder
    # the saved state is reused without running anything, and a size limit is enforced
    executed = nbformat.read(path, as_version=4)
    assert not executed.metadata.get("widgets")  # the source notebook is left as it was
    status = main(["export", str(path), "-o", str(out), "--max-state-mb", "0.001"])
    assert status == 1 and "over the limit" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["nbformat", "nbclient", "nbconvert", "ipykernel"])
def test_missing_export_extra_says_how_to_install_it(tmp_path, capsys, monkeypatch, module):
    path = notebook(tmp_path / "plain.ipynb", ["1 + 1"])
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    out = tmp_path / "site"
    assert main(["export", str(path), str(path), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert INSTALL_HINT == 'pip install "nnwidgets[export]"'
    assert INSTALL_HINT in err and module in err
    assert err.count("nnwidgets export:") == 1, "said once, not once per notebook"
    assert not out.exists()


def test_python_m_nnwidgets_shows_help():
    result = subprocess.run(
        [sys.executable, "-m", "nnwidgets", "export", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "--no-execute" in result.stdout
