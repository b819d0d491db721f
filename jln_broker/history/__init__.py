"""History: the one home of everything read back from the streams (ranges after a cursor, the
newest N, inbox pages, counts, topics) and of each user's read, saved and dismissed state.

``timeline`` holds the owner's entries in memory, ``state`` their inbox state (Redis is the
record of both), ``view`` works out what the inbox shows, and ``core.History`` puts them
together for the server.
"""

from .core import Gap, History, Resume, StateChange
from .state import FRESH, Change, Marks
from .timeline import Entry
from .view import FILTER_NAMES, NO_FILTERS, Filters, InboxPage, PageCursor, parse_filters

__all__ = ["FILTER_NAMES", "FRESH", "NO_FILTERS", "Change", "Entry", "Filters", "Gap",
           "History", "InboxPage", "Marks", "PageCursor", "Resume", "StateChange",
           "parse_filters"]
