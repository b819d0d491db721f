"""100 tabs resuming at once after ``kill -9`` of their Jupyter server, while notifications
keep coming straight into Redis: the benchmark's storm (``benchmarks/storm.py``) at a test's
size. Every tab reconnects with the cursor of the last frame it received whole and must end
with every notification exactly once, with no gap (nothing was trimmed)."""

from __future__ import annotations

import pytest

from benchmarks import storm
from benchmarks.suite import Context

SCALE = storm.Scale(clients=100, notifications=400, per_second=100, kill_after=1.0,
                    modes=("eager",))


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_100_tabs_resume_after_kill_9_with_nothing_lost_or_repeated(
        redis_url: str) -> None:
    storm.raise_fd_limit(SCALE.clients)
    result = await storm.storm(Context(redis_url), SCALE, "eager")
    figures = {figure.name: figure.value for figure in result.figures}
    assert result.params["published_while_down"] > 0, "the kill came after the last publish"
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert result.params["gaps"] == 0
    assert figures["last whole"] != float("inf"), result.note
