"""Record: equality, hash and repr from `__slots__`, for the linter's small value classes.

Every module of `liveshift lint` is on its start-up path, where importing `dataclasses` (which
imports `inspect`, `ast`, `dis`...) and generating the classes' methods cost about 10 ms of a
130 ms run. The value classes write their `__init__` out and get the rest from here; like the
frozen dataclasses they replace, they are not to be changed after they are made.
"""

from __future__ import annotations


class Record:
    """Compares, hashes and prints by the fields named in the subclass's `__slots__`."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple([getattr(self, name) for name in self.__slots__])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record) and other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{self.__class__.__qualname__}({fields})"
