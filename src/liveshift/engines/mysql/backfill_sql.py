"""MySQL / MariaDB's backfill statements: keyset batches on the primary key (or a unique NOT NULL
key), slice boundaries, the batch's session settings and verification (engines/backfill.py).

Every batch UPDATE names its rows by a closed key range and the backfill's own condition, never by
LIMIT or ORDER BY: the same statement selects the same rows on a replica that applies it as a
statement (binlog_format=STATEMENT or MIXED), and running it twice changes nothing the second time
(`where` is typically `col IS NULL`). UPDATE has no RETURNING here, so the batch's last key is read
first, by a plain SELECT ... LIMIT in the batch's transaction, and the UPDATE then covers the range
up to it. InnoDB has no physical row address a statement can name (no ctid), so a table without a
usable key is refused.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from liveshift.engines.backfill import BatchSettings, Planned, VerifyBatch
from liveshift.engines.base import Connection
from liveshift.engines.mysql.introspect import quote_name
from liveshift.engines.mysql.server import ServerInfo, server_info, statement_timeout_variable
from liveshift.errors import ConfigError, ValidationError
from liveshift.plan import Backfill

# A marker the load sample (monitor.py) recognises liveshift's own statements by in PROCESSLIST:
# MySQL has no application_name a query can see (program_name is in performance_schema only).
MARKER = "/* liveshift backfill */"

# The user variable the engine's sync triggers can test to know a row is written by the backfill
# (PostgreSQL's liveshift.backfill setting). User variables replicate with the statements that
# read them, also under statement-based replication.
BACKFILL_VARIABLE = "@liveshift_backfill"

# Integer types under the names the controller's dense-key path knows (smallint, integer, bigint).
_INTEGERS = {
    "tinyint": "smallint",
    "smallint": "smallint",
    "mediumint": "integer",
    "int": "integer",
    "integer": "integer",
    "bigint": "bigint",
}
_BINARY = {"binary", "varbinary"}
_UNUSABLE = {"blob", "tinyblob", "mediumblob", "longblob", "text", "tinytext", "mediumtext"}
_UNUSABLE |= {"longtext", "json", "geometry", "point", "float", "double", "real"}

NO_PAGES = (
    "InnoDB has no physical row address a statement can name (no ctid): a table is backfilled "
    "by a primary key or a unique NOT NULL key only"
)


def table_of(spec: Backfill) -> str:
    return f"{quote_name(spec.schema)}.{quote_name(spec.table)}"


def update(spec: Backfill, condition: str) -> str:
    """The batch UPDATE of the rows meeting `condition` (which carries %s parameters: a literal %
    in user SQL is doubled). No LIMIT and no ORDER BY: the rows are named by the condition."""
    expression = spec.expression.replace("%", "%%")
    where = spec.where.replace("%", "%%")
    return (
        f"{MARKER} update {table_of(spec)} set {quote_name(spec.column)} = ({expression}) "
        f"where {condition} and ({where})"
    )


def after_condition(key: Sequence[str]) -> str:
    """`(k1, k2, ...) > (%s, %s, ...)` spelled out, with a leading `k1 >= %s` the optimizer can
    take as a range on the key's first column (row comparisons are not range-optimised by every
    MySQL/MariaDB version). Parameters: the key values, then the key values again, then the first
    key value (see after_params)."""
    return _lexicographic(key, ">")


def upto_condition(key: Sequence[str]) -> str:
    """`(k1, k2, ...) <= (%s, ...)` spelled out, as after_condition."""
    return _lexicographic(key, "<=")


def _lexicographic(key: Sequence[str], op: str) -> str:
    names = [quote_name(k) for k in key]
    strict = op.rstrip("=")  # the comparison on every column but the last
    terms = []
    for i, name in enumerate(names):
        equal = [f"{n} = %s" for n in names[:i]]
        last = op if i == len(names) - 1 else strict
        terms.append("(" + " and ".join([*equal, f"{name} {last} %s"]) + ")")
    bound = ">=" if op.startswith(">") else "<="
    return f"({names[0]} {bound} %s and ({' or '.join(terms)}))"


def bound_params(values: Sequence[Any]) -> list[Any]:
    """The parameters of after_condition / upto_condition for one key value."""
    params: list[Any] = [values[0]]
    for i in range(len(values)):
        params.extend(values[: i + 1])
    return params


class _Codec:
    """Key values as text (checkpoints are text) and back as parameters of the key's type, so an
    integer key is compared as an integer (a string compared with an integer column is compared
    as a double, which loses bigints past 2**53) and a binary key byte for byte."""

    def __init__(self, type_name: str) -> None:
        base = type_name.split("(")[0].split()[0].lower()
        self.binary = base in _BINARY
        self.integer = base in _INTEGERS
        self.decimal = base in ("decimal", "numeric")

    def text(self, value: Any) -> str:
        if isinstance(value, bytes | bytearray):
            return bytes(value).hex()
        if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
            return str(value)
        return str(value)

    def param(self, text: str) -> Any:
        if self.binary:
            return bytes.fromhex(text)
        if self.integer:
            return int(text)
        if self.decimal:
            return Decimal(text)
        return text


def _codecs(types: Sequence[str]) -> list[_Codec]:
    return [_Codec(t) for t in types]


def _params(codecs: Sequence[_Codec], texts: Sequence[str]) -> list[Any]:
    return [c.param(t) for c, t in zip(codecs, texts, strict=True)]


def _texts(codecs: Sequence[_Codec], row: Sequence[Any]) -> list[str]:
    return [c.text(v) for c, v in zip(codecs, row, strict=True)]


def usable_key(conn: Connection, schema: str, table: str) -> list[str]:
    """The key a backfill walks: the primary key, else the unique key of fewest columns whose
    columns are all NOT NULL and whole (no prefix index). A table with neither is refused."""
    rows = conn.execute(
        "select s.index_name, s.column_name, s.sub_part, c.is_nullable "
        "from information_schema.statistics s join information_schema.columns c "
        "on c.table_schema = s.table_schema and c.table_name = s.table_name "
        "and c.column_name = s.column_name "
        "where s.table_schema = %s and s.table_name = %s and s.non_unique = 0 "
        "order by s.index_name = 'PRIMARY' desc, s.index_name, s.seq_in_index",
        (schema, table),
    ).fetchall()
    if not rows:
        exists = conn.execute(
            "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
            (schema, table),
        ).fetchone()
        if exists is None:
            raise ValidationError(f"table {schema}.{table} does not exist")
    indexes: dict[str, list[str]] = {}
    usable: dict[str, bool] = {}
    for index, column, sub_part, nullable in rows:
        indexes.setdefault(index, []).append(column)
        usable[index] = usable.get(index, True) and sub_part is None and nullable == "NO"
    candidates = [name for name in indexes if usable[name]]
    if "PRIMARY" in candidates:
        return indexes["PRIMARY"]
    if candidates:
        best = min(candidates, key=lambda name: (len(indexes[name]), name))
        return indexes[best]
    raise ValidationError(
        f"table {schema}.{table} has no primary key and no unique key on NOT NULL columns: "
        "liveshift cannot backfill it in batches",
        hint=f"{NO_PAGES}. Add a primary key (ALTER TABLE ... ADD PRIMARY KEY, online with "
        "ALGORITHM=INPLACE, LOCK=NONE) or a unique index on NOT NULL columns first.",
    )


class MySQLBackfillSql:
    """The BackfillSql of MySQL / MariaDB (engines/backfill.py)."""

    # No page walk on InnoDB: the controller asks for it only when the spec has no key, and every
    # method that would walk pages refuses with NO_PAGES.
    page_key: tuple[list[str], list[str]] = (["(no row address)"], ["none"])

    def __init__(self) -> None:
        self._info: ServerInfo | None = None

    def _server(self, conn: Connection) -> ServerInfo:
        # One flavour for every connection of a backfill; asked once (a race only asks twice).
        if self._info is None:
            self._info = server_info(conn)
        return self._info

    def _refuse_pages(self, key: Sequence[str]) -> None:
        if list(key) == self.page_key[0] or not key:
            raise ValidationError(
                "this table has no usable key for a batched backfill on MySQL/MariaDB",
                hint=NO_PAGES,
            )

    def watch_client(self, conn: Connection) -> None:
        # Nothing to set: the server sees a dead client's socket close at once (the kernel closes
        # it with the process) and rolls its transaction back; a vanished machine is left to the
        # server's own TCP keepalive, which a session cannot change.
        return None

    def key_types(self, conn: Connection, spec: Backfill, key: list[str]) -> list[str]:
        self._refuse_pages(key)
        rows = conn.execute(
            "select column_name, data_type, column_type from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            (spec.schema, spec.table),
        ).fetchall()
        found = {str(name): (str(data).lower(), str(full)) for name, data, full in rows}
        types = []
        for k in key:
            if k not in found:
                raise ValidationError(f"table {spec.schema}.{spec.table} has no column {k!r}")
            data, full = found[k]
            if data in _UNUSABLE:
                raise ValidationError(
                    f"column {k!r} ({full}) cannot be walked as a backfill key",
                    hint="Use a primary key or a unique NOT NULL key of integer, decimal, "
                    "string, binary or date/time columns.",
                )
            # integers under the neutral names, `unsigned` dropped (Python ints are unbounded)
            types.append(_INTEGERS.get(data, full))
        return types

    def estimate_rows(self, conn: Connection, spec: Backfill) -> int:
        # InnoDB's TABLE_ROWS is a sampled estimate (it may be off by 40-50%); progress only.
        row = conn.execute(
            "select table_rows from information_schema.tables "
            "where table_schema = %s and table_name = %s",
            (spec.schema, spec.table),
        ).fetchone()
        estimate = int(row[0]) if row and row[0] is not None else 0
        if estimate > 0:
            return estimate
        counted = conn.execute(f"select count(*) from {table_of(spec)}").fetchone()
        return int(counted[0]) if counted else 0

    def upper_bound(self, conn: Connection, spec: Backfill, key: list[str]) -> list[str] | None:
        self._refuse_pages(key)
        codecs = _codecs(self.key_types(conn, spec, key))
        desc = ", ".join(f"{quote_name(k)} desc" for k in key)
        names = ", ".join(quote_name(k) for k in key)
        row = conn.execute(
            f"select {names} from {table_of(spec)} order by {desc} limit 1"
        ).fetchone()
        return _texts(codecs, row) if row else None

    def min_key(self, conn: Connection, spec: Backfill, key: str) -> int | None:
        row = conn.execute(f"select min({quote_name(key)}) from {table_of(spec)}").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def key_boundaries(
        self, conn: Connection, spec: Backfill, key: list[str], count: int, sample_pages: int
    ) -> list[list[str]]:
        # No TABLESAMPLE here: the key index is read whole, keeping each row with a probability
        # that gives about `sample_pages` pages' worth of rows (InnoDB's 16 kB pages hold ~100
        # small rows), and the server sorts the sample and returns only the boundaries (window
        # functions: MariaDB 10.2, MySQL 8.0). RAND() is fine here: a SELECT is not replicated.
        codecs = _codecs(self.key_types(conn, spec, key))
        names = ", ".join(quote_name(k) for k in key)
        rows = max(self.estimate_rows(conn, spec), 1)
        fraction = min(1.0, sample_pages * 100 / rows)
        sample = "" if fraction >= 1.0 else f" where rand() < {fraction:.6f}"
        aliases = ", ".join(f"_ls_k{i}" for i in range(len(key)))
        selected = ", ".join(f"{quote_name(k)} as _ls_k{i}" for i, k in enumerate(key))
        # Row n of c closes run j when n * count / c reaches j (integer division).
        # (Aliases of their own: a key column may be called n or c.)
        found = conn.execute(
            f"select {aliases} from (select {selected}, "
            f"row_number() over (order by {names}) as _ls_n, count(*) over () as _ls_c "
            f"from {table_of(spec)}{sample}) s "
            "where _ls_n < _ls_c and _ls_n * %s div _ls_c > (_ls_n - 1) * %s div _ls_c "
            "order by _ls_n",
            (count, count),
        ).fetchall()
        return [_texts(codecs, r) for r in found]

    def rows_per_page(self, conn: Connection, spec: Backfill) -> float:
        raise ValidationError("no page walk on MySQL/MariaDB", hint=NO_PAGES)

    def begin_batch(self, conn: Connection, settings: BatchSettings) -> None:
        if settings.skip_triggers:
            raise ConfigError(
                "`backfill_triggers: skip` is not possible on MySQL/MariaDB: a session cannot "
                "turn a table's triggers off",
                hint=f"The engine's own triggers test {BACKFILL_VARIABLE}; leave "
                "backfill_triggers at its default.",
            )
        # Session, not transaction-local (MySQL has no SET LOCAL): the lane's connection runs
        # only batches, and every batch sets them again. innodb_lock_wait_timeout takes whole
        # seconds, at least 1. synchronous_commit has no per-session equivalent here
        # (innodb_flush_log_at_trx_commit is global): it is left to the server.
        lock_wait_s = max(1, math.ceil(settings.row_lock_timeout_ms / 1000))
        assignments = [f"{BACKFILL_VARIABLE} = 1", f"innodb_lock_wait_timeout = {lock_wait_s}"]
        variable, unit_s = statement_timeout_variable(self._server(conn))
        if settings.statement_timeout_ms and variable == "max_statement_time":
            # MariaDB bounds any statement, the UPDATE included. MySQL's max_execution_time
            # bounds read-only SELECTs only: there the UPDATE is bounded by the lock wait alone.
            seconds = settings.statement_timeout_ms / 1000
            assignments.append(f"{variable} = {seconds / unit_s:g}")
        conn.execute("set " + ", ".join(assignments))

    def end_batches(self, conn: Connection) -> None:
        """Give the session back the server's settings after the last batch: begin_batch's are
        session-wide here, and a connection that goes on to run other steps (the runner's own,
        with one worker) must not keep a statement timeout or the backfill's marker variable."""
        variable, _ = statement_timeout_variable(self._server(conn))
        conn.execute(
            f"set {BACKFILL_VARIABLE} = null, innodb_lock_wait_timeout = default, "
            f"{variable} = default"
        )

    def keyset_batch(
        self,
        conn: Connection,
        spec: Backfill,
        key: list[str],
        types: list[str],
        after: list[str] | None,
        upper: list[str],
        size: int,
    ) -> Planned | None:
        # The batch's last key first (a consistent read of the key index, no locks), then one
        # UPDATE of the closed range (after, last]: its rows do not depend on LIMIT or on the
        # order a replica reads them in.
        self._refuse_pages(key)
        codecs = _codecs(types)
        names = ", ".join(quote_name(k) for k in key)
        conditions = [upto_condition(key)]
        past: list[Any] = []
        if after is not None:
            conditions.insert(0, after_condition(key))
            past = bound_params(_params(codecs, after))
        up = bound_params(_params(codecs, upper))
        in_range = " and ".join(conditions)
        found = conn.execute(
            f"{MARKER} select {names} from {table_of(spec)} where {in_range} "
            f"order by {names} limit 1 offset %s",
            [*past, *up, size - 1],
        ).fetchone()
        if found is not None:
            scanned, last = size, _texts(codecs, found)
        else:  # the last, partial batch: it runs to the upper bound
            counted = conn.execute(
                f"{MARKER} select count(*) from {table_of(spec)} where {in_range}", [*past, *up]
            ).fetchone()
            scanned, last = (int(counted[0]) if counted else 0), list(upper)
            if scanned == 0:
                return None
        to_last = bound_params(_params(codecs, last))
        return Planned(update(spec, in_range), [*past, *to_last], last, scanned)

    def range_batch(self, spec: Backfill, key: str, start: int, end: int) -> Planned:
        column = quote_name(key)
        return Planned(
            update(spec, f"{column} > %s and {column} <= %s"), [start, end], [str(end)], None
        )

    def page_batch(self, spec: Backfill, first: int, end: int, rows_per_page: float) -> Planned:
        raise ValidationError("no page walk on MySQL/MariaDB", hint=NO_PAGES)

    def bad_condition(self, spec: Backfill, recompute: bool) -> str:
        column = quote_name(spec.column)
        if recompute:
            condition = f"not ({column} <=> ({spec.expression}))"
        else:
            condition = f"({spec.where}) and ({spec.expression}) is not null"
        return condition.replace("%", "%%")

    def verify_keyset(
        self,
        conn: Connection,
        spec: Backfill,
        key: list[str],
        types: list[str],
        bad: str,
        after: list[str] | None,
        rows: int,
        sample: int,
    ) -> VerifyBatch:
        codecs = _codecs(types)
        names = ", ".join(quote_name(k) for k in key)
        where = f"where {after_condition(key)}" if after is not None else ""
        params: list[Any] = bound_params(_params(codecs, after)) if after is not None else []
        found = conn.execute(
            f"{MARKER} select {names}, ({bad}) from {table_of(spec)} {where} "
            f"order by {names} limit %s",
            [*params, rows],
        ).fetchall()
        width = len(key)
        wrong = [r for r in found if r[width]]
        last = _texts(codecs, found[-1][:width]) if found else None
        shown = [",".join(_texts(codecs, r[:width])) for r in wrong[:sample]]
        return VerifyBatch(len(found), len(wrong), shown, last)

    def verify_pages_plan(self, conn: Connection, spec: Backfill) -> tuple[int, float]:
        raise ValidationError("no page walk on MySQL/MariaDB", hint=NO_PAGES)

    def verify_pages(
        self, conn: Connection, spec: Backfill, bad: str, first: int, end: int, sample: int
    ) -> VerifyBatch:
        raise ValidationError("no page walk on MySQL/MariaDB", hint=NO_PAGES)
