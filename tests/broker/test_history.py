"""History on its own, over the embedded broker and a real redis-server: what the inbox shows,
what a resuming client is owed, and the state each user keeps."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from jln_broker.errors import ValidationError
from jln_broker.history import Change, Filters, History, PageCursor, parse_filters
from jln_broker.protocol import Cursor, StreamNames
from jln_broker.publisher import AsyncPublisher

NAMES = StreamNames()
ADA = NAMES.audience("ada", ["ml"])

Open = Callable[..., Any]
"""``open_history`` (conftest): ``await open_history(user, groups)`` gives a loaded History."""


def now_ms() -> int:
    return int(time.time() * 1000)


def messages(history: History, entries: Any) -> list[str]:
    return [e.delivered.notification.message for e in entries]


async def follow(histories: History | list[History], publisher: AsyncPublisher,
                 *items: dict[str, Any]) -> None:
    """Publish, and hand the entries of each history's streams to it as the fan-out's reader
    would."""
    ids = await publisher.publish_many(list(items))
    for history in histories if isinstance(histories, list) else [histories]:
        found = []
        for notification_id in (i for stream_ids in ids for i in stream_ids):
            stream, _, entry_id = notification_id.rpartition("/")
            if stream in history.streams:
                raw = await history.client.xrange(stream, min=entry_id, max=entry_id)
                found += history.decoder.decode(stream, raw, now_ms())
        history.add(found)


@pytest.mark.asyncio
async def test_the_inbox_lists_newest_first_and_pages_to_the_end_with_no_item_twice(
        open_history: Open, publisher: AsyncPublisher) -> None:
    await publisher.publish_many([{"message": f"n{i}", "users": ["ada"]} for i in range(7)])
    history = await open_history()

    seen, cursor = [], None
    while True:
        page = await history.page(Filters(), 3, cursor)
        seen += messages(history, page.items)
        if page.next is None:
            break
        cursor = PageCursor.decode(page.next.encode())

    assert seen == [f"n{i}" for i in reversed(range(7))]
    assert (page.total, page.unread) == (7, 7)


@pytest.mark.asyncio
async def test_a_later_notification_with_the_same_key_and_origin_replaces_the_earlier(
        open_history: Open, publisher: AsyncPublisher) -> None:
    first = await publisher.publish("job 1 running", users=["ada"], key="job-1", origin="ci")
    history = await open_history()
    await history.change(first, Change(read=True))

    await follow(history, publisher,
                 {"message": "job 1 done", "users": ["ada"], "key": "job-1", "origin": "ci"},
                 {"message": "other origin", "users": ["ada"], "key": "job-1", "origin": "cd"})
    page = await history.page(Filters(), 10, None)

    assert messages(history, page.items) == ["other origin", "job 1 done"]
    assert page.unread == 2  # the replacement is unread again


@pytest.mark.asyncio
async def test_an_excluded_user_neither_lists_nor_is_pushed_what_excludes_them(
        open_history: Open, publisher: AsyncPublisher) -> None:
    history = await open_history()
    bob = await open_history("bob")
    entry = {"message": "not for ada", "groups": ["ml"], "excludeUsers": ["ada"]}

    pushed_before = len(history.timeline)
    await follow([history, bob], publisher, entry)

    assert len(history.timeline) == pushed_before + 1  # held, for the record
    assert (await history.count(Filters())) == (0, 0)
    assert "not for ada" in messages(bob, (await bob.page(Filters(), 10, None)).items)


@pytest.mark.asyncio
async def test_a_scheduled_notification_is_held_then_released_then_owed_to_a_resuming_client(
        open_history: Open, publisher: AsyncPublisher) -> None:
    history = await open_history()
    before = Cursor({s: "0-0" for s in ADA}).issued(now_ms())
    due = now_ms() + 300

    await follow(history, publisher, {"message": "later", "users": ["ada"], "notBefore": due})
    held = history.release()
    listed_early = (await history.count(Filters()))[1]
    await asyncio.sleep(0.35)
    released = history.release()
    until = Cursor({s: "9999999999999-0" for s in ADA}).issued(history.timeline.released_until)
    # A client that saw the entry's position before it fell due is owed it on resume, once.
    past_it = Cursor({s: "9999999999998-0" for s in ADA}, at=due - 100)
    owed = history.after(past_it, until, 100).items
    again = history.after(history.after(past_it, until, 100).cursor, until, 100).items

    assert held == [] and listed_early == 0
    assert [d.notification.message for d in released] == ["later"]
    assert [d.notification.message for d in history.after(before, until, 100).items] == ["later"]
    assert [d.notification.message for d in owed] == ["later"]
    assert again == []
    assert (await history.count(Filters()))[1] == 1


@pytest.mark.asyncio
async def test_shared_streams_start_read_where_the_user_joined_but_the_own_stream_does_not(
        open_history: Open, publisher: AsyncPublisher) -> None:
    await publisher.publish("old announcement")
    await publisher.publish("sent before ada ever logged in", users=["ada"])
    history = await open_history()
    await follow(history, publisher, {"message": "new announcement"})

    page = await history.page(Filters(), 10, None)
    unread = [m for m, e in zip(messages(history, page.items), page.items, strict=True)
              if not history.marks(e.delivered).read]

    assert unread == ["new announcement", "sent before ada ever logged in"]
    assert page.total == 3


@pytest.mark.asyncio
async def test_joining_later_never_acknowledges_what_asks_for_it(
        open_history: Open, publisher: AsyncPublisher) -> None:
    await publisher.publish("plain banner", groups=["ml"], pinned=True)
    await publisher.publish("read the new policy", groups=["ml"], require_ack=True)
    history = await open_history()  # ada's server starts after both were sent

    page = await history.page(Filters(pinned=True), 10, None)

    assert [(m, history.marks(e.delivered).read) for m, e in zip(
        messages(history, page.items), page.items, strict=True)] == [
        ("read the new policy", False), ("plain banner", True)]


@pytest.mark.asyncio
async def test_a_broadcast_read_by_one_user_stays_unread_for_another(
        open_history: Open, publisher: AsyncPublisher) -> None:
    ada, bob = await open_history("ada"), await open_history("bob")
    await follow([ada, bob], publisher, {"message": "hello"}, {"message": "again"})
    ids = [e.id for e in (await ada.page(Filters(), 10, None)).items]

    await ada.change(ids, Change(read=True))

    assert (await ada.count(Filters()))[0] == 0
    assert (await bob.count(Filters()))[0] == 2


@pytest.mark.asyncio
async def test_a_second_server_of_the_same_user_sees_state_changed_by_the_first(
        open_history: Open, publisher: AsyncPublisher) -> None:
    await publisher.publish_many([{"message": f"n{i}", "users": ["ada"]} for i in range(3)])
    one, two = await open_history(), await open_history()

    done = await one.change(None, Change(read=True))

    assert done.all and len(done.ids) == 3 and done.unread == 0
    assert (await two.count(Filters())) == (0, 3)
    assert (await two.count(Filters(read=False))) == (0, 0)


@pytest.mark.asyncio
async def test_marking_all_read_under_a_filter_changes_only_what_it_admits(
        open_history: Open, publisher: AsyncPublisher) -> None:
    await publisher.publish_many([
        {"message": "disk full", "users": ["ada"], "type": "error", "topic": "ops"},
        {"message": "Disk almost full", "users": ["ada"], "type": "warning", "topic": "ops"},
        {"message": "build green", "users": ["ada"], "type": "success", "topic": "ci"}])
    history = await open_history()

    done = await history.change(None, Change(read=True), Filters(min_type="warning"))
    search = await history.page(Filters(search="DISK"), 10, None)
    saved = await history.change([e.id for e in search.items[:1]], Change(saved=True))

    assert (len(done.ids), done.unread) == (2, 1)
    assert messages(history, search.items) == ["Disk almost full", "disk full"]
    assert (await history.count(Filters(saved=True))) == (0, 1) and len(saved.ids) == 1
    assert (await history.count(Filters(topic="ci"))) == (1, 1)
    assert (await history.topics())["topics"] == [
        {"name": "ci", "count": 1, "unread": 1}, {"name": "ops", "count": 2, "unread": 0}]


@pytest.mark.asyncio
async def test_dismissing_takes_it_out_of_the_inbox_and_marks_it_read(
        open_history: Open, publisher: AsyncPublisher) -> None:
    ids = await publisher.publish("go away", users=["ada"])
    history = await open_history()

    await history.change(ids, Change(dismissed=True))

    assert await history.item(ids[0]) is None
    assert (await history.count(Filters())) == (0, 0)
    assert history.state.parts["read"][ids[0]] > 0


@pytest.mark.asyncio
async def test_the_retention_sweep_trims_old_entries_and_their_state(
        open_history: Open, publisher: AsyncPublisher, broker_url: str) -> None:
    old = await publisher.publish("old", users=["ada"])
    history = await open_history()
    await history.change(old, Change(read=True, saved=True))
    await asyncio.sleep(0.05)
    await follow(history, publisher, {"message": "new", "users": ["ada"]})

    gone = await history.sweep(retention_ms=30, max_length=1000)

    assert gone == 1
    assert messages(history, (await history.page(Filters(), 10, None)).items) == ["new"]
    assert old[0] not in history.state.ids()
    assert await history.client.hget(NAMES.inbox("ada", "read"), old[0]) is None


@pytest.mark.asyncio
async def test_a_sweep_keeps_what_the_reader_brought_while_it_asked_redis(
        open_history: Open, publisher: AsyncPublisher, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep's answer says what Redis held when it asked: a notification read after that
    (here, while the answer was on its way to a stream that was still empty) stays."""
    history = await open_history()
    pipeline = history.client.pipeline

    class Meanwhile:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.pipe = pipeline(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.pipe, name)

        async def execute(self) -> Any:
            replies = await self.pipe.execute()
            await follow(history, publisher, {"message": "read meanwhile", "users": ["ada"]})
            return replies

    monkeypatch.setattr(history.client, "pipeline", Meanwhile)
    gone = await history.sweep(retention_ms=60_000, max_length=1000)
    monkeypatch.undo()

    assert gone == 0
    assert messages(history, (await history.page(Filters(), 10, None)).items) == [
        "read meanwhile"]


@pytest.mark.parametrize(("query", "field"), [
    ({"type": ["bogus"]}, "type"), ({"minType": ["loud"]}, "minType"),
    ({"read": ["maybe"]}, "read"), ({"createdAfter": ["yesterday"]}, "createdAfter"),
    ({"scope": ["planet"]}, "scope"), ({"search": ["x" * 201]}, "search"),
    ({"topic": ["a", "b"]}, "topic"),
])
def test_bad_filters_are_refused_naming_the_argument(query: dict[str, list[str]],
                                                    field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_filters(query)
    assert refused.value.field == field


def test_filters_read_times_in_milliseconds_or_iso_8601() -> None:
    filters = parse_filters({"createdAfter": ["1700000000000"], "minType": ["warning"],
                             "createdBefore": ["2030-01-01T00:00:00Z"], "type": ["error", "info"]})

    assert filters.created_after == 1_700_000_000_000
    assert filters.created_before == 1_893_456_000_000
    assert filters.types == {"error", "info"}
    assert filters.min_type == "warning"


@pytest.mark.parametrize("text", ["", "bm90IGpzb24", "WzEsMiwzXQ", "WzEsMiwzLDRd"])
def test_a_page_cursor_not_issued_here_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PageCursor.decode(text)
    assert refused.value.field == "cursor"


def test_a_cursor_keeps_its_release_moment_and_old_cursors_still_decode() -> None:
    cursor = Cursor({"jln:broadcast": "5-0"}, at=1234)
    old = Cursor({"jln:broadcast": "7-0"}).encode()

    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode(old).moment == 7
    assert cursor.advanced("jln:broadcast", "6-0").at == 1234


def test_live_arrivals_update_the_inbox_exactly_as_a_full_rebuild_would() -> None:
    from jln_broker.history.state import InboxState
    from jln_broker.history.timeline import Timeline
    from jln_broker.history.view import InboxView
    from jln_broker.model import validate
    from jln_broker.protocol import Delivered

    timeline, state = Timeline("ada"), InboxState(NAMES, "ada")
    view = InboxView(timeline, state, NAMES.scope)
    start = now_ms() - 10_000

    def arrival(i: int) -> Delivered:
        fields: dict[str, Any] = {"message": f"n{i}", "key": f"k{i % 3}" if i % 2 else None,
                                  "origin": "ci" if i % 4 else None}
        if i % 5 == 0:
            fields["excludeUsers"] = ["ada"]
        if i % 7 == 0:
            fields["expiresAt"] = start  # already expired: still supersedes its key
        return Delivered("jln:user:ada", f"{start + i}-0", validate(fields))

    timeline.load([arrival(i) for i in range(20)], now_ms())
    view.visible(now_ms())
    for i in range(20, 60):
        timeline.add([arrival(i)], now_ms())
        view.unread(now_ms())  # applied one arrival at a time
    live = [e.id for e in view.visible(now_ms())], view.unread(now_ms())
    view._seen = (-1, -1)  # force the full pass

    assert ([e.id for e in view.visible(now_ms())], view.unread(now_ms())) == live
    before = timeline.changes
    timeline.add([Delivered("jln:user:ada", f"{start - 1}-0", validate({"message": "older"}))],
                 now_ms())  # out of order, as a group joined later brings
    assert timeline.appended_since(before) is None
    assert "older" in [e.delivered.notification.message for e in view.visible(now_ms())]


@pytest.mark.asyncio
async def test_a_kept_filtered_page_and_count_follow_every_change(
        open_history: Open, publisher: AsyncPublisher) -> None:
    """The view keeps filtered results and updates itself in place: after each kind of change
    the next page and count under the same filters equal what a server loading afresh from
    Redis answers."""
    await publisher.publish_many([{"message": f"disk {i} full", "users": ["ada"],
                                   "key": f"disk-{i}", "origin": "ops"} for i in range(6)])
    history = await open_history()
    search, saved = Filters(search="DISK"), Filters(search="disk", saved=True)

    async def answers(of: History) -> list[Any]:
        page = await of.page(search, 4, None)
        return [messages(of, page.items), page.next is not None, page.total, page.unread,
                await of.count(search), await of.count(saved), await of.count(Filters())]

    async def same_as_a_fresh_load() -> list[Any]:
        kept = await answers(history)
        assert kept == await answers(await open_history())
        return kept

    first = await same_as_a_fresh_load()
    ids = [e.id for e in (await history.page(search, 6, None)).items]  # newest first
    await history.change(ids[:1], Change(read=True))
    read = await same_as_a_fresh_load()
    await history.change(ids[1:2], Change(dismissed=True))
    dismissed = await same_as_a_fresh_load()
    await history.change(ids[2:3], Change(saved=True))
    saved_one = await same_as_a_fresh_load()
    await follow(history, publisher, {"message": "Disk 9 full", "users": ["ada"]})
    arrived = await same_as_a_fresh_load()
    await follow(history, publisher, {"message": "disk 0 cleaned", "users": ["ada"],
                                      "key": "disk-0", "origin": "ops"})
    updated = await same_as_a_fresh_load()

    assert first[2:] == [6, 6, (6, 6), (0, 0), (6, 6)]
    assert read[3:5] == [5, (5, 6)]
    assert dismissed[0][0] == "disk 5 full" and dismissed[2:5] == [5, 4, (4, 5)]
    assert saved_one[5] == (1, 1)
    assert arrived[0][0] == "Disk 9 full" and arrived[4] == (5, 6)
    assert updated[0][0] == "disk 0 cleaned" and updated[4] == (5, 6)
    assert "disk 0 full" not in messages(history, (await history.page(search, 10, None)).items)


@pytest.mark.asyncio
async def test_a_view_kept_up_to_date_equals_one_worked_out_afresh_after_any_changes(
        open_history: Open, publisher: AsyncPublisher) -> None:
    """Arrivals (keyed, excluding the user, already expired) and marks changed one at a time
    or many at once, undismissing too, in a seeded random order: after each, the view updated
    in place holds the same entries, unread flags and filtered counts as a new view."""
    from jln_broker.history.view import InboxView

    rng = random.Random(7)
    history = await open_history()
    expired = now_ms() - 1000

    def arrival(i: int) -> dict[str, Any]:
        fields: dict[str, Any] = {"message": f"n{i} {rng.choice(['build', 'deploy'])}",
                                  "users": ["ada"], "type": rng.choice(["info", "error"])}
        if rng.random() < 0.4:
            fields |= {"key": f"k{rng.randrange(4)}", "origin": rng.choice(["ci", "cd"])}
        if rng.random() < 0.1:
            fields["excludeUsers"] = ["ada"]
        if rng.random() < 0.1:
            fields["expiresAt"] = expired
        return fields

    await follow(history, publisher, *(arrival(i) for i in range(30)))
    filters = [Filters(), Filters(search="build"), Filters(types=frozenset({"error"})),
               Filters(read=False), Filters(saved=True)]
    for step in range(60):
        kind = rng.choice(["arrive", "mark", "mark", "mark", "all"])
        held = [e.id for e in history.timeline.oldest_first()]
        if kind == "arrive":
            await follow(history, publisher, *(arrival(100 + step * 3 + j) for j in range(3)))
        elif kind == "mark":
            change = Change(**{rng.choice(["read", "saved", "dismissed"]): rng.random() < 0.6})
            chosen = [history.timeline.get(i) for i in rng.sample(held, 3)]
            await history.state.apply(history.client, [e for e in chosen if e], change, now_ms())
        else:
            await history.change(None, Change(read=rng.random() < 0.5), rng.choice(filters))
        now = now_ms()
        kept = history.view
        kept_counts = [kept.count(f, now) for f in filters]  # updated in place (and kept)
        afresh = InboxView(history.timeline, history.state, NAMES.scope)

        assert [e.id for e in kept.visible(now)] == [e.id for e in afresh.visible(now)], step
        assert kept._unread_flags == afresh._unread_flags, step
        assert kept_counts == [afresh.count(f, now) for f in filters], step


@pytest.mark.parametrize("limit", [1, 7, 500])
def test_a_replay_in_pages_across_streams_is_the_whole_range_in_order_once(limit: int) -> None:
    """Each page looks at no more than a page of each stream, yet the pages together are
    every entry between the cursors, in entry id order, and end at the live position."""
    from jln_broker.history.timeline import Timeline
    from jln_broker.model import validate
    from jln_broker.protocol import Delivered, entry_id_key

    streams = ["jln:broadcast", "jln:user:ada", "jln:group:ml"]
    rng = random.Random(limit)
    start = now_ms() - 100_000
    entries = [Delivered(rng.choice(streams), f"{start + i // 3}-{i % 3}",
                         validate({"message": f"n{i}"})) for i in range(1_200)]
    timeline = Timeline("ada")
    timeline.load(entries, now_ms())
    since = Cursor({s: f"{start + 100}-0" for s in streams})
    until = Cursor({s: max((d.entry_id for d in entries if d.stream == s),
                           key=entry_id_key) for s in streams})
    owed = sorted((d for d in entries if entry_id_key(d.entry_id) > (start + 100, 0)),
                  key=lambda d: (entry_id_key(d.entry_id), d.stream))
    got: list[str] = []
    more = True
    while more:
        page = timeline.after(since, until, limit, now_ms())
        assert len(page.items) <= limit
        got += [d.id for d in page.items]
        since, more = page.cursor, page.more
    assert got == [d.id for d in owed]
    assert since.positions == until.positions
