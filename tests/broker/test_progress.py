"""``progress()``: one in-progress notification by key, coalesced to one update a second,
ending as a success or an error."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from jln_broker.model import validate
from jln_broker.progress import Progress, progress
from jln_broker.protocol import decode_entry
from jln_broker.publisher import Publisher


def test_a_hundred_thousand_iterations_send_few_entries_and_end_in_success() -> None:
    url = f"memory://progress-{uuid.uuid4().hex}"
    publisher = Publisher(url)
    sent = 0

    def send(message: str, **fields: Any) -> None:
        nonlocal sent
        sent += 1
        publisher.publish(message, users=["ada"], **fields)

    total = 0
    for i in progress(range(100_000), "Training", send=send, interval=0.05):
        total += i
        if i % 10_000 == 0:
            time.sleep(0.06)  # a slow stretch: an update is due
    entries = publisher._redis.xrange("jln:user:ada")  # type: ignore[union-attr]
    notifications = [decode_entry(fields) for _, fields in entries]
    assert total == sum(range(100_000))
    assert 2 < len(entries) == sent < 100
    assert {n.key for n in notifications} == {notifications[0].key}
    assert [n.type for n in notifications[:-1]] == ["in-progress"] * (len(entries) - 1)
    assert notifications[-1].type == "success"
    assert notifications[-1].message.startswith("Training: done: 100% (100000/100000)")


def test_a_loop_that_raises_ends_in_an_error_and_the_exception_goes_on() -> None:
    """(The generator learns only that its loop was left early, not why.)"""
    sent: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(KeyError):
        for i in progress(range(10), "Parsing", send=lambda m, **f: sent.append((m, f))):
            if i == 3:
                raise KeyError("row 3")
    assert [f["type"] for _, f in sent] == ["in-progress", "error"]
    assert sent[-1][0].startswith("Parsing: stopped at 30% (3/10)")


def test_updates_carry_percentage_rate_and_eta_and_stay_valid() -> None:
    now = [0.0]
    sent: list[tuple[str, dict[str, Any]]] = []
    task = Progress("Upload", 200, send=lambda m, **f: sent.append((m, f)),
                    clock=lambda: now[0], key="upload-1")
    task.update(1)
    now[0] = 0.5
    task.update(49)  # within the second: coalesced
    now[0] = 1.0
    task.update(50)
    assert [m for m, _ in sent] == [sent[0][0],
                                    "Upload: 50% (100/200), 100 it/s, ETA 1 s"]
    for message, fields in sent:
        validate({"message": message, "key": fields["key"], "type": fields["type"],
                  "autoClose": fields["auto_close"]})


def test_ntqdm_keeps_one_notification_beside_its_bar_and_ends_in_success() -> None:
    from jln_broker.progress import ntqdm  # tqdm is a test dependency

    sent: list[tuple[str, dict[str, Any]]] = []
    total = 0
    bar = ntqdm(range(100_000), message="Epochs", send=lambda m, **f: sent.append((m, f)),
                disable=False, mininterval=0)
    for i in bar:
        total += i
    bar.close()
    assert total == sum(range(100_000))
    assert 1 < len(sent) < 100
    assert {f["key"] for _, f in sent} == {sent[0][1]["key"]}
    assert sent[-1][1]["type"] == "success"
    assert sent[-1][0].startswith("Epochs: done: 100% (100000/100000)")
