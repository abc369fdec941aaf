#!/usr/bin/env python3
"""Where a detection run spends its time: wall seconds per kept table and per step around the core.

Wraps :meth:`cibscope.detect.core.Engine.keep` (one entry per table the core writes, ``keep _pair_rows``
...), ``Engine.to_arrow`` (pair table and edge details leaving the engine), ``Engine.count`` and the steps
of :func:`cibscope.detect.detect` that run outside the core (``pair_tests``, ``leiden_clusters``,
``_save_edges``, ``_save_clusters``, ``derived_actions``), then runs ``detect`` once with default
parameters (or ``--params``) on a copy of the store and prints the timings, largest first. The run's wall time less the
timed steps is imports (Ibis and its SQL dialects load when a run starts) and Ibis compiling expressions.

Usage::

    python bench/profile_detect.py STORE.duckdb [--params '{"max_object_accounts_slow": 200}']

``STORE`` is copied to a temporary file first (a run is saved into the copy, the store is untouched).
Set ``CIBSCOPE_MEMORY_LIMIT`` as the benchmarks do (``2GB``). To profile another commit's detector on
a store it wrote, put its sources first: ``PYTHONPATH=<worktree>/src python bench/profile_detect.py ...``
(steps it lacks are skipped).
"""
from __future__ import annotations

import argparse
import collections
import json
import shutil
import tempfile
import time
from pathlib import Path

import cibscope.detect as detect_module
import cibscope.detect.core as core
from cibscope.store.db import Store

TOTALS: collections.Counter = collections.Counter()
STEPS = ("pair_tests", "leiden_clusters", "_save_edges", "_save_clusters", "derived_actions")


def _timed(owner, name: str, label) -> None:
    """Replace ``owner.name`` by a wrapper adding its wall time to ``TOTALS[label(args)]``."""
    func = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            TOTALS[label(args)] += time.perf_counter() - t
    setattr(owner, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", type=Path)
    ap.add_argument("--params", default="{}", help="DetectionParams fields as JSON (default: the defaults)")
    a = ap.parse_args()
    _timed(core.Engine, "keep", lambda args: f"keep {args[1]}")
    _timed(core.Engine, "to_arrow", lambda args: "to_arrow")
    _timed(core.Engine, "count", lambda args: "count")
    for step in STEPS:
        if hasattr(detect_module, step):
            _timed(detect_module, step, lambda args, step=step: step)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "profile.duckdb"
        shutil.copyfile(a.store, copy)
        with Store(copy) as store:
            t = time.perf_counter()
            detect_module.detect(store, detect_module.DetectionParams(**json.loads(a.params)))
            wall = time.perf_counter() - t
    print(f"{a.store}: detect() {wall:.2f} s; timed steps {sum(TOTALS.values()):.2f} s")
    print("| s | step |\n|---:|---|")
    for key, secs in TOTALS.most_common():
        print(f"| {secs:.2f} | `{key}` |")


if __name__ == "__main__":
    main()
