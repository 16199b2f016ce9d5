"""`liveshift demo`: add a NOT NULL column to a busy table on the embedded server (placeholder
until the demo lands: it refuses rather than pretends)."""

from __future__ import annotations

import argparse

from liveshift.errors import LiveshiftError
from liveshift.settings import Settings


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    raise LiveshiftError("the demo is not built yet", hint="See README.md for the status.")
