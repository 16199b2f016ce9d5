"""The lint rules, one per module; liveshift.linter.registry finds each module's RULE."""
