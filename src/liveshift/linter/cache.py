"""Findings of files linted before, keyed by their bytes, so an unchanged migration costs a hash.

A migrations directory only grows: linting it in a pre-commit hook or in CI re-reads hundreds of
files that have not changed since the last run. Each file's findings are stored under a digest
of its bytes (and whether it is SQL or a migration file), in one JSON file per set of options
and version of the linter's code, under $LIVESHIFT_CACHE_DIR (default: the user cache directory).
Unchanged files are then not parsed at all, and a run whose files all hit the cache does not
even import the parser or the rules. `liveshift lint --no-cache` bypasses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable

from liveshift.linter.finding import Finding, Severity
from liveshift.linter.options import LintOptions

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

try:  # hashlib imports OpenSSL first (about 2 ms); BLAKE2 is built into CPython
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other Python implementations
    from hashlib import blake2b

FORMAT = 1
MAX_ENTRIES = 50_000  # beyond this, keep only the files of the current run
RACY_NS = 2_000_000_000  # FAT and some network file systems keep mtimes to 2 s
_LINTER_DIRECTORY = os.path.dirname(__file__)


def cache_directory() -> str:
    explicit = os.environ.get("LIVESHIFT_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "liveshift")


def _code_fingerprint() -> list[Any]:
    """What the findings also depend on: the linter's own modules and the installed parser."""
    stamps: list[Any] = [FORMAT, sys.version_info[:2]]
    for directory in (_LINTER_DIRECTORY, os.path.join(_LINTER_DIRECTORY, "rules")):
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".py"):
                    status = entry.stat()
                    stamps.append([entry.name, status.st_size, status.st_mtime_ns])
    import importlib.machinery

    spec = importlib.machinery.PathFinder.find_spec("pglast")
    if spec is not None and spec.origin:
        status = os.stat(spec.origin)  # pglast/__init__.py carries its version
        stamps.append([spec.origin, status.st_size, status.st_mtime_ns])
    stamps.sort(key=str)
    return stamps


class LintCache:
    """One cache file: digest of a file's bytes -> its statement count and findings.

    Beside it, a file index: (device, inode, kind) -> (size, mtime, digest), so that a file whose
    status has not changed is not even read. As in git's index, an entry is only recorded for a
    file last modified well before it was read (RACY_NS): a change within the file system's
    timestamp granularity after the read would otherwise leave size and mtime as they were.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.files: dict[str, list[Any]] = {}
        self.used: set[str] = set()
        self.used_files: set[str] = set()
        self.changed = False
        self.started_ns = time.time_ns()
        try:
            with open(path, "rb") as handle:
                document = json.loads(handle.read())
            if isinstance(document, dict) and document.get("format") == FORMAT:
                self.entries = dict(document["entries"])
                self.files = dict(document["files"])
        except (OSError, ValueError, KeyError, TypeError):
            self.entries, self.files = {}, {}  # missing or damaged: start afresh

    @classmethod
    def for_options(cls, options: LintOptions, directory: str | None = None) -> LintCache:
        settings = [
            _code_fingerprint(),
            options.pg_version,
            options.assume_in_transaction,
            sorted(options.exclude),
        ]
        name = blake2b(json.dumps(settings).encode(), digest_size=12).hexdigest()
        return cls(os.path.join(directory or cache_directory(), f"lint-{name}.json"))

    @staticmethod
    def key(kind: str, data: bytes) -> str:
        digest = blake2b(data, digest_size=16)
        digest.update(kind.encode())
        return digest.hexdigest()

    def file_key(
        self, path: str, kind: str, read: Callable[[str], bytes]
    ) -> tuple[str, bytes | None]:
        """The key of a file's bytes (`read(path)`), and the bytes when they had to be read."""
        try:
            status = os.stat(path)
        except OSError:
            data = read(path)  # raises the input error that says what is wrong
            return self.key(kind, data), data
        identity = f"{status.st_dev}:{status.st_ino}:{kind}"
        known = self.files.get(identity)
        if (
            isinstance(known, list)
            and len(known) == 3
            and known[0] == status.st_size
            and known[1] == status.st_mtime_ns
            and isinstance(known[2], str)
        ):
            self.used_files.add(identity)
            return known[2], None
        data = read(path)
        key = self.key(kind, data)
        if status.st_mtime_ns < self.started_ns - RACY_NS:
            self.files[identity] = [status.st_size, status.st_mtime_ns, key]
            self.used_files.add(identity)
            self.changed = True
        return key, data

    def get(self, key: str, file: str) -> tuple[int, list[Finding]] | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        try:
            statements, rows = entry
            findings = [
                Finding(rule, Severity(severity), message, help_text, file, line, column, index)
                for rule, severity, message, help_text, line, column, index in rows
            ]
        except (TypeError, ValueError):
            return None
        self.used.add(key)
        return int(statements), findings

    def put(self, key: str, statements: int, findings: list[Finding]) -> None:
        rows = [
            [f.rule, f.severity.value, f.message, f.help, f.line, f.column, f.statement]
            for f in findings
        ]
        self.entries[key] = [statements, rows]
        self.used.add(key)
        self.changed = True

    def save(self) -> None:
        """Write the cache if this run added to it; a cache that cannot be written is skipped."""
        if not self.changed:
            return
        entries, files = self.entries, self.files
        if len(entries) > MAX_ENTRIES or len(files) > MAX_ENTRIES:
            entries = {key: entries[key] for key in self.used}
            files = {key: files[key] for key in self.used_files}
        document = {"format": FORMAT, "entries": entries, "files": files}
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(document))
            os.replace(temporary, self.path)  # atomic: a concurrent run reads old or new
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(temporary)
