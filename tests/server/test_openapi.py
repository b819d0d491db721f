"""The OpenAPI description against a live ``jupyter server``: schemathesis sends generated
requests, valid and invalid, to every REST operation and checks each answer against the file.

The server must never answer 500, and every status, content type, header and body must be one
the description documents. Every check schemathesis has runs (``--checks all``), among them
``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
``response_schema_conformance``, ``response_headers_conformance``, ``negative_data_rejection``,
``positive_data_acceptance``, ``missing_required_header``, ``ignored_auth`` and
``unsupported_method``, with the settings of ``schemathesis.toml`` (which ``st run`` by hand
reads too). The notification's rules are defined once, in ``jln_broker.model``: the tests at
the end hold openapi.yaml's limits, enums and patterns to them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import schemathesis
import yaml
from schemathesis import checks
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

import jln_server
from jln_broker import model
from jln_broker.errors import ValidationError
from jln_broker.model import DEFAULT_LIMITS, Limits
from jln_server.handlers.notifications import MAX_ARRAY_BYTES, MAX_ARRAY_ITEMS

if sys.version_info >= (3, 11):
    import tomllib
else:  # schemathesis brings its backport
    import tomli as tomllib

SPEC = Path(jln_server.__file__).with_name("openapi.yaml")
SETTINGS = tomllib.loads((Path(__file__).parents[2] / "schemathesis.toml").read_text())
MAX_EXAMPLES = 25
"""Generated cases an operation, on top of schemathesis's boundary (coverage) cases."""

SEED: list[dict[str, Any]] = [
    {"message": "plain"},
    {"message": "everything", "type": "success", "autoClose": False, "title": "Training",
     "origin": "ci", "topic": "runs", "link": "https://ci.example.org/runs/1", "key": "run-1",
     "expiresAt": "2999-01-01T00:00:00Z", "data": {"run": 1, "tags": ["a"]},
     "actions": [{"label": "Open", "caption": "the run", "displayType": "accent",
                  "link": "https://ci.example.org/runs/1"},
                 {"label": "Rerun", "commandId": "ci:rerun", "args": {"run": 1}},
                 {"label": "Dismiss"}]},
    {"message": "a banner", "key": "maintenance", "requireAck": True},
]
"""Published before the run, so the list operations answer with every field filled in."""


@dataclass
class LiveServer:
    url: str
    token: str
    cursors: list[str]
    """Cursors the server issued: ``since`` is opaque, so a schema-valid one must be real."""
    pages: list[str]
    """Inbox page cursors it issued (``cursor`` is opaque too)."""
    ids: list[str]
    """The ids of ``SEED``, in its order."""


@pytest.fixture
def live_server(jupyter_process: Callable[..., Any], redis_url: str) -> LiveServer:
    """A fresh server under a ``base_url`` holding ``SEED``, its rate limit high enough that 429s
    stay rare (they remain documented)."""
    server = jupyter_process(redis_url, "--JLN.ingest_rate_limit=100000",
                             "--JLN.ingest_burst=100000", base_url="/user/alice/")
    session = requests.Session()
    session.headers["Authorization"] = f"token {server.token}"
    api = server.url + "jln/api/notifications"
    start = session.get(api, timeout=10).json()["cursor"]
    ids: list[str] = []
    for body in SEED:
        answer = session.post(api, json=body, timeout=10)
        assert answer.status_code == 201, answer.text
        ids += answer.json()["ids"]
    end = session.get(api, timeout=10).json()["cursor"]
    page = session.get(api, params={"limit": "1"}, timeout=10).json()["next"]
    return LiveServer(server.url, server.token, [start, end, "e30"],  # e30: {}, the beginning
                      [page], ids)


@pytest.fixture
def live_schema(live_server: LiveServer) -> Any:
    config = SchemathesisConfig.from_dict({
        "base-url": live_server.url.rstrip("/"),
        "auth": {"openapi": {"tokenHeader": {"api_key": f"token {live_server.token}"}}},
        "seed": 20240601,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True,
                       "with-security-parameters": False},
        # What schemathesis.toml tells a run by hand (413 over a size limit, as documented);
        # its fixed cursors are left out: make_valid puts in ones this server issued.
        "checks": SETTINGS["checks"],
        # The compatibility ingest takes publish's notification and the count the list's
        # filters: their ~500 boundary cases would repeat those (15 s and more); their
        # generated ones stay.
        "operations": [{"include-operation-id": name, "phases": {"coverage": {"enabled": False}}}
                       for name in ("compatIngest", "countNotifications")],
    })
    return schemathesis.openapi.from_path(SPEC, config=config)


schema = schemathesis.pytest.from_fixture("live_schema")


def test_every_check_schemathesis_has_is_on(live_schema: Any) -> None:
    load_all_checks()
    config = live_schema.config.checks_config_for(operation=None, phase=None)
    names = [check.__name__ for check in CHECKS.get_all()]
    assert "response_schema_conformance" in names
    assert [name for name in names if not getattr(config, name).enabled] == []


INBOX_ONLY = ("cursor", "order", "search", "type", "minType", "topic", "origin", "read",
              "saved", "pinned", "createdAfter", "createdBefore", "scope")
MOMENT = "2001-02-03T04:05:06Z"


@schema.parametrize()
@pytest.mark.timeout(300)  # one test for all ~1,100 requests: ~35 s alone, more on a busy machine
def test_every_answer_matches_the_description(case: Any, live_server: LiveServer) -> None:
    """Up to ``MAX_EXAMPLES`` generated requests an operation, plus schemathesis's boundary
    cases, all answered as documented."""
    if case.meta.generation.mode.is_positive:
        make_valid(case, live_server)
    case.call_and_validate(timeout=10)


def make_valid(case: Any, live_server: LiveServer) -> None:
    """What a schema-valid request still needs and OpenAPI cannot say: opaque cursors the
    server really issued, times a calendar has, the list's two modes kept apart (with
    ``since`` no inbox arguments). Ids stay as generated:
    schemathesis judges a path value it did not make in its encoded form, so a real id would
    count as invalid; ``test_one_notification_answers_match_the_description`` uses real ones."""
    query = case.query if case.query is not None else {}
    if since := query.get("since"):
        query["since"] = live_server.cursors[len(since) % len(live_server.cursors)]
        for name in INBOX_ONLY:
            query.pop(name, None)
    elif case.path == "/jln/api/notifications" and case.method == "GET" and query.get("cursor"):
        query["cursor"] = live_server.pages[0]
    filters = case.body.get("filters") if isinstance(case.body, dict) else None
    for where in (query, filters if isinstance(filters, dict) else {}):
        for name in ("createdAfter", "createdBefore"):
            if isinstance(where.get(name), str):
                where[name] = MOMENT


BIG = "1" * 5000
"""A number of more digits than the 4300 ``int()`` accepts."""


def raw(text: str) -> dict[str, Any]:
    """A request body sent as it is, not encoded as JSON by schemathesis (bytes are not)."""
    return {"body": text.encode(), "media_type": "application/json"}


REFUSALS: list[tuple[str, str, dict[str, Any], int]] = [
    # (operation, credentials, request, expected status), in this order: the first publish
    # spends the one token of the rate limit, failing on the broker; later ones are over it.
    ("POST /jln/api/notifications", "token", {"body": {"message": "first"}}, 503),
    ("POST /jln/api/notifications", "token", {"body": {"message": "second"}}, 429),
    ("POST /jupyterlab-notifications-extension/ingest", "token", {"body": {"message": "x"}}, 429),
    ("GET /jln/api/notifications", "token", {}, 503),
    ("GET /jln/api/notifications", "token", {"query": {"since": "e30"}}, 503),
    ("GET /jupyterlab-notifications-extension/notifications", "token", {}, 503),
    ("GET /jln/api/notifications", "token", {"query": {"since": "bm90IGEgY3Vyc29y"}}, 400),
    ("GET /jln/api/notifications", "token", {"query": {"limit": "²"}}, 400),
    ("POST /jln/api/notifications", "token", {"body": {"message": "x" * 10_001}}, 413),
    ("POST /jln/api/notifications", "token", {"body": {"message": "x", "link": "http://["}},
     400),
    ("POST /jln/api/notifications", "token", {"body": {"message": "x", "data": {"n": 2**64}}},
     400),
    ("POST /jupyterlab-notifications-extension/ingest", "token", {"body": {"message": " "}}, 400),
    ("POST /jln/api/notifications", "token", raw("[" * 100_000), 400),
    ("POST /jln/api/notifications", "token", raw(f'{{"message": "x", "expiresAt": {BIG}}}'),
     400),
    ("POST /jln/api/notifications", "token", raw('{"message": "\\ud800"}'), 400),
    ("POST /jln/api/notifications", "none", {"body": {"message": "x"}}, 403),
    ("GET /jln/api/status", "wrong", {}, 403),
    ("GET /jupyterlab-notifications-extension/notifications", "none", {}, 403),
]


CONFORMANCE = [checks.status_code_conformance, checks.content_type_conformance,
               checks.response_headers_conformance, checks.response_schema_conformance]
"""What a deliberate refusal is held to (``not_a_server_error`` would flag the 503)."""


def test_refusals_match_the_description(jupyter_process: Callable[..., Any],
                                        tmp_path: Path) -> None:
    """Answers a generous test server rarely gives: the broker down (503), over the rate limit
    (429, with Retry-After), too large (413), not allowed (403), each as documented."""
    nowhere = f"unix://{tmp_path / 'no-redis.sock'}"
    server = jupyter_process(nowhere, "--JLN.ingest_rate_limit=0.001", "--JLN.ingest_burst=1")
    spec = schemathesis.openapi.from_path(SPEC)
    tokens = {"token": f"token {server.token}", "wrong": "token wrong", "none": None}
    seen = []
    for label, who, request, _ in REFUSALS:
        operation = spec.find_operation_by_label(label)
        assert operation is not None, label
        headers = {"Authorization": tokens[who]} if tokens[who] else {}
        if "body" in request:
            request = {"media_type": "application/json", **request}
        case = operation.Case(headers=headers, **request)
        response = case.call_and_validate(base_url=server.url.rstrip("/"), timeout=20,
                                          checks=CONFORMANCE)
        seen.append(response.status_code)
    assert seen == [status for *_, status in REFUSALS]


FOUND: list[tuple[str, dict[str, Any], int, str | None]] = [
    # (operation, request, expected status, field at fault): answers that were once wrong.
    # minType was read letter by letter, so every valid one was refused.
    ("GET /jln/api/notifications", {"query": {"minType": "warning"}}, 200, None),
    # A link's tail was "\\S*" in both rules, which Python and JavaScript read differently:
    # U+0085 was valid to the description and refused by the server.
    ("POST /jln/api/notifications", {"body": {"message": "m", "link": "https://a.b/\x85"}},
     400, "link"),
    ("POST /jln/api/notifications", {"body": {"message": "m", "link": "https://a.b/\u00e9"}},
     201, None),
    # "Not blank" was "\\S" in the description: U+001D is not space to JavaScript, but is
    # to Python's strip(), so a message of it alone was valid there and refused here.
    ("POST /jupyterlab-notifications-extension/ingest", {"body": {"message": "\x1d"}}, 400,
     None),
    ("POST /jln/api/notifications", {"body": {"message": "\x85 \x1c"}}, 400, "message"),
    # The audience in Alertmanager's query was checked only with an alert to send.
    ("POST /jln/api/hooks/alertmanager",
     {"query": {"users": ["a b"]}, "body": {"version": "4", "alerts": []}}, 400, "users[0]"),
    # An empty since is no since: the inbox, which takes its own arguments.
    ("GET /jln/api/notifications", {"query": {"since": "", "order": "oldest"}}, 200, None),
    ("POST /jln/api/notifications/state", {"body": {"ids": ["no-stream"], "read": True}}, 400,
     "ids[0]"),
    ("POST /jln/api/notifications/state",
     {"body": {"all": True, "read": True, "filters": {"read": "false"}}}, 400, "filters.read"),
    ("POST /jln/api/notifications/state",
     {"body": {"all": True, "read": True, "filters": {"type": "error"}}}, 400, "filters.type"),
    # The key travels in a header, so printable ASCII only.
    ("POST /jln/api/notifications", {"headers": {"Idempotency-Key": "cl\u00e9"},
                                     "body": {"message": "x"}}, 400, "idempotencyKey"),
    # What Python's \s means in a name, where other regex engines differ (NEL here).
    ("POST /jln/api/notifications", {"body": {"message": "x", "users": ["a\u0085b"]}}, 400,
     "users[0]"),
    ("GET /jln/api/notifications", {"query": {"createdAfter": "1" * 16}}, 400, "createdAfter"),
    # An entry id over 64 bits: Redis refuses to look (it was a 502), so it is not there.
    ("GET /jln/api/notifications/{notification_id}/receipts",
     {"path_parameters": {"notification_id": "jln:broadcast/18446744073709551616-0"}}, 404,
     "id"),
    # `st run --checks all`: a limit the description allows (up to 1000) was refused by the
    # inbox (at most 200); now a page holds at most 200, whatever the limit.
    ("GET /jln/api/notifications", {"query": {"limit": "999"}}, 200, None),
    # The same run: a name or list over its limit is 413, which schemathesis's default list
    # of refusals lacks; schemathesis.toml says so for every run, this file's included.
    ("POST /jln/api/notifications", {"body": {"message": "m", "groups": ["g" * 201]}}, 413,
     "groups[0]"),
    ("POST /jln/api/hooks/alertmanager",
     {"query": {"users": ["a"] * 101}, "body": {"version": "4", "alerts": []}}, 413, "users"),
    # Patterns ending in "$", read by Python (as schemathesis does), allowed a final "\n"
    # that the model refuses: they end in "$(?!\n)" now, which both engines read alike.
    ("POST /jln/api/notifications", {"body": {"message": "m", "link": "https://a.b/\n"}}, 400,
     "link"),
    ("POST /jln/api/notifications",
     {"body": {"message": "m", "actions": [{"label": "l", "commandId": "a\n"}]}}, 400,
     "actions[0].commandId"),
    # The property tests: a time before 1970 passed the model but no flat entry could hold
    # it (kept as 0 now); a lone surrogate failed only when packed, naming no field.
    ("POST /jln/api/notifications", {"body": {"message": "m", "expiresAt": -1}}, 201, None),
    ("POST /jln/api/notifications", {"body": {"message": "\ud800"}}, 400, "message"),
]


def test_answers_once_wrong_match_the_description(live_server: LiveServer) -> None:
    """Requests on which the server and the description once disagreed: each answered as
    documented, with the status and field it should have."""
    spec = schemathesis.openapi.from_path(SPEC)
    seen = []
    for label, request, _, _ in FOUND:
        operation = spec.find_operation_by_label(label)
        assert operation is not None, label
        request = dict(request)
        headers = {"Authorization": f"token {live_server.token}", **request.pop("headers", {})}
        if "body" in request:
            request["media_type"] = "application/json"
        if "path_parameters" in request:  # given ones are sent as they are: encode the "/"
            request["path_parameters"] = {name: quote(value, safe="") for name, value
                                          in request["path_parameters"].items()}
        case = operation.Case(headers=headers, **request)
        response = case.call_and_validate(base_url=live_server.url.rstrip("/"), timeout=10,
                                          checks=CONFORMANCE)
        seen.append((response.status_code, response.json().get("field")))
    assert seen == [(status, field) for *_, status, field in FOUND]


def test_one_notification_answers_match_the_description(live_server: LiveServer) -> None:
    """The operations on one notification, with a real id and every field set: it, its
    receipts, marking it read, dismissing it, then the same once it has left the inbox; and
    dismissing a pinned one, refused."""
    spec = schemathesis.openapi.from_path(SPEC)
    one = {"path_parameters": {"notification_id": quote(live_server.ids[1], safe="")}}
    pinned = {"path_parameters": {"notification_id": quote(live_server.ids[2], safe="")}}
    steps: list[tuple[str, dict[str, Any], int]] = [
        ("GET /jln/api/notifications/{notification_id}", one, 200),
        ("GET /jln/api/notifications/{notification_id}/receipts", one, 200),
        ("POST /jln/api/notifications/state",
         {"body": {"ids": [live_server.ids[1]], "read": True, "saved": True},
          "media_type": "application/json"}, 200),
        ("GET /jln/api/notifications/{notification_id}/receipts", one, 200),
        ("DELETE /jln/api/notifications/{notification_id}", one, 200),
        ("GET /jln/api/notifications/{notification_id}", one, 404),
        ("DELETE /jln/api/notifications/{notification_id}", one, 404),
        ("GET /jln/api/notifications/{notification_id}", pinned, 200),
        ("DELETE /jln/api/notifications/{notification_id}", pinned, 409),
    ]
    answers = []
    for label, request, _ in steps:
        operation = spec.find_operation_by_label(label)
        assert operation is not None, label
        case = operation.Case(headers={"Authorization": f"token {live_server.token}"},
                              **request)
        answers.append(case.call_and_validate(base_url=live_server.url.rstrip("/"),
                                              timeout=10, checks=CONFORMANCE))
    assert [a.status_code for a in answers] == [status for *_, status in steps]
    item, unread, changed, read, dismissed = (a.json() for a in answers[:5])
    assert (item["id"], item["read"], item["saved"]) == (live_server.ids[1], False, False)
    assert (len(unread["read"]), len(unread["unread"])) == (0, 1)
    assert changed["updated"] == 1
    assert (len(read["read"]), len(read["unread"])) == (1, 0)
    assert dismissed["updated"] == 1
    banner, refused = (a.json() for a in answers[7:])
    assert (banner["pinned"], banner["requireAck"], refused["field"]) == (True, True, "id")


# --- one definition of the notification's rules --------------------------------------------
# jln_broker.model holds the rules; openapi.yaml states them again for clients and for
# schemathesis, as a plain file anyone can read. These tests are what keeps the two one rule:
# a change to either side that the other does not follow fails here, naming the place.

DESCRIPTION = yaml.safe_load(SPEC.read_text())
PUBLISH = DESCRIPTION["paths"]["/jln/api/notifications"]["post"]
SCHEMAS = DESCRIPTION["components"]["schemas"]
FIELDS = SCHEMAS["NotificationFields"]["properties"]
ACTION = SCHEMAS["ActionIn"]["properties"]
NOTEBOOK, TERMINAL = (kind["properties"] for kind in SCHEMAS["Source"]["oneOf"])
LIMITS = DEFAULT_LIMITS

STATED: list[tuple[str, Any, Any]] = [
    # (where in openapi.yaml, what it says, what the model enforces)
    ("message.maxLength", FIELDS["message"]["maxLength"], LIMITS.max_message_chars),
    ("ShortText.maxLength", SCHEMAS["ShortText"]["maxLength"], LIMITS.max_short_chars),
    ("Name.maxLength", SCHEMAS["Name"]["maxLength"], LIMITS.max_short_chars),
    ("HttpUrl.maxLength", SCHEMAS["HttpUrl"]["maxLength"], LIMITS.max_url_chars),
    ("ActionIn.label.maxLength", ACTION["label"]["maxLength"], LIMITS.max_short_chars),
    ("ActionIn.caption.maxLength", ACTION["caption"]["maxLength"], LIMITS.max_short_chars),
    ("ActionIn.commandId.maxLength", ACTION["commandId"]["maxLength"], LIMITS.max_short_chars),
    ("actions.maxItems", FIELDS["actions"]["maxItems"], LIMITS.max_actions),
    *((f"{name}.maxItems", FIELDS[name]["maxItems"], LIMITS.max_audience)
      for name in ("users", "groups", "excludeUsers")),
    ("HookUsers.maxItems", DESCRIPTION["components"]["parameters"]["HookUsers"]["schema"]
     ["maxItems"], LIMITS.max_audience),
    ("AutoClose.maximum", SCHEMAS["AutoClose"]["oneOf"][0]["maximum"], LIMITS.max_auto_close_ms),
    *((f"{name}.maximum", FIELDS[name]["oneOf"][0]["maximum"], model.MAX_TIME_MS)
      for name in ("expiresAt", "notBefore")),
    ("Source.path.maxLength", NOTEBOOK["path"]["maxLength"], LIMITS.max_path_chars),
    ("JsonObject: bytes in its description",
     f"{LIMITS.max_data_bytes} bytes" in SCHEMAS["JsonObject"]["description"], True),
    ("Type.enum", tuple(SCHEMAS["Type"]["enum"]), model.TYPES),
    ("ActionIn.displayType.enum", tuple(ACTION["displayType"]["enum"]), model.DISPLAY_TYPES),
    ("Source kinds", (NOTEBOOK["kind"]["enum"][0], TERMINAL["kind"]["enum"][0]),
     model.SOURCE_KINDS),
    ("NotificationIn.properties", set(SCHEMAS["NotificationIn"]["properties"]), model._FIELDS),
    ("ActionIn.properties", set(ACTION), model._ACTION_FIELDS),
    ("publish array maxItems", PUBLISH["requestBody"]["content"]["application/json"]["schema"]
     ["oneOf"][1]["maxItems"], MAX_ARRAY_ITEMS),
    ("publish array: bytes in its description",
     f"{MAX_ARRAY_BYTES // 2**20} MiB" in PUBLISH["description"], True),
]


@pytest.mark.parametrize(("where", "stated", "enforced"), STATED,
                         ids=[where for where, *_ in STATED])
def test_the_description_states_the_models_limits(where: str, stated: Any,
                                                  enforced: Any) -> None:
    assert stated == enforced


SAMPLES = [chr(c) for c in [*range(0x3100), 0xFEFF, 0xFFFD, 0x10000, 0x1F600, 0x10FFFF]]
"""Every character a rule names (all below U+3100 but U+FEFF), and some beyond."""


def schema_pattern(schema: dict[str, Any]) -> Callable[[str], bool]:
    """The pattern as JSON Schema reads it: found anywhere, unless anchored."""
    pattern = re.compile(schema["pattern"])
    return lambda text: pattern.search(text) is not None


def model_accepts(raw: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> bool:
    try:
        model.validate(raw, limits)
    except ValidationError:
        return False
    return True


PATTERNS: list[tuple[str, Callable[[str], bool], Callable[[str], str], Callable[[str], bool]]] = [
    # (schema, its pattern, a text around one character, what the model says of that text)
    ("message", schema_pattern(FIELDS["message"]), lambda c: c,
     lambda text: model_accepts({"message": text})),
    ("ActionIn.label", schema_pattern(ACTION["label"]), lambda c: c,
     lambda text: model_accepts({"message": "m", "actions": [{"label": text}]})),
    ("Name", schema_pattern(SCHEMAS["Name"]), lambda c: f"a{c}b",
     lambda text: model_accepts({"message": "m", "users": [text]})),
    ("Name's end", schema_pattern(SCHEMAS["Name"]), lambda c: f"a{c}",
     lambda text: model_accepts({"message": "m", "users": [text]})),
    ("HttpUrl host", schema_pattern(SCHEMAS["HttpUrl"]), lambda c: f"https://a{c}b/",
     lambda text: model_accepts({"message": "m", "link": text})),
    ("HttpUrl tail", schema_pattern(SCHEMAS["HttpUrl"]), lambda c: f"https://a.b/{c}",
     lambda text: model_accepts({"message": "m", "link": text})),
    ("ActionIn.commandId", schema_pattern(ACTION["commandId"]), lambda c: f"a{c}",
     lambda text: model_accepts({"message": "m", "actions": [{"label": "l",
                                                                "commandId": text}]})),
    *(("Source.path", schema_pattern(NOTEBOOK["path"]), around,
       lambda text: model_accepts({"message": "m", "source": {"kind": "notebook",
                                                               "path": text}}))
      for around in (lambda c: f"a{c}b", lambda c: f"a{c}")),
    ("Source.cellId", schema_pattern(NOTEBOOK["cellId"]), lambda c: f"a{c}",
     lambda text: model_accepts({"message": "m", "source": {"kind": "notebook", "path": "a",
                                                             "cellId": text}})),
]


@pytest.mark.parametrize(("where", "stated", "around", "enforced"), PATTERNS,
                         ids=[where for where, *_ in PATTERNS])
def test_the_descriptions_patterns_are_the_models_rules(
        where: str, stated: Callable[[str], bool], around: Callable[[str], str],
        enforced: Callable[[str], bool]) -> None:
    """Character by character: what the description's pattern allows, the model allows."""
    differ = [f"U+{ord(c):04X}" for c in SAMPLES if stated(around(c)) != enforced(around(c))]
    assert differ == []


@pytest.mark.parametrize("path", ["/abs.ipynb", "\\abs.ipynb", "..", "a/..", "../a", "a/../b",
                                  "a\\..\\b", "a..b", "..a/b..", "a/.../b", "a/b"])
def test_the_description_and_the_model_take_the_same_notebook_paths(path: str) -> None:
    stated = schema_pattern(NOTEBOOK["path"])(path)
    assert stated == model_accepts({"message": "m", "source": {"kind": "notebook",
                                                                "path": path}})
