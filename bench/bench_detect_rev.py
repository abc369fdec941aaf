#!/usr/bin/env python3
"""Detection time and peak memory of this checkout against an earlier commit, on the same store.

The anchor for issue 16's cost target ("detection time at 1M posts no more than 1.5x today's,
memory < 2 GB"): the detector of an earlier commit (``--rev``, e.g. 27217bb, before the multi-scale
null model) and this checkout's detector run on copies of one ingested store, interleaved
(anchor, current, anchor, current, ...), each repetition in a fresh process, so both see the same
machine load. Each process opens its copy with ``CIBSCOPE_MEMORY_LIMIT`` (default 2GB), runs
``cibscope.detect.detect`` with default parameters (or ``--params`` JSON for the current one) and
reports its own wall seconds for ``detect()``; ``/usr/bin/time`` gives the process's peak RSS.

Each side reads ``--input`` (e.g. the generator's ``posts.csv``, ``--format cnt-csv``) into its own
fresh store with its own ingest code first (not timed): a store written by one version need not
fit the other's schema. The anchor's sources come from ``git worktree add --detach`` of ``--rev`` in a temporary folder
(removed at the end); it uses the same virtual environment as this checkout, so a commit whose
dependencies differ may not run.

Usage::

    python bench/bench_detect_rev.py --input /tmp/g1m/posts.csv --format cnt-csv --rev 27217bb --repeat 3

Prints one Markdown row per side: median seconds (the runs), median peak RSS, the ratio
current / anchor of the medians, and the machine's load average at start.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Runs in the child: ingest the input into a fresh store.
INGEST = """
import sys
from cibscope.ingest import ingest
from cibscope.store.db import Store
with Store(sys.argv[1]) as s:
    ingest(s, sys.argv[2], fmt=sys.argv[3])
"""

#: Runs in the child: detect once, print the detect() wall seconds as JSON on the last line.
CHILD = """
import json, sys, time
from cibscope.detect import DetectionParams, detect
from cibscope.store.db import Store
with Store(sys.argv[1]) as s:
    t = time.perf_counter(); run = detect(s, DetectionParams(**json.loads(sys.argv[2]))); sec = time.perf_counter() - t
    n = s.con.execute("SELECT count(*) FROM clusters WHERE run_id = ? AND flagged", [run.run_id]).fetchone()[0]
print(json.dumps({"seconds": sec, "flagged_clusters": n}))
"""


def run_once(src: Path, db: Path, params: dict, memory: str) -> dict:
    """One detection in a fresh process with ``src`` first on ``sys.path``; seconds, flagged clusters, peak RSS (MB)."""
    env = dict(os.environ, PYTHONPATH=str(src), CIBSCOPE_MEMORY_LIMIT=memory)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name, sys.executable, "-c", CHILD, str(db),
                               json.dumps(params)], env=env, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{src}: detection failed:\n{proc.stderr[-2000:]}")
        rss_mb = int(Path(tf.name).read_text().split()[-1]) / 1024
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**res, "rss_mb": rss_mb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", type=Path, required=True, help="The posts file both sides ingest.")
    ap.add_argument("--format", default="cnt-csv", help="Its format (cibscope ingest --format).")
    ap.add_argument("--rev", required=True, help="Commit of the anchor detector.")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--params", default="{}", help="DetectionParams of the current detector, as JSON.")
    ap.add_argument("--memory", default="2GB", help="CIBSCOPE_MEMORY_LIMIT of both (DuckDB's limit).")
    ap.add_argument("--work", type=Path, default=None, help="Scratch folder (default: a temporary one).")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-rev-", dir=args.work))
    anchor_src = work / "anchor"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(anchor_src), args.rev], check=True)
    try:
        dbs = {"anchor": work / "anchor.duckdb", "current": work / "current.duckdb"}
        sides = {"anchor": (anchor_src / "src", {}), "current": (ROOT / "src", json.loads(args.params))}
        for name, (src, _) in sides.items():
            subprocess.run([sys.executable, "-c", INGEST, str(dbs[name]), str(args.input), args.format], check=True,
                           env=dict(os.environ, PYTHONPATH=str(src), CIBSCOPE_MEMORY_LIMIT=args.memory))
        load = os.getloadavg()[0]
        res: dict[str, list[dict]] = {k: [] for k in sides}
        for i in range(args.repeat):
            for name, (src, params) in sides.items():
                r = run_once(src, dbs[name], params, args.memory)
                res[name].append(r)
                print(f"rep {i + 1} {name}: {r['seconds']:.1f} s, {r['rss_mb']:,.0f} MB, "
                      f"{r['flagged_clusters']} flagged clusters", file=sys.stderr, flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(anchor_src)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in res.items()}
    print(f"load average at start {load:.2f}; {args.repeat} interleaved runs each; DuckDB limit {args.memory}")
    print("| detector | detect() s (runs) | median s | peak RSS median MB | ratio to anchor |")
    print("|---|---|---|---|---|")
    for k, v in res.items():
        label = f"{args.rev} (anchor)" if k == "anchor" else f"this checkout {args.params}"
        runs = ", ".join(f"{r['seconds']:.1f}" for r in v)
        print(f"| {label} | {runs} | {med[k]:.1f} | "
              f"{statistics.median(r['rss_mb'] for r in v):,.0f} | {med[k] / med['anchor']:.2f}x |")


if __name__ == "__main__":
    main()
