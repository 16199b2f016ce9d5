"""Lock tracing on PostgreSQL: run statements in a scratch database and read pg_locks around each.

The PostgreSQL half of `liveshift lint --trace` (liveshift.linter.trace parses, orders and
renders; this module talks to the server). Imported only when --trace is given, so a plain lint
never loads psycopg.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
from psycopg import conninfo, sql

from liveshift.errors import DatabaseError
from liveshift.linter.source import Source, Statement
from liveshift.linter.trace import FileTrace, StatementTrace, is_non_transactional

_USER_RELATIONS = """
    select c.oid, n.nspname, c.relname, c.relkind, c.relfilenode
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'
"""
_MY_LOCKS = """
    select relation, mode from pg_locks
    where pid = pg_backend_pid() and locktype = 'relation' and granted and relation is not null
"""
_MY_SEQ_SCANS = "select relid, seq_scan from pg_stat_xact_user_tables"


class Tracer:
    """Runs statements on one connection to a scratch database and diffs the catalog around each."""

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.conn = conn
        self.in_block = False

    def _query(self, query: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(query.encode()).fetchall()

    def _relations(self) -> dict[int, tuple[str, str, int]]:
        out = {}
        for oid, schema, name, kind, filenode in self._query(_USER_RELATIONS):
            label = name if schema == "public" else f"{schema}.{name}"
            out[int(oid)] = (label, kind, int(filenode))
        return out

    def _locks(self) -> set[tuple[int, str]]:
        return {(int(oid), mode) for oid, mode in self._query(_MY_LOCKS)}

    def _scans(self) -> dict[int, int]:
        return {int(oid): int(count or 0) for oid, count in self._query(_MY_SEQ_SCANS)}

    def run(self, source: Source, statements: list[Statement]) -> list[StatementTrace]:
        traces: list[StatementTrace] = []
        open_block: list[tuple[StatementTrace, float]] = []  # statements of the file's transaction
        aborted = False
        for statement in statements:
            line, column = source.position(statement.start)
            text = source.snippet(statement)
            trace = StatementTrace(
                statement.index, line, column, text, in_transaction=self.in_block
            )
            if statement.kind == "TransactionStmt":
                kind = statement.node.get("kind", "")
                if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START") and not self.in_block:
                    self.conn.execute(b"BEGIN")
                    self.in_block, aborted = True, False
                elif kind in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK") and self.in_block:
                    self.conn.execute(b"ROLLBACK" if aborted or "ROLLBACK" in kind else b"COMMIT")
                    now = time.perf_counter()
                    for held, started in open_block:
                        held.held_ms = round((now - started) * 1000, 3)
                    open_block.clear()
                    self.in_block = False
                traces.append(trace)
                continue
            if aborted:
                trace.skipped = True
                trace.error = "not run: an earlier statement in its transaction failed"
                traces.append(trace)
                continue
            if not self.in_block and is_non_transactional(statement):
                self._run_outside(statement, text, trace)
            else:
                started = self._run_observed(statement, text, trace)
                if self.in_block:
                    if trace.error:
                        aborted = True
                    else:
                        open_block.append((trace, started))
            traces.append(trace)
        if self.in_block:  # the file never committed: its locks are held to the end
            self.conn.execute(b"ROLLBACK")
            now = time.perf_counter()
            for held, started in open_block:
                held.held_ms = round((now - started) * 1000, 3)
            self.in_block = False
        return traces

    def _run_observed(self, statement: Statement, text: str, trace: StatementTrace) -> float:
        own_transaction = not self.in_block
        if own_transaction:
            self.conn.execute(b"BEGIN")
        relations = self._relations()
        locks = self._locks()
        scans = self._scans()
        started = time.perf_counter()
        try:
            self.conn.execute(text.encode())
        except psycopg.Error as exc:
            trace.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            trace.error = (exc.diag.message_primary or str(exc)).strip()
            trace.sqlstate = exc.sqlstate
            if own_transaction:
                self.conn.execute(b"ROLLBACK")
            return started
        finished = time.perf_counter()
        trace.duration_ms = round((finished - started) * 1000, 3)
        after = self._relations()
        names = {oid: info[0] for oid, info in {**after, **relations}.items()}
        for oid, mode in sorted(self._locks() - locks):
            if oid in names:
                trace.locks.append((names[oid], mode))
        trace.rewritten = _rewritten(relations, after)
        after_scans = self._scans()
        trace.scanned = sorted(
            names[oid]
            for oid, count in after_scans.items()
            if count > scans.get(oid, 0) and oid in names
        )
        if own_transaction:
            self.conn.execute(b"COMMIT")
            trace.held_ms = round((time.perf_counter() - started) * 1000, 3)
        return started

    def _run_outside(self, statement: Statement, text: str, trace: StatementTrace) -> None:
        relations = self._relations()
        trace.locks_observed = False
        started = time.perf_counter()
        try:
            self.conn.execute(text.encode())
        except psycopg.Error as exc:
            trace.error = (exc.diag.message_primary or str(exc)).strip()
            trace.sqlstate = exc.sqlstate
        trace.duration_ms = trace.held_ms = round((time.perf_counter() - started) * 1000, 3)
        trace.rewritten = _rewritten(relations, self._relations())


def _rewritten(
    before: dict[int, tuple[str, str, int]], after: dict[int, tuple[str, str, int]]
) -> list[str]:
    """Tables and materialized views whose storage file changed: they were rewritten."""
    out = []
    for oid, (name, kind, filenode) in before.items():
        now = after.get(oid)
        if kind in ("r", "m") and now is not None and now[2] != filenode:
            out.append(name)
    return sorted(out)


# -- scratch databases -----------------------------------------------------------------------


def _with_dbname(url: str, dbname: str) -> str:
    params: dict[str, Any] = dict(conninfo.conninfo_to_dict(url))
    params["dbname"] = dbname
    return conninfo.make_conninfo("", **params)


class ScratchDatabase:
    """A database created for one trace on the server of `admin_url`, dropped afterwards."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"liveshift_trace_{uuid.uuid4().hex[:12]}"
        self.url = _with_dbname(admin_url, self.name)

    def __enter__(self) -> ScratchDatabase:
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(self.name)))
        except psycopg.Error as exc:
            raise DatabaseError(
                f"Cannot create the scratch database for --trace: {exc}".strip(),
                sqlstate=getattr(exc, "sqlstate", None),
                hint="The role needs CREATEDB on that server; or trace against the embedded "
                "server by leaving out --database-url.",
            ) from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(self.name))
            )


def copy_schema(
    source_url: str,
    target: psycopg.Connection[tuple[Any, ...]],
    tables: list[str],
    functions: list[str] | None = None,
) -> None:
    """Recreate the named tables (columns, constraints, indexes; no rows) from the source database.

    The DDL is rebuilt from the catalog with PostgreSQL's own deparsers (format_type,
    pg_get_constraintdef, pg_get_indexdef), so no pg_dump binary of a matching version is needed.
    Tables the source does not have are skipped: the migration may be what creates them.
    Functions named in `functions` (trigger functions the migration attaches) are copied too.
    """
    with psycopg.connect(source_url) as source:
        # Named tables, and the tables of named indexes (DROP INDEX names only the index).
        found = source.execute(
            """
            select distinct c.oid, n.nspname, c.relname from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            where c.relkind in ('r', 'p') and pg_table_is_visible(c.oid)
              and (c.relname = any(%s) or c.oid in (
                  select i.indrelid from pg_index i join pg_class ic on ic.oid = i.indexrelid
                  where ic.relname = any(%s) and pg_table_is_visible(ic.oid)))
            """,
            (tables, tables),
        ).fetchall()
        ddl: list[str] = [
            str(row[0])
            for row in source.execute(
                "select pg_get_functiondef(p.oid) from pg_proc p where p.proname = any(%s)"
                " and pg_function_is_visible(p.oid) and p.prokind = 'f'",
                (functions or [],),
            )
        ]
        later: list[str] = []
        copied = {int(oid) for oid, _s, _n in found}
        for oid, schema, name in found:
            qualified = f'"{schema}"."{name}"'
            ddl.append(f'create schema if not exists "{schema}"')
            for (enum_ddl,) in source.execute(_ENUMS, (oid,)).fetchall():
                ddl.append(enum_ddl)
            columns = source.execute(_COLUMNS, (oid,)).fetchall()
            body = ", ".join(row[0] for row in columns)
            ddl.append(f"create table {qualified} ({body})")
            for contype, definition, conname, refers in source.execute(_CONSTRAINTS, (oid,)):
                if contype == "f" and int(refers) not in copied:
                    continue
                statement = f'alter table {qualified} add constraint "{conname}" {definition}'
                (later if contype == "f" else ddl).append(statement)
            for (index_ddl,) in source.execute(_INDEXES, (oid,)):
                ddl.append(index_ddl)
    for statement in [*ddl, *later]:
        try:
            target.execute(statement.encode())
        except psycopg.errors.DuplicateObject:
            continue


_ENUMS = """
    select distinct format('do $$ begin create type %%I.%%I as enum (%%s); exception when duplicate_object then null; end $$',
        tn.nspname, t.typname,
        (select string_agg(quote_literal(e.enumlabel), ', ' order by e.enumsortorder)
         from pg_enum e where e.enumtypid = t.oid))
    from pg_attribute a join pg_type t on t.oid = a.atttypid
    join pg_namespace tn on tn.oid = t.typnamespace
    where a.attrelid = %s and a.attnum > 0 and not a.attisdropped and t.typtype = 'e'
"""
_COLUMNS = """
    select format('%%I %%s', a.attname, format_type(a.atttypid, a.atttypmod))
        || case when a.attidentity = 'a' then ' generated always as identity'
                when a.attidentity = 'd' then ' generated by default as identity'
                -- a serial's sequence is not copied: an identity numbers new rows the same way
                when pg_get_expr(d.adbin, d.adrelid) like 'nextval(%%'
                then ' generated by default as identity' else '' end
        || case when a.attgenerated = 's'
                then ' generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored'
                when d.adbin is not null and pg_get_expr(d.adbin, d.adrelid) not like 'nextval(%%'
                then ' default ' || pg_get_expr(d.adbin, d.adrelid) else '' end
        || case when a.attnotnull and a.attidentity = '' then ' not null' else '' end
    from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = %s and a.attnum > 0 and not a.attisdropped
    order by a.attnum
"""
_CONSTRAINTS = """
    select contype, pg_get_constraintdef(oid), conname, confrelid from pg_constraint
    where conrelid = %s and contype in ('p', 'u', 'c', 'f', 'x')
    order by contype = 'p' desc, conname
"""
_INDEXES = """
    select pg_get_indexdef(i.indexrelid) from pg_index i
    where i.indrelid = %s and not exists
        (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.conrelid = i.indrelid)
"""


def trace_statements(
    source: Source, statements: list[Statement], admin_url: str, schema_url: str | None
) -> FileTrace:
    """Run `statements` in a new scratch database on the server of `admin_url`, dropped after.

    With `schema_url`, the tables (and trigger functions) the statements use are copied first,
    empty, from that database, so the traced statements find them as in production.
    """
    from liveshift.linter.trace import referenced_tables, trigger_functions

    with (
        ScratchDatabase(admin_url) as scratch,
        psycopg.connect(scratch.url, autocommit=True) as conn,
    ):
        if schema_url:
            copy_schema(
                schema_url, conn, referenced_tables(statements), trigger_functions(statements)
            )
        version = int(conn.info.server_version)
        traces = Tracer(conn).run(source, statements)
    return FileTrace(source.name or "<string>", version, traces)
