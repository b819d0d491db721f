"""``%%notify`` and ``%notify``: a notification when a cell finishes (``%load_ext jln_broker``).

``%%notify [--only-error] [--after SECONDS] [--title TEXT]`` runs its cell, then sends a
success with the elapsed time, or an error with the exception's type and message and the
failing line (and the exception goes on, so the cell still fails). ``%notify`` alone does the
same for the rest of the cell it is in; ``%notify STATEMENT`` for that statement.

The only module of this package that imports IPython.
"""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class

from .notify import executing_cell_id, kernel_source, notify

Send = Callable[..., Any]


@dataclass(frozen=True)
class Options:
    """What ``%%notify``'s flags ask for."""

    only_error: bool = False
    after: float = 0.0
    title: str | None = None


def elapsed_text(seconds: float) -> str:
    """``0.42 s``, ``12 s``, ``3 min 5 s``, ``2 h 4 min``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def failing_line(error: BaseException, filename: str, lines: list[str]) -> str | None:
    """``line N: <text>`` of the deepest frame of the traceback that is in the cell."""
    number = None
    tb: TracebackType | None = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            number = tb.tb_lineno
        tb = tb.tb_next
    if number is None or not 0 < number <= len(lines):
        return None
    return f"line {number}: {lines[number - 1].strip()}"


def report(send: Send, options: Options, seconds: float, error: BaseException | None,
           where: str | None, cell_id: str | None) -> None:
    """Send what the options ask for about a finished cell (nothing if they ask for none)."""
    if seconds < options.after or (error is None and options.only_error):
        return
    source = kernel_source(cell_id)
    extra = {"source": source} if source else {"source": {}}
    if error is None:
        send(f"Cell finished in {elapsed_text(seconds)}", type="success",
             title=options.title or "Cell finished", **extra)
        return
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    send(text + (f"\n{where}" if where else "") + f"\n(after {elapsed_text(seconds)})",
         type="error", title=options.title or "Cell failed", **extra)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"%notify: {message}")


def parse_options(line: str) -> tuple[Options, str]:
    """``%notify``'s flags, and the statement after them (for the line magic), which keeps its
    own spacing and quotes."""
    flags = _FLAGS.match(line)
    assert flags is not None  # the pattern matches the empty string
    parser = _Parser(prog="%notify", add_help=False)
    parser.add_argument("--only-error", action="store_true")
    parser.add_argument("--after", type=float, default=0.0)
    parser.add_argument("--title")
    try:
        words = shlex.split(flags.group())
    except ValueError as err:
        raise UsageError(f"%notify: {err}") from None
    args = parser.parse_args(words)
    if args.after < 0:
        raise UsageError("%notify: --after must be 0 or more seconds")
    return Options(args.only_error, args.after, args.title), line[flags.end():]


_FLAGS = re.compile(r"""(?:\s*(?:--only-error|--after[ =]\S+
                             |--title[ =](?:"[^"]*"|'[^']*'|\S+))\s*)*""", re.VERBOSE)


@magics_class
class NotifyMagics(Magics):
    """``%notify`` / ``%%notify``."""

    send: Send = staticmethod(notify)

    @line_cell_magic  # type: ignore[untyped-decorator]
    def notify(self, line: str, cell: str | None = None) -> Any:
        """Notify when this cell (or statement) finishes: a success with the elapsed time, or
        an error with the exception and the failing line.

        ``%%notify [--only-error] [--after SECONDS] [--title TEXT]``; ``%notify [flags]`` for
        the rest of this cell; ``%notify [flags] STATEMENT`` for that statement.
        """
        options, statement = parse_options(line.strip())
        code = cell if cell is not None else statement
        if cell is None and not code.strip():
            self._after_this_cell(options)
            return None
        return self._run(code, options)

    def _run(self, code: str, options: Options) -> Any:
        shell: Any = self.shell  # IPython's own methods are untyped
        source = shell.transform_cell(code)
        filename = shell.compile.cache(source)
        cell_id = executing_cell_id()
        started = time.monotonic()
        try:
            result = _execute(source, filename, shell.user_ns)
        except Exception as error:
            where = failing_line(error, filename, source.splitlines())
            report(self.send, options, time.monotonic() - started, error, where, cell_id)
            raise
        report(self.send, options, time.monotonic() - started, None, None, cell_id)
        return result

    def _after_this_cell(self, options: Options) -> None:
        """``%notify`` alone: report when the cell it is in has finished."""
        shell: Any = self.shell
        started, cell_id = time.monotonic(), executing_cell_id()

        def finished(result: ExecutionResult) -> None:
            shell.events.unregister("post_run_cell", finished)
            error = result.error_in_exec or result.error_before_exec
            report(self.send, options, time.monotonic() - started, error, None, cell_id)

        shell.events.register("post_run_cell", finished)


def _execute(source: str, filename: str, namespace: dict[str, Any]) -> Any:
    """Run a cell's code; the value of its last line if that is an expression (so it shows)."""
    tree = ast.parse(source, filename)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
    exec(compile(tree, filename, "exec"), namespace)
    if not isinstance(last, ast.Expr):
        return None
    return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)


def load_ipython_extension(shell: InteractiveShell) -> None:
    """Register ``%notify`` and ``%%notify``."""
    shell.register_magics(NotifyMagics)  # type: ignore[no-untyped-call]
