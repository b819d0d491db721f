"""The ``jln`` command: ``jln send`` publishes a notification, ``jln tail`` follows them.

Both take a broker URL: a Redis URL (``redis://``, ``rediss://``, ``unix://``) to talk to Redis
itself, or a Jupyter server's URL (``http(s)://``) to go through its JLN endpoints. Without
``--url``, ``send`` uses the Jupyter server whose terminal or kernel started it
(``$JLN_SERVER_URL`` and its owner token, set by jln_server), and both use ``$JLN_URL``, else the
Jupyter server running on this machine.

``send`` keeps the flags of the REST-polling extension JLN replaces (``-m``, ``-t``,
``--auto-close``, ``--no-auto-close``, ``--action``, ``--cmd``, ``--command-args``, ``--data``,
``--url``, ``--token``), so scripts written for it keep working.

Exit status: 0 done, 2 invalid input (the message names the field), 1 broker unreachable or
notification rejected, 3 ``send --wait-read`` timed out with someone yet to read it (named on
standard error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from redis.exceptions import RedisError

from .backoff import Backoff
from .connection import async_client, key_prefix, kind
from .discovery import URL_ENV, default_broker
from .errors import JLNError, PublishRejected, ValidationError
from .http import NOTIFICATIONS_PATH, ServerAPI
from .model import validate
from .protocol import Cursor, StreamNames
from .publisher import Publisher
from .reader import StreamReader

EXIT_OK, EXIT_BROKER, EXIT_INVALID, EXIT_UNREAD = 0, 1, 2, 3
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smh]?)")
POLL_SECONDS = 1.0

Record = dict[str, Any]


def main(argv: list[str] | None = None) -> int:
    """Run one ``jln`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(format="jln: %(message)s", level=logging.WARNING)
    try:
        return int(args.run(args))
    except ValidationError as err:
        return _fail(f"{err.field}: {err.problem}", EXIT_INVALID)
    except (JLNError, RedisError) as err:
        return _fail(str(err), EXIT_BROKER)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `jln tail | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _fail(message: str, status: int) -> int:
    print(f"jln: error: {message}", file=sys.stderr)
    return status


# --- jln send -------------------------------------------------------------------------------

def send(args: argparse.Namespace) -> int:
    """Validate first (no need to find a broker for a bad notification), then publish."""
    notification = validate(_wire_fields(args))
    wait = _duration("--wait-read", args.wait_read)
    url, token = _broker(args, publishing=True)
    with Publisher(url, prefix=args.prefix, retry_for=args.retry_for, token=token,
                   secret=args.secret) as publisher:
        ids = publisher.publish_many([notification],
                                     idempotency_key=args.idempotency_key)[0]
        print(json.dumps({"ids": ids}) if args.json else "\n".join(ids), flush=True)
        if wait is None:
            return EXIT_OK
        receipts = publisher.wait_read(ids, wait)
    unread = sorted({user for r in receipts.values() for user in r.unread})
    if unread:
        return _fail(f"not read after {args.wait_read} by: {', '.join(unread)}", EXIT_UNREAD)
    if not any(r.read for r in receipts.values()):
        print("jln: no one is targeted yet (no Jupyter server reads that stream): nothing to "
              "wait for", file=sys.stderr)
    return EXIT_OK


def _duration(flag: str, text: str | None) -> float | None:
    """``90``, ``90s``, ``5m``, ``1h`` as seconds."""
    if text is None:
        return None
    found = _DURATION.fullmatch(text.strip())
    if not found:
        raise ValidationError(flag, f"must be a duration such as 90, 90s, 5m or 1h, not {text!r}")
    return float(found[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[found[2]]


def _wire_fields(args: argparse.Namespace) -> Record:
    """The notification the flags describe, in wire names, leaving unset fields to the model."""
    fields = {
        "message": _message(args.message, args.message_option), "type": args.type,
        "autoClose": args.auto_close, "title": args.title, "origin": args.origin,
        "topic": args.topic, "link": args.link, "key": args.key,
        "expiresAt": _timestamp(args.expires_at), "notBefore": _timestamp(args.not_before),
        "excludeUsers": args.exclude_users, "pinned": args.pinned or None,
        "requireAck": args.require_ack or None, "data": _json("data", args.data),
        "actions": _actions(args.actions, args.command, args.command_args) or None,
        "users": args.users, "groups": args.groups,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _message(positional: str | None, option: str | None) -> str | None:
    if positional is not None and option is not None:
        raise ValidationError("message", "give it once: as an argument or with --message")
    return option if positional is None else positional


def _timestamp(value: str | None) -> int | str | None:
    """``--expires-at`` and ``--not-before`` take milliseconds since the epoch or an ISO time."""
    return int(value) if value is not None and value.isascii() and value.isdigit() else value


def _json(field: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValidationError(field, f"is not valid JSON ({err.msg})") from None


def _actions(specs: list[str], command: str | None, command_args: str | None) -> list[Record]:
    """``--action`` buttons; ``--cmd`` (and ``--command-args``) go on the last one, or on a
    new button labelled by the command when there is none, as the replaced extension did."""
    actions = [_action(i, spec) for i, spec in enumerate(specs)]
    if command is None:
        if command_args is not None:
            raise ValidationError("--command-args", "needs --cmd")
        return actions
    if not actions:
        actions.append({"label": command})
    where = f"actions[{len(actions) - 1}]"
    actions[-1]["commandId"] = command
    if command_args is not None:
        actions[-1]["args"] = _json(f"{where}.args", command_args)
    return actions


def _action(index: int, spec: str) -> Record:
    """``LABEL[,CAPTION[,DISPLAYTYPE]]``."""
    parts = [part.strip() for part in spec.split(",")]
    if len(parts) > 3:
        raise ValidationError(f"actions[{index}]", f"expected LABEL[,CAPTION[,DISPLAYTYPE]], "
                                                   f"not {spec!r}")
    return dict(zip(("label", "caption", "displayType"), parts, strict=False))


# --- jln tail -------------------------------------------------------------------------------

@dataclass
class _Printer:
    """Prints records one per line, flushed, and says when ``count`` of them have been."""

    render: Callable[[Record], str]
    count: int | None = None
    printed: int = 0

    def show(self, records: Iterable[Record]) -> bool:
        """Print ``records``; False once enough have been printed."""
        for record in records:
            print(self.render(record), flush=True)
            self.printed += 1
            if self.count is not None and self.printed >= self.count:
                return False
        return True


def tail(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        raise ValidationError("--count", f"must be 1 or more, not {args.count}")
    url, token = _broker(args)
    text = args.format == "text" or (args.format is None and sys.stdout.isatty())
    printer = _Printer(_as_text if text else json.dumps, args.count)
    if kind(url) == "http":
        if args.user or args.groups:
            raise ValidationError("--user", "a Jupyter server reads for the user it "
                                            "authenticates; --user and --group need a Redis URL")
        _tail_http(ServerAPI(url, token), _http_start(args), printer)
    else:
        names = StreamNames(key_prefix(url, args.prefix))
        streams = names.audience(args.user, args.groups or ())
        asyncio.run(_tail_redis(url, streams, _redis_start(args), printer))
    return EXIT_OK


def _redis_start(args: argparse.Namespace) -> Cursor | None:
    """An empty cursor is the start of every stream; None is their current ends."""
    if args.from_start:
        return Cursor({})
    return None if args.cursor is None else Cursor.decode(args.cursor)


def _http_start(args: argparse.Namespace) -> str | None:
    return Cursor({}).encode() if args.from_start else args.cursor


async def _tail_redis(url: str, streams: list[str], cursor: Cursor | None,
                      printer: _Printer) -> None:
    client = async_client(url)
    try:
        reader = StreamReader(client, streams, cursor)
        await reader.start()
        _following(", ".join(streams))
        async for batch in reader.batches():
            if not printer.show(d.to_dict() for d in batch.items):
                return
    finally:
        await client.aclose()


class _Page(NamedTuple):
    records: list[Record]
    cursor: str
    more: bool  # the server has more after this page: ask again at once


def _tail_http(api: ServerAPI, since: str | None, printer: _Printer) -> None:
    """Poll the server's feed once a second. Without a cursor the first answer (the newest few)
    only fixes the position, so that, as over Redis, only new notifications are printed."""
    backoff = Backoff(cap=5.0)
    page = _poll(api, since, backoff)
    _following(api.base)
    if since is None:
        page = _Page([], page.cursor, more=False)
    while printer.show(page.records):
        if not page.more:
            time.sleep(POLL_SECONDS)
        page = _poll(api, page.cursor, backoff)


def _poll(api: ServerAPI, since: str | None, backoff: Backoff) -> _Page:
    status, answer = api.call_retrying("GET", NOTIFICATIONS_PATH, backoff,
                                       query=None if since is None else {"since": since})
    backoff.reset()
    if not (isinstance(answer, dict) and isinstance(answer.get("notifications"), list)
            and isinstance(answer.get("cursor"), str)):
        raise PublishRejected(status, "the answer is not a JLN feed; is jln_server enabled on "
                                      "this Jupyter server?")
    return _Page(answer["notifications"], answer["cursor"], answer.get("more") is True)


def _following(what: str) -> None:
    print(f"jln: following {what} (Ctrl-C to stop)", file=sys.stderr, flush=True)


def _as_text(record: Record) -> str:
    """``[14:03:07] success     Deploy done  (jln:broadcast/1700000000000-0)``."""
    created = record.get("createdAt")
    when = datetime.fromtimestamp(created / 1000) if isinstance(created, int) else datetime.now()
    text = str(record.get("message", ""))
    if record.get("title"):
        text = f"{record['title']}: {text}"
    return (f"[{when:%H:%M:%S}] {record.get('type', 'info'):<11} {' '.join(text.split())}  "
            f"({record.get('id', '?')})")


# --- shared ---------------------------------------------------------------------------------

def _broker(args: argparse.Namespace, *, publishing: bool = False) -> tuple[str, str | None]:
    """The URL to use and the token for it: ``--url``; to publish, the Jupyter server of this
    terminal (``$JLN_SERVER_URL``); ``$JLN_URL``, else the running server."""
    return default_broker(args.url, args.token, publishing=publishing)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jln", description="Live notifications for "
                                     "JupyterLab: publish them and follow them.")
    commands = parser.add_subparsers(metavar="COMMAND", required=True)
    _send_parser(commands.add_parser("send", help="publish a notification", description=(
        "Publish a notification. Prints its id on each stream it was written to.")))
    _tail_parser(commands.add_parser("tail", help="follow notifications as they arrive",
                                     description="Print notifications as they arrive."))
    return parser


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"redis://, rediss://, unix:// or a Jupyter server's "
                        f"http(s):// URL (default: ${URL_ENV}, else the running Jupyter server)")
    parser.add_argument("--token", help="Jupyter token for an http(s) URL (default: the URL's "
                        "?token=, $JUPYTERHUB_API_TOKEN, $JPY_API_TOKEN, $JUPYTER_TOKEN)")
    parser.add_argument("--prefix", default="jln", help="stream name prefix (default: jln)")


def _send_parser(send_parser: argparse.ArgumentParser) -> None:
    add = send_parser.add_argument
    add("message", nargs="?", metavar="MESSAGE", help="the text (or use -m)")
    add("-m", "--message", dest="message_option", metavar="TEXT", help="the text")
    add("-t", "--type", help="default, info (the default), success, warning, error, in-progress")
    close = send_parser.add_mutually_exclusive_group()
    close.add_argument("--auto-close", type=int, metavar="MS",
                       help="close the toast after MS milliseconds (default 5000; 0: no toast, "
                            "only the notification center)")
    close.add_argument("--no-auto-close", dest="auto_close", action="store_const", const=False,
                       help="keep the toast until dismissed")
    add("--title", help="a short heading")
    add("--action", dest="actions", action="append", default=[],
        metavar="LABEL[,CAPTION[,DISPLAYTYPE]]",
        help="a button (repeatable); DISPLAYTYPE is default, accent, warn or link")
    add("--cmd", "--command", dest="command", metavar="COMMAND_ID",
        help="JupyterLab command the last --action runs (a button of its own without one)")
    add("--command-args", metavar="JSON", help="arguments of --cmd, a JSON object")
    add("--link", metavar="URL", help="an http(s) link to open from the notification")
    add("--key", help="a key: a later notification with the same key replaces this one")
    add("--user", dest="users", action="append", metavar="NAME",
        help="send to this user (repeatable; no --user and no --group: everyone)")
    add("--group", dest="groups", action="append", metavar="NAME",
        help="send to this group's members (repeatable)")
    add("--origin", help="who or what sends it (for example ci@build-7)")
    add("--topic", help="what it is about (for example training)")
    add("--expires-at", metavar="ISO|MS",
        help="drop it unread after this time (ISO 8601 with a zone, or epoch milliseconds)")
    add("--not-before", metavar="ISO|MS",
        help="deliver it then, not now (ISO 8601 with a zone, or epoch milliseconds)")
    add("--exclude-user", dest="exclude_users", action="append", metavar="NAME",
        help="everyone in the audience but this user (repeatable)")
    add("--pinned", action="store_true",
        help="show it as a banner across the top of JupyterLab until it expires or a later "
             "notification with its --key withdraws it; it cannot be dismissed")
    add("--require-ack", action="store_true",
        help="pinned, with an Acknowledge button: the banner stays until clicked, which is "
             "the read receipt (see --wait-read)")
    add("--data", metavar="JSON", help="extra data, a JSON object")
    add("--idempotency-key", metavar="KEY",
        help="the same key within 24 h prints the first send's ids and sends nothing")
    add("--wait-read", metavar="DURATION",
        help="then wait until everyone targeted has read it (90, 90s, 5m, 1h); exit 3 naming "
             "who has not")
    _broker_options(send_parser)
    add("--secret", help="the publishers' shared secret a Jupyter server may require "
        "(default: $JLN_SECRET)")
    add("--retry-for", type=float, default=10.0, metavar="SECONDS",
        help="keep retrying an unreachable broker this long (default 10)")
    add("--json", action="store_true", help='print {"ids": [...]} instead of one id a line')
    send_parser.set_defaults(run=send)


def _tail_parser(tail_parser: argparse.ArgumentParser) -> None:
    add = tail_parser.add_argument
    _broker_options(tail_parser)
    add("--user", metavar="NAME", help="also follow this user's stream (Redis URLs)")
    add("--group", dest="groups", action="append", metavar="NAME",
        help="also follow this group's stream (repeatable; Redis URLs)")
    start = tail_parser.add_mutually_exclusive_group()
    start.add_argument("--from-start", action="store_true",
                       help="print what the streams hold first, then follow")
    start.add_argument("--cursor", metavar="C", help="resume after this cursor")
    add("--format", choices=("json", "text"),
        help="one JSON object a line (the default when not a terminal) or readable text")
    add("--count", type=int, metavar="N", help="stop after N notifications")
    tail_parser.set_defaults(run=tail)


if __name__ == "__main__":
    sys.exit(main())
