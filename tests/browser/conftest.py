"""Fixtures for browser tests: Jupyter servers, headless Chromium, one tab per test.

``server`` is the Jupyter server for ``frontend`` (``"lab"`` unless a test parametrizes
``frontend``, e.g. with ``@pytest.mark.parametrize("frontend", FRONTENDS)``); each front
end's server starts once per session, on first use. ``page`` is a fresh tab (HiDPI,
1400x1000) in one session-wide Chromium; ``browser_log`` holds its console messages. A
failing test's report gets the console errors and the server log's tail, and a screenshot
lands in ``test-artifacts/browser/<test>-FAILED.png``. Every test in this directory is
marked ``browser`` (deselect with ``-m "not browser"``). Helpers: ``harness.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the helper module harness.py sits beside this file
    sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402
    ARTIFACTS,
    CHROMIUM,
    TIMINGS,
    BrowserLog,
    JupyterServer,
    ServerPool,
    launch_browser,
)

_LOG = pytest.StashKey[BrowserLog]()
_SERVER = pytest.StashKey[JupyterServer]()
_FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
        if _LOG in item.stash and item.stash[_LOG].entries:
            report.sections.append(("browser console", item.stash[_LOG].format()))
        if _SERVER in item.stash:
            report.sections.append(("jupyter server log", item.stash[_SERVER].log_tail()))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("browser timings")
        for label, seconds in TIMINGS:
            terminalreporter.write_line(f"{label}: {seconds * 1000:.0f} ms")


@pytest.fixture
def frontend() -> str:
    """``"lab"``; parametrize ``frontend`` over ``FRONTENDS`` to run in Notebook 7 too."""
    return "lab"


@pytest.fixture(scope="session")
def jupyter_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("jupyter"))
    yield pool
    pool.stop_all()


@pytest.fixture
def server(
    jupyter_servers: ServerPool, frontend: str, request: pytest.FixtureRequest
) -> Iterator[JupyterServer]:
    """The running server for ``frontend``; notebooks opened in the test close after it."""
    server = jupyter_servers.get(frontend)
    request.node.stash[_SERVER] = server
    yield server
    server.close_sessions()


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch_browser(playwright, tmp_path_factory.mktemp("chromium-profile"))
        yield context
        context.close()


@pytest.fixture
def page(browser_context, request: pytest.FixtureRequest):
    """A new tab; on failure its console log goes into the report and a screenshot is saved."""
    page = browser_context.new_page()
    request.node.stash[_LOG] = BrowserLog(page)
    yield page
    if request.node.stash.get(_FAILED, False):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in request.node.name)
        page.screenshot(path=str(ARTIFACTS / f"{name}-FAILED.png"))
    page.close()


@pytest.fixture
def browser_log(page, request: pytest.FixtureRequest) -> BrowserLog:
    """Console messages and page errors of ``page`` so far (``.entries``, ``.errors``)."""
    return request.node.stash[_LOG]
