"""What a sync trigger costs the backfill's own UPDATE: one `UPDATE bench SET col = expr` over a
1,000,000-row table, with no trigger, with liveshift's add_column triggers exactly as it installs
them while the backfill runs (an INSERT trigger and the AFTER UPDATE trigger of the change log) and
after it (the BEFORE UPDATE trigger in its place), with the single trigger of earlier versions, and
with a disabled BEFORE UPDATE trigger.

    .venv/bin/python bench/trigger_cost.py [--database-url URL] [--rows 1000000] [--rounds 3]

The backfill sets `liveshift.backfill = on` and writes the value itself, so a trigger should cost
it nothing. This shows what it does cost: PostgreSQL locks each row for a BEFORE UPDATE row
trigger before it looks at the trigger's WHEN clause or whether it is enabled at all, so any such
trigger on the table costs the backfill a row lock per row, which is why liveshift keeps it off the
table until the backfill is done and logs old clients' updates instead. It also times the alternative to a trigger during the backfill: a second pass afterwards
that finds the rows whose value no longer matches `up`. Each variant runs on its own fresh copy (CREATE DATABASE ... TEMPLATE), in rotation, and
the ratio of medians against the trigger-less UPDATE of the same run is printed. Last, what
each set of triggers costs an old client's own single-row UPDATEs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from backfill import on_server, rotation_arguments, with_db  # bench/backfill.py, beside this script
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.progress import Reporter

UP = "v * 2 + length(payload)"
TEMP = "_ls_new_w"
EARLIER = (
    "create trigger _ls_earlier before insert or update on bench for each row "
    "when (current_setting('liveshift.backfill', true) is distinct from 'on') "
    "execute function {function}()"
)
DISABLED = (
    "create trigger _ls_disabled before update on bench for each row execute function "
    "{function}();\nalter table bench disable trigger _ls_disabled"
)


def liveshift_triggers(url: str) -> tuple[str, str, list[str], str]:
    """Start the real migration on a small table and read back the function and triggers that
    liveshift installed: (function name, CREATE FUNCTION, [CREATE TRIGGER, ...], and the SQL
    that installs what the table carries while the backfill runs, the column left out)."""
    migration = Migration.from_dict(
        {
            "operations": [
                {
                    "add_column": {
                        "table": "bench",
                        "column": {"name": "w", "type": "bigint", "nullable": False},
                        "up": UP,
                    }
                }
            ]
        },
        name="bench_triggers",
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table bench (id bigint primary key, v int not null, payload text)")
        conn.execute("insert into bench select i, i, md5(i::text) from generate_series(1, 100) i")
    migrator = Migrator(url, reporter=Reporter())
    expand = migrator.plan(migration).start[0].sql
    during_backfill = expand.split(";\n", 1)[1]  # after ALTER TABLE ... ADD COLUMN
    migrator.start(migration)
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "select t.tgfoid::regproc::text, pg_get_functiondef(t.tgfoid), pg_get_triggerdef(t.oid) "
            "from pg_trigger t where t.tgrelid = 'bench'::regclass and not t.tgisinternal "
            "order by t.tgname"
        ).fetchall()
    assert rows, "liveshift installed no trigger"
    return rows[0][0], rows[0][1], [row[2] for row in rows], during_backfill


@contextmanager
def database(admin: str, name: str, template: str | None = None) -> Iterator[str]:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
        create = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            create += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(create)
    try:
        yield with_db(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def main(argv: list[str] | None = None) -> int:
    return on_server(rotation_arguments(__doc__, 1_000_000).parse_args(argv), run)


def run(args: argparse.Namespace, admin: str) -> int:
    with database(admin, "ls_trigger_capture") as url:
        function, function_sql, triggers, during_backfill = liveshift_triggers(url)
    variants = {
        "no trigger (the physical limit)": [],
        "liveshift during the backfill (INSERT; AFTER UPDATE to the change log)": [during_backfill],
        "liveshift after it (INSERT; BEFORE UPDATE when the column is unchanged)": triggers,
        "earlier: one trigger, WHEN current_setting(...)": [EARLIER.format(function=function)],
        "a disabled BEFORE UPDATE trigger": [DISABLED.format(function=function)],
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    catch_up: list[float] = []
    with database(admin, "ls_trigger_source") as source:
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("create table bench (id bigint primary key, v int not null, payload text)")
            conn.execute(
                "insert into bench select i, i %% 1000, md5(i::text) from generate_series(1, %s) i",
                (args.rows,),
            )
            conn.execute("vacuum analyze bench")
            conn.execute(f"alter table bench add column {TEMP} bigint")
            conn.execute(function_sql)
        for round_ in range(args.rounds):
            names = list(variants)
            if round_ % 2:  # alternate the order: no variant always follows the same one
                names.reverse()
            for name in names:
                with (
                    database(admin, "ls_trigger_run", template="ls_trigger_source") as url,
                    psycopg.connect(url, autocommit=True) as conn,
                ):
                    for statement in variants[name]:
                        conn.execute(statement)
                    conn.execute("checkpoint")
                    conn.execute("set liveshift.backfill = on")  # as the backfill's batches do
                    began = time.monotonic()
                    conn.execute(f"update bench set {TEMP} = {UP}")
                    times[name].append(time.monotonic() - began)
                    if not variants[name]:
                        # The alternative to the trigger: backfill without it, then catch up on
                        # the rows old clients changed meanwhile (here none) in a second pass.
                        began = time.monotonic()
                        conn.execute(
                            f"update bench set {TEMP} = {UP} where {TEMP} is distinct from ({UP})"
                        )
                        catch_up.append(time.monotonic() - began)
            print(".", end="", flush=True)
    print()
    base = statistics.median(times["no trigger (the physical limit)"])
    server = psycopg.connect(admin).info.server_version
    print(
        f"PostgreSQL {server // 10000}.{server % 100}; {args.rows:,} rows; medians of {args.rounds}"
    )
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"  {name:74s} {args.rows / median:>10,.0f} rows/s  {base / median:.3f}x")
    print(
        "  instead of a trigger, a catch-up pass after it (UPDATE ... WHERE the value differs "
        f"from up, no row differing): {statistics.median(catch_up) / base:.1%} of the UPDATE's time"
    )
    app_writes(admin, during_backfill, [function_sql, *triggers])
    return 0


def app_writes(admin: str, during_backfill: str, after: list[str], seconds: float = 1.5) -> None:
    """What the triggers cost an old client's single-row UPDATEs (one connection, as fast as it
    can, random rows of a 100,000-row table): none, the change log's, the BEFORE UPDATE trigger's;
    4 rounds in alternating order, medians."""
    variants: dict[str, list[str]] = {
        "no trigger": [],
        "while the backfill runs (the change log)": [during_backfill],
        "after it (the BEFORE UPDATE trigger)": after,
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    with database(admin, "ls_trigger_app") as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"create table bench (id bigint primary key, v int not null, payload text, {TEMP} bigint)"
        )
        conn.execute(
            "insert into bench select i, i, md5(i::text), 1 from generate_series(1, 100000) i"
        )
        conn.execute("vacuum analyze bench")
        for round_ in range(4):
            names = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for name in names:
                for statement in variants[name]:
                    conn.execute(statement)
                rng = random.Random(round_)
                done, end = 0, time.monotonic() + seconds
                while time.monotonic() < end:
                    conn.execute(
                        "update bench set payload = %s where id = %s",
                        (str(done), rng.randint(1, 100_000)),
                    )
                    done += 1
                rates[name].append(done / seconds)
                for (trigger,) in conn.execute(
                    "select tgname from pg_trigger where tgrelid = 'bench'::regclass "
                    "and not tgisinternal"
                ).fetchall():
                    conn.execute(
                        sql.SQL("drop trigger {} on bench").format(sql.Identifier(trigger))
                    )
    base = statistics.median(rates["no trigger"])
    print("an old client's single-row UPDATEs, saturated, one connection (medians of 4):")
    for name, measured in rates.items():
        median = statistics.median(measured)
        print(f"  {name:74s} {median:>10,.0f} /s    {median / base:.3f}x")


if __name__ == "__main__":
    sys.exit(main())
