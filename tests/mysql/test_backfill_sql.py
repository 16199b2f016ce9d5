"""MySQLBackfillSql on the real MariaDB: keyset batches fill exactly the rows the backfill's
condition names, in key order, resume from a checkpoint, walk composite keys, refuse tables without
a usable key, and stay deterministic (no LIMIT in the UPDATE)."""

from __future__ import annotations

import re

import pytest

from liveshift.backfill.controller import Backfiller
from liveshift.engines.backfill import BatchSettings, Planned
from liveshift.engines.mysql.backfill_sql import (
    MARKER,
    MySQLBackfillSql,
    after_condition,
    bound_params,
    usable_key,
)
from liveshift.engines.mysql.connection import MySQLConnection, connect
from liveshift.engines.mysql.monitor import MySQLMonitor
from liveshift.errors import ConfigError, ValidationError
from liveshift.plan import Backfill
from liveshift.progress import Reporter
from liveshift.settings import Settings

SETTINGS = BatchSettings(
    row_lock_timeout_ms=1500,
    skip_triggers=False,
    synchronous_commit=True,
    statement_timeout_ms=None,
)


def spec_for(
    db: str, table: str, key: tuple[str, ...] | None, expression: str = "v * 2"
) -> Backfill:
    return Backfill(db, table, "c", expression, "`c` is null", key)


def run_batches(
    conn: MySQLConnection,
    spec: Backfill,
    size: int,
    after: list[str] | None = None,
    limit: int | None = None,
) -> tuple[list[Planned], list[str] | None]:
    """Batches as the lane runs them (each in its own transaction with begin_batch), from
    `after`, at most `limit` of them. Returns the batches and the last checkpoint."""
    sql = MySQLBackfillSql()
    assert spec.key is not None
    key = list(spec.key)
    types = sql.key_types(conn, spec, key)
    upper = sql.upper_bound(conn, spec, key)
    done: list[Planned] = []
    if upper is None:
        return done, after
    while limit is None or len(done) < limit:
        with conn.transaction():
            sql.begin_batch(conn, SETTINGS)
            planned = sql.keyset_batch(conn, spec, key, types, after, upper, size)
            if planned is None:
                break
            conn.execute(planned.sql.encode(), planned.params)
            # 1592 "unsafe for statement-based replication" where a binary log is on
            assert conn.execute("show warnings").fetchall() == []
        done.append(planned)
        after = planned.last
    return done, after


def values(conn: MySQLConnection, table: str, order: str = "id") -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(f"select * from {table} order by {order}").fetchall()]


@pytest.fixture
def filled(mconn: MySQLConnection) -> MySQLConnection:
    """t(id, v, c): 100 rows with ids 3, 6, ... 300 (sparse), c already set on every 7th."""
    mconn.execute("create table t (id int primary key, v int not null, c int null)")
    rows = [(i * 3, i, -1 if i % 7 == 0 else None) for i in range(1, 101)]
    mconn.raw.cursor().executemany("insert into t values (%s, %s, %s)", rows)
    return mconn


def test_batches_fill_exactly_the_null_rows_in_key_order(filled: MySQLConnection, mysql_db: str):
    spec = spec_for(mysql_db, "t", ("id",))
    done, last = run_batches(filled, spec, size=10)
    ends = [int(p.last[0]) for p in done]
    assert ends == sorted(ends) and ends[-1] == 300 and last == ["300"]
    assert len(done) == 10 and [p.scanned for p in done] == [10] * 10
    for id_, v, c in values(filled, "t"):
        assert c == (-1 if v % 7 == 0 else v * 2), (id_, v, c)


def test_resumes_from_a_checkpoint_after_a_stop(filled: MySQLConnection, mysql_db: str):
    spec = spec_for(mysql_db, "t", ("id",))
    _, checkpoint = run_batches(filled, spec, size=15, limit=3)
    assert checkpoint == ["135"]  # 45 rows of ids 3..135
    rows = values(filled, "t")
    assert all(c is not None for id_, _, c in rows if id_ <= 135)
    assert all(c is None for id_, v, c in rows if id_ > 135 and v % 7)
    # a new run (a new process: a new MySQLBackfillSql) from the stored checkpoint
    resumed, last = run_batches(filled, spec, size=15, after=checkpoint)
    assert int(resumed[0].last[0]) > 135 and last == ["300"]
    for _, v, c in values(filled, "t"):
        assert c == (-1 if v % 7 == 0 else v * 2)


def test_a_batch_run_twice_changes_nothing_the_second_time(filled: MySQLConnection, mysql_db: str):
    spec = spec_for(mysql_db, "t", ("id",))
    done, _ = run_batches(filled, spec, size=40, limit=1)
    again = filled.execute(done[0].sql.encode(), done[0].params)
    assert again.rowcount == 0


def test_the_update_is_deterministic_for_statement_replication(
    filled: MySQLConnection, mysql_db: str
):
    # Statement-based semantics: the rows of the UPDATE are named by a closed key range and the
    # backfill's condition; no LIMIT and no ORDER BY, whose rows could differ on a replica.
    filled.execute("set session binlog_format = 'STATEMENT'")
    spec = spec_for(mysql_db, "t", ("id",))
    sql = MySQLBackfillSql()
    types = sql.key_types(filled, spec, ["id"])
    planned = sql.keyset_batch(filled, spec, ["id"], types, ["30"], ["300"], 10)
    assert planned is not None
    text = planned.sql.lower()
    assert text.startswith(MARKER + " update ")
    assert not re.search(r"\blimit\b", text) and "order by" not in text
    assert "rand(" not in text and "now(" not in text
    assert planned.params == [30, 30, 60, 60] and planned.last == ["60"]
    filled.execute(planned.sql.encode(), planned.params)
    assert filled.execute("show warnings").fetchall() == []
    filled_ids = [
        r[0] for r in filled.execute("select id from t where c is not null and c <> -1").fetchall()
    ]
    assert filled_ids == [i for i in range(33, 61, 3) if (i // 3) % 7]


def test_composite_keys_walk_in_key_order(mconn: MySQLConnection, mysql_db: str):
    # (region varchar, n bigint) with bigints past 2**53, where a string compared with an integer
    # column would be compared as a double.
    mconn.execute(
        "create table c2 (region varchar(10) not null, n bigint not null, v int not null, "
        "c int null, primary key (region, n))"
    )
    big = 2**60
    rows = [
        (r, big + i, k, None) for k, (r, i) in enumerate((r, i) for r in "bac" for i in range(7))
    ]
    mconn.raw.cursor().executemany("insert into c2 values (%s, %s, %s, %s)", rows)
    spec = spec_for(mysql_db, "c2", ("region", "n"))
    done, last = run_batches(mconn, spec, size=4)
    keys = [(p.last[0], int(p.last[1])) for p in done]
    assert keys == sorted(keys) and last == ["c", str(big + 6)]
    assert sum(p.scanned or 0 for p in done) == 21
    assert mconn.execute("select count(*) from c2 where c is null or c <> v * 2").fetchone()[0] == 0
    # a checkpoint in the middle of a region: the next batch starts right after it
    sql = MySQLBackfillSql()
    mconn.execute("update c2 set c = null")
    types = sql.key_types(mconn, spec, ["region", "n"])
    assert types == ["varchar(10)", "bigint"]
    planned = sql.keyset_batch(
        mconn, spec, ["region", "n"], types, ["a", str(big + 5)], ["c", str(big + 6)], 3
    )
    assert planned is not None and planned.last == ["b", str(big + 1)]
    mconn.execute(planned.sql.encode(), planned.params)
    set_rows = mconn.execute(
        "select region, n from c2 where c is not null order by 1, 2"
    ).fetchall()
    assert [(r, n - big) for r, n in set_rows] == [("a", 6), ("b", 0), ("b", 1)]


def test_binary_keys_round_trip_as_hex(mconn: MySQLConnection, mysql_db: str):
    mconn.execute("create table b (id binary(16) primary key, v int not null, c int null)")
    mconn.raw.cursor().executemany(
        "insert into b values (%s, %s, null)", [(bytes([i]) * 16, i) for i in range(0, 250, 10)]
    )
    spec = spec_for(mysql_db, "b", ("id",))
    done, last = run_batches(mconn, spec, size=7)
    assert last == [(bytes([240]) * 16).hex()] and len(done) == 4
    assert mconn.execute("select count(*) from b where c is null").fetchone()[0] == 0


def test_the_key_a_backfill_walks(mconn: MySQLConnection, mysql_db: str):
    mconn.execute("create table pk (a int, b int, u int not null, primary key (b, a), unique (u))")
    assert usable_key(mconn, mysql_db, "pk") == ["b", "a"]
    mconn.execute(
        "create table uq (x int, y int not null, z int not null, unique (x), unique (z, y))"
    )
    assert usable_key(mconn, mysql_db, "uq") == ["z", "y"]  # x may be NULL


def test_a_table_without_a_usable_key_is_refused(mconn: MySQLConnection, mysql_db: str):
    mconn.execute(
        "create table heap (x int null, s varchar(100) not null, v int, c int, unique (x))"
    )
    mconn.execute("create index s_prefix on heap (s(10))")
    with pytest.raises(ValidationError, match="no primary key and no unique key") as refused:
        usable_key(mconn, mysql_db, "heap")
    assert "no ctid" in (refused.value.hint or "")
    # and the controller's page walk (the key of a spec without one) is refused too
    sql = MySQLBackfillSql()
    spec = spec_for(mysql_db, "heap", None)
    with pytest.raises(ValidationError, match="no usable key"):
        sql.key_types(mconn, spec, sql.page_key[0])
    with pytest.raises(ValidationError, match="no usable key"):
        sql.upper_bound(mconn, spec, sql.page_key[0])
    with pytest.raises(ValidationError):
        sql.rows_per_page(mconn, spec)
    with pytest.raises(ValidationError):
        sql.page_batch(spec, 0, 1, 1.0)
    with pytest.raises(ValidationError):
        sql.verify_pages_plan(mconn, spec)


def test_begin_batch_sets_the_session(mconn: MySQLConnection):
    sql = MySQLBackfillSql()
    settings = BatchSettings(
        row_lock_timeout_ms=200,
        skip_triggers=False,
        synchronous_commit=False,
        statement_timeout_ms=2500,
    )
    with mconn.transaction():
        sql.begin_batch(mconn, settings)
        row = mconn.execute(
            "select @@innodb_lock_wait_timeout, @@max_statement_time, @liveshift_backfill"
        ).fetchone()
    assert (int(row[0]), float(row[1]), int(row[2])) == (1, 2.5, 1)
    sql.end_batches(mconn)
    row = mconn.execute(
        "select @@innodb_lock_wait_timeout = @@global.innodb_lock_wait_timeout, "
        "@@max_statement_time = @@global.max_statement_time, @liveshift_backfill"
    ).fetchone()
    assert (int(row[0]), int(row[1]), row[2]) == (1, 1, None)
    skip = BatchSettings(200, True, True, None)
    with pytest.raises(ConfigError, match="backfill_triggers: skip"):
        sql.begin_batch(mconn, skip)


def test_estimates_boundaries_and_dense_keys(filled: MySQLConnection, mysql_db: str):
    sql = MySQLBackfillSql()
    spec = spec_for(mysql_db, "t", ("id",))
    filled.execute("analyze table t")
    assert 50 <= sql.estimate_rows(filled, spec) <= 200
    assert sql.key_types(filled, spec, ["id"]) == ["integer"]
    assert sql.min_key(filled, spec, "id") == 3
    bounds = sql.key_boundaries(filled, spec, ["id"], 4, 64)
    assert bounds == [["75"], ["150"], ["225"]]
    planned = sql.range_batch(spec, "id", 0, 30)
    assert "limit" not in planned.sql.lower()
    cursor = filled.execute(planned.sql.encode(), planned.params)
    assert cursor.rowcount == 9  # ids 3..30 but 21, already set


def test_verify_finds_wrong_rows(filled: MySQLConnection, mysql_db: str):
    spec = spec_for(mysql_db, "t", ("id",))
    run_batches(filled, spec, size=50)
    filled.execute("update t set c = 0 where id in (9, 270)")
    filled.execute("update t set c = null where id = 30")
    sql = MySQLBackfillSql()
    types = sql.key_types(filled, spec, ["id"])
    recompute = sql.bad_condition(spec, recompute=True)
    first = sql.verify_keyset(filled, spec, ["id"], types, recompute, None, 60, 5)
    # rows of v 7, 14, ... were set to -1 before the backfill: wrong by recomputation too
    assert (first.count, first.bad, first.last) == (60, 10, ["180"])
    assert first.sample == ["9", "21", "30", "42", "63"]
    second = sql.verify_keyset(filled, spec, ["id"], types, recompute, first.last, 60, 5)
    assert (second.count, second.bad, second.last) == (40, 7, ["300"])
    assert "270" in second.sample
    assert sql.verify_keyset(filled, spec, ["id"], types, recompute, ["300"], 60, 5).last is None
    missing = sql.bad_condition(spec, recompute=False)
    left = sql.verify_keyset(filled, spec, ["id"], types, missing, None, 1000, 5)
    assert (left.bad, left.sample) == (1, ["30"])


def test_lexicographic_bounds_match_row_comparison(mconn: MySQLConnection):
    # The spelled-out (a, b, c) > (x, y, z) agrees with the server's own row comparison.
    mconn.execute("create table g (a int, b int, c int)")
    mconn.raw.cursor().executemany(
        "insert into g values (%s, %s, %s)",
        [(a, b, c) for a in range(3) for b in range(3) for c in range(3)],
    )
    condition = after_condition(["a", "b", "c"])
    params = bound_params([1, 1, 1])
    ours = mconn.execute(f"select a, b, c from g where {condition} order by 1, 2, 3", params)
    theirs = mconn.execute("select a, b, c from g where (a, b, c) > (1, 1, 1) order by 1, 2, 3")
    assert ours.fetchall() == theirs.fetchall()


@pytest.mark.parametrize("workers", [1, 4])
def test_the_backfill_controller_runs_on_mariadb(
    mconn: MySQLConnection, mysql_db: str, mysql_url: str, workers: int
):
    # The engine-neutral Backfiller with this engine's statements and monitor (no migration, so
    # no state): a composite key (no dense path), sliced by key_boundaries across lanes.
    mconn.execute(
        "create table w (g int not null, n int not null, v int not null, c int null, "
        "primary key (g, n))"
    )
    mconn.execute(
        "insert into w select seq mod 7, seq, seq, if(seq mod 11 = 0, -1, null) from seq_1_to_60000"
    )
    mconn.execute("analyze table w")
    settings = Settings(workers=workers, batch_start=2_000, load_pause=0.5)
    opened: list[MySQLConnection] = []

    def another() -> MySQLConnection:
        opened.append(connect(mysql_url))
        return opened[-1]

    backfiller = Backfiller(
        mconn,
        settings,
        Reporter(),
        connect=another,
        sql=MySQLBackfillSql(),
        monitor=MySQLMonitor(),
    )
    try:
        updated = backfiller.run(spec_for(mysql_db, "w", ("g", "n")))
    finally:
        for conn in opened:
            conn.close()
    assert updated == 60_000 - 60_000 // 11
    assert len(opened) == (workers if workers > 1 else 0)
    if workers > 1:
        assert len(backfiller._slices) > 1
        # boundaries from a sample (RAND() keeps about a tenth of the rows here): ascending keys
        # near the quartiles (g runs 0..6, each ~8571 rows)
        sql = MySQLBackfillSql()
        bounds = sql.key_boundaries(mconn, spec_for(mysql_db, "w", ("g", "n")), ["g", "n"], 4, 60)
        keys = [(int(g), int(n)) for g, n in bounds]
        assert len(keys) == 3 and keys == sorted(keys)
        assert [g for g, _ in keys] == [1, 3, 5]  # rows 15000, 30000, 45000 of 60000
    row = mconn.execute("select sum(c is null), sum(c = -1), sum(c = v * 2) from w").fetchone()
    assert tuple(int(x) for x in row) == (0, 60_000 // 11, 60_000 - 60_000 // 11)
