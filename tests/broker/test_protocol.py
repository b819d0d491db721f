"""The stream protocol: stream names, both entry forms, delivered records and cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgpack
import pytest

from jln_broker import Cursor, Delivered, StreamNames, ValidationError, validate
from jln_broker.protocol import PAYLOAD_FIELD, decode_entry, encode_entry, entry_id_key

FULL = {
    "message": "Job 42 failed", "type": "error", "autoClose": False, "title": "Job 42",
    "origin": "slurm", "topic": "jobs", "link": "https://ci.example.org/42", "key": "job-42",
    "expiresAt": 4_000_000_000_000, "data": {"job": 42, "nodes": ["n1", "n2"]},
    "actions": [
        {"label": "Logs", "caption": "", "displayType": "link",
         "link": "https://ci.example.org/42/log"},
        {"label": "Open", "caption": "the notebook", "displayType": "accent",
         "commandId": "docmanager:open", "args": {"path": "runs/42.ipynb", "opts": {"a": [1]}}},
    ],
}


def flat(**fields: str) -> dict[bytes, bytes]:
    """An entry as ``redis-cli XADD`` writes it: every field and value a byte string."""
    return {k.encode(): v.encode() for k, v in fields.items()}


def decode_error(fields: dict[bytes, bytes]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        decode_entry(fields)
    return caught.value


def test_stream_names_follow_the_prefix() -> None:
    names = StreamNames("lab")

    assert (names.broadcast, names.user("ada"), names.group("ml")) == (
        "lab:broadcast", "lab:user:ada", "lab:group:ml")
    assert StreamNames().broadcast == "jln:broadcast"


def test_a_notification_without_audience_goes_to_broadcast_only() -> None:
    assert StreamNames().targets(validate({"message": "m"})) == ["jln:broadcast"]


def test_an_addressed_notification_goes_to_each_user_and_group_not_broadcast() -> None:
    note = validate({"message": "m", "users": ["ada", "bob"], "groups": ["ml"]})

    assert StreamNames().targets(note) == ["jln:user:ada", "jln:user:bob", "jln:group:ml"]


def test_a_reader_audience_is_broadcast_then_own_then_groups_without_repeats() -> None:
    names = StreamNames()

    assert names.audience("ada", ["ml", "ml", "ops"]) == [
        "jln:broadcast", "jln:user:ada", "jln:group:ml", "jln:group:ops"]
    assert names.audience(None) == ["jln:broadcast"]


def test_msgpack_entry_round_trips_every_field() -> None:
    note = validate(FULL)

    entry = encode_entry(note)

    assert list(entry) == [PAYLOAD_FIELD]
    assert decode_entry({b"p": entry[PAYLOAD_FIELD]}) == note
    assert decode_entry({b"p": entry[PAYLOAD_FIELD]}).to_dict() == FULL


def test_msgpack_keeps_auto_close_false_apart_from_zero() -> None:
    never = decode_entry(encode_entry(validate({"message": "m", "autoClose": False})))
    at_once = decode_entry(encode_entry(validate({"message": "m", "autoClose": 0})))

    assert never.auto_close is False
    assert at_once.auto_close == 0 and at_once.auto_close is not False


def test_msgpack_entry_leaves_the_audience_out() -> None:
    entry = encode_entry(validate({"message": "m", "users": ["ada"], "groups": ["ml"]}))

    payload = msgpack.unpackb(entry[PAYLOAD_FIELD])

    assert "users" not in payload and "groups" not in payload


def test_flat_entry_from_redis_cli_is_read() -> None:
    note = decode_entry(flat(message="hi", type="success", autoClose="false", title="T",
                             link="https://example.org", expiresAt="4000000000000"))

    assert (note.message, note.type, note.auto_close) == ("hi", "success", False)
    assert (note.title, note.link, note.expires_at) == ("T", "https://example.org",
                                                        4_000_000_000_000)


@pytest.mark.parametrize(("text", "value"), [("false", False), (" FALSE ", False), ("0", 0),
                                              ("7000", 7000)])
def test_flat_auto_close_is_false_or_digits(text: str, value: int | bool) -> None:
    auto_close = decode_entry(flat(message="m", autoClose=text)).auto_close

    assert auto_close == value and type(auto_close) is type(value)


@pytest.mark.parametrize("text", ["soon", "-1", "1.5", "", "²",
                                  pytest.param("9" * 5_000, id="5000-digits")])
def test_flat_auto_close_that_is_not_digits_is_a_validation_error(text: str) -> None:
    assert decode_error(flat(message="m", autoClose=text)).field == "autoClose"


@pytest.mark.parametrize("text", ["2023-11-14T22:13:20Z", "1700000000000"])
def test_flat_expires_at_is_digits_or_iso(text: str) -> None:
    assert decode_entry(flat(message="m", expiresAt=text)).expires_at == 1_700_000_000_000


@pytest.mark.parametrize("text", ["³", pytest.param("9" * 5_000, id="5000-digits"),
                                  "yesterday"])
def test_flat_expires_at_that_is_neither_is_a_validation_error(text: str) -> None:
    assert decode_error(flat(message="m", expiresAt=text)).field == "expiresAt"


def test_flat_json_fields_are_parsed() -> None:
    note = decode_entry(flat(
        message="m", actions=json.dumps(FULL["actions"]), data='{"run": 7}',
        users='["ada"]', groups='["ml"]'))

    assert [a.to_dict() for a in note.actions] == FULL["actions"]
    assert (note.data, note.users, note.groups) == ({"run": 7}, ("ada",), ("ml",))


def test_flat_unknown_fields_are_kept_in_data_below_explicit_data() -> None:
    note = decode_entry(flat(message="m", host="gpu-3", run="1", data='{"run": 7}'))

    assert note.data == {"host": "gpu-3", "run": 7}


@pytest.mark.parametrize("name", ["actions", "data", "users", "groups"])
def test_flat_bad_json_names_the_field(name: str) -> None:
    error = decode_error(flat(message="m", **{name: "{not json"}))

    assert error.field == name
    assert "JSON" in str(error)


def test_flat_json_nested_too_deeply_is_a_validation_error() -> None:
    assert decode_error(flat(message="m", data="[" * 100_000 + "]" * 100_000)).field == "data"


def test_flat_entry_without_message_is_a_validation_error() -> None:
    assert decode_error(flat(type="info")).field == "message"


@pytest.mark.parametrize("payload", [b"\xc1", b"\x92\x01", b"\x81\xa1a\x01\x02", b""])
def test_garbage_msgpack_is_a_validation_error_naming_p(payload: bytes) -> None:
    assert decode_error({b"p": payload}).field == "p"


@pytest.mark.parametrize("value", [[1, 2], "message", 7, None])
def test_msgpack_that_is_not_a_map_is_a_validation_error(value: Any) -> None:
    assert decode_error({b"p": msgpack.packb(value)}).field == "p"


def test_msgpack_map_with_binary_keys_is_a_validation_error() -> None:
    payload = msgpack.packb({b"message": b"hi", "type": "info"}, use_bin_type=True)

    assert "unknown field" in str(decode_error({b"p": payload}))


def test_msgpack_with_non_json_values_is_a_validation_error() -> None:
    payload = msgpack.packb({"message": "m", "data": {"at": msgpack.Timestamp(1)}},
                            datetime=False)

    assert decode_error({b"p": payload}).field == "data"


@pytest.mark.parametrize("fields", [{b"message": b"caf\xe9"}, {b"messag\xe9": b"hi"}])
def test_text_that_is_not_utf8_is_a_validation_error(fields: dict[bytes, bytes]) -> None:
    assert decode_error(fields).field == "entry"


def test_str_fields_are_read_like_bytes() -> None:
    assert decode_entry({"message": "hi", "autoClose": "0"}).auto_close == 0


def test_delivered_record_carries_stream_id_and_creation_time() -> None:
    record = Delivered("jln:broadcast", "1700000000000-3", validate({"message": "m"}))

    assert record.id == "jln:broadcast/1700000000000-3"
    assert record.created_at == 1_700_000_000_000
    assert record.to_dict() == {"id": "jln:broadcast/1700000000000-3", "stream": "jln:broadcast",
                                "createdAt": 1_700_000_000_000, "message": "m", "type": "info",
                                "autoClose": 5000}


def test_entry_ids_sort_by_number_not_text() -> None:
    ids = ["10-0", "9-5", "9-10", "100-0"]

    assert sorted(ids, key=entry_id_key) == ["9-5", "9-10", "10-0", "100-0"]


def test_cursor_survives_encoding_as_a_url_safe_string() -> None:
    cursor = Cursor({"jln:broadcast": "1700000000000-0", "jln:user:ädä": "1700000000001-7",
                     "jln:group:ml": "0-0"})

    text = cursor.encode()

    assert Cursor.decode(text) == cursor
    assert not set(text) & set("+/=")


@pytest.mark.parametrize("positions", [
    [1, 2], "1-0", {"s": 5}, {"s": "abc"}, {"s": "1-0\n"}, {"s": "\u0661-\u0660"}, {"s": "-1-0"},
    {"s": "18446744073709551616-0"}, {"s": "1-0-0"},
])
def test_cursor_with_impossible_positions_is_rejected(positions: Any) -> None:
    text = base64.urlsafe_b64encode(json.dumps(positions).encode()).decode()

    with pytest.raises(ValidationError) as caught:
        Cursor.decode(text)

    assert caught.value.field == "cursor"


@pytest.mark.parametrize("text", [
    "", "not a cursor!", "%%%%", "eyJz", "ä",
    pytest.param(base64.urlsafe_b64encode(b"[" * 50_000).decode(), id="deeply-nested"),
])
def test_text_that_is_not_a_cursor_is_rejected(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Cursor.decode(text)

    assert caught.value.field == "cursor"


def test_advanced_moves_forward_per_stream() -> None:
    cursor = Cursor({"a": "9-0"}).advanced("a", "10-0").advanced("b", "3-1")

    assert cursor.positions == {"a": "10-0", "b": "3-1"}


@pytest.mark.parametrize("older", ["10-0", "9-99", "2-0", "0-0"])
def test_advanced_never_moves_backwards(older: str) -> None:
    cursor = Cursor({"a": "10-0"})

    assert cursor.advanced("a", older).positions == {"a": "10-0"}


def test_position_of_a_named_stream_is_its_own() -> None:
    assert Cursor({"a": "5-3", "b": "9-1"}).position("a") == "5-3"


def test_position_of_an_unnamed_stream_is_just_before_the_newest_millisecond() -> None:
    cursor = Cursor({"a": "5-3", "b": "900-7", "c": "12-0"})

    assert cursor.position("new") == f"899-{2**64 - 1}"  # so an entry at 900-0 is still read
    assert Cursor({}).position("new") == "0-0"
    assert Cursor({"a": "0-0"}).position("new") == "0-0"


def test_restricted_keeps_exactly_the_given_streams() -> None:
    cursor = Cursor({"a": "5-3", "gone": "900-7"})

    assert cursor.restricted(["a", "new"]).positions == {"a": "5-3", "new": f"899-{2**64 - 1}"}
