"""Every field rule of ``validate``: what passes, what fails, and that a failure names the field
and, for sizes, the limit."""

from __future__ import annotations

from typing import Any

import pytest

from jln_broker import Action, Limits, TooLarge, ValidationError, validate
from jln_broker.model import DEFAULT_LIMITS, DISPLAY_TYPES, TYPES


def rejection(raw: dict[Any, Any], limits: Limits = DEFAULT_LIMITS) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validate(raw, limits)
    return caught.value


def too_large(raw: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> TooLarge:
    with pytest.raises(TooLarge) as caught:
        validate(raw, limits)
    return caught.value


def test_a_bare_message_gets_the_defaults() -> None:
    note = validate({"message": "Training done"})

    assert (note.message, note.type, note.auto_close) == ("Training done", "info", 5000)
    assert note.is_broadcast
    assert note.to_dict() == {"message": "Training done", "type": "info", "autoClose": 5000}


def test_every_field_is_kept_under_its_python_name() -> None:
    note = validate({
        "message": "Job 42 failed", "type": "error", "autoClose": False, "title": "Job 42",
        "origin": "slurm", "topic": "jobs", "link": "https://ci.example.org/42", "key": "job-42",
        "expiresAt": 4_000_000_000_000, "data": {"job": 42},
        "actions": [{"label": "Logs", "link": "https://ci.example.org/42/log"}],
        "users": ["ada"], "groups": ["ml"],
    })

    assert note.auto_close is False
    assert (note.title, note.origin, note.topic, note.key) == ("Job 42", "slurm", "jobs", "job-42")
    assert note.actions == (Action(label="Logs", link="https://ci.example.org/42/log"),)
    assert (note.users, note.groups, note.is_broadcast) == (("ada",), ("ml",), False)
    assert note.to_dict(audience=True)["users"] == ["ada"]
    assert "users" not in note.to_dict()


@pytest.mark.parametrize("raw", [{}, {"message": None}, {"message": ""}, {"message": " \n "},
                                 {"message": 42}, {"message": ["hi"]}])
def test_message_is_required_text(raw: dict[str, Any]) -> None:
    assert rejection(raw).field == "message"


def test_message_over_the_limit_is_too_large_and_names_the_limit() -> None:
    assert validate({"message": "x" * 10_000}).message == "x" * 10_000

    error = too_large({"message": "x" * 10_001})

    assert error.field == "message"
    assert "10000" in str(error) and "10001" in str(error)


def test_message_limit_is_configurable() -> None:
    error = too_large({"message": "twelve chars"}, Limits(max_message_chars=11))

    assert error.field == "message"
    assert "limit is 11" in str(error)


@pytest.mark.parametrize("name", ["title", "origin", "topic", "key"])
def test_short_text_fields_are_capped_at_200_characters(name: str) -> None:
    assert validate({"message": "m", name: "y" * 200}).to_dict()[name] == "y" * 200

    error = too_large({"message": "m", name: "y" * 201})

    assert error.field == name
    assert "200" in str(error)


@pytest.mark.parametrize("name", ["title", "origin", "topic", "key", "link"])
def test_text_fields_refuse_other_types(name: str) -> None:
    error = rejection({"message": "m", name: 7})

    assert error.field == name
    assert "must be text" in str(error)


@pytest.mark.parametrize("kind", TYPES)
def test_every_jupyterlab_type_is_accepted(kind: str) -> None:
    assert validate({"message": "m", "type": kind}).type == kind


@pytest.mark.parametrize("kind", ["fatal", "Info", "", None, 1])
def test_unknown_type_is_rejected_listing_the_choices(kind: Any) -> None:
    error = rejection({"message": "m", "type": kind})

    assert error.field == "type"
    assert "in-progress" in str(error)


def test_auto_close_false_and_zero_stay_different() -> None:
    assert validate({"message": "m", "autoClose": False}).auto_close is False
    zero = validate({"message": "m", "autoClose": 0}).auto_close
    assert zero == 0 and zero is not False


def test_auto_close_accepts_up_to_a_day() -> None:
    assert validate({"message": "m", "autoClose": 86_400_000}).auto_close == 86_400_000

    error = rejection({"message": "m", "autoClose": 86_400_001})

    assert error.field == "autoClose"
    assert "86400000" in str(error)


@pytest.mark.parametrize("value", [True, -1, 1.5, 5000.0, "5000", "false", None, [5000]])
def test_auto_close_refuses_anything_but_whole_milliseconds_or_false(value: Any) -> None:
    assert rejection({"message": "m", "autoClose": value}).field == "autoClose"


@pytest.mark.parametrize("url", ["http://example.org", "https://example.org/a?b=c#d",
                                 "HTTPS://EXAMPLE.ORG"])
def test_http_and_https_links_are_accepted(url: str) -> None:
    assert validate({"message": "m", "link": url}).link == url


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript://%0aalert(1)",
                                 "data:text/html,<b>x</b>", "ftp://example.org/f", "file:///etc",
                                 "/lab/tree/x.ipynb", "example.org", "https://", "",
                                 "http://[::1"])
def test_links_other_than_http_are_rejected(url: str) -> None:
    error = rejection({"message": "m", "link": url})

    assert error.field == "link"
    assert "http(s) URL" in str(error)


def test_link_over_the_url_limit_is_too_large() -> None:
    error = too_large({"message": "m", "link": "https://example.org/" + "a" * 2_048})

    assert error.field == "link"
    assert "2048" in str(error)


def action(**fields: Any) -> dict[str, Any]:
    return {"label": "Open", **fields}


def test_actions_keep_link_command_args_and_display_type() -> None:
    note = validate({"message": "m", "actions": [
        action(link="https://example.org", displayType="link", caption="in a tab"),
        action(commandId="filebrowser:open-path", args={"path": "a.ipynb"}, displayType="accent"),
        action(label="Dismiss"),
    ]})

    assert [a.to_dict() for a in note.actions] == [
        {"label": "Open", "caption": "in a tab", "displayType": "link",
         "link": "https://example.org"},
        {"label": "Open", "caption": "", "displayType": "accent",
         "commandId": "filebrowser:open-path", "args": {"path": "a.ipynb"}},
        {"label": "Dismiss", "caption": "", "displayType": "default"},
    ]


def test_at_most_five_actions() -> None:
    assert len(validate({"message": "m", "actions": [action()] * 5}).actions) == 5

    error = too_large({"message": "m", "actions": [action()] * 6})

    assert error.field == "actions"
    assert "limit is 5" in str(error)


@pytest.mark.parametrize(("actions", "field"), [
    ("Open", "actions"),
    ({"label": "Open"}, "actions"),
    (["Open"], "actions[0]"),
    ([action(), {}], "actions[1].label"),
    ([action(label="  ")], "actions[0].label"),
    ([action(label="x" * 201)], "actions[0].label"),
    ([action(link="https://a.org", commandId="app:open")], "actions[0]"),
    ([action(args={"path": "x"})], "actions[0].args"),
    ([action(link="https://a.org", args={"path": "x"})], "actions[0].args"),
    ([action(commandId="app:open", args=["x"])], "actions[0].args"),
    ([action(commandId="rm -rf /")], "actions[0].commandId"),
    ([action(commandId="app:open\n")], "actions[0].commandId"),
    ([action(), action(link="javascript:alert(1)")], "actions[1].link"),
    ([action(displayType="danger")], "actions[0].displayType"),
    ([action(onClick="alert(1)")], "actions[0].onClick"),
])
def test_action_rules_name_the_broken_action(actions: Any, field: str) -> None:
    assert rejection({"message": "m", "actions": actions}).field == field


@pytest.mark.parametrize("display_type", DISPLAY_TYPES)
def test_every_display_type_is_accepted(display_type: str) -> None:
    note = validate({"message": "m", "actions": [action(displayType=display_type)]})

    assert note.actions[0].display_type == display_type


@pytest.mark.parametrize(("value", "ms"), [
    (1_700_000_000_000, 1_700_000_000_000),
    (1_700_000_000_000.9, 1_700_000_000_000),
    ("2023-11-14T22:13:20Z", 1_700_000_000_000),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
    ("2023-11-14T22:13:20.5+00:00", 1_700_000_000_500),
])
def test_expires_at_takes_milliseconds_or_iso_with_a_zone(value: Any, ms: int) -> None:
    note = validate({"message": "m", "expiresAt": value})

    assert note.expires_at == ms
    assert not note.expired(ms - 1) and note.expired(ms)


@pytest.mark.parametrize("value", ["2023-11-14T22:13:20", "tomorrow", "", True,
                                   float("inf"), float("nan"), [1], {"ms": 1}])
def test_expires_at_refuses_zoneless_times_and_non_numbers(value: Any) -> None:
    error = rejection({"message": "m", "expiresAt": value})

    assert error.field == "expiresAt"
    assert "time zone" in str(error)


def test_data_is_a_json_object_under_its_byte_limit() -> None:
    data = {"run": 7, "tags": ["a", "b"], "ok": True, "none": None}
    assert validate({"message": "m", "data": data}).data == data

    error = too_large({"message": "m", "data": {"blob": "x" * 8_192}})

    assert error.field == "data"
    assert "8192" in str(error)


@pytest.mark.parametrize("data", [["a"], "text", 3, {"when": {1, 2}}, {"x": float("nan")},
                                  {"x": float("inf")}, {"x": object()}])
def test_data_refuses_what_json_cannot_carry(data: Any) -> None:
    assert rejection({"message": "m", "data": data}).field == "data"


def test_data_nested_past_the_recursion_limit_is_a_validation_error() -> None:
    deep: dict[str, Any] = {}
    for _ in range(5_000):
        deep = {"a": deep}

    assert rejection({"message": "m", "data": deep}).field == "data"


@pytest.mark.parametrize("name", ["users", "groups"])
def test_audience_names_are_deduplicated_in_order(name: str) -> None:
    note = validate({"message": "m", name: ["bob", "ada", "bob", "ada@example.org"]})

    assert getattr(note, name) == ("bob", "ada", "ada@example.org")


@pytest.mark.parametrize("name", ["users", "groups"])
@pytest.mark.parametrize(("value", "field"), [
    ("ada", ""), ({"ada": 1}, ""), (["ada", "ada lovelace"], "[1]"), (["a\tb"], "[0]"),
    (["ada\n"], "[0]"),
    (["ctl\x07"], "[0]"), (["del\x7f"], "[0]"), ([""], "[0]"), (["ok", 5], "[1]"),
    (["x" * 201], "[0]"),
])
def test_audience_names_are_lists_of_plain_names(name: str, value: Any, field: str) -> None:
    assert rejection({"message": "m", name: value}).field == f"{name}{field}"


def test_audience_over_the_limit_is_too_large() -> None:
    error = too_large({"message": "m", "users": [f"u{i}" for i in range(101)]})

    assert error.field == "users"
    assert "limit is 100" in str(error)


def test_unknown_fields_are_rejected_by_name() -> None:
    error = rejection({"message": "m", "colour": "red"})

    assert error.field == "colour"
    assert "autoClose" in str(error)


def test_unknown_keys_of_mixed_types_are_still_a_validation_error() -> None:
    error = rejection({"message": "m", b"raw": 1, "colour": "red"})

    assert error.field in ("colour", b"raw")
