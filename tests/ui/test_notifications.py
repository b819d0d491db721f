"""What a person sees in JupyterLab when notifications are written to Redis with ``redis-cli``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, WebSocketRoute, expect
from server.conftest import JupyterProcess

from .conftest import STATUS_LABELS, PageRecord, status_item

XADD_TO_TOAST_BOUND_MS = 3000
POLL_SECONDS = 5
"""The shortest poll interval the settings schema accepts."""
AGE_REFRESH_BOUND_MS = 40_000
"""The labextension checks ages every 30 s."""
MINUTE_MS = 60_000

# Installed before JupyterLab loads: the page's clock (Date and Date.now) runs
# `window.__jlnSkewMs` ahead of the machine's, which a test may change at any time.
SKEW_BROWSER_CLOCK = """(() => {
  const RealDate = Date;
  window.__jlnSkewMs = %d;
  const now = () => RealDate.now() + window.__jlnSkewMs;
  function SkewedDate(...args) {
    if (!new.target) return new RealDate(now()).toString();
    return args.length ? new RealDate(...args) : new RealDate(now());
  }
  SkewedDate.prototype = RealDate.prototype;
  SkewedDate.now = now;
  SkewedDate.parse = RealDate.parse;
  SkewedDate.UTC = RealDate.UTC;
  window.Date = SkewedDate;
})();"""

# Installed before the XADD: notes (browser clock, ms) when a toast with this text enters the DOM,
# and, frame by frame, when it is first on screen (it slides in from the right edge) and whole.
WATCH_FOR_TOAST = """text => {
  const marks = window.__jlnToast = {inDom: null, onScreen: null, whole: null};
  const find = () => [...document.querySelectorAll('.jp-toastContainer .Toastify__toast')]
    .find(toast => toast.querySelector('.jp-toast-message')?.firstChild?.textContent === text);
  new MutationObserver((_, observer) => {
    if (find()) {
      marks.inDom ??= Date.now();
      observer.disconnect();
    }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
  const step = () => {
    const toast = find();
    if (toast) {
      const now = Date.now();
      const box = toast.getBoundingClientRect();
      const [width, height] = [window.innerWidth, window.innerHeight];
      if (box.width > 0 && box.height > 0 && box.left < width && box.right > 0
          && box.top < height && box.bottom > 0) {
        marks.onScreen ??= now;
      }
      if (box.left >= 0 && box.right <= width && box.top >= 0 && box.bottom <= height) {
        marks.whole ??= now;
      }
    }
    if (marks.whole === null) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}"""


class RedisCli(Protocol):
    """The part of the ``redis_server`` fixture used here: the real ``redis-cli``."""

    def cli(self, *args: str) -> str: ...


def xadd(redis_server: RedisCli, **fields: str) -> str:
    """``redis-cli XADD jln:broadcast * field value ...``; the new entry's id."""
    args = [item for pair in fields.items() for item in pair]
    entry_id = redis_server.cli("XADD", "jln:broadcast", "*", *args).strip()
    assert re.fullmatch(r"[0-9]+-[0-9]+", entry_id), f"XADD failed: {entry_id}"
    return entry_id


def age_page_clock(page: Page, sent_ms: int, age_ms: int) -> None:
    """Move the page clock ahead so that, by it, what was sent at ``sent_ms`` (machine clock) is
    now ``age_ms`` old. (Needs ``SKEW_BROWSER_CLOCK``.)"""
    page.evaluate(f"window.__jlnSkewMs = {age_ms - (time.time() * 1000 - sent_ms):.0f}")


def toasts(page: Page, text: str) -> Locator:
    """The toasts (bottom right, not the notification center) whose text contains ``text``."""
    return page.locator(".jp-toastContainer .Toastify__toast").filter(has_text=text)


def bell_count(page: Page) -> Locator:
    """The number next to the bell in the status bar."""
    return page.locator("#jp-main-statusbar .jp-Notification-Status-Text")


def open_notification_center(page: Page) -> Locator:
    page.locator("#jp-main-statusbar .jp-Notification-Status").click()
    center = page.locator(".jp-Notification-Center")
    expect(center).to_be_visible()
    return center


def expect_lines(message: Locator, *lines: str, timeout: float | None = None) -> None:
    """A notification's text (``.jp-toast-message``) reads ``lines``, one per line, as seen."""
    expect(message).to_have_text(" ".join(lines), use_inner_text=True, timeout=timeout)
    assert message.evaluate("node => node.innerText").split("\n") == list(lines)


def center_messages(center: Locator) -> list[list[str]]:
    """The lines of each entry in the notification center, top first."""
    texts = center.locator(".jp-toast-message").evaluate_all("nodes => nodes.map(n => n.innerText)")
    return [text.split("\n") for text in texts]


def bell(page: Page) -> Locator:
    return page.locator("#jp-main-statusbar .jp-Notification-Status")


HIGHLIGHTED = re.compile(r"(^|\s)jp-mod-selected(\s|$)")


def toast_type(kind: str) -> re.Pattern[str]:
    """The class that gives a toast the colour and icon of its type. (Not JupyterLab's
    ``jp-Notification-Toast-<type>``: it is set once and never updated, and styles nothing.)"""
    return re.compile(rf"(^|\s)Toastify__toast--{re.escape(kind)}(\s|$)")


def toast_icon(toast: Locator, kind: str) -> Locator:
    """The icon of ``kind`` (success, info, ...) at the toast's left."""
    return toast.locator(f".Toastify__toast-icon svg[fill='var(--toastify-icon-color-{kind})']")


def test_broadcast_shows_a_toast_with_its_action_button(
        lab_page: Page, redis_server: RedisCli, screenshot: Callable[[], Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    actions = json.dumps([{"label": "Open docs", "link": "https://example.org",
                           "displayType": "accent"}])
    lab_page.evaluate(WATCH_FOR_TOAST, "Deploy done")

    entry_id = xadd(redis_server, message="Deploy done", type="success", actions=actions)
    toast = toasts(lab_page, "Deploy done")
    expect(toast).to_be_in_viewport(ratio=1, timeout=XADD_TO_TOAST_BOUND_MS * 3)
    # Redis stamps the entry id with its clock (ms); the browser runs on the same machine clock.
    added_at = int(entry_id.split("-")[0])
    marks = {name: at - added_at for name, at in lab_page.evaluate("window.__jlnToast").items()}

    screenshot()
    with capsys.disabled():
        print(f"\nXADD -> visible toast: {marks['onScreen']:.0f} ms (in the DOM after "
              f"{marks['inDom']:.0f} ms; the whole toast on screen after {marks['whole']:.0f} ms)")
    expect(toast).to_have_count(1)
    expect_lines(toast.locator(".jp-toast-message"), "Deploy done", "now")
    expect(toast).to_have_class(toast_type("success"))
    expect(toast_icon(toast, "success")).to_be_visible()
    button = toast.get_by_role("button", name="Open docs", exact=True)
    expect(button).to_be_visible()
    expect(button).to_have_attribute("title", "https://example.org")
    expect(button).to_have_class(re.compile(r"(^|\s)jp-mod-accept(\s|$)"))  # displayType accent
    assert marks["onScreen"] < XADD_TO_TOAST_BOUND_MS


def test_keyed_update_changes_the_one_toast_in_place(
        lab_page: Page, redis_server: RedisCli, screenshot: Callable[[], Path]) -> None:
    xadd(redis_server, message="Job 1: running", type="in-progress", key="job-1",
         autoClose="false")
    toast = toasts(lab_page, "Job 1")
    expect_lines(toast.locator(".jp-toast-message"), "Job 1: running", "now")
    expect(toast.locator(".Toastify__spinner")).to_be_visible()  # in progress: a spinner
    first_id = toast.get_attribute("id")

    xadd(redis_server, message="Job 1: done", type="success", key="job-1")
    expect_lines(toast.locator(".jp-toast-message"), "Job 1: done", "now")
    expect(toast).to_have_class(toast_type("success"))
    expect(toast_icon(toast, "success")).to_be_visible()
    expect(toast.locator(".Toastify__spinner")).to_have_count(0)
    lab_page.wait_for_timeout(500)  # a second toast would have shown up by now

    screenshot()
    expect(toast).to_have_count(1)
    assert toast.get_attribute("id") == first_id
    expect(bell_count(lab_page)).to_have_text("1")


@pytest.mark.lab(settings={"jln-labextension:plugin": {"pollInterval": POLL_SECONDS}},
                 args=[f"--JLN.poll_interval={POLL_SECONDS}"])
def test_with_the_websocket_blocked_the_poll_still_brings_the_toast(
        lab_context: BrowserContext, open_lab: Callable[..., Page], redis_server: RedisCli,
        screenshot: Callable[[], Path]) -> None:
    refused: list[str] = []

    def refuse(socket: WebSocketRoute) -> None:
        refused.append(socket.url)
        socket.close(code=1006, reason="blocked by the test")

    lab_context.route_web_socket("**/jln/api/ws**", refuse)
    page = open_lab("polling")

    xadd(redis_server, message="Arrived by polling", type="info")
    toast = toasts(page, "Arrived by polling")
    expect(toast).to_be_visible(timeout=(POLL_SECONDS * 2 + 5) * 1000)

    screenshot()
    expect_lines(toast.locator(".jp-toast-message"), "Arrived by polling", "now")
    expect(status_item(page).locator(".jln-StatusItem-label")).to_have_text(
        STATUS_LABELS["polling"])
    expect(status_item(page)).to_have_attribute("data-jln-state", "polling")
    assert refused, "the page never tried the WebSocket"


def test_html_in_message_and_action_label_shows_as_literal_text(
        lab_page: Page, redis_server: RedisCli, page_record: PageRecord,
        screenshot: Callable[[], Path]) -> None:
    message = "<img src=x onerror=alert(1)>"
    label = "<b>Docs</b><img src=y onerror=alert(2)>"
    actions = json.dumps([{"label": label, "link": "https://example.org"}])
    xadd(redis_server, message=message, actions=actions)

    toast = toasts(lab_page, message)
    expect_lines(toast.locator(".jp-toast-message"), message, "now")
    expect(toast.get_by_role("button", name=label, exact=True)).to_be_visible()
    lab_page.wait_for_timeout(1000)  # time for a broken image to fire onerror

    screenshot()
    expect(toast.locator("img, b")).to_have_count(0)
    expect(lab_page.locator("img[src=x], img[src=y]")).to_have_count(0)
    assert page_record.dialogs == []
    center = open_notification_center(lab_page)
    expect(center.locator(".jp-toast-message")).to_have_count(1)
    assert center_messages(center) == [[message, "now"]]
    expect(center.locator("img, b")).to_have_count(0)
    assert page_record.dialogs == []


def test_silent_notification_reaches_the_center_without_a_toast(
        lab_page: Page, redis_server: RedisCli, screenshot: Callable[[], Path]) -> None:
    expect(bell_count(lab_page)).to_have_text("0")
    xadd(redis_server, message="Nightly backup finished", autoClose="0")

    expect(bell_count(lab_page)).to_have_text("1")
    lab_page.wait_for_timeout(1000)  # a toast would have shown up by now
    screenshot()
    expect(lab_page.locator(".jp-toastContainer .Toastify__toast")).to_have_count(0)
    expect(bell(lab_page)).to_have_class(HIGHLIGHTED)  # the bell is highlighted
    center = open_notification_center(lab_page)
    expect(center.locator(".jp-toast-message")).to_have_count(1)
    assert center_messages(center) == [["Nightly backup finished", "now"]]


@pytest.mark.lab(broker="memory://")
def test_jln_send_in_a_terminal_pops_a_toast_on_the_embedded_broker(
        jupyter_lab: JupyterProcess, lab_page: Page, screenshot: Callable[[], Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    """The quick start: no Redis, no URL; ``jln send`` finds the running server by itself."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("JLN_URL", "JUPYTER_TOKEN", "JPY_API_TOKEN", "JUPYTERHUB_API_TOKEN")}
    env["JUPYTER_RUNTIME_DIR"] = str(jupyter_lab.runtime_dir)
    started = time.monotonic()
    sent = subprocess.run([sys.executable, "-m", "jln_broker.cli", "send", "hello"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert sent.returncode == 0, sent.stderr

    expect_lines(toasts(lab_page, "hello").locator(".jp-toast-message"), "hello", "now")
    elapsed_ms = (time.monotonic() - started) * 1000
    with capsys.disabled():
        print(f"\n`jln send hello` (process start to toast in the DOM): {elapsed_ms:.0f} ms")
    expect(toasts(lab_page, "hello")).to_be_in_viewport(ratio=1.0)  # slid in all the way
    screenshot()


def test_fresh_notification_says_now_on_a_browser_clock_two_hours_ahead(
        lab_context: BrowserContext, open_lab: Callable[..., Page], redis_server: RedisCli,
        screenshot: Callable[[], Path]) -> None:
    """Ages are counted on the server's clock: the browser's own clock may be off by hours."""
    lab_context.add_init_script(SKEW_BROWSER_CLOCK % (2 * 60 * MINUTE_MS))
    page = open_lab("live")
    skew_ms = page.evaluate("Date.now()") - time.time() * 1000
    assert abs(skew_ms - 2 * 60 * MINUTE_MS) < 60_000, f"the page clock is {skew_ms:.0f} ms off"

    xadd(redis_server, message="Sent a moment ago", type="info")
    toast = toasts(page, "Sent a moment ago")
    expect_lines(toast.locator(".jp-toast-message"), "Sent a moment ago", "now")
    expect(toast).to_be_in_viewport(ratio=1.0)  # slid in all the way
    screenshot()
    center = open_notification_center(page)
    expect(center.locator(".jp-toast-message")).to_have_count(1)
    assert center_messages(center) == [["Sent a moment ago", "now"]]


def test_age_line_of_an_untouched_toast_stays_true_and_a_closed_toast_stays_closed(
        lab_context: BrowserContext, open_lab: Callable[..., Page], redis_server: RedisCli,
        screenshot: Callable[[], Path]) -> None:
    """Time passes (the page clock is moved ahead) while nobody touches the page: the toast
    still up says how long ago it was sent; the toast the user closed does not come back, nor
    does the bell light up. JupyterLab does not tell when a toast is closed, so after a click
    in the page the ages stand still: no toast ever comes back for an age."""
    lab_context.add_init_script(SKEW_BROWSER_CLOCK % 0)
    page = open_lab("live")
    xadd(redis_server, message="Disk almost full", type="warning", autoClose="false")
    closed = toasts(page, "Disk almost full")
    expect_lines(closed.locator(".jp-toast-message"), "Disk almost full", "now")
    closed.get_by_role("button", name="Hide notification").click()
    expect(closed).to_have_count(0)
    entry_id = xadd(redis_server, message="Training running", type="in-progress",
                    autoClose="false")
    sent_ms = int(entry_id.split("-")[0])
    running = toasts(page, "Training running")
    expect_lines(running.locator(".jp-toast-message"), "Training running", "now")
    running_id = running.get_attribute("id")

    # "2 minutes ago" from 120 s to 180 s: room for the wait until the next refresh.
    age_page_clock(page, sent_ms, 140_000)
    expect_lines(running.locator(".jp-toast-message"), "Training running", "2 minutes ago",
                 timeout=AGE_REFRESH_BOUND_MS)
    page.wait_for_timeout(1000)  # a toast brought back would be on its way by now
    screenshot()
    expect(running).to_have_count(1)
    assert running.get_attribute("id") == running_id
    expect(running.locator(".Toastify__spinner")).to_be_visible()  # still in progress
    expect(closed).to_have_count(0)
    expect(bell(page)).not_to_have_class(HIGHLIGHTED)

    # The click on the bell may as well have closed a toast: from now on, texts stay.
    center = open_notification_center(page)
    expect(center.locator(".jp-toast-message")).to_have_count(2)
    expected = [["Training running", "2 minutes ago"], ["Disk almost full", "now"]]
    assert center_messages(center) == expected
    age_page_clock(page, sent_ms, 280_000)
    page.wait_for_timeout(AGE_REFRESH_BOUND_MS)
    assert center_messages(center) == expected
    page.locator("#jp-main-statusbar .jp-Notification-Status").click()  # close the center
    expect(center).to_have_count(0)
    page.wait_for_timeout(1000)
    expect(page.locator(".jp-toastContainer .Toastify__toast")).to_have_count(0)
    expect(bell(page)).not_to_have_class(HIGHLIGHTED)


def test_send_notification_dialog_from_the_command_palette(
        lab_page: Page, screenshot: Callable[[], Path]) -> None:
    lab_page.keyboard.press("Control+Shift+C")
    palette = lab_page.locator(".lm-CommandPalette-input")
    expect(palette).to_be_focused()
    palette.fill("Send Notification")
    lab_page.locator(".lm-CommandPalette-item").filter(has_text="Send Notification").first.click()

    dialog = lab_page.locator(".jp-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_have_text("Send Notification")
    for field in ("Message", "Title (optional)", "Type", "Toast",
                  "Link (optional, http or https)", "Users (comma-separated)",
                  "Groups (comma-separated)"):
        expect(dialog.get_by_label(field)).to_be_visible()
    dialog.get_by_label("Message").fill("Lunch is served")
    dialog.get_by_label("Type").select_option("success")
    dialog.get_by_label("Toast").select_option(label="until dismissed")
    screenshot()
    dialog.get_by_role("button", name="Send").click()

    expect(dialog).to_have_count(0)
    toast = toasts(lab_page, "Lunch is served")
    expect_lines(toast.locator(".jp-toast-message"), "Lunch is served", "now")
    expect(toast).to_have_class(toast_type("success"))
    expect_lines(toasts(lab_page, "Notification sent.").locator(".jp-toast-message"),
                 "Notification sent.")
    lab_page.wait_for_timeout(6000)  # longer than a 5 s toast: "until dismissed" stays
    expect(toast).to_be_visible()


@pytest.mark.lab(args=["--LabApp.expose_app_in_browser=True"])
def test_another_extension_sends_with_jln_send_and_its_arguments(
        lab_page: Page, screenshot: Callable[[], Path]) -> None:
    ids = lab_page.evaluate("""() => window.jupyterapp.commands.execute('jln:send', {
        message: 'Sent by another extension', type: 'warning', autoClose: false,
        users: 'nobody-else'})""")
    assert isinstance(ids, list) and len(ids) == 1 and ids[0].startswith("jln:user:"), ids
    expect(lab_page.locator(".jp-Dialog")).to_have_count(0)  # no dialog with a message
    ids = lab_page.evaluate("""() => window.jupyterapp.commands.execute('jln:send', {
        message: 'Sent by another extension', type: 'warning', autoClose: false})""")
    toast = toasts(lab_page, "Sent by another extension")
    expect_lines(toast.locator(".jp-toast-message"), "Sent by another extension", "now")
    expect(toast).to_have_class(toast_type("warning"))
    screenshot()
    expect(toast).to_have_count(1)  # the one for "nobody-else" is not ours
    assert len(ids) == 1


def test_link_action_opens_a_new_tab_without_opener_and_unlisted_commands_are_refused(
        lab_context: BrowserContext, lab_page: Page, jupyter_lab: JupyterProcess,
        redis_server: RedisCli, screenshot: Callable[[], Path]) -> None:
    """(The server already refuses links that are not http(s); the browser's own refusal of
    other schemes is a unit test.)"""
    target = f"{jupyter_lab.url}api"
    xadd(redis_server, message="Two buttons", autoClose="false", actions=json.dumps([
        {"label": "Status", "link": target, "displayType": "link"},
        {"label": "Shut down", "commandId": "kernelmenu:shutdown", "displayType": "warn"}]))
    toast = toasts(lab_page, "Two buttons")
    expect(toast.get_by_role("button", name="Status")).to_have_class(
        re.compile(r"(^|\s)jp-mod-link(\s|$)"))
    expect(toast.get_by_role("button", name="Shut down")).to_have_class(
        re.compile(r"(^|\s)jp-mod-warn(\s|$)"))
    screenshot()

    with lab_context.expect_page() as opened:
        toast.get_by_role("button", name="Status").click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == target
    assert tab.evaluate("window.opener") is None
    tab.close()

    xadd(redis_server, message="One button", autoClose="false", actions=json.dumps(
        [{"label": "Shut down", "commandId": "kernelmenu:shutdown"}]))
    toasts(lab_page, "One button").get_by_role("button", name="Shut down").click()
    warning = toasts(lab_page, "kernelmenu:shutdown")
    expect(warning).to_have_class(toast_type("warning"))
    expect(warning).to_contain_text("not in the allowed commands setting")
    assert len(lab_context.pages) == 1


@pytest.mark.lab(settings={"jln-labextension:plugin": {"pollInterval": POLL_SECONDS}},
                 args=[f"--JLN.poll_interval={POLL_SECONDS}"])
def test_status_item_tells_since_when_and_why_and_opens_the_inbox(
        lab_context: BrowserContext, open_lab: Callable[..., Page],
        screenshot: Callable[[], Path]) -> None:
    lab_context.route_web_socket("**/jln/api/ws**",
                                 lambda socket: socket.close(code=1006, reason="blocked"))
    page = open_lab("polling")
    item = status_item(page)
    expect(item).to_have_attribute("title", re.compile(
        r"^Notifications: polling since \d{1,2}:\d{2}:\d{2}( [AP]M)?: live connection down: "
        r"connection lost \(1006"))
    item.click()
    inbox = page.locator("#jln-inbox")
    expect(inbox).to_be_visible()
    expect(inbox.locator(".jln-Inbox-empty")).to_have_text("No notifications")  # over REST
    screenshot()


@pytest.mark.lab(settings={"jln-labextension:plugin": {"minimumToastType": "warning"}})
def test_below_the_minimum_toast_type_goes_to_the_center_only(
        lab_page: Page, redis_server: RedisCli, screenshot: Callable[[], Path]) -> None:
    xadd(redis_server, message="Just so you know", type="info")
    xadd(redis_server, message="Quota at 90%", type="warning")
    expect_lines(toasts(lab_page, "Quota at 90%").locator(".jp-toast-message"),
                 "Quota at 90%", "now")
    expect(bell_count(lab_page)).to_have_text("2")
    screenshot()
    expect(toasts(lab_page, "Just so you know")).to_have_count(0)
    center = open_notification_center(lab_page)
    expect(center.locator(".jp-toast-message")).to_have_count(2)
    assert center_messages(center) == [["Quota at 90%", "now"],
                                       ["Just so you know", "now"]]
