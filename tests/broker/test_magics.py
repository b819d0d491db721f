"""``%%notify`` and ``%notify`` in a real IPython shell (``%load_ext jln_broker``), with the
notifications caught instead of sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("IPython")

from IPython.core.error import UsageError
from IPython.testing.globalipapp import start_ipython

from jln_broker.magics import NotifyMagics, elapsed_text, parse_options

Sent = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    caught: Sent = []
    monkeypatch.setattr(NotifyMagics, "send", staticmethod(
        lambda message, **fields: caught.append((message, fields))))
    yield caught


@pytest.fixture(scope="module")
def shell() -> Any:
    ip = start_ipython()
    assert ip is not None
    ip.run_line_magic("load_ext", "jln_broker")
    assert "notify" in ip.magics_manager.magics["cell"]  # loaded, not just "not an extension"
    assert "notify" in ip.magics_manager.magics["line"]
    return ip


def test_a_cell_that_finishes_sends_a_success_with_its_time(shell: Any, sent: Sent) -> None:
    assert shell.run_cell_magic("notify", "--title Training", "x = 20\nx + 22") == 42
    [(message, fields)] = sent
    assert message.startswith("Cell finished in ") and message.endswith(" s")
    assert fields["type"] == "success" and fields["title"] == "Training"


def test_a_failing_cell_sends_the_error_and_line_and_still_fails(shell: Any, sent: Sent) -> None:
    with pytest.raises(KeyError):
        shell.run_cell_magic("notify", "", "d = {}\n\nd['missing']\n")
    [(message, fields)] = sent
    assert message.startswith("KeyError: 'missing'\nline 3: d['missing']\n(after ")
    assert fields["type"] == "error" and fields["title"] == "Cell failed"


def test_only_error_is_silent_on_success(shell: Any, sent: Sent) -> None:
    shell.run_cell_magic("notify", "--only-error", "y = 1")
    with pytest.raises(ValueError):
        shell.run_cell_magic("notify", "--only-error", "raise ValueError('bad')")
    assert [m for m, _ in sent] == [sent[0][0]] and sent[0][0].startswith("ValueError: bad")


def test_after_skips_a_quick_cell(shell: Any, sent: Sent) -> None:
    shell.run_cell_magic("notify", "--after 60", "z = 1")
    with pytest.raises(ZeroDivisionError):
        shell.run_cell_magic("notify", "--after 60", "1/0")
    assert sent == []


def test_the_line_magic_alone_reports_the_rest_of_its_cell(shell: Any, sent: Sent) -> None:
    shell.run_cell("%notify --title Rest\nw = 1\nraise RuntimeError('late')")
    shell.run_cell("v = 2")  # the next cell does not notify again
    [(message, fields)] = sent
    assert message.startswith("RuntimeError: late") and fields["title"] == "Rest"


def test_the_line_magic_runs_its_statement(shell: Any, sent: Sent) -> None:
    shell.run_line_magic("notify", "--title 'one line' u = len('a  b')")
    assert shell.user_ns["u"] == 4 and sent[0][1]["title"] == "one line"


def test_options_are_checked() -> None:
    assert parse_options('--after=5 --title "a b" print(1)')[1] == "print(1)"
    with pytest.raises(UsageError, match="--after"):
        parse_options("--after soon")
    with pytest.raises(UsageError, match="0 or more"):
        parse_options("--after -1")


@pytest.mark.parametrize(("seconds", "text"), [(0.5, "0.50 s"), (42, "42 s"), (185, "3 min 5 s"),
                                               (7440, "2 h 4 min")])
def test_elapsed_time_reads_naturally(seconds: float, text: str) -> None:
    assert elapsed_text(seconds) == text
