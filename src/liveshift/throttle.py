"""The backfill's throttle moved to liveshift/backfill/throttle.py; this name stays for the
migrator, which imports it from here."""

from __future__ import annotations

from liveshift.backfill.throttle import LagClock, LoadPacer, LoadSample, Throttle

__all__ = ["LagClock", "LoadPacer", "LoadSample", "Throttle"]
