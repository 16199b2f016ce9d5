"""What a run tells its user while it works: a live bar on a terminal, plain lines or JSON lines."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from liveshift.errors import user_names


@dataclass
class Blocker:
    """A session holding a lock that a step waits for."""

    pid: int
    application_name: str
    state: str
    transaction_age_s: float | None
    query: str
    mode: str
    relation: str

    def describe(self) -> str:
        age = f"{self.transaction_age_s:.1f}s" if self.transaction_age_s is not None else "?"
        app = self.application_name or "no application_name"
        query = " ".join(self.query.split())[:120]
        return (
            f"pid {self.pid} ({app}, {self.state}, transaction open {age}, holds {self.mode} on "
            f"{self.relation}): {query}"
        )


@dataclass
class BackfillProgress:
    table: str
    column: str
    rows_done: int
    rows_total: int
    rows_per_second: float
    batch_size: int
    batches: int
    throttle: str | None
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        remaining = max(self.rows_total - self.rows_done, 0)
        if self.rows_per_second <= 0:
            return None
        return remaining / self.rows_per_second


def write(stream: TextIO, text: str) -> None:
    """One line of progress. When its reader went away (`liveshift start | head`), the run goes
    on without it: stopping a migration part-way because nobody reads its progress any more would
    leave the database half-changed for nothing; the rest of the progress goes to /dev/null."""
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


class Reporter:
    """Receives events from the executor and the backfill; the base class prints nothing."""

    def phase(self, name: str, migration: str) -> None: ...

    def step_started(self, position: int, total: int, description: str) -> None: ...

    def step_finished(
        self,
        description: str,
        duration_s: float,
        skipped: bool = False,
        lock_held_s: float | None = None,
    ) -> None: ...

    def lock_wait(
        self, description: str, attempt: int, blockers: list[Blocker], wait_s: float
    ) -> None: ...

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None: ...

    def message(self, text: str) -> None: ...

    def close(self) -> None: ...


class PlainReporter(Reporter):
    """Plain lines (for logs and pipes); backfill progress at most every `interval` seconds."""

    def __init__(self, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last_backfill = 0.0

    def _print(self, text: str) -> None:
        write(self.stream, text)

    def phase(self, name: str, migration: str) -> None:
        self._print(f"liveshift: {name} {migration}")

    def step_started(self, position: int, total: int, description: str) -> None:
        self._print(f"  [{position}/{total}] {user_names(description)}")

    def step_finished(
        self,
        description: str,
        duration_s: float,
        skipped: bool = False,
        lock_held_s: float | None = None,
    ) -> None:
        if skipped:
            self._print("        already done (resumed)")
        else:
            held = f", lock held {lock_held_s * 1000:.0f} ms" if lock_held_s is not None else ""
            self._print(f"        done in {duration_s * 1000:.0f} ms{held}")

    def lock_wait(
        self, description: str, attempt: int, blockers: list[Blocker], wait_s: float
    ) -> None:
        who = "; ".join(b.describe() for b in blockers) or "a session that has since gone"
        self._print(
            f"        lock not available (attempt {attempt}), retrying in {wait_s * 1000:.0f} ms; "
            f"blocked by {who}"
        )

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_backfill < self.interval:
            return
        self._last_backfill = now
        self._print("        " + backfill_line(progress))

    def message(self, text: str) -> None:
        self._print(f"liveshift: {user_names(text)}")


def backfill_line(p: BackfillProgress) -> str:
    percent = 100.0 * p.rows_done / p.rows_total if p.rows_total else 100.0
    eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
    throttle = f", throttled: {p.throttle}" if p.throttle else ""
    return (
        f"backfill {user_names(f'{p.table}.{p.column}')}: {p.rows_done:,}/{p.rows_total:,} rows ({percent:.1f}%), "
        f"{p.rows_per_second:,.0f} rows/s, ETA {eta}, batch {p.batch_size:,}{throttle}"
    )


class JsonReporter(Reporter):
    """One JSON object per event (backfill progress at most every `interval` seconds)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 1.0) -> None:
        self.stream = stream or sys.stdout
        self.interval = interval
        self._last_backfill = 0.0

    def _emit(self, event: str, **fields: Any) -> None:
        fields = {"event": event, "time": time.time(), **fields}
        write(self.stream, json.dumps(fields, default=str))

    def phase(self, name: str, migration: str) -> None:
        self._emit("phase", phase=name, migration=migration)

    def step_started(self, position: int, total: int, description: str) -> None:
        self._emit("step_started", position=position, total=total, description=description)

    def step_finished(
        self,
        description: str,
        duration_s: float,
        skipped: bool = False,
        lock_held_s: float | None = None,
    ) -> None:
        self._emit(
            "step_finished",
            description=description,
            duration_s=duration_s,
            skipped=skipped,
            lock_held_s=lock_held_s,
        )

    def lock_wait(
        self, description: str, attempt: int, blockers: list[Blocker], wait_s: float
    ) -> None:
        self._emit(
            "lock_wait",
            description=description,
            attempt=attempt,
            retry_in_s=wait_s,
            blockers=[asdict(b) for b in blockers],
        )

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_backfill < self.interval:
            return
        self._last_backfill = now
        self._emit("backfill", **asdict(progress), eta_s=progress.eta_s, final=final)

    def message(self, text: str) -> None:
        self._emit("message", text=user_names(text))


class RichReporter(PlainReporter):
    """A live progress bar for the backfill on a terminal; steps as lines above it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("backfill {task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeRemainingColumn(),
            TextColumn("batch {task.fields[batch]}{task.fields[throttle]}"),
            console=self.console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}

    def _print(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def backfill(self, progress: BackfillProgress, final: bool = False) -> None:
        key = user_names(f"{progress.table}.{progress.column}")
        fields: dict[str, Any] = {
            "name": key,
            "rate": f"{progress.rows_per_second:,.0f}",
            "batch": f"{progress.batch_size:,}",
            "throttle": f"  throttled: {progress.throttle}" if progress.throttle else "",
        }
        if key not in self._tasks:
            self._progress.start()
            self._tasks[key] = self._progress.add_task(
                key, total=max(progress.rows_total, progress.rows_done), **fields
            )
        self._progress.update(
            self._tasks[key],
            completed=progress.rows_done,
            total=max(progress.rows_total, progress.rows_done),
            **fields,
        )
        if final:
            self._progress.stop()
            self._tasks.pop(key)

    def close(self) -> None:
        self._progress.stop()


def make_reporter(mode: str = "auto") -> Reporter:
    """`auto`: a live bar on a terminal, plain lines otherwise; `plain`, `json`, `quiet`."""
    if mode == "json":
        return JsonReporter()
    if mode == "quiet":
        return Reporter()
    if mode == "auto" and sys.stderr.isatty():
        return RichReporter()
    return PlainReporter()
