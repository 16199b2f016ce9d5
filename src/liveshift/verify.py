"""Backfill verification moved to liveshift/backfill/verify.py; this name stays for the migrator,
which imports it from here."""

from __future__ import annotations

from liveshift.backfill.verify import VerifyResult, scan, verify_backfill

__all__ = ["VerifyResult", "scan", "verify_backfill"]
