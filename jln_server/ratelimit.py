"""A token bucket per requester, so one runaway script cannot flood everybody's screen."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class RateLimited(Exception):
    """Over the ingest rate (HTTP 429); ``retry_after`` is in seconds."""

    def __init__(self, rate: float, retry_after: float) -> None:
        super().__init__(f"over the ingest rate limit of {rate:g} notifications a second; "
                         f"retry in {retry_after:.1f}s")
        self.retry_after = retry_after


@dataclass
class RateLimiter:
    """``rate`` tokens a second per key, up to ``burst`` saved; ``rate <= 0`` turns it off."""

    rate: float
    burst: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key: (tokens, at)

    def take(self, key: str, count: int = 1, now: float | None = None) -> None:
        """Take ``count`` tokens (all or none), or raise ``RateLimited``."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < count:
            raise RateLimited(self.rate, (count - tokens) / self.rate)
        self._buckets[key] = (tokens - count, now)
        if len(self._buckets) > 10_000:  # forget the quiet ones rather than grow without end
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
