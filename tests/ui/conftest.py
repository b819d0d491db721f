"""Browser tests: a real ``jupyter lab`` on the private redis-server, driven by Debian's Chromium
through Playwright (Python, sync API). Nothing here downloads a browser.

- ``jupyter_lab``: the lab server, with JupyterLab's news prompt and update check off. A test's
  ``@pytest.mark.lab(settings={plugin_id: {...}}, args=[...], broker=url)`` adds user settings
  (written before the server starts) and command-line arguments, or picks another broker URL
  (``memory://``, the embedded default) than the private Redis.
- ``lab_context``: a headless Chromium with a fresh profile; its one page records dialogs and
  console errors. At teardown the page is saved to ``test-artifacts/ui/<case>.png`` when the
  test failed or took no screenshot itself.
- ``open_lab(state=...)``: opens ``<url>lab?token=<token>`` and waits until JupyterLab is
  ready and the JLN status item shows that state. ``lab_page``: the same, waiting for live.
- ``screenshot()``: saves the page now as the case's screenshot.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Error,
    Locator,
    Page,
    expect,
    sync_playwright,
)

# The real-server factory lives with the server tests: share it rather than copy it.
from server import conftest as server_fixtures
from server.conftest import JupyterProcess

jupyter_process = server_fixtures.jupyter_process

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]
READY_TIMEOUT_MS = 60_000
"""The first load of a fresh profile fetches JupyterLab's scripts: allow for a slow machine."""
STEP_TIMEOUT_MS = 15_000
STATUS_LABELS = {**{state: f"Notifications: {state}"
                    for state in ("connecting", "live", "polling", "offline")},
                 "offline-broker": "Notifications: broker offline"}
"""What ``status.ts`` shows in the status bar for each connection state."""

QUIET_LAB_SETTINGS: dict[str, dict[str, Any]] = {
    # JupyterLab would otherwise ask in a toast whether to fetch news: not ours, and it counts
    # in the notification center.
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false", "checkForUpdates": False},
}
QUIET_LAB_ARGS = [
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_SHOT_TAKEN = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab(settings={plugin_id: {...}}, args=[...], broker=url): JupyterLab user "
        "settings, server arguments and broker for this UI test's jupyter lab")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so teardown knows whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def artifact_path(request: pytest.FixtureRequest) -> Path:
    """``test-artifacts/ui/<case>.png`` at the repository root."""
    case = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    folder = request.config.rootpath / "test-artifacts" / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{case}.png"


def write_user_settings(folder: Path, settings: dict[str, dict[str, Any]]) -> None:
    """``{"pkg:plugin": {...}}`` as JupyterLab keeps them: ``<folder>/pkg/plugin.jupyterlab-
    settings``."""
    for plugin_id, values in settings.items():
        package, plugin = plugin_id.split(":", 1)
        path = folder / package / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


@pytest.fixture
def jupyter_lab(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str,
                jupyter_process: Callable[..., JupyterProcess]) -> JupyterProcess:
    """``jupyter lab`` on the private Redis (or the marker's broker), offline and quiet, with the
    test's settings."""
    settings = {plugin: dict(values) for plugin, values in QUIET_LAB_SETTINGS.items()}
    args: list[str] = []
    broker = redis_url
    for marker in reversed(list(request.node.iter_markers("lab"))):
        for plugin, values in marker.kwargs.get("settings", {}).items():
            settings.setdefault(plugin, {}).update(values)
        args.extend(marker.kwargs.get("args", ()))
        broker = marker.kwargs.get("broker", broker)
    user_settings = tmp_path / "lab-user-settings"
    write_user_settings(user_settings, settings)
    return jupyter_process(
        broker, *QUIET_LAB_ARGS, f"--LabApp.user_settings_dir={user_settings}",
        f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}", *args, app="lab")


@dataclass
class PageRecord:
    """What the page did that a test may want to assert on or a failure report should show."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"console.{message.type}: {message.text}")


@pytest.fixture
def page_record() -> PageRecord:
    return PageRecord()


@pytest.fixture
def lab_context(request: pytest.FixtureRequest, tmp_path: Path, jupyter_lab: JupyterProcess,
                page_record: PageRecord) -> Iterator[BrowserContext]:
    """Headless Chromium with a profile of its own; screenshot at teardown on failure."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(STEP_TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        page.on("dialog", page_record.on_dialog)
        page.on("pageerror", page_record.on_page_error)
        page.on("console", page_record.on_console)
        try:
            yield context
        finally:
            reports = request.node.stash.get(_REPORTS, {})
            failed = any(report.failed for report in reports.values())
            try:
                if failed or not request.node.stash.get(_SHOT_TAKEN, False):
                    page.screenshot(path=artifact_path(request))
            finally:
                if failed:  # shown by pytest under "Captured stdout teardown"
                    print("\n".join(["--- browser", *page_record.errors, *page_record.dialogs,
                                     "--- jupyter lab log", jupyter_lab.log_tail(40)]))
                context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, lab_context: BrowserContext) -> Callable[[], Path]:
    """``screenshot()`` saves the page as this case's artifact and returns its path."""

    def take() -> Path:
        path = artifact_path(request)
        lab_context.pages[0].screenshot(path=path)
        request.node.stash[_SHOT_TAKEN] = True
        return path

    return take


def status_item(page: Page) -> Locator:
    """The JLN item in JupyterLab's status bar."""
    return page.locator("#jp-main-statusbar .jln-StatusItem")


@pytest.fixture
def open_lab(jupyter_lab: JupyterProcess, lab_context: BrowserContext) -> Callable[..., Page]:
    """``open_lab(state="live")``: load JupyterLab, wait until it is ready and the JLN status
    item shows ``state``. Set routes on ``lab_context`` before calling it."""

    def open_(state: str = "live") -> Page:
        page = lab_context.pages[0]
        page.goto(f"{jupyter_lab.url}lab?token={jupyter_lab.token}")
        expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=READY_TIMEOUT_MS)
        expect(page.locator("#jp-main-statusbar")).to_be_visible(timeout=READY_TIMEOUT_MS)
        expect(page.locator(".jp-Launcher")).to_be_visible()  # a fresh workspace opens one
        item = status_item(page)
        expect(item).to_have_attribute("data-jln-state", state, timeout=READY_TIMEOUT_MS)
        expect(item.locator(".jln-StatusItem-label")).to_have_text(STATUS_LABELS[state])
        return page

    return open_


@pytest.fixture
def lab_page(open_lab: Callable[..., Page]) -> Page:
    """JupyterLab open in the browser, the JLN status item saying live."""
    return open_lab("live")
