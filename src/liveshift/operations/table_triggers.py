"""The table's own triggers and a backfill: which of them its UPDATEs would fire, and the choice
the migration makes about them (`backfill_triggers: fire | skip`).

A backfill is an UPDATE of every row, so every UPDATE trigger of the table fires for it: a trigger
that stamps `updated_at` stamps every row, an audit trigger logs every row, and rolling the
migration back undoes neither. liveshift does not pick for the user: when such a trigger exists
the operation must say `fire` (they run, as for any UPDATE) or `skip` (the backfill and its
catch-up run with `session_replication_role = replica`, under which ordinary triggers do not fire;
the application's own writes still fire them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import TriggerChoice
from liveshift.schema import Table, Trigger

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


@dataclass(frozen=True)
class BackfillTriggers:
    """What the backfill of one column does about the table's triggers."""

    skip: bool = False
    notes: tuple[str, ...] = ()


def firing(table: Table, column: str, *, replica: bool = False) -> list[Trigger]:
    """The table's triggers (not liveshift's) that an UPDATE setting only `column` fires, in an
    ordinary session or under session_replication_role = replica."""
    return [
        t
        for t in table.triggers
        if not t.liveshift and t.fires_when_setting(column, replica=replica)
    ]


def backfill_triggers(
    table: Table, column: str, choice: TriggerChoice, probe: Probe, *, what: str
) -> BackfillTriggers:
    """Check `choice` against the triggers the backfill of `column` (physical) would fire; `what`
    names the backfill in messages ("the backfill of users.handle")."""
    fired = firing(table, column)
    if not fired:
        return BackfillTriggers()
    names = ("trigger " if len(fired) == 1 else "triggers ") + ", ".join(t.name for t in fired)
    where = f"{table.schema}.{table.name}"
    if choice is None:
        listed = "; ".join(t.describe() for t in fired)
        raise ValidationError(
            f"table {where} has {'a trigger' if len(fired) == 1 else 'triggers'} that {what} "
            f"would fire for every row it writes: "
            f"{listed}. Like any UPDATE, it would run them: a trigger that stamps a time would "
            "stamp every row, an audit trigger would log every row, and a rollback undoes neither",
            object=where,
            hint="Say which you want in the operation: `backfill_triggers: skip` writes the "
            "backfilled rows with session_replication_role = replica, so these triggers do not "
            "fire for them (the application's writes still fire them; needs a superuser or, on "
            "PostgreSQL 15+, GRANT SET ON PARAMETER session_replication_role); "
            "`backfill_triggers: fire` lets them fire.",
        )
    if choice == "fire":
        return BackfillTriggers(notes=(f"fires the table's {names} for every row",))
    still = firing(table, column, replica=True)
    if still:
        raise ValidationError(
            f"`backfill_triggers: skip` cannot keep every trigger on {where} from firing: "
            f"{'; '.join(t.describe() for t in still)} fire under session_replication_role = "
            "replica (ENABLE ALWAYS: in every session; ENABLE REPLICA: only there)",
            object=where,
            hint="Use `backfill_triggers: fire`, or set these triggers to plain ENABLE for the "
            "migration's duration.",
        )
    _may_skip(probe, what)
    return BackfillTriggers(
        skip=True,
        notes=(f"session_replication_role = replica: the table's {names} not fired",),
    )


def _may_skip(probe: Probe, what: str) -> None:
    """Refuse `skip` up front when this role may not set session_replication_role."""
    try:
        probe.check_trigger_skipping()
    except ValidationError as exc:
        raise ValidationError(
            f"`backfill_triggers: skip` for {what} needs the right to set "
            f"session_replication_role, which this role lacks ({exc.message})",
            sqlstate=exc.sqlstate,
            hint="A superuser has it; on PostgreSQL 15 and later, GRANT SET ON PARAMETER "
            "session_replication_role TO the role liveshift connects as. Or use "
            "`backfill_triggers: fire`.",
        ) from None
