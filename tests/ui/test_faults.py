"""What a person sees when Redis fails under JupyterLab: the status bar says the broker is
offline, and why, while the server cannot read it; notifications Redis lost before this tab got
them are announced once in the notification center; everything works again afterwards."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import STATUS_LABELS, status_item
from .test_notifications import bell_count, center_messages, open_notification_center, toasts, xadd

LOST = "Some older notifications are no longer available"
TOLD_WITHIN_MS = 5000 + 3000
"""The server tells within 5 s; the rest is the browser's."""


def test_redis_losing_its_data_is_said_once_in_the_center(
        lab_page: Page, redis_server: Any, screenshot: Callable[[], Path]) -> None:
    xadd(redis_server, message="Before the flush", autoClose="0")
    expect(bell_count(lab_page)).to_have_text("1")

    redis_server.cli("FLUSHALL")
    expect(toasts(lab_page, LOST)).to_have_count(1, timeout=TOLD_WITHIN_MS)
    xadd(redis_server, message="After the flush", autoClose="0")
    expect(bell_count(lab_page)).to_have_text("3")

    redis_server.cli("FLUSHALL")  # lost again while the first notice is still there
    xadd(redis_server, message="After the second flush", autoClose="0")
    expect(bell_count(lab_page)).to_have_text("4")
    center = open_notification_center(lab_page)
    screenshot()
    assert [lines[0] for lines in center_messages(center)] == [
        "After the second flush", "After the flush", LOST, "Before the flush"]
    expect(status_item(lab_page).locator(".jln-StatusItem-label")).to_have_text(
        STATUS_LABELS["live"])


def test_the_status_bar_says_the_broker_is_offline_and_why(
        lab_page: Page, redis_server: Any, screenshot: Callable[[], Path]) -> None:
    item = status_item(lab_page)
    redis_server.stop()
    try:
        expect(item).to_have_attribute("data-jln-state", "offline-broker", timeout=15_000)
        expect(item.locator(".jln-StatusItem-label")).to_have_text(
            STATUS_LABELS["offline-broker"])
        expect(item).to_have_attribute("title", re.compile(
            r"^Notifications: broker offline since .+: the server cannot reach the notification "
            r"broker: \S"))
        screenshot()
    finally:
        redis_server.start()
    expect(item).to_have_attribute("data-jln-state", "live", timeout=15_000)
    xadd(redis_server, message="Redis is back")
    expect(toasts(lab_page, "Redis is back")).to_have_count(1)
