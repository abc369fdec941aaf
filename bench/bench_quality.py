#!/usr/bin/env python3
"""Detection quality at default parameters on the benchmark generator: seeds x mixes x sizes.

For each (size, mix, seed) this writes the generator's posts (``../shared/bench/gen_posts.py``),
ingests them into a fresh store (``cnt-csv``), runs ``detect`` with default parameters and scores the
flagged accounts against ``truth.csv`` (node level: positive = ``coordinated``; ``organic`` and
``feedbot`` negative), beside the naive baseline *every clustered account* (member of any cluster,
flagged or not). Also: feed bots and organic accounts flagged, recall per reaction-time band of the
planted groups, and the run's detection seconds.

Mixes: ``default`` (the generator's defaults: 20 groups, 40 feed bots, 5 % coordinated posts) and
``alt`` (``--groups 35 --feedbots 80 --coord-frac 0.03``).

Usage::

    python bench/bench_quality.py --sizes 200000 1000000 --seeds 7 1234 99 --work /tmp/bq
    python bench/bench_quality.py --sizes 1000000 --mixes alt --seeds 1234 --params '{"max_object_accounts_mid": 100}'

Prints Markdown rows for docs/benchmarks.md and writes ``<work>/quality.json``.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

GEN = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_posts.py"
MIXES = {"default": [], "alt": ["--groups", "35", "--feedbots", "80", "--coord-frac", "0.03"]}


def score(pred: set[str], truth: dict[str, dict]) -> dict:
    pos = {u for u, r in truth.items() if r["label"] == "coordinated"}
    tp = len(pred & pos)
    p = tp / len(pred) if pred else float("nan")
    r = tp / len(pos)
    f1 = 2 * p * r / (p + r) if pred and p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1, "predicted": len(pred),
            "feedbots": sum(truth[u]["label"] == "feedbot" for u in pred),
            "organic": sum(truth[u]["label"] == "organic" for u in pred)}


def one(size: int, mix: str, seed: int, work: Path, params: dict | None = None) -> dict:
    from cibscope.detect import DetectionParams, detect
    from cibscope.ingest import ingest
    from cibscope.store.db import Store

    d = work / f"{mix}-{size}-{seed}"
    if not (d / "posts.csv").exists():
        subprocess.run([sys.executable, str(GEN), "--posts", str(size), "--seed", str(seed), "--out", str(d),
                        *MIXES[mix]], check=True, capture_output=True)
    with open(d / "truth.csv", newline="") as f:
        truth = {r["user_id"]: r for r in csv.DictReader(f)}
    db = d / "store.duckdb"
    db.unlink(missing_ok=True)
    with Store(db) as s:
        ingest(s, d / "posts.csv", fmt="cnt-csv")
        t = time.perf_counter()
        run = detect(s, DetectionParams(**(params or {})))
        seconds = time.perf_counter() - t
        rows = s.con.execute("""SELECT m.account_key, c.flagged FROM cluster_members m
                                JOIN clusters c USING (run_id, cluster_id) WHERE m.run_id = ?""", [run.run_id]).fetchall()
    flagged = {k.split(":", 1)[1] for k, f in rows if f}
    clustered = {k.split(":", 1)[1] for k, _ in rows}
    bands = {}
    for lo, hi in ((0, 60), (60, 300), (300, 1200), (1200, 4000)):
        mem = [u for u, r in truth.items() if r["label"] == "coordinated" and lo <= float(r["tau_s"]) < hi]
        if mem:
            bands[f"tau {lo}-{hi} s"] = round(sum(u in flagged for u in mem) / len(mem), 3)
    return {"size": size, "mix": mix, "seed": seed, "flagged": score(flagged, truth),
            "every_clustered": score(clustered, truth), "recall_by_tau": bands, "seconds": round(seconds, 1),
            "edges": run.n_edges, "clusters": run.n_clusters}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 1234, 99])
    ap.add_argument("--mixes", nargs="+", default=list(MIXES))
    ap.add_argument("--params", default="{}", help="DetectionParams fields as JSON (default: the defaults), "
                    "e.g. '{\"max_object_accounts_slow\": 50}'")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_quality"))
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    out = []
    print("| posts | mix | seed | P | R | F1 | feed bots / organic flagged | baseline *every clustered account*: P / R / F1 | recall by reaction time | detect s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in a.sizes:
        for mix in a.mixes:
            for seed in a.seeds:
                r = one(size, mix, seed, a.work, json.loads(a.params))
                out.append(r)
                f, b = r["flagged"], r["every_clustered"]
                print(f"| {size:,} | {mix} | {seed} | {f['precision']:.3f} | {f['recall']:.3f} | {f['f1']:.3f} | "
                      f"{f['feedbots']} / {f['organic']} | {b['precision']:.3f} / {b['recall']:.3f} / {b['f1']:.3f} | "
                      f"{', '.join(f'{k}: {v}' for k, v in r['recall_by_tau'].items())} | {r['seconds']} |", flush=True)
    (a.work / "quality.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
