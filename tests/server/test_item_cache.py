"""The JSON of replayed notifications is made once and shared by every tab that resumes: what a
tab gets must be exactly what encoding it afresh gives, whatever the owner's marks."""

from __future__ import annotations

import json

from jln_broker.history import Marks
from jln_broker.model import validate
from jln_broker.protocol import Delivered
from jln_server.wire import ItemCache, item_json

STREAM = "jln:user:ada"
RICH = validate({"message": "Job \"42\" done \u2713", "title": "t", "key": "job-42",
                 "actions": [{"label": "Open", "link": "https://example.org/a?b=1"}],
                 "data": {"nested": {"list": [1, 2.5, None, "\u00e9"]}},
                 "autoClose": False})
MARKS = [Marks(False, False, None), Marks(True, False, 1_700_000_000_123),
         Marks(True, True, 0), Marks(False, True, None)]


def test_cached_items_are_what_encoding_afresh_gives_under_any_marks() -> None:
    cache = ItemCache()
    delivered = Delivered(STREAM, "1700000000000-7", RICH)
    for marks in MARKS + MARKS:  # the second round comes from the cache
        cached = cache.item_json(delivered, marks)
        assert cached == item_json(delivered, marks)
        assert json.loads(cached)["readAt"] == marks.read_at


def test_a_new_record_under_an_id_already_seen_is_encoded_anew() -> None:
    """A stream read again (written again after a reset) may reuse an id for another record."""
    cache = ItemCache()
    before = Delivered(STREAM, "1-0", validate({"message": "before"}))
    after = Delivered(STREAM, "1-0", validate({"message": "after"}))
    cache.item_json(before, MARKS[0])
    assert json.loads(cache.item_json(after, MARKS[0]))["message"] == "after"


def test_a_full_cache_starts_over_and_still_answers() -> None:
    cache = ItemCache(limit=3)
    records = [Delivered(STREAM, f"{n}-0", validate({"message": f"m{n}"})) for n in range(10)]
    for record in records + records:
        assert cache.item_json(record, MARKS[1]) == item_json(record, MARKS[1])
