"""The inbox in JupyterLab: the side panel, the unread count, one toast per person, mutes."""

from __future__ import annotations

import json
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from server.conftest import JupyterProcess

from .conftest import READY_TIMEOUT_MS, status_item
from .test_notifications import RedisCli, toasts, xadd

PLUGIN = "jln-labextension:plugin"
TOAST_WAIT_MS = 1500
"""How long a toast that is not coming is given to show up anyway."""


def unread_badge(page: Page) -> Locator:
    """The unread count beside the connection state in the status bar."""
    return status_item(page).locator(".jln-StatusItem-unread")


def open_inbox(page: Page) -> Locator:
    """Open the inbox from the status bar item; the panel."""
    status_item(page).click()
    panel = page.locator("#jln-inbox")
    expect(panel).to_be_visible()
    return panel


def items(panel: Locator) -> Locator:
    return panel.locator(".jln-InboxItem")


def messages(panel: Locator) -> list[str]:
    return items(panel).locator(".jln-InboxItem-message").all_inner_texts()


def second_tab(lab_context: BrowserContext, jupyter_lab: JupyterProcess) -> Page:
    """Another tab of the same JupyterLab, live."""
    page = lab_context.new_page()
    page.goto(f"{jupyter_lab.url}lab?token={jupyter_lab.token}")
    expect(status_item(page)).to_have_attribute("data-jln-state", "live",
                                                 timeout=READY_TIMEOUT_MS)
    return page


def publish_history(redis_server: RedisCli, count: int) -> None:
    """``count`` builds, every fifth one failed for want of disk, from two origins."""
    for i in range(count):
        if i % 5 == 0:
            xadd(redis_server, message=f"Build {i} failed: disk full", type="error",
                 origin="ci", topic="builds", autoClose="0")
        else:
            xadd(redis_server, message=f"Build {i} passed", type="success",
                 origin="ci" if i % 2 else "nightly", topic="builds", autoClose="0")


def test_inbox_lists_filters_searches_and_mark_all_read_clears_both_tabs(
        lab_context: BrowserContext, lab_page: Page, jupyter_lab: JupyterProcess,
        redis_server: RedisCli, screenshot: Callable[[], Path]) -> None:
    publish_history(redis_server, 30)
    other = second_tab(lab_context, jupyter_lab)
    for page in (lab_page, other):
        expect(unread_badge(page)).to_have_text("30")

    panel = open_inbox(lab_page)
    expect(items(panel)).to_have_count(30)
    assert messages(panel)[0] == "Build 29 passed"  # newest first
    expect(panel.locator(".jln-Inbox-counts")).to_have_text("30 notifications, 30 unread")
    expect(items(panel).first).to_have_attribute("data-jln-read", "false")

    panel.get_by_label("Type").select_option("error")
    expect(items(panel)).to_have_count(6)
    assert all(m.endswith("failed: disk full") for m in messages(panel))

    panel.get_by_label("Type").select_option("")
    panel.get_by_label("Search notifications").fill("build 2")
    expect(items(panel)).to_have_count(11)  # 2 and 20-29
    panel.get_by_label("Search notifications").fill("")
    panel.get_by_label("Origin").select_option("nightly")
    expect(items(panel)).to_have_count(12)
    panel.get_by_label("Origin").select_option("")
    expect(items(panel)).to_have_count(30)
    screenshot()

    panel.get_by_role("button", name="Mark all read").click()
    for page in (lab_page, other):
        expect(unread_badge(page)).to_be_hidden()
    expect(panel.locator(".jln-InboxItem[data-jln-read='false']")).to_have_count(0)
    expect(panel.locator(".jln-Inbox-counts")).to_have_text("30 notifications, 0 unread")


def test_inbox_takes_live_notifications_key_updates_and_another_tabs_read(
        lab_context: BrowserContext, lab_page: Page, jupyter_lab: JupyterProcess,
        redis_server: RedisCli) -> None:
    panel = open_inbox(lab_page)
    expect(panel.locator(".jln-Inbox-empty")).to_be_visible()
    xadd(redis_server, message="Training: epoch 1", type="in-progress", key="train",
         origin="gpu-1")
    expect(items(panel)).to_have_count(1)
    xadd(redis_server, message="Disk almost full", type="warning")
    xadd(redis_server, message="Training: done", type="success", key="train", origin="gpu-1")
    expect(items(panel)).to_have_count(2)
    assert messages(panel) == ["Training: done", "Disk almost full"]
    expect(unread_badge(lab_page)).to_have_text("2")

    other = second_tab(lab_context, jupyter_lab)
    other_panel = open_inbox(other)
    expect(items(other_panel)).to_have_count(2)
    other_panel.locator(".jln-InboxItem").filter(has_text="Disk almost full").locator(
        ".jln-InboxItem-read").click()
    disk = items(panel).filter(has_text="Disk almost full")
    expect(disk).to_have_attribute("data-jln-read", "true")
    expect(unread_badge(lab_page)).to_have_text("1")

    training = items(panel).filter(has_text="Training: done")
    training.locator(".jln-InboxItem-body").click()  # opening reads it
    expect(training).to_have_attribute("data-jln-read", "true")
    expect(unread_badge(other)).to_be_hidden()
    training.locator(".jln-InboxItem-save").click()
    expect(items(other_panel).filter(has_text="Training: done")).to_have_attribute(
        "data-jln-saved", "true")
    other_panel.get_by_label("Show").select_option("saved")
    expect(items(other_panel)).to_have_count(1)

    xadd(redis_server, message="<img src=x onerror=alert(1)><b>bold</b>", title="<i>t</i>")
    html = items(panel).first
    expect(html.locator(".jln-InboxItem-message")).to_have_text(
        "<img src=x onerror=alert(1)><b>bold</b>")
    expect(html.locator(".jln-InboxItem-title")).to_have_text("<i>t</i>")
    expect(html.locator("img, b, i")).to_have_count(0)


def test_with_two_tabs_open_exactly_one_raises_the_toast(
        lab_context: BrowserContext, lab_page: Page, jupyter_lab: JupyterProcess,
        redis_server: RedisCli) -> None:
    other = second_tab(lab_context, jupyter_lab)
    xadd(redis_server, message="Deploy done", type="success")
    for page in (lab_page, other):
        expect(unread_badge(page)).to_have_text("1")
    lab_page.wait_for_timeout(TOAST_WAIT_MS)
    shown = [toasts(page, "Deploy done").count() for page in (lab_page, other)]
    assert sorted(shown) == [0, 1], f"toasts per tab: {shown}"

    lab_page.bring_to_front()
    lab_page.evaluate("window.dispatchEvent(new Event('focus'))")
    xadd(redis_server, message="Second deploy done", type="success")
    lab_page.wait_for_timeout(TOAST_WAIT_MS)
    shown = [toasts(page, "Second deploy").count() for page in (lab_page, other)]
    assert sorted(shown) == [0, 1], f"toasts per tab: {shown}"


@pytest.mark.lab(settings={PLUGIN: {"mutedOrigins": ["ci"]}})
def test_a_muted_origin_raises_no_toast_but_lands_in_the_inbox(
        lab_page: Page, redis_server: RedisCli) -> None:
    xadd(redis_server, message="Nightly build failed", type="error", origin="ci")
    xadd(redis_server, message="Coffee is ready", type="info", origin="kitchen")
    expect(toasts(lab_page, "Coffee is ready")).to_be_visible()
    lab_page.wait_for_timeout(TOAST_WAIT_MS)
    expect(toasts(lab_page, "Nightly build failed")).to_have_count(0)

    panel = open_inbox(lab_page)
    muted = items(panel).filter(has_text="Nightly build failed")
    expect(muted).to_have_attribute("data-jln-muted", "true")
    expect(muted.locator(".jln-InboxItem-meta")).to_contain_text("muted")
    expect(items(panel).filter(has_text="Coffee")).to_have_attribute("data-jln-muted", "false")


def test_mute_from_an_items_menu_silences_that_origin(
        lab_page: Page, redis_server: RedisCli) -> None:
    xadd(redis_server, message="Cron: backup ok", type="info", origin="cron")
    expect(toasts(lab_page, "Cron: backup ok")).to_be_visible()
    panel = open_inbox(lab_page)
    items(panel).filter(has_text="backup ok").locator(".jln-InboxItem-menu").click()
    lab_page.get_by_role("menuitem", name="Mute notifications from cron").click()
    expect(items(panel).first).to_have_attribute("data-jln-muted", "true")

    xadd(redis_server, message="Cron: backup ok again", type="info", origin="cron")
    expect(items(panel).first).to_contain_text("again")
    lab_page.wait_for_timeout(TOAST_WAIT_MS)
    expect(toasts(lab_page, "again")).to_have_count(0)


@pytest.mark.lab(settings={"@jupyterlab/apputils-extension:themes": {
    "theme": "JupyterLab Dark"}})
def test_inbox_panel_in_the_dark_theme(
        lab_page: Page, redis_server: RedisCli, screenshot: Callable[[], Path]) -> None:
    xadd(redis_server, message="Maintenance tonight at 22:00", type="warning", origin="admin",
         topic="ops", link="https://example.org/maintenance")
    xadd(redis_server, message="Model trained: accuracy 0.93", type="success",
         title="Training", origin="gpu-1")
    xadd(redis_server, message="Out of memory on worker 3", type="error", origin="k8s")
    panel = open_inbox(lab_page)
    expect(items(panel)).to_have_count(3)
    expect(items(panel).last.get_by_role("button", name="Open")).to_be_visible()
    screenshot()
    background = panel.evaluate("node => getComputedStyle(node).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 3 * 96, f"the panel is not dark: {background}"


def test_open_inbox_from_the_shortcut_and_the_command_palette(lab_page: Page) -> None:
    panel = lab_page.locator("#jln-inbox")
    lab_page.keyboard.press("Alt+Shift+N")
    expect(panel).to_be_visible()
    lab_page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab[data-id='jln-inbox']").click()
    expect(panel).to_be_hidden()  # a click on the active tab folds the side bar
    lab_page.keyboard.press("Control+Shift+C")
    lab_page.keyboard.type("Open Notification Inbox")
    lab_page.keyboard.press("Enter")
    expect(panel).to_be_visible()


def receipts(jupyter_lab: JupyterProcess, notification_id: str) -> dict[str, Any]:
    """``GET jln/api/notifications/{id}/receipts`` with the server's token."""
    url = (f"{jupyter_lab.url}jln/api/notifications/"
           f"{urllib.parse.quote(notification_id, safe='')}/receipts")
    request = urllib.request.Request(url, headers={"Authorization": f"token {jupyter_lab.token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, Any] = json.load(answer)
    return result


def banner_items(page: Page) -> Locator:
    return page.locator(".jln-Banner .jln-BannerItem")


def test_a_pinned_notice_needing_acknowledgement_survives_reload_until_acknowledged(
        lab_page: Page, jupyter_lab: JupyterProcess, redis_server: RedisCli,
        screenshot: Callable[[], Path]) -> None:
    entry = xadd(redis_server, title="Maintenance", message="JupyterHub restarts at 22:00",
                 type="warning", requireAck="1", origin="admin")
    notice = banner_items(lab_page).filter(has_text="JupyterHub restarts at 22:00")
    expect(notice).to_be_visible()
    expect(notice.locator(".jln-BannerItem-ack")).to_have_text("Acknowledge")
    expect(notice.get_by_role("button", name=re.compile("close|dismiss", re.I))).to_have_count(0)
    assert receipts(jupyter_lab, f"jln:broadcast/{entry}")["read"] == []

    lab_page.reload()
    expect(notice).to_be_visible(timeout=READY_TIMEOUT_MS)
    panel = open_inbox(lab_page)
    item = items(panel).filter(has_text="JupyterHub restarts")
    item.locator(".jln-InboxItem-body").click()  # reading it in the inbox is not acknowledging
    expect(item.locator(".jln-InboxItem-dismiss")).to_have_count(0)
    panel.get_by_role("button", name="Mark all read").click()
    expect(item).to_have_attribute("data-jln-read", "false")
    expect(notice).to_be_visible()
    screenshot()

    notice.locator(".jln-BannerItem-ack").click()
    expect(notice).to_have_count(0)
    expect(item).to_have_attribute("data-jln-read", "true")
    read = receipts(jupyter_lab, f"jln:broadcast/{entry}")["read"]
    assert [reader["user"] for reader in read] == [jupyter_lab_user(jupyter_lab)]
    assert isinstance(read[0]["readAt"], int)
    lab_page.reload()
    expect(lab_page.locator("#jp-main-statusbar")).to_be_visible(timeout=READY_TIMEOUT_MS)
    expect(status_item(lab_page)).to_have_attribute("data-jln-state", "live",
                                                     timeout=READY_TIMEOUT_MS)
    expect(banner_items(lab_page)).to_have_count(0)


def test_a_pinned_notice_stays_until_its_key_withdraws_it(
        lab_page: Page, redis_server: RedisCli) -> None:
    xadd(redis_server, message="Cluster degraded: jobs may queue", type="error", pinned="1",
         key="cluster", origin="ops")
    notice = banner_items(lab_page).filter(has_text="Cluster degraded")
    expect(notice).to_be_visible()
    expect(notice.locator(".jln-BannerItem-ack")).to_have_count(0)
    xadd(redis_server, message="Cluster healthy again", type="success", key="cluster",
         origin="ops")
    expect(banner_items(lab_page)).to_have_count(0)
    expect(toasts(lab_page, "Cluster healthy again")).to_be_visible()


def jupyter_lab_user(jupyter_lab: JupyterProcess) -> str:
    """Whose notifications the lab server shows: its hello names them."""
    request = urllib.request.Request(f"{jupyter_lab.url}jln/api/status", headers={
        "Authorization": f"token {jupyter_lab.token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        user: str = json.load(answer)["user"]
    return user


# Installed before JupyterLab loads: a stand-in for the browser's Notification API that records
# what is raised and whether permission was asked, and a page visibility the test can set.
FAKE_OS_NOTIFICATIONS = """(() => {
  window.__os = {raised: [], asked: 0, hidden: false};
  class FakeNotification {
    constructor(title, options) {
      this.title = title;
      this.body = options.body;
      this.tag = options.tag;
      this.onclick = null;
      this.closed = false;
      window.__os.raised.push(this);
    }
    close() { this.closed = true; }
  }
  FakeNotification.permission = 'default';
  FakeNotification.requestPermission = async () => {
    window.__os.asked++;
    FakeNotification.permission = 'granted';
    return 'granted';
  };
  window.Notification = FakeNotification;
  Object.defineProperty(document, 'visibilityState',
                        {get: () => (window.__os.hidden ? 'hidden' : 'visible')});
  Object.defineProperty(document, 'hidden', {get: () => window.__os.hidden});
})();"""


def set_hidden(page: Page, hidden: bool) -> None:
    page.evaluate(f"""() => {{
        window.__os.hidden = {str(hidden).lower()};
        document.dispatchEvent(new Event('visibilitychange'));
        window.dispatchEvent(new Event({"'blur'" if hidden else "'focus'"}));
    }}""")


def test_desktop_notification_when_hidden_asked_on_a_click_and_opening_the_item(
        lab_context: BrowserContext, open_lab: Callable[..., Page],
        redis_server: RedisCli) -> None:
    lab_context.add_init_script(FAKE_OS_NOTIFICATIONS)
    page = open_lab()
    xadd(redis_server, message="Visible: no OS notification", type="info")
    expect(toasts(page, "Visible: no OS")).to_be_visible()
    assert page.evaluate("window.__os.asked") == 0  # never on load

    page.keyboard.press("Control+Shift+C")
    page.keyboard.type("Desktop Notifications When JupyterLab Is Hidden")
    # On once the setting is saved: a round trip to the server, slow on a loaded machine.
    with page.expect_response(lambda r: "/lab/api/settings/" in r.url
                              and r.request.method == "PUT", timeout=30_000):
        page.keyboard.press("Enter")
    page.wait_for_function("window.__os.asked === 1")

    set_hidden(page, True)
    entry = xadd(redis_server, message="Training finished", type="success", origin="gpu-1")
    page.wait_for_function("window.__os.raised.length === 1")
    raised = page.evaluate("window.__os.raised.map(n => [n.title, n.body, n.tag])")
    assert raised == [["gpu-1", "Training finished", f"jln:broadcast/{entry}"]]

    set_hidden(page, False)
    page.evaluate("window.__os.raised[0].onclick(new Event('click'))")
    panel = page.locator("#jln-inbox")
    expect(panel).to_be_visible()
    expect(items(panel).filter(has_text="Training finished")).to_have_class(
        re.compile(r"(^|\s)jln-mod-expanded(\s|$)"))
    assert page.evaluate("window.__os.raised[0].closed") is True
    xadd(redis_server, message="Visible again", type="info")
    expect(toasts(page, "Visible again")).to_be_visible()
    assert page.evaluate("window.__os.raised.length") == 1


def write_notebook(folder: Path, name: str, cells: int, code: dict[int, str]) -> list[str]:
    """A notebook of ``cells`` cells with ids ``cell-<n>``: markdown sections, but code where
    ``code`` says; the ids."""
    ids = [f"cell-{n}" for n in range(cells)]

    def cell(n: int, cell_id: str) -> dict[str, Any]:
        if n in code:
            return {"cell_type": "code", "id": cell_id, "metadata": {}, "source": code[n],
                    "outputs": [], "execution_count": None}
        return {"cell_type": "markdown", "id": cell_id, "metadata": {},
                "source": f"## Section {n}\n\n" + "text\n\n" * 8}

    notebook = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "cells": [cell(n, cell_id) for n, cell_id in enumerate(ids)],
    }
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook))
    return ids


def run_palette_command(page: Page, label: str) -> None:
    page.keyboard.press("Control+Shift+C")
    page.keyboard.type(label)
    expect(page.locator(".lm-CommandPalette-item.lm-mod-active")).to_contain_text(label)
    page.keyboard.press("Enter")


@pytest.mark.lab(settings={"@jupyterlab/notebook-extension:tracker": {
    "autoStartDefaultKernel": True}})  # no "Select Kernel" dialog in the way
def test_notify_from_a_notebook_cell_comes_home_to_that_cell(
        lab_page: Page, jupyter_lab: JupyterProcess, screenshot: Callable[[], Path]) -> None:
    """A real kernel of the lab server runs ``notify()`` in cell 31 with nothing configured;
    the toast's "Open notebook" brings the notebook back at that cell."""
    write_notebook(jupyter_lab.root_dir, "work/train.ipynb", 40, code={31: (
        "## Section 31\nfrom jln_broker import notify\n"
        "notify('Training finished', type='success', auto_close=False)")})
    lab_page.goto(f"{jupyter_lab.url}lab/tree/work/train.ipynb?token={jupyter_lab.token}")
    notebook = lab_page.locator(".jp-NotebookPanel:visible")
    # The kernel's own status, once connected (a first start in a fresh environment is slow).
    expect(lab_page.locator("#jp-main-statusbar")).to_contain_text(
        "Python 3 (ipykernel) | Idle", timeout=READY_TIMEOUT_MS)
    lab_page.get_by_role("menuitem", name="Run", exact=True).click()
    lab_page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    toast = toasts(lab_page, "Training finished")
    expect(toast).to_be_visible(timeout=READY_TIMEOUT_MS)
    expect(notebook.locator(".jp-Cell.jp-mod-active")).not_to_contain_text("Section 31")
    run_palette_command(lab_page, "New Launcher")  # the notebook goes out of sight
    expect(notebook).to_have_count(0)

    toast.get_by_role("button", name="Open notebook").click()
    active = lab_page.locator(".jp-NotebookPanel:visible .jp-Cell.jp-mod-active")
    expect(active).to_contain_text("Section 31")
    expect(active).to_be_in_viewport()
    screenshot()
    panel = open_inbox(lab_page)  # the same action from the inbox
    expect(items(panel).first.get_by_role("button", name="Open notebook")).to_have_attribute(
        "title", "work/train.ipynb")


def test_a_link_to_a_notification_opens_the_inbox_on_it(
        lab_context: BrowserContext, jupyter_lab: JupyterProcess,
        redis_server: RedisCli) -> None:
    entry = xadd(redis_server, message="Disk full on the shared volume", type="error")
    for n in range(40):  # enough newer ones to push it out of sight
        xadd(redis_server, message=f"Later news {n}", type="info", autoClose="0")
    page = lab_context.pages[0]
    link = urllib.parse.quote(f"jln:broadcast/{entry}", safe="")
    page.goto(f"{jupyter_lab.url}lab?token={jupyter_lab.token}&jln-notification={link}")
    panel = page.locator("#jln-inbox")
    expect(panel).to_be_visible(timeout=READY_TIMEOUT_MS)
    item = items(panel).filter(has_text="Disk full on the shared volume")
    expect(item).to_have_class(re.compile(r"(^|\s)jln-mod-expanded(\s|$)"))
    expect(item).to_be_in_viewport()
    expect(item).to_have_attribute("data-jln-read", "true")


def test_jln_send_typed_in_a_terminal_offers_to_open_that_terminal(lab_page: Page) -> None:
    run_palette_command(lab_page, "New Terminal")
    terminal = lab_page.locator(".jp-Terminal:visible")
    expect(terminal.locator(".xterm-screen")).to_be_visible(timeout=READY_TIMEOUT_MS)
    terminal.click()
    # (`jln` itself, by the interpreter running the tests: a login shell may lack its PATH)
    lab_page.keyboard.type(f"{sys.executable} -m jln_broker.cli send 'Backup finished' "
                           "--type success --no-auto-close\n")
    toast = toasts(lab_page, "Backup finished")
    expect(toast).to_be_visible(timeout=READY_TIMEOUT_MS)
    tab_name = lab_page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current").inner_text()
    run_palette_command(lab_page, "New Launcher")  # the terminal goes out of sight
    expect(terminal).to_have_count(0)

    toast.get_by_role("button", name="Open terminal").click()
    expect(lab_page.locator(".jp-Terminal:visible")).to_have_count(1)
    current = lab_page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    expect(current).to_have_text(tab_name)
