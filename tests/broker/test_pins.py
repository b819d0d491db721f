"""Pinned notices in the library: ``pinned`` and ``requireAck`` from every publisher's form (JSON,
msgpack, redis-cli's flat fields, Python keywords, ``jln send``), the inbox's ``pinned`` filter,
and the state rules: a pinned one is never dismissed, one that asks for an acknowledgement is
marked read only by its id."""

from __future__ import annotations

from typing import Any

import pytest

from jln_broker import Publisher, ValidationError, validate
from jln_broker.errors import Conflict
from jln_broker.history import Change, Filters, History, parse_filters
from jln_broker.protocol import decode_entry, encode_entry
from jln_broker.publisher import AsyncPublisher

from .test_cli import jln, stored
from .test_history import Open, messages


def test_require_ack_pins_and_both_travel_only_when_true() -> None:
    asked = validate({"message": "Save your work", "requireAck": True})
    plain = validate({"message": "hi", "pinned": False, "requireAck": None})

    assert (asked.pinned, asked.require_ack) == (True, True)
    assert asked.to_dict() == {"message": "Save your work", "type": "info", "autoClose": 5000,
                               "pinned": True, "requireAck": True}
    assert (plain.pinned, plain.require_ack) == (False, False)
    assert "pinned" not in plain.to_dict() and "requireAck" not in plain.to_dict()


@pytest.mark.parametrize(("raw", "field"), [
    pytest.param({"pinned": "yes"}, "pinned", id="pinned-text"),
    pytest.param({"pinned": 1}, "pinned", id="pinned-number"),
    pytest.param({"requireAck": [True]}, "requireAck", id="requireAck-list"),
    pytest.param({"pinned": False, "requireAck": True}, "pinned", id="ack-unpinned"),
])
def test_a_bad_pin_is_refused_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate({"message": "m", **raw})

    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_msgpack_round_trips_the_pins() -> None:
    note = validate({"message": "m", "pinned": True, "key": "maint"})

    assert decode_entry(encode_entry(note)) == note


@pytest.mark.parametrize(("fields", "pins"), [
    pytest.param({"pinned": "1"}, (True, False), id="pinned-1"),
    pytest.param({"pinned": " TRUE "}, (True, False), id="pinned-true-any-case"),
    pytest.param({"pinned": "0", "requireAck": "false"}, (False, False), id="both-off"),
    pytest.param({"requireAck": "1"}, (True, True), id="requireAck-pins"),
])
def test_redis_cli_fields_pin(fields: dict[str, str], pins: tuple[bool, bool]) -> None:
    note = decode_entry({"message": "m", **fields})

    assert (note.pinned, note.require_ack) == pins
    assert note.data == {}


@pytest.mark.parametrize("name", ["pinned", "requireAck"])
def test_a_redis_cli_pin_that_is_not_a_flag_names_the_field(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_entry({"message": "m", name: "yes"})

    assert caught.value.field == name


def test_the_python_keywords_pin(redis_url: str) -> None:
    with Publisher(redis_url) as pub:
        pub.publish("Maintenance at 22:00", pinned=True, users=["ada"])
        pub.publish("Read the new policy", require_ack=True, users=["ada"])

    assert [(n.pinned, n.require_ack) for _, n in stored(redis_url, "jln:user:ada")] == [
        (True, False), (True, True)]


def test_jln_send_pins_and_asks_for_an_acknowledgement(redis_url: str) -> None:
    pinned = jln("send", "Maintenance", "--url", redis_url, "--user", "ada", "--pinned")
    asked = jln("send", "Policy", "--url", redis_url, "--user", "ada", "--require-ack")
    plain = jln("send", "Hello", "--url", redis_url, "--user", "ada")

    assert [r.returncode for r in (pinned, asked, plain)] == [0, 0, 0], asked.stderr
    assert [(n.pinned, n.require_ack) for _, n in stored(redis_url, "jln:user:ada")] == [
        (True, False), (True, True), (False, False)]


def test_the_pinned_filter_is_read_from_the_query() -> None:
    assert parse_filters({"pinned": ["true"]}) == Filters(pinned=True)
    assert parse_filters({"pinned": ["false"]}) == Filters(pinned=False)
    with pytest.raises(ValidationError) as caught:
        parse_filters({"pinned": ["1"]})
    assert caught.value.field == "pinned"


async def three_pins(open_history: Open, publisher: AsyncPublisher) -> tuple[History, list[str]]:
    """ada's inbox holding a plain, a pinned and an acknowledgement-asking notification."""
    ids = await publisher.publish_many([
        {"message": "plain", "users": ["ada"]},
        {"message": "pinned", "users": ["ada"], "pinned": True},
        {"message": "asks", "users": ["ada"], "requireAck": True}])
    return await open_history(), [i for [i] in ids]


@pytest.mark.asyncio
async def test_the_inbox_lists_pinned_or_unpinned_on_asking(
        open_history: Open, publisher: AsyncPublisher) -> None:
    history, _ = await three_pins(open_history, publisher)

    pinned = await history.page(Filters(pinned=True), 10, None)
    unpinned = await history.page(Filters(pinned=False), 10, None)

    assert messages(history, pinned.items) == ["asks", "pinned"]
    assert messages(history, unpinned.items) == ["plain"]


@pytest.mark.asyncio
async def test_mark_all_read_leaves_what_asks_for_an_acknowledgement_unread(
        open_history: Open, publisher: AsyncPublisher) -> None:
    history, [plain, pinned, asks] = await three_pins(open_history, publisher)

    everything = await history.change(None, Change(read=True))
    acknowledged = await history.change([asks], Change(read=True))

    assert (sorted(everything.ids), everything.unread) == (sorted([plain, pinned]), 1)
    assert (acknowledged.ids, acknowledged.unread) == ([asks], 0)


@pytest.mark.asyncio
async def test_a_pinned_one_is_never_dismissed(open_history: Open,
                                               publisher: AsyncPublisher) -> None:
    history, [plain, pinned, asks] = await three_pins(open_history, publisher)

    with pytest.raises(Conflict) as caught:
        await history.change([plain, pinned], Change(dismissed=True))
    everything = await history.change(None, Change(dismissed=True))

    assert caught.value.field == "id" and pinned in str(caught.value)
    assert everything.ids == [plain]
    assert messages(history, (await history.page(Filters(), 10, None)).items) == [
        "asks", "pinned"]
    assert asks not in history.state.parts["read"]
