"""Paths of the shared real data the intel tests read (read-only) and the skip marker for them."""
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
META = SHARED / "meta-threat-research"
INDICATORS = META / "indicators"
DISARM = SHARED / "disarm-frameworks"
GALAXY = SHARED / "misp-galaxy" / "clusters" / "disarm-techniques.json"

needs_shared = [pytest.mark.shared,
                pytest.mark.skipif(not INDICATORS.is_dir() or not DISARM.is_dir(),
                                   reason="../shared/data is absent")]


def shared_only(func):
    """Mark one test as needing ../shared/data (skipped when it is absent)."""
    for mark in needs_shared:
        func = mark(func)
    return func
