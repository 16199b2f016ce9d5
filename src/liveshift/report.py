"""Human-readable tables for plan, status and history (rich)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from liveshift.settings import format_duration

if TYPE_CHECKING:
    from liveshift.planner import MigrationPlan


class _Console(Console):
    """rich's Console, but a closed pipe (`liveshift plan F | head`) raises BrokenPipeError for
    the command line to end quietly with a closed pipe's status (rich would exit 1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def _console() -> Console:
    """On a terminal, rich fits the output to its width. Into a pipe or a file nothing is cut or
    wrapped (rich would assume 80 columns): every value whole, every line of prose on one line."""
    if sys.stdout.isatty():
        return _Console(highlight=False)
    return _Console(highlight=False, soft_wrap=True, width=_UNBOUNDED)


_UNBOUNDED = 100_000  # columns: wider than any value


def print_plan(plan: MigrationPlan, lock_policy: str | None = None) -> None:
    console = _console()
    console.print(
        f"[bold]{plan.migration.name}[/bold] on schema {plan.schema}; new clients will use "
        f"search_path [bold]{plan.version_schema}[/bold]"
    )
    if lock_policy:
        console.print(f"lock policy (steps marked lock_timeout + retry): {lock_policy}")
    for phase, steps in plan.phases().items():
        console.print(f"\n[bold underline]{phase}[/bold underline] ({len(steps)} steps)")
        for i, step in enumerate(steps, 1):
            facts = []
            if step.lock:
                facts.append(f"{step.lock.value} lock ({step.lock.impact})")
                if step.guarded:
                    facts.append("lock_timeout + retry")
            if step.rewrites:
                facts.append("[red]REWRITES the table[/red]")
            if step.scans:
                facts.append("scans the table")
            if step.catch_up is not None:
                facts.append("writes only the rows the change log names, in batches")
            elif not step.rewrites and not step.scans and step.backfill is None:
                facts.append("metadata only")
            if step.estimated_rows is not None:
                facts.append(f"~{step.estimated_rows:,} rows")
            facts.append("in a transaction" if step.transactional else "outside a transaction")
            console.print(f"[bold]{i:>2}. {step.description}[/bold]")
            console.print("    " + "; ".join(facts))
            for line in step.display_sql().splitlines():
                console.print(f"      [dim]{escape(line)}[/dim]", soft_wrap=True)
            for note in step.notes:
                console.print(f"    note: {note}")


def print_status(status: dict[str, Any]) -> None:
    console = _console()
    if not status.get("initialized"):
        console.print("liveshift is not initialised in this database (`liveshift init`).")
        return
    active = status.get("active")
    if status.get("paused"):
        console.print(f"backfills are [bold]paused[/bold]: {escape(str(status['paused']))}")
    if active is None:
        console.print(
            f"no active migration on schema {status['schema']}; last complete: "
            f"{status.get('last_complete') or '(none)'}"
        )
        if status.get("version_schema"):
            console.print(f"  clients use search_path {status['version_schema']}")
        return
    console.print(f"active migration [bold]{active['name']}[/bold]: phase {active['phase']}")
    if active.get("started_at"):
        console.print(f"  started at {active['started_at']:%Y-%m-%d %H:%M:%S %Z}")
    if status.get("version_schema"):
        # The version schema is published by start's last step.
        tense = "will use" if active["phase"] == "starting" else "use"
        console.print(
            f"  new clients {tense} search_path {status['version_schema']}; old clients "
            f"{status['schema']}"
        )
    if active.get("steps_total") is not None:
        console.print(f"  steps done: {active['steps_done']}/{active['steps_total']}")
    for b in active["backfills"]:
        console.print("  " + escape(backfill_status(b)))


def backfill_status(b: dict[str, Any]) -> str:
    """One backfill of `status` in words: rows, rate, ETA, batch size, throttling."""
    total = b["rows_total"] or 0
    pct = 100.0 * b["rows_done"] / total if total else 100.0
    column = b["column"]
    if column.startswith(NEW_VERSION_PREFIX):  # a type change fills a new column until complete
        column = f"{column[len(NEW_VERSION_PREFIX) :]} (new version)"
    parts = [f"backfill {b['table']}.{column}: {b['rows_done']:,}/{total:,} rows ({pct:.1f}%)"]
    if b["finished"]:
        parts.append("finished")
    else:
        rate = b.get("rows_per_second")
        parts.append(f"{rate:,.0f} rows/s" if rate else "rate not measured yet")
        eta = b.get("eta_s")
        parts.append(f"ETA {format_duration(eta)}" if eta is not None else "ETA unknown")
    if b.get("batch_size"):
        parts.append(f"last batch {b['batch_size']:,} rows")
    if b.get("batches"):
        parts.append(f"{b['batches']:,} batches")
    if b.get("slices", 1) > 1:
        parts.append(f"{b['slices']} slices")
    if b.get("throttle"):
        parts.append(f"throttled: {b['throttle']}")
    return ", ".join(parts)


NEW_VERSION_PREFIX = "_ls_new_"  # operations.base.Names.temp_column


def print_history(rows: list[dict[str, Any]]) -> None:
    table = Table(title="migrations", title_justify="left")
    for heading in (
        "id",
        "schema",
        "name",
        "phase",
        "started",
        "finished",
        "steps",
        "ms",
        "lock retries",
    ):
        table.add_column(heading)
    for row in rows:
        finished = row["completed_at"] or row["rolled_back_at"]
        table.add_row(
            str(row["id"]),
            row["schema"],
            row["name"],
            row["phase"],
            f"{row['started_at']:%Y-%m-%d %H:%M:%S}" if row["started_at"] else "",
            f"{finished:%Y-%m-%d %H:%M:%S}" if finished else "",
            str(row["steps"]),
            f"{row['duration_ms']:.0f}",
            str(row["lock_retries"]),
        )
    _console().print(table)
