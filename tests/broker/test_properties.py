"""Properties of validation over generated input: whatever a publisher sends, ``validate`` gives
a notification that both stream entry forms carry unchanged, or a ``ValidationError`` naming a
field; never another exception.

The two forms are the Python publisher's (one msgpack field ``p``) and the flat string fields
``redis-cli XADD`` writes. Entries come back from Redis as bytes, so both are checked as bytes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from datetime import datetime, timezone
from typing import Any

import msgpack
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jln_broker import model
from jln_broker.errors import ValidationError
from jln_broker.model import DISPLAY_TYPES, TYPES, Notification, validate
from jln_broker.protocol import decode_entry, encode_entry

EXAMPLES = int(os.environ.get("JLN_PROPERTY_EXAMPLES", "500"))
"""Inputs each property tries. A longer search by hand, new inputs each run:
``JLN_PROPERTY_EXAMPLES=20000 JLN_PROPERTY_RANDOM=1 pytest --timeout=0 <this file>``."""

FIELDS = ("message", "type", "autoClose", "title", "origin", "topic", "link", "actions", "key",
          "expiresAt", "notBefore", "excludeUsers", "pinned", "requireAck", "data", "source",
          "users", "groups")
ROOTS = (*FIELDS, "notification", "p", "entry")
"""What an error's ``field`` may start with: a field, the whole notification (what msgpack
cannot hold), or the entry itself."""

SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    derandomize=not os.environ.get("JLN_PROPERTY_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
"""Anything JSON (and msgpack) can say, with the odd NaN, huge integer and lone surrogate."""

texts = st.text(max_size=40) | st.sampled_from(["", " ", "\x85", "\u2028", "a\nb", "\ud800"])
names = st.lists(st.text(min_size=1, max_size=12) | st.sampled_from(["ada", "ml", "a b"]),
                 max_size=4)
urls = st.sampled_from([
    "https://ci.example.org/run/1", "HTTP://a.b", "http://[::1]/", "https://a.b/\x85",
    "javascript:alert(1)", "data:text/html,x", "vbscript:msgbox", "https://ex\u0430mple.org/",
    "https://a.b/" + "x" * 2100, "http://a.b/\u00e9?q#f"]) | st.text(max_size=30)
times = (st.integers(min_value=-2**70, max_value=2**70) | st.floats()
         | st.sampled_from(["2030-01-01T00:00:00Z", "2030-01-01T00:00:00", "1969-07-20T20:17Z",
                            "tomorrow", "9999-12-31T23:59:59+14:00"]))
actions = st.lists(st.fixed_dictionaries({"label": texts}, optional={
    "caption": texts, "displayType": st.sampled_from(DISPLAY_TYPES) | texts, "link": urls,
    "commandId": st.sampled_from(["ci:rerun", "bad id", "a/b.c-d_e"]) | texts,
    "args": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values,
    "onClick": json_values}) | json_values, max_size=7)
sources = st.fixed_dictionaries({"kind": st.sampled_from(["notebook", "terminal", "file"])},
                                optional={"path": st.sampled_from(
                                    ["work/a.ipynb", "/etc/passwd", "a/../b", "ok\x00"]) | texts,
                                    "cellId": st.sampled_from(["c-1", "no way"]) | texts,
                                    "name": texts, "pid": json_values})
plausible: dict[str, st.SearchStrategy[Any]] = {
    "message": texts, "type": st.sampled_from(TYPES) | texts,
    "autoClose": st.integers(-10, 90_000_000) | st.just(False) | json_values,
    "title": texts, "origin": texts, "topic": texts, "link": urls, "actions": actions,
    "key": texts, "expiresAt": times, "notBefore": times, "excludeUsers": names,
    "pinned": st.booleans(), "requireAck": st.booleans(),
    "data": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    "source": sources, "users": names, "groups": names}
"""Each field's likely values, valid or nearly so, where the rules' edges are."""

def matching(pattern: re.Pattern[str], most: int) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True).filter(lambda text: len(text) <= most)


valid_names = st.lists(matching(model._NAME, 200), max_size=3)
valid_actions = st.lists(st.fixed_dictionaries(
    {"label": st.text(min_size=1, max_size=20).filter(str.strip)},
    optional={"caption": st.text(max_size=20), "displayType": st.sampled_from(DISPLAY_TYPES),
              "link": matching(model._HTTP_URL, 2048)}) | st.fixed_dictionaries(
    {"label": st.just("Run"), "commandId": matching(model._COMMAND_ID, 200)},
    optional={"args": st.dictionaries(st.text(max_size=8), json_values, max_size=3)}),
    max_size=5)
valid_times = (st.integers(0, 2**63 - 1) | st.floats(-1e15, 1e15)
               | st.datetimes(timezones=st.just(timezone.utc)).map(datetime.isoformat))
valid_sources = st.fixed_dictionaries({"kind": st.just("notebook"), "path": st.sampled_from(
    ["a.ipynb", "work/train \u00e9.ipynb", "x/y/z.ipynb"])}, optional={
    "cellId": matching(model._CELL_ID, 64)}) | st.fixed_dictionaries(
    {"kind": st.just("terminal"), "name": matching(model._NAME, 200)})
valid: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(TYPES), "autoClose": st.integers(0, 86_400_000) | st.just(False),
    "title": st.text(max_size=40), "origin": st.text(max_size=40),
    "topic": st.text(max_size=40), "link": matching(model._HTTP_URL, 2048),
    "actions": valid_actions, "key": st.text(max_size=40), "expiresAt": valid_times,
    "notBefore": valid_times, "excludeUsers": valid_names, "pinned": st.booleans(),
    "requireAck": st.booleans(), "data": st.dictionaries(st.text(max_size=8), json_values,
                                                          max_size=4),
    "source": valid_sources, "users": valid_names, "groups": valid_names}
"""Each field's valid values, so that many inputs get through to the round trip."""

valid_notifications = st.fixed_dictionaries(
    {"message": st.text(min_size=1, max_size=60).filter(str.strip)}, optional=valid)
one_field_off = st.tuples(valid_notifications, st.sampled_from(FIELDS)).flatmap(
    lambda drawn: (plausible[drawn[1]] | json_values).map(
        lambda value: {**drawn[0], drawn[1]: value}))
"""A valid notification with one field swapped for something likely wrong."""

raw_notifications = valid_notifications | one_field_off | st.fixed_dictionaries(
    {"message": texts},
    optional={name: strategy | json_values for name, strategy in plausible.items()
              if name != "message"},
) | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=6)


def flat_entry(note: Notification) -> dict[bytes, bytes]:
    """The notification as flat fields, written the way ``docs/protocol.md`` tells a
    ``redis-cli XADD`` user to: text as is, numbers as digits, flags as 1/0, the rest JSON."""
    flat: dict[str, str] = {}
    for name, value in note.to_dict().items():
        if isinstance(value, bool):
            flat[name] = "1" if value else ("false" if name == "autoClose" else "0")
        elif isinstance(value, str | int):
            flat[name] = str(value)
        else:
            flat[name] = json.dumps(value)
    return {k.encode(): v.encode() for k, v in flat.items()}


def msgpack_entry(note: Notification) -> dict[bytes, bytes]:
    return {k.encode(): v for k, v in encode_entry(note).items()}


def assert_names_a_field(err: ValidationError, given: Any = ()) -> None:
    """The error starts with the field it names: a known one, or an unknown one ``given``."""
    root = err.field.split("[", 1)[0].split(".", 1)[0]
    assert root in ROOTS or err.field in given, err.field
    assert err.problem and str(err).startswith(f"{err.field}: ")


def carried_unchanged(note: Notification) -> None:
    """Both entry forms decode to this notification, less its audience (not stored)."""
    stored = dataclasses.replace(note, users=(), groups=())
    for entry in (msgpack_entry(note), flat_entry(note)):
        back = decode_entry(entry)
        assert back == stored
        assert back.to_dict() == note.to_dict()
    assert validate(note.to_dict(audience=True)) == note


@SETTINGS
@given(raw_notifications)
def test_any_input_is_a_notification_both_forms_carry_or_an_error_naming_a_field(
        raw: dict[Any, Any]) -> None:
    try:
        note = validate(raw)
        note.packed  # noqa: B018 - what msgpack cannot hold is refused here, before writing
    except ValidationError as err:
        assert_names_a_field(err, raw)
        return
    carried_unchanged(note)


@SETTINGS
@given(raw_notifications)
def test_the_publishers_way_to_an_entry_agrees_with_validate(raw: dict[Any, Any]) -> None:
    """A batch of mappings goes straight to its payloads (``checked_wire``, ``pack``), no
    Notification made: the same bytes and audience as ``validate(raw).packed``, or the same
    error."""
    try:
        note = validate(raw)
        expected: Any = (note.packed, note.users, note.groups)
    except ValidationError as err:
        expected = (type(err), err.field, err.problem)
    try:
        wire, users, groups = model.checked_wire(raw)
        got: Any = (model.pack(wire), users, groups)
    except ValidationError as err:
        got = (type(err), err.field, err.problem)
    assert got == expected


@SETTINGS
@given(st.dictionaries(st.sampled_from([*FIELDS, "p"]) | st.text(max_size=6),
                       st.binary(max_size=40) | texts.map(lambda t: t.encode("utf-8",
                                                                             "surrogatepass")),
                       max_size=6))
@example({"expiresAt": b"203\x1c"}).via("found by fuzz/entries.py: int() and strip() disagree")
@example({"autoClose": b"\x1f5"}).via("the same, in the other field read as digits")
def test_any_flat_entry_decodes_or_names_a_field(fields: dict[str, bytes]) -> None:
    """What a careless ``XADD`` can leave in a stream: bytes of any kind under any name."""
    entry = {k.encode("utf-8", "surrogatepass"): v for k, v in fields.items()}
    try:
        note = decode_entry(entry)
    except ValidationError as err:
        assert_names_a_field(err, fields)
        return
    assert decode_entry(msgpack_entry(note)) == note


@SETTINGS
@given(raw_notifications | json_values)
def test_any_msgpack_payload_decodes_or_names_a_field(payload: Any) -> None:
    """A ``p`` field holding whatever another language's publisher packed."""
    try:
        packed = msgpack.packb(payload, use_bin_type=True)
    except (ValueError, OverflowError, TypeError):
        return  # not something any msgpack writer can produce
    try:
        note = decode_entry({b"p": packed})
    except ValidationError as err:
        assert_names_a_field(err, payload if isinstance(payload, dict) else ())
        return
    carried_unchanged(note)
