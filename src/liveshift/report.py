"""Human-readable tables for plan, status and history (rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from liveshift.planner import MigrationPlan


def _console() -> Console:
    return Console(highlight=False)


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
        console.print(f"backfills are [bold]paused[/bold]: {status['paused']}")
    if active is None:
        console.print(
            f"no active migration on schema {status['schema']}; last complete: "
            f"{status.get('last_complete') or '(none)'}"
        )
        return
    console.print(f"active migration [bold]{active['name']}[/bold]: phase {active['phase']}")
    if active.get("steps_total") is not None:
        console.print(f"  steps done: {active['steps_done']}/{active['steps_total']}")
    for b in active["backfills"]:
        total = b["rows_total"] or 0
        pct = 100.0 * b["rows_done"] / total if total else 100.0
        state = "finished" if b["finished"] else f"batch {b['batch_size'] or '-'}"
        if b.get("slices", 1) > 1:
            state += f", {b['slices']} slices"
        throttle = f", throttled: {b['throttle']}" if b["throttle"] else ""
        console.print(
            f"  backfill {b['table']}.{b['column']}: {b['rows_done']:,}/{total:,} ({pct:.1f}%), "
            f"{state}{throttle}"
        )


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
