"""What the linter reports: one Finding per problem, with its place in the file."""

from __future__ import annotations

from liveshift.linter.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any, ClassVar


class Severity(str):
    """Error findings fail the run (exit 1); warnings are reported but do not.

    One of two constants, `Severity.ERROR` ("error") and `Severity.WARNING` ("warning"), each a
    str equal to its text, with `.value` and `.name`, and `Severity("error")` giving the constant
    back: what the linter used of the StrEnum this was. Not an Enum because the `enum` module
    (with `functools` and `types`, which it imports) was 9 million instructions, about 2 ms, of
    every lint's start-up, and nothing else on that path imports it.
    """

    __slots__ = ()

    ERROR: ClassVar[Severity]
    WARNING: ClassVar[Severity]

    def __new__(cls, value: str) -> Severity:
        try:
            return _SEVERITIES[value]
        except KeyError:
            raise ValueError(f"{value!r} is not a valid Severity") from None

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def name(self) -> str:
        return self.value.upper()

    def __repr__(self) -> str:
        return f"<Severity.{self.name}: {self.value!r}>"


_SEVERITIES = {text: str.__new__(Severity, text) for text in ("error", "warning")}
Severity.ERROR = _SEVERITIES["error"]
Severity.WARNING = _SEVERITIES["warning"]


class Finding(Record):
    """One problem in one statement: which rule, how bad, where, and the safe alternative."""

    __slots__ = ("rule", "severity", "message", "help", "file", "line", "column", "statement")  # noqa: RUF023 - field order

    def __init__(
        self,
        rule: str,
        severity: Severity,
        message: str,
        help: str,
        file: str | None = None,
        line: int = 1,
        column: int = 1,
        statement: int | None = None,  # 0-based index of the statement in its source, if any
    ) -> None:
        self.rule = rule
        self.severity = severity
        self.message = message
        self.help = help
        self.file = file
        self.line = line
        self.column = column
        self.statement = statement

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_row(self) -> tuple[Any, ...]:
        """The fields as plain values, for sending to another process (see from_row)."""
        return (
            self.rule, self.severity.value, self.message, self.help, self.file, self.line,
            self.column, self.statement,
        )  # fmt: skip

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Finding:
        rule, severity, *rest = row
        return cls(rule, Severity(severity), *rest)

    def location(self) -> str:
        return f"{self.file or '<string>'}:{self.line}:{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "help": self.help,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "statement": self.statement,
        }
