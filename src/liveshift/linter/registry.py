"""Discovers the rules: every module in liveshift.linter.rules that defines RULE."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from liveshift.linter.rule import Rule


@functools.cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule, sorted by id."""
    from liveshift.linter import rules as package

    found: dict[str, Rule] = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        rule = getattr(module, "RULE", None)
        if isinstance(rule, Rule):
            if rule.id in found:
                raise RuntimeError(f"two lint rules share the id {rule.id!r}")
            found[rule.id] = rule
    return tuple(sorted(found.values(), key=lambda r: r.id))


def rules_by_id() -> dict[str, Rule]:
    return {rule.id: rule for rule in all_rules()}
