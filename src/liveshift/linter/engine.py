"""Runs the rules over parsed statements, keeping the file's context, and applies ignore comments."""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.finding import Finding, Severity
from liveshift.linter.ignores import find_ignores
from liveshift.linter.options import DEFAULT_PG_VERSION, LintOptions
from liveshift.linter.registry import all_rules, check_excluded, rules_by_id
from liveshift.linter.rule import Rule, alter_commands
from liveshift.linter.source import Source, Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterable

    from liveshift.linter.edits import Edit

SYNTAX_ERROR = "syntax-error"
UNUSED_IGNORE = "unused-ignore"
ALTER_TABLE = "AlterTableStmt"

# A rule's hit on a statement, before ignore comments: rule, message, byte offset, statement,
# and the fix's edits when fixes were asked for.
Raw = tuple[Rule, str, int, Statement | None, "list[Edit] | None"]


class FixOffer:
    """A finding that an automatic fix removes, and the edits of that fix."""

    __slots__ = ("finding", "rule", "edits")  # noqa: RUF023 - field order

    def __init__(self, finding: Finding, rule: Rule, edits: list[Edit]) -> None:
        self.finding = finding
        self.rule = rule
        self.edits = edits


class Linter:
    """The rules of a run, indexed by the statement types they inspect."""

    def __init__(self, options: LintOptions | None = None) -> None:
        self.options = options or LintOptions()
        self.rules = {rule.id: rule for rule in all_rules()}
        check_excluded(self.options.exclude, self.rules)
        self.statements_seen = 0
        self.by_kind: dict[str, list[Rule]] = {}
        for rule in self.rules.values():
            if rule.id in self.options.exclude:
                continue
            for kind in rule.kinds:
                self.by_kind.setdefault(kind, []).append(rule)
        # The rules an ALTER TABLE needs, by its sub-command type when it has one, else by the
        # set of its sub-command types.
        self._alter_table_rules: dict[str | frozenset[str], list[Rule]] = {}

    def lint(self, source: Source, fixes: list[FixOffer] | None = None) -> list[Finding]:
        """The findings of a source, sorted by position.

        With a `fixes` list, each finding that has an automatic fix is also added to it, with
        the edits (computed only then: linting alone never pays for them).
        """
        statements, problem = source.parse()
        self.statements_seen += len(statements)
        ctx = Context(
            pg_version=self.options.pg_version,
            assume_in_transaction=self.options.assume_in_transaction,
        )
        fix_input = None
        if fixes is not None:
            from liveshift.linter.edits import FixInput

            fix_input = FixInput(source, statements)
        raw: list[Raw] = []
        by_kind = self.by_kind
        for statement in statements:
            kind = statement.kind
            rules = self._rules_for_alter(statement) if kind == ALTER_TABLE else by_kind.get(kind)
            if rules:
                for rule in rules:
                    for hit in rule.check(statement, ctx):
                        offset = statement.start if hit.offset is None else hit.offset
                        edits = None
                        if fix_input is not None and rule.fix is not None:
                            edits = rule.fix(statement, ctx, hit, fix_input)
                        raw.append((rule, hit.message, offset, statement, edits))
            ctx.advance(statement)
        findings = self._apply_ignores(source, statements, raw, fixes)
        if problem is not None and SYNTAX_ERROR not in self.options.exclude:
            rule = self.rules[SYNTAX_ERROR]
            line, column = source.position(source.char_to_byte(problem.offset))
            findings.append(
                Finding(
                    rule.id, rule.severity, problem.message[:1].upper() + problem.message[1:] + ".",
                    rule.help, source.name, line, column, None,
                )
            )  # fmt: skip
        findings.sort(key=lambda f: (f.line, f.column, f.rule))
        return findings

    def _rules_for_alter(self, statement: Statement) -> list[Rule]:
        cmds = alter_commands(statement)
        # Most ALTER TABLEs have one sub-command: its type is the key, without a frozenset.
        key = cmds[0][1] if len(cmds) == 1 else frozenset(subtype for _t, subtype, _c in cmds)
        rules = self._alter_table_rules.get(key)
        if rules is None:
            rules = list(self.by_kind.get(ALTER_TABLE, ()))
            for subtype in sorted({subtype for _table, subtype, _cmd in cmds}):
                for rule in self.by_kind.get(f"{ALTER_TABLE}:{subtype}", ()):
                    if all(rule.id != known.id for known in rules):
                        rules.append(rule)
            self._alter_table_rules[key] = rules
        return rules

    def _apply_ignores(
        self,
        source: Source,
        statements: list[Statement],
        raw: Iterable[Raw],
        fixes: list[FixOffer] | None,
    ) -> list[Finding]:
        ignores = find_ignores(source, statements)
        findings = []
        for rule, message, offset, statement, edits in raw:
            index = statement.index if statement is not None else None
            suppressed = False
            for ignore in ignores:
                if rule.id in ignore.rules and (ignore.whole_file or ignore.statement == index):
                    ignore.used.add(rule.id)
                    suppressed = True
            if suppressed:
                continue
            line, column = source.position(offset)
            finding = Finding(
                rule.id, rule.severity, message, rule.help, source.name, line, column, index
            )
            findings.append(finding)
            if fixes is not None and edits:
                fixes.append(FixOffer(finding, rule, edits))
        if UNUSED_IGNORE in self.options.exclude:
            return findings
        unused_rule = self.rules[UNUSED_IGNORE]
        for ignore in ignores:
            line, column = source.position(ignore.offset)
            if not ignore.rules:
                message = "This ignore comment names no rule; write `liveshift: ignore <rule-id>`."
                findings.append(
                    Finding(
                        unused_rule.id, unused_rule.severity, message, unused_rule.help,
                        source.name, line, column, ignore.statement,
                    )
                )  # fmt: skip
            for rule_id in ignore.rules:
                if rule_id in ignore.used or rule_id in self.options.exclude:
                    continue
                if rule_id not in self.rules:
                    from liveshift.errors import did_you_mean

                    message = f"Unknown rule {rule_id!r} in an ignore comment."
                    suggestion = did_you_mean(rule_id, self.rules)
                    if suggestion:
                        message += f" {suggestion}"
                else:
                    target = "this file" if ignore.whole_file else "the statement it covers"
                    message = f"Ignore of {rule_id!r} matched no finding in {target}."
                findings.append(
                    Finding(
                        unused_rule.id, unused_rule.severity, message, unused_rule.help,
                        source.name, line, column, ignore.statement,
                    )
                )  # fmt: skip
        return findings


def lint_sql(
    sql: str,
    *,
    file: str | None = None,
    pg_version: int = DEFAULT_PG_VERSION,
    assume_in_transaction: bool = False,
    exclude: Iterable[str] = (),
) -> list[Finding]:
    """Lint one SQL text and return its findings, sorted by position.

    `pg_version` is the major version of the target server; `assume_in_transaction` says the
    text runs inside a transaction block its own BEGIN does not show (Alembic, Django, Flyway);
    `exclude` names rules to skip.
    """
    options = LintOptions(pg_version, assume_in_transaction, frozenset(exclude))
    return Linter(options).lint(Source(sql, file))


def rule_ids() -> list[str]:
    return sorted(rules_by_id())


__all__ = ["Finding", "LintOptions", "Linter", "Severity", "lint_sql", "rule_ids"]
