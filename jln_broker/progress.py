"""Live progress: one ``in-progress`` notification updated in place by its key (percentage, rate,
ETA), ending as a success or an error.

Updates are coalesced at the publisher: at most one a second per key (the first, then the
newest state when a second has passed, then the end), so a loop of a million iterations costs a
few dozen messages however fast it runs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from .notify import notify

T = TypeVar("T")
Send = Callable[..., Any]
MIN_INTERVAL = 1.0
"""Seconds between two updates of one key."""


class Progress:
    """The state of one task and its updates: ``update(n)`` as items are done, then
    ``finish()`` or ``fail(error)``."""

    def __init__(self, message: str, total: int | None = None, *, key: str | None = None,
                 send: Send = notify, interval: float = MIN_INTERVAL,
                 clock: Callable[[], float] = time.monotonic, **fields: Any) -> None:
        self.message = message
        self.total = total
        self.key = key or f"progress-{uuid.uuid4().hex[:12]}"
        self.done = 0
        self.sent = 0
        self._send = send
        self._interval = interval
        self._clock = clock
        self._fields = fields
        self._started = clock()
        self._last: float | None = None

    def update(self, n: int = 1) -> None:
        """``n`` more items done; publishes if a second has passed since the last update."""
        self.done += n
        now = self._clock()
        if self._last is None or now - self._last >= self._interval:
            self._publish("in-progress", self.status(now), auto_close=False)

    def finish(self) -> None:
        self._publish("success", f"done: {self.status(self._clock(), final=True)}")

    def stop(self) -> None:
        """Left before the end (the loop's body raised, or broke out): an error, since the
        generator cannot tell which."""
        self._publish("error", f"stopped at {self.status(self._clock(), final=True)}")

    def fail(self, error: BaseException) -> None:
        self._publish("error", f"{type(error).__name__}: {error} "
                               f"(after {self.status(self._clock(), final=True)})")

    def status(self, now: float, *, final: bool = False) -> str:
        """``42% (420/1000), 12.3 it/s, ETA 47 s`` (without a total: count and rate)."""
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        parts = [f"{100 * self.done / self.total:.0f}% ({count})" if self.total else count,
                 f"{rate:.3g} it/s"]
        if final:
            parts.append(f"in {_duration(elapsed)}")
        elif self.total and rate > 0:
            parts.append(f"ETA {_duration(max(self.total - self.done, 0) / rate)}")
        return ", ".join(parts)

    def _publish(self, type_: str, text: str, **extra: Any) -> None:
        self._last = self._clock()
        self.sent += 1
        self._send(f"{self.message}: {text}", type=type_, key=self.key,
                   **{**self._fields, **extra})


def progress(iterable: Iterable[T], message: str = "Working", total: int | None = None,
             **options: Any) -> Iterator[T]:
    """Yield from ``iterable`` while one notification shows how far it got; it ends as a
    success, or as an error if the loop stops early (an exception in its body, which goes on,
    or a ``break``) or the iterable raises. ``total`` defaults to
    ``len(iterable)`` when it has one. ``options``: ``key``, ``send``, and notify's fields."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    task = Progress(message, total, **options)
    try:
        for item in iterable:
            yield item
            task.update()
    except GeneratorExit:  # the loop was left early: a break, or an exception in its body
        task.stop()
        raise
    except BaseException as error:  # the iterable itself failed
        task.fail(error)
        raise
    task.finish()


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


try:  # optional: a tqdm that also shows its bar in JupyterLab's notifications
    from tqdm import tqdm as _tqdm
except ImportError:  # pragma: no cover
    _tqdm = None

if _tqdm is not None:
    class ntqdm(_tqdm):  # type: ignore[misc,unused-ignore]
        """``tqdm`` that also keeps one JupyterLab notification up to date: ``for x in
        ntqdm(items, message="Training"):``. Ends as a success, or an error if the loop
        raises."""

        def __init__(self, *args: Any, message: str = "Working", send: Send = notify,
                     **kwargs: Any) -> None:
            self._jln: Progress | None = None
            super().__init__(*args, **kwargs)
            self._jln = Progress(message, self.total, send=send)

        def __iter__(self) -> Iterator[Any]:
            task = self._jln
            assert task is not None
            try:
                for item in super().__iter__():
                    yield item
                    task.update(self.n - task.done)
            except Exception as error:
                self._jln = None
                task.fail(error)
                raise

        def update(self, n: float | None = 1) -> bool | None:
            shown: bool | None = super().update(n)
            if self._jln is not None:
                self._jln.update(int(n or 0))
            return shown

        def close(self) -> None:
            task, self._jln = getattr(self, "_jln", None), None
            if task is not None:
                task.finish()
            super().close()
