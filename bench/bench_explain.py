#!/usr/bin/env python3
"""``cibscope explain`` on a detected store: wall time, CPU and peak memory (issue 19, item 2).

Each repetition copies the store (``--store``, already ingested and detected; never written) to
``--work`` and runs the real CLI in a fresh process under ``/usr/bin/time -v``::

    cibscope explain --run N --db COPY [extra arguments after --]

``--src PATH`` runs the sources under PATH instead of the installed package (``PYTHONPATH=PATH``):
with a checkout of an older commit this measures "before" and "after" side by side in one run
(``--src`` and ``--src-before``). Prints one line per run and the medians; writes
``<work>/results-explain.json``.

Usage (the full ../shared IRA run; see docs/benchmarks.md)::

    cibscope ingest ../shared/data/ira-troll-tweets-by-author --db /tmp/ira.duckdb
    cibscope detect --db /tmp/ira.duckdb --out /tmp/ira-out
    python bench/bench_explain.py --store /tmp/ira.duckdb --repeat 3
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run_explain(store: Path, work: Path, run: int, src: Path | None, extra: list[str]) -> dict[str, float]:
    """One timed ``cibscope explain`` on a fresh copy of ``store``: wall s, CPU s (user + system), peak RSS MiB.

    Raises
    ------
    subprocess.CalledProcessError
        The command failed (its output is printed).
    """
    db = work / "explain.duckdb"
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    shutil.copyfile(store, db)
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", "from cibscope.cli import app; app()", "explain",
           "--run", str(run), "--db", str(db), *extra]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode:
        print(p.stdout[-4000:], p.stderr[-4000:], file=sys.stderr)
        raise subprocess.CalledProcessError(p.returncode, cmd)
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", p.stderr).group(1)) for k in ("User", "System"))
    return {"wall": wall, "cpu": cpu, "peak_mib": peak, "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, required=True, help="a detected cibscope store (read, never written)")
    ap.add_argument("--run", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--src", type=Path, default=None, help="sources to run (PYTHONPATH); default: installed")
    ap.add_argument("--src-before", type=Path, default=None, help="older sources, run side by side (--repeat-before)")
    ap.add_argument("--repeat-before", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_explain_work"))
    ap.add_argument("extra", nargs="*", help="more explain arguments (after --)")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}, load average at start {os.getloadavg()[0]:.1f}", flush=True)
    res: dict[str, list[dict[str, float]]] = {"after": [], "before": []}
    for label, src, n in (("before", a.src_before, a.repeat_before if a.src_before else 0),
                          ("after", a.src, a.repeat)):
        for i in range(n):
            r = run_explain(a.store, a.work, a.run, src, a.extra)
            res[label].append(r)
            print(f"{label} {i + 1}: wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, peak {r['peak_mib']:.0f} MiB, "
                  f"load {r['load']:.1f}", flush=True)
    for label, rows in res.items():
        if rows:
            print(f"{label} ({len(rows)} runs, median): wall {statistics.median(r['wall'] for r in rows):.1f} s, "
                  f"CPU {statistics.median(r['cpu'] for r in rows):.1f} s, "
                  f"peak {statistics.median(r['peak_mib'] for r in rows):.0f} MiB")
    if res["before"] and res["after"]:
        print(f"ratio before / after (median wall): "
              f"{statistics.median(r['wall'] for r in res['before']) / statistics.median(r['wall'] for r in res['after']):.1f}x")
    (a.work / "results-explain.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
