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
from functools import cached_property
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

    @cached_property
    def packed(self) -> bytes:
        """The msgpack form, made once and written by the publisher. Valid JSON can still hold
        what msgpack cannot (an integer over 64 bits, a lone surrogate): a ValidationError,
        raised before anything is written."""
        try:
            packed: bytes = msgpack.packb(self.to_dict(), use_bin_type=True)
        except (ValueError, OverflowError) as err:
            raise ValidationError("notification", f"holds a value that cannot be stored ({err})"
                                  ) from None
        return packed

    def to_dict(self, *, audience: bool = False) -> dict[str, Any]:
        """The wire form (camelCase), leaving out what is unset."""
        out: dict[str, Any] = {"message": self.message, "type": self.type,
                               "autoClose": self.auto_close}
        optional = (("title", self.title), ("origin", self.origin), ("topic", self.topic),
                    ("link", self.link), ("key", self.key), ("expiresAt", self.expires_at),
                    ("notBefore", self.not_before))
        out.update((name, value) for name, value in optional if value is not None)
        if self.exclude_users:
            out["excludeUsers"] = list(self.exclude_users)
        out.update((name, True) for name, value in (("pinned", self.pinned),
                                                    ("requireAck", self.require_ack)) if value)
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
    unknown = set(raw) - _FIELDS
    if unknown:
        name = sorted(unknown, key=str)[0]  # any text, even "": quoted in the problem
        raise ValidationError(name, f"unknown field {name!r:.80} (known: "
                                    f"{', '.join(sorted(_FIELDS))})")
    check = _Checker(limits)
    auto_close = raw.get("autoClose", 5000)
    require_ack = check.flag("requireAck", raw.get("requireAck"))
    if require_ack and raw.get("pinned") is False:
        raise ValidationError("pinned", "must be true (or left out) when requireAck is true: "
                                        "an acknowledgement is asked on a pinned banner")
    return Notification(
        message=check.required("message", raw.get("message"), limits.max_message_chars),
        type=check.choice("type", raw.get("type", "info"), TYPES),
        auto_close=check.auto_close("autoClose", auto_close),
        title=check.text("title", raw.get("title"), limits.max_short_chars),
        origin=check.text("origin", raw.get("origin"), limits.max_short_chars),
        topic=check.text("topic", raw.get("topic"), limits.max_short_chars),
        link=check.url("link", raw.get("link")),
        actions=check.actions(raw.get("actions")),
        key=check.text("key", raw.get("key"), limits.max_short_chars),
        expires_at=check.timestamp("expiresAt", raw.get("expiresAt")),
        not_before=check.timestamp("notBefore", raw.get("notBefore")),
        exclude_users=check.names("excludeUsers", raw.get("excludeUsers")),
        pinned=check.flag("pinned", raw.get("pinned")),
        require_ack=require_ack,
        data=check.data("data", raw.get("data")),
        source=check.source(raw.get("source")),
        users=check.names("users", raw.get("users")),
        groups=check.names("groups", raw.get("groups")),
    )



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
_ACTION_FIELDS = frozenset({"label", "caption", "displayType", "link", "commandId", "args"})
_SOURCE_FIELDS = {"notebook": ("kind", "path", "cellId"), "terminal": ("kind", "name")}


@dataclass(frozen=True)
class _Checker:
    """Field checks; each returns the clean value or raises naming ``name``."""

    limits: Limits

    def text(self, name: str, value: Any, limit: int, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                raise ValidationError(name, "is required")
            return None
        if not isinstance(value, str):
            raise ValidationError(name, f"must be text, not {_kind(value)}")
        if _SURROGATE.search(value):
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
            size = len(json.dumps(value, separators=(",", ":"), allow_nan=False,
                                  ensure_ascii=False).encode())
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

    def actions(self, value: Any) -> tuple[Action, ...]:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise ValidationError("actions", f"must be a list, not {_kind(value)}")
        if len(value) > self.limits.max_actions:
            raise TooLarge("actions", f"has {len(value)} actions; the limit is "
                                      f"{self.limits.max_actions}")
        return tuple(self.action(f"actions[{i}]", item) for i, item in enumerate(value))

    def action(self, where: str, raw: Any) -> Action:
        if not isinstance(raw, Mapping):
            raise ValidationError(where, f"must be an object, not {_kind(raw)}")
        unknown = set(raw) - _ACTION_FIELDS
        if unknown:
            raise ValidationError(f"{where}.{sorted(unknown, key=str)[0]}", "unknown field (known: "
                                  f"{', '.join(sorted(_ACTION_FIELDS))})")
        short = self.limits.max_short_chars
        link = self.url(f"{where}.link", raw.get("link"))
        command_id = self.text(f"{where}.commandId", raw.get("commandId"), short)
        if command_id is not None and not _COMMAND_ID.fullmatch(command_id):
            raise ValidationError(f"{where}.commandId", f"is not a command id: {command_id!r}")
        if link and command_id:
            raise ValidationError(where, "may have a link or a commandId, not both")
        args = raw.get("args")
        if args is not None:
            if command_id is None:
                raise ValidationError(f"{where}.args", "needs a commandId")
            args = self.data(f"{where}.args", args)
        return Action(
            label=self.required(f"{where}.label", raw.get("label"), short),
            caption=self.text(f"{where}.caption", raw.get("caption"), short) or "",
            display_type=self.choice(f"{where}.displayType", raw.get("displayType", "default"),
                                     DISPLAY_TYPES),
            link=link, command_id=command_id, args=args,
        )


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
