#!/usr/bin/env python3
"""End-to-end benchmark on the full IRA data: ingest -> detect -> outputs, wall time and peak memory.

Each repetition runs the real CLI in a fresh process and a fresh store, measured with
``resource.getrusage(RUSAGE_CHILDREN)`` for peak RSS. The anchor, measured in the same run, is a bare
DuckDB scan of the same CSV files (``SELECT count(*) FROM read_csv(...)``): the ratio says how many
times the cost of merely reading the data the whole pipeline takes.

Usage::

    python bench/bench_ira.py --data ../shared/data/ira-troll-tweets-by-author --repeat 3

Prints a Markdown table row block for docs/benchmarks.md and checks that the report contains the
#KochFarms cluster.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in MiB of the child)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def anchor_scan(data: Path) -> float:
    code = ("import duckdb,sys,glob;"
            "fs=[f for f in glob.glob(sys.argv[1]+'/*/*.csv')];"
            "print(duckdb.sql(\"select count(*) from read_csv($f, all_varchar=true)\", params={'f': fs}).fetchall())")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(data)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/ira-troll-tweets-by-author"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--window", default="60s")
    a = ap.parse_args()
    cli = str(Path(sys.executable).with_name("cibscope"))
    rows = []
    for i in range(a.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            db, out = os.path.join(tmp, "b.duckdb"), os.path.join(tmp, "out")
            anchor = anchor_scan(a.data)
            t_ing, m_ing = run([cli, "ingest", str(a.data), "--format", "ira-csv", "--db", db])
            t_det, m_det = run([cli, "detect", "--window", a.window, "--db", db, "--out", out])
            report = Path(out, "report.html").read_text(encoding="utf-8").lower()
            rows.append(dict(anchor=anchor, ingest=t_ing, detect=t_det, total=t_ing + t_det,
                             peak=max(m_ing, m_det), kochfarms="kochfarms" in report))
            print(f"run {i + 1}: {rows[-1]}", file=sys.stderr)
    med = {k: statistics.median(r[k] for r in rows) for k in ("anchor", "ingest", "detect", "total", "peak")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"command: python bench/bench_ira.py --data {a.data} --repeat {a.repeat} --window {a.window}")
    print("| step | median wall (s) | ratio to anchor |")
    print("|---|---|---|")
    print(f"| anchor: DuckDB scan of the CSVs | {med['anchor']:.1f} | 1.0 |")
    for k in ("ingest", "detect", "total"):
        print(f"| {k} | {med[k]:.1f} | {med[k] / med['anchor']:.1f} |")
    print(f"peak memory (max RSS of any step, median over runs): {med['peak']:.0f} MiB; "
          f"KochFarms in report: {all(r['kochfarms'] for r in rows)}")


if __name__ == "__main__":
    main()
