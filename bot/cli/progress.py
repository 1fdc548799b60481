"""Progress of long command-line jobs: a rich bar with counts and rate on a terminal, silent
otherwise (pipes, cron, CI logs)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


class Bar:
    """What a job reports to: ``advance(n)`` after each chunk of work."""

    def __init__(self, progress: Progress | None = None, task: int | None = None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, count: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)  # type: ignore[arg-type]

    def update(self, completed: int, total: int | None = None) -> None:
        """Set the count done (and the total, when it is learnt on the way)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, total=total)  # type: ignore[arg-type]


class RateColumn(TextColumn):
    """Items per second (rich's own speed column is for bytes)."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: object) -> object:  # type: ignore[override]
        from rich.text import Text

        speed = getattr(task, "finished_speed", None) or getattr(task, "speed", None)
        return Text(f"{speed:,.0f}/s".replace(",", " ") if speed else "…/s")


def on_terminal() -> bool:
    """Is someone watching? (stderr is a terminal: not a pipe, a log file or cron)."""
    return sys.stderr.isatty()


@contextmanager
def progress(total: int | None, label: str, *, enabled: bool | None = None) -> Iterator[Bar]:
    """A progress bar on stderr when it is a terminal (or when ``enabled``); the job's output
    (stdout, files) is the same either way."""
    show = on_terminal() if enabled is None else enabled
    if not show:
        yield Bar()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield Bar(bar, task)


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
