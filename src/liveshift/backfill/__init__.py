"""The backfill: fills a column in short keyset batches, each committing its own checkpoint.

The controller (Backfiller) owns slices, lanes, batch sizing, pacing and checkpoints; a Lane runs
one connection's batches; the engine (engines/backfill.py) supplies the statements and the
measurements. Nothing here is SQL text.
"""

from __future__ import annotations

from liveshift.backfill.controller import (
    MIN_SLICE_ROWS,
    SLICES_PER_WORKER,
    SPLIT_SAMPLE_PAGES,
    Backfiller,
)
from liveshift.backfill.lane import Cursor, Lane, LaneOwner, LaneStopped
from liveshift.backfill.throttle import LagClock, LoadPacer, LoadSample, Throttle
from liveshift.backfill.verify import VerifyResult, scan, verify_backfill
from liveshift.engines.backfill import Planned

__all__ = [
    "MIN_SLICE_ROWS",
    "SLICES_PER_WORKER",
    "SPLIT_SAMPLE_PAGES",
    "Backfiller",
    "Cursor",
    "LagClock",
    "Lane",
    "LaneOwner",
    "LaneStopped",
    "LoadPacer",
    "LoadSample",
    "Planned",
    "Throttle",
    "VerifyResult",
    "scan",
    "verify_backfill",
]
