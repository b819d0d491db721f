"""The notification: one dataclass and the one validation function every entry point uses.

Wire names are JupyterLab's camelCase (``autoClose``, ``displayType``, ``commandId``); Python
attributes are snake_case. ``validate`` turns a loose mapping (JSON body, CLI flags, a decoded
stream entry) into a ``Notification`` or raises ``ValidationError`` naming the field and the limit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgpack

from .errors import TooLarge, ValidationError

TYPES = ("default", "info", "success", "warning", "error", "in-progress")
DISPLAY_TYPES = ("default", "accent", "warn", "link")
AutoClose = int | Literal[False]

# The same rule as HttpUrl in jln_server/openapi.yaml. An ASCII authority without brackets is
# what every browser and urlsplit accept alike (no unbalanced "[", no NFKC look-alikes of "/").
_URL_TAIL = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
"""A character after the host: no space or control character, spelled out rather than ``\\S``,
which Python and JavaScript (the OpenAPI pattern) read differently (U+0085, U+001C-U+001F)."""
_HTTP_URL = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~%!$&'()*+,;=:@-]+([/?#]"
                       + _URL_TAIL + "*)?")
_COMMAND_ID = re.compile(r"[A-Za-z0-9_.:/-]+")  # with fullmatch: "$" would allow a final "\n"
_CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # nbformat 4.5's rule for a cell id
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # what JSON's "\ud800" escape can smuggle in
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]+")
SOURCE_KINDS = ("notebook", "terminal")
# Audience names become part of a Redis key: no whitespace, no control characters.
_NAME = re.compile(
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+")
"""Spelled out rather than ``\\s``: regex engines disagree on which characters that means, and
openapi.yaml's ``Name`` must say exactly the same."""


@dataclass(frozen=True)
class Limits:
    """Size rules; the server makes ``max_message_chars`` configurable."""

    max_message_chars: int = 10_000
    max_short_chars: int = 200
    max_url_chars: int = 2_048
    max_actions: int = 5
    max_data_bytes: int = 8_192
    max_audience: int = 100
    max_auto_close_ms: int = 86_400_000
    max_path_chars: int = 1_024


DEFAULT_LIMITS = Limits()
MAX_TIME_MS = 2**63 - 1
"""The latest ``expiresAt``/``notBefore``: what a signed 64-bit integer holds, which every
msgpack reader takes. Earlier than 1970 counts as 1970 (0)."""


@dataclass(frozen=True)
class Action:
    """A button on the notification: opens ``link`` or runs ``command_id``, else just dismisses."""

    label: str
    caption: str = ""
    display_type: str = "default"
    link: str | None = None
    command_id: str | None = None
    args: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "caption": self.caption,
                               "displayType": self.display_type}
        for name, value in (("link", self.link), ("commandId", self.command_id),
                            ("args", self.args)):
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class Source:
    """The return address: where a notification was sent from, for an "Open notebook" or
    "Open terminal" action. A notebook by its path relative to the server root (and the cell
    by its nbformat id), or a terminal by its name."""

    kind: str
    path: str | None = None
    cell_id: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for name, value in (("path", self.path), ("cellId", self.cell_id), ("name", self.name)):
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class Notification:
    """What a publisher sends. The audience (``users``, ``groups``) picks the streams; it is not
    stored in the entry, so one recipient never learns who else got it."""

    message: str
    type: str = "info"
    auto_close: AutoClose = 5000
    title: str | None = None
    origin: str | None = None
    topic: str | None = None
    link: str | None = None
    actions: tuple[Action, ...] = ()
    key: str | None = None
    expires_at: int | None = None  # milliseconds since the epoch
    not_before: int | None = None  # milliseconds since the epoch: scheduled delivery
    exclude_users: tuple[str, ...] = ()  # stored in the entry: readers must know to skip it
    pinned: bool = False  # a banner until it expires or a later one with its key withdraws it
    require_ack: bool = False  # pinned until its reader acknowledges it (marks it read by id)
    data: dict[str, Any] = field(default_factory=dict)
    source: Source | None = None
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.require_ack and not self.pinned:  # an acknowledgement is asked on a banner
            object.__setattr__(self, "pinned", True)

    @property
    def is_broadcast(self) -> bool:
        return not self.users and not self.groups

    def expired(self, now_ms: int) -> bool:
        return self.expires_at is not None and now_ms >= self.expires_at

    def due(self, now_ms: int) -> bool:
        """Whether a scheduled notification may be shown yet."""
        return self.not_before is None or now_ms >= self.not_before

    def excludes(self, user: str) -> bool:
        return user in self.exclude_users

    @property
    def packed(self) -> bytes:
        """The msgpack form, made once and written by the publisher (``pack``). Kept beside
        the fields by hand: ``functools.cached_property`` takes a lock on each first use
        before Python 3.12, a third of a microsecond per notification."""
        packed: bytes | None = self.__dict__.get("_packed")
        if packed is None:
            packed = self.__dict__["_packed"] = pack(self.to_dict())
        return packed

    def to_dict(self, *, audience: bool = False) -> dict[str, Any]:
        """The wire form (camelCase), leaving out what is unset."""
        out: dict[str, Any] = {"message": self.message, "type": self.type,
                               "autoClose": self.auto_close}
        for name, value in (("title", self.title), ("origin", self.origin),
                            ("topic", self.topic), ("link", self.link), ("key", self.key),
                            ("expiresAt", self.expires_at), ("notBefore", self.not_before)):
            if value is not None:
                out[name] = value
        if self.exclude_users:
            out["excludeUsers"] = list(self.exclude_users)
        if self.pinned:
            out["pinned"] = True
        if self.require_ack:
            out["requireAck"] = True
        if self.actions:
            out["actions"] = [a.to_dict() for a in self.actions]
        if self.data:
            out["data"] = self.data
        if self.source:
            out["source"] = self.source.to_dict()
        if audience:
            out.update(users=list(self.users), groups=list(self.groups))
        return out


def validate(raw: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Notification:
    """Check every field of ``raw`` (wire names) and build the Notification."""
    wire, users, groups = checked_wire(raw, limits)
    actions = tuple(Action(a["label"], a["caption"], a["displayType"], a.get("link"),
                           a.get("commandId"), a.get("args")) for a in wire.get("actions", ()))
    source = wire.get("source")
    return Notification(
        message=wire["message"], type=wire["type"], auto_close=wire["autoClose"],
        title=wire.get("title"), origin=wire.get("origin"), topic=wire.get("topic"),
        link=wire.get("link"), actions=actions, key=wire.get("key"),
        expires_at=wire.get("expiresAt"), not_before=wire.get("notBefore"),
        exclude_users=tuple(wire.get("excludeUsers", ())), pinned=wire.get("pinned", False),
        require_ack=wire.get("requireAck", False), data=wire.get("data", {}),
        source=source and Source(source["kind"], source.get("path"), source.get("cellId"),
                                 source.get("name")),
        users=users, groups=groups)


def checked_wire(raw: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS
                 ) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    """Check every field of ``raw`` as ``validate`` does, and answer its wire form without
    the audience, exactly as ``Notification.to_dict`` would (what ``pack`` stores), and the
    audience (users, groups): a publisher writes that without building a Notification."""
    if not _FIELDS.issuperset(raw):
        name = sorted(set(raw) - _FIELDS, key=str)[0]  # any text, even "": quoted in the problem
        raise ValidationError(name, f"unknown field {name!r:.80} (known: "
                                    f"{', '.join(sorted(_FIELDS))})")
    check = _Checker(limits)
    get = raw.get
    require_ack = "requireAck" in raw and check.flag("requireAck", raw["requireAck"])
    pinned = get("pinned")
    if require_ack and pinned is False:
        raise ValidationError("pinned", "must be true (or left out) when requireAck is true: "
                                        "an acknowledgement is asked on a pinned banner")
    # Checked in the order fields were always checked (the first problem is the one named),
    # put in the order of ``Notification.to_dict`` (the same bytes either way). A field left
    # out (or null) costs no call: most notifications set a few of them.
    wire = {"message": check.required("message", get("message"), limits.max_message_chars),
            "type": check.choice("type", get("type", "info"), TYPES),
            "autoClose": check.auto_close("autoClose", get("autoClose", 5000))}
    short = limits.max_short_chars
    for name in ("title", "origin", "topic"):
        if (value := get(name)) is not None:
            wire[name] = check.text(name, value, short)
    if (value := get("link")) is not None:
        wire["link"] = check.url("link", value)
    actions = check.actions(get("actions"))
    if (value := get("key")) is not None:
        wire["key"] = check.text("key", value, short)
    for name in ("expiresAt", "notBefore"):
        if (value := get(name)) is not None:
            wire[name] = check.timestamp(name, value)
    if (value := get("excludeUsers")) is not None and (names := check.names("excludeUsers",
                                                                            value)):
        wire["excludeUsers"] = list(names)
    if (pinned is not None and check.flag("pinned", pinned)) or require_ack:
        wire["pinned"] = True  # an acknowledgement is asked on a banner
    if require_ack:
        wire["requireAck"] = True
    if actions:
        wire["actions"] = actions
    if (value := get("data")) is not None and (data := check.data("data", value)):
        wire["data"] = data
    if (value := get("source")) is not None:
        wire["source"] = check.source(value).to_dict()  # type: ignore[union-attr]
    users = get("users")
    groups = get("groups")
    return (wire, () if users is None else check.names("users", users),
            () if groups is None else check.names("groups", groups))


def pack(wire: Mapping[str, Any]) -> bytes:
    """The msgpack form of a wire form. Valid JSON can still hold what msgpack cannot (an
    integer over 64 bits): a ValidationError, raised before anything is written."""
    try:
        return msgpack.packb(wire)  # type: ignore[no-any-return]
    except (ValueError, OverflowError) as err:
        raise ValidationError("notification", f"holds a value that cannot be stored ({err})"
                              ) from None


def validate_names(name: str, raw: Any, limits: Limits = DEFAULT_LIMITS) -> tuple[str, ...]:
    """A list of user or group names on its own, checked as a notification's ``users`` and
    ``groups`` are (errors name ``<name>[i]``); for an audience given apart from a body."""
    return _Checker(limits).names(name, raw)


def validate_source(raw: Any, limits: Limits = DEFAULT_LIMITS) -> Source | None:
    """A return address on its own, checked as in a notification (errors name
    ``source.<field>``); for a server filling one in for a publisher."""
    return _Checker(limits).source(raw)

_FIELDS = frozenset({"message", "type", "autoClose", "title", "origin", "topic", "link",
                     "actions", "key", "expiresAt", "notBefore", "excludeUsers", "pinned",
                     "requireAck", "data", "source", "users", "groups"})
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
"""How ``data`` is measured; made once (``json.dumps`` with options makes an encoder a call)."""
_ACTION_FIELDS = frozenset({"label", "caption", "displayType", "link", "commandId", "args"})
_SOURCE_FIELDS = {"notebook": ("kind", "path", "cellId"), "terminal": ("kind", "name")}


@dataclass(frozen=True)
class _Checker:
    """Field checks; each returns the clean value or raises naming ``name``."""

    limits: Limits

    def text(self, name: str, value: Any, limit: int, *, required: bool = False) -> str | None:
        if type(value) is str and value.isascii() and len(value) <= limit and not required:
            return value  # the common case, decided without a scan (isascii reads a flag)
        if value is None:
            if required:
                raise ValidationError(name, "is required")
            return None
        if not isinstance(value, str):
            raise ValidationError(name, f"must be text, not {_kind(value)}")
        if not value.isascii() and _SURROGATE.search(value):
            raise ValidationError(name, "holds a lone surrogate (U+D800-U+DFFF): not text")
        if required and not value.strip():
            raise ValidationError(name, "must not be empty")
        if len(value) > limit:
            raise TooLarge(name, f"is {len(value)} characters; the limit is {limit}")
        return value

    def required(self, name: str, value: Any, limit: int) -> str:
        return str(self.text(name, value, limit, required=True))

    def choice(self, name: str, value: Any, allowed: Iterable[str]) -> str:
        allowed = tuple(allowed)
        if value not in allowed:
            raise ValidationError(name, f"must be one of {', '.join(allowed)}, not {value!r}")
        return str(value)

    def auto_close(self, name: str, value: Any) -> AutoClose:
        if value is False:
            return False
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(name, f"must be milliseconds (a whole number >= 0) or false, "
                                        f"not {value!r}")
        if not 0 <= value <= self.limits.max_auto_close_ms:
            raise ValidationError(name, f"must be between 0 and {self.limits.max_auto_close_ms} "
                                        f"milliseconds, not {value}")
        return value

    def url(self, name: str, value: Any) -> str | None:
        url = self.text(name, value, self.limits.max_url_chars)
        if url is None:
            return None
        if not _HTTP_URL.fullmatch(url):
            raise ValidationError(name, "must be an http(s) URL with an ASCII host (IDN as "
                                        f"punycode, no IPv6 literal), not {url[:80]!r}")
        return url

    def flag(self, name: str, value: Any) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise ValidationError(name, f"must be true or false, not {_kind(value)} {value!r:.40}")
        return value

    def timestamp(self, name: str, value: Any) -> int | None:
        if value is None:
            return None
        ms = parse_time(name, value)
        if ms > MAX_TIME_MS:
            raise ValidationError(name, f"must be at most {MAX_TIME_MS} milliseconds since the "
                                        f"epoch, not {ms}")
        return max(ms, 0)  # before 1970 is as long past as 1970, and the flat form has no "-"

    def data(self, name: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValidationError(name, f"must be a JSON object, not {_kind(value)}")
        try:
            text = _COMPACT_JSON.encode(value)
            size = len(text) if text.isascii() else len(text.encode())
        except (TypeError, ValueError, RecursionError) as err:  # a lone surrogate: ValueError
            raise ValidationError(name, f"must hold only JSON values ({err})") from None
        if size > self.limits.max_data_bytes:
            raise TooLarge(name, f"is {size} bytes as JSON; the limit is "
                                 f"{self.limits.max_data_bytes}")
        return value

    def names(self, name: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValidationError(name, f"must be a list of names, not {_kind(value)}")
        if len(value) > self.limits.max_audience:
            raise TooLarge(name, f"has {len(value)} names; the limit is {self.limits.max_audience}")
        for i, item in enumerate(value):
            self.text(f"{name}[{i}]", item, self.limits.max_short_chars, required=True)
            if not _NAME.fullmatch(item):
                raise ValidationError(f"{name}[{i}]", "must not contain spaces or control "
                                                      "characters")
        return tuple(dict.fromkeys(value))  # drop repeats, keep order

    def actions(self, value: Any) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise ValidationError("actions", f"must be a list, not {_kind(value)}")
        if len(value) > self.limits.max_actions:
            raise TooLarge("actions", f"has {len(value)} actions; the limit is "
                                      f"{self.limits.max_actions}")
        out = []
        for i, item in enumerate(value):
            out.append(self.action(f"actions[{i}]", item))
        return out

    def action(self, where: str, raw: Any) -> dict[str, Any]:
        """An action's wire form, as ``Action.to_dict`` gives it."""
        if type(raw) is not dict and not isinstance(raw, Mapping):  # the ABC check is slower
            raise ValidationError(where, f"must be an object, not {_kind(raw)}")
        if not _ACTION_FIELDS.issuperset(raw):
            unknown = sorted(set(raw) - _ACTION_FIELDS, key=str)[0]
            raise ValidationError(f"{where}.{unknown}", "unknown field (known: "
                                  f"{', '.join(sorted(_ACTION_FIELDS))})")
        short = self.limits.max_short_chars
        get = raw.get
        # A field left out costs no call and no name (most actions are a label and a link).
        link = get("link")
        if link is not None:
            link = self.url(f"{where}.link", link)
        command_id = get("commandId")
        if command_id is not None:
            command_id = str(self.text(f"{where}.commandId", command_id, short))
            if not _COMMAND_ID.fullmatch(command_id):
                raise ValidationError(f"{where}.commandId",
                                      f"is not a command id: {command_id!r}")
        if link and command_id:
            raise ValidationError(where, "may have a link or a commandId, not both")
        args = get("args")
        if args is not None:
            if command_id is None:
                raise ValidationError(f"{where}.args", "needs a commandId")
            args = self.data(f"{where}.args", args)
        caption = get("caption")
        display_type = get("displayType", "default")
        out: dict[str, Any] = {
            "label": self.required(f"{where}.label", get("label"), short),
            "caption": "" if caption is None else self.text(f"{where}.caption", caption, short),
            "displayType": display_type if display_type in DISPLAY_TYPES else self.choice(
                f"{where}.displayType", display_type, DISPLAY_TYPES)}
        if link is not None:
            out["link"] = link
        if command_id is not None:
            out["commandId"] = command_id
        if args is not None:
            out["args"] = args
        return out

    def source(self, raw: Any) -> Source | None:
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise ValidationError("source", f"must be an object, not {_kind(raw)}")
        kind = self.choice("source.kind", raw.get("kind"), SOURCE_KINDS)
        known = _SOURCE_FIELDS[kind]
        if unknown := sorted(set(raw) - set(known), key=str):
            raise ValidationError(f"source.{unknown[0]}", f"unknown field for a {kind} (known: "
                                                          f"{', '.join(known)})")
        if kind == "terminal":
            name = self.required("source.name", raw.get("name"), self.limits.max_short_chars)
            if not _NAME.fullmatch(name):
                raise ValidationError("source.name", "must not contain spaces or control "
                                                     "characters")
            return Source(kind, name=name)
        path = self.required("source.path", raw.get("path"), self.limits.max_path_chars)
        if not _PRINTABLE.fullmatch(path):
            raise ValidationError("source.path", "must not contain control characters")
        if path.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", path):
            raise ValidationError("source.path", "must be relative to the server root, without "
                                                 f"'..', not {path[:80]!r}")
        cell_id = self.text("source.cellId", raw.get("cellId"), self.limits.max_short_chars)
        if cell_id is not None and not _CELL_ID.fullmatch(cell_id):
            raise ValidationError("source.cellId", "must be a cell id: 1 to 64 letters, digits, "
                                                   f"'-' or '_', not {cell_id[:80]!r}")
        return Source(kind, path=path, cell_id=cell_id)


def parse_time(name: str, value: Any) -> int:
    """Milliseconds since the epoch, from a number of them or an ISO 8601 time with a zone."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            return int(when.timestamp() * 1000)
    raise ValidationError(name, "must be milliseconds since the epoch or an ISO 8601 time "
                                f"with a time zone, not {value!r:.80}")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", tuple: "a list", str: "text", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value),
                                                                         type(value).__name__)
