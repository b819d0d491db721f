"""The return address (``source``): validated like every field, carried by both entry forms
and by the publishers, and worked out in a kernel from the session's notebook."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jln_broker.errors import TooLarge, ValidationError
from jln_broker.model import Source, validate
from jln_broker.notify import notebook_path
from jln_broker.protocol import decode_entry, encode_entry

NOTEBOOK = {"kind": "notebook", "path": "work/train.ipynb", "cellId": "8f1c2a4e-0d3b"}
TERMINAL = {"kind": "terminal", "name": "1"}


@pytest.mark.parametrize("source", [NOTEBOOK, TERMINAL, {"kind": "notebook", "path": "a.ipynb"}])
def test_a_source_survives_both_entry_forms(source: dict[str, Any]) -> None:
    notification = validate({"message": "done", "source": source})
    assert notification.to_dict()["source"] == source
    assert decode_entry(encode_entry(notification)) == notification
    assert decode_entry({"message": "done", "source": json.dumps(source)}) == notification


@pytest.mark.parametrize(("source", "field", "words"), [
    ("work/train.ipynb", "source", "must be an object"),
    ({"path": "a.ipynb"}, "source.kind", "must be one of notebook, terminal"),
    ({"kind": "notebook"}, "source.path", "is required"),
    ({"kind": "notebook", "path": "/root/a.ipynb"}, "source.path", "relative to the server root"),
    ({"kind": "notebook", "path": "a/../../b.ipynb"}, "source.path", "without '..'"),
    ({"kind": "notebook", "path": "a\nb.ipynb"}, "source.path", "control characters"),
    ({"kind": "notebook", "path": "a.ipynb", "cellId": "not a cell"}, "source.cellId",
     "1 to 64 letters"),
    ({"kind": "notebook", "path": "a.ipynb", "name": "1"}, "source.name", "unknown field"),
    ({"kind": "terminal"}, "source.name", "is required"),
    ({"kind": "terminal", "name": "my term"}, "source.name", "spaces"),
])
def test_a_bad_source_is_refused_naming_the_field(source: Any, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate({"message": "done", "source": source})
    assert refused.value.field == field and words in str(refused.value)


def test_a_too_long_path_names_the_limit() -> None:
    with pytest.raises(TooLarge, match=r"source\.path: is 1025 characters; the limit is 1024"):
        validate({"message": "m", "source": {"kind": "notebook", "path": "a" * 1025}})


def test_source_is_a_dataclass_of_the_model() -> None:
    assert validate({"message": "m", "source": TERMINAL}).source == Source("terminal", name="1")


@pytest.mark.parametrize(("env", "path"), [
    ({"JPY_SESSION_NAME": "/srv/root/work/train.ipynb", "JLN_SERVER_ROOT": "/srv/root"},
     "work/train.ipynb"),
    ({"JPY_SESSION_NAME": "work/train.ipynb"}, "work/train.ipynb"),  # a session with no name
    ({"JPY_SESSION_NAME": "/elsewhere/x.ipynb", "JLN_SERVER_ROOT": "/srv/root"}, None),
    ({"JPY_SESSION_NAME": "/srv/root/x.ipynb"}, None),  # no root: cannot tell
    ({"JPY_SESSION_NAME": "/srv/root/console-1"}, None),  # a console, not a notebook
    ({}, None),
])
def test_the_notebook_path_is_the_session_name_relative_to_the_root(
        env: dict[str, str], path: str | None) -> None:
    assert notebook_path(env) == path
