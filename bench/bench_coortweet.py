#!/usr/bin/env python3
"""cibscope against CooRTweet 2.1.2 (R): speed, peak memory and node-level quality, side by side.

Both tools read the same ``posts.csv`` written by ``../shared/bench/gen_posts.py`` (``truth.csv``
beside it), one step at a time in one run of this script:

* **CooRTweet** (``Rscript bench/coortweet_detect.R``, one fresh R process, one data.table thread):
  its vignette's multi-modal recipe, per signal ``prep_data``-style long table (object, account,
  post, UNIX time; ``unique``; NA and empty objects dropped; object ids prefixed), then
  ``detect_groups(time_window = 60, min_participation = 2)``, then all results stacked and
  ``generate_coordinated_network(edge_weight = 0.5)``. Signals: link (each URL), hashtag
  (``#\\w+``, lower-cased), text (the exact message of original posts: a retweet's
  ``RT @user: ...`` text is left to the retweet signal, as the toolkit's ``co_tweet`` does), reply
  (the parent id) and retweet (the
  reposted id). A signal whose ``detect_groups`` fails is reported with R's error and left out
  of the network (at 200k posts retweet fails with "negative length vectors are not allowed":
  one post reposted by 11,551 accounts). Time and peak memory are those of the whole R process
  (load, preparation, every signal, the network); per-step seconds come from R itself.
* **cibscope** (the real CLI, fresh processes): ``cibscope ingest posts.csv --format cnt-csv``
  into a fresh store, then ``cibscope detect --window 60s`` (default signals, significance,
  Leiden, all outputs).

Quality (node level) against ``truth.csv`` (positive: ``coordinated``; ``organic`` and
``feedbot`` negative): cibscope predicts the members of flagged clusters; CooRTweet at its
defaults has no flagged groups, so two readings of its output are scored: every vertex of the
network it returns (``subgraph = 0``, the default) and the vertices of edges above the
``edge_weight`` percentile (``weight_threshold == 1``, what ``subgraph = 1`` keeps).

Usage::

    python3 ../shared/bench/gen_posts.py --posts 200000 --out /tmp/g200k
    python bench/bench_coortweet.py --data /tmp/g200k --work /tmp/bench_coortweet --repeat 3   # medians of 3 runs each

CooRTweet and its R dependencies: ``../shared/anchors/coortweet/README.md``. Writes
``<work>/results-coortweet.json`` and prints lines for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detect import cibscope_flagged, fresh_store, last_run, read_truth, scores, timed, warm_up  # noqa: E402

R_SCRIPT = Path(__file__).resolve().parent / "coortweet_detect.R"
SIGNALS = ("link", "hashtag", "text", "reply", "retweet")


def run_coortweet(posts: Path, out: Path, signals: tuple[str, ...], window_s: int, edge_weight: float) -> dict:
    """One R process: CooRTweet's recipe on ``posts``. Returns wall, CPU, peak and per-step seconds and errors.

    The R process exits 0 even when a signal fails (the failure is in ``steps``); a failure of R
    itself raises ``subprocess.CalledProcessError``.
    """
    out.mkdir(parents=True, exist_ok=True)
    for f in ("steps.csv", "vertices.csv"):
        (out / f).unlink(missing_ok=True)
    wall, peak, cpu = timed(["Rscript", str(R_SCRIPT), str(posts), str(out), ",".join(signals), str(window_s),
                             str(edge_weight)])
    with open(out / "steps.csv", newline="") as f:
        steps = list(csv.DictReader(f))
    vertices: dict[str, int] = {}
    if (out / "vertices.csv").exists():
        with open(out / "vertices.csv", newline="") as f:
            vertices = {r["account_id"]: int(r["above_threshold"]) for r in csv.DictReader(f)}
    return {"wall": wall, "cpu": cpu, "peak_mib": peak,
            "steps": [{"step": s["step"], "seconds": float(s["seconds"]), "status": s["status"],
                       "message": s["message"]} for s in steps], "vertices": vertices}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="gen_posts.py output folder (posts.csv, truth.csv)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_coortweet"))
    ap.add_argument("--signals", default=",".join(SIGNALS), help="CooRTweet signals (comma-separated)")
    ap.add_argument("--edge-weight", type=float, default=0.5)
    ap.add_argument("--skip-coortweet", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each tool (medians; cibscope also runs once untimed first: bench_detect.warm_up)")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    posts, truth = a.data / "posts.csv", read_truth(a.data)
    res: dict = {"data": str(a.data), "posts": sum(1 for _ in open(posts, "rb")) - 1,
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                 "load_start": os.getloadavg()[0]}
    print(f"{res['machine']}, load average at start {res['load_start']:.1f}", flush=True)

    if not a.skip_coortweet:
        cts = [run_coortweet(posts, a.work / "coortweet", tuple(a.signals.split(",")), 60, a.edge_weight)
               for _ in range(a.repeat)]
        ct = sorted(cts, key=lambda r: r["wall"])[len(cts) // 2]   # the median run (its steps and vertices)
        res["coortweet"] = {k: v for k, v in ct.items() if k != "vertices"} | {"walls": [r["wall"] for r in cts]}
        res["coortweet_quality"] = {
            "all_vertices": scores(set(ct["vertices"]), truth),
            "above_threshold": scores({v for v, x in ct["vertices"].items() if x}, truth)}
        print(f"CooRTweet: wall {ct['wall']:.1f} s (median of {', '.join(f'{w:.1f}' for w in res['coortweet']['walls'])}), "
              f"CPU {ct['cpu']:.1f} s, peak {ct['peak_mib']:.0f} MiB", flush=True)
        for s in ct["steps"]:
            print(f"  {s['step']}: {s['seconds']:.1f} s {s['status']} {s['message']}", flush=True)

    cli = str(Path(sys.executable).with_name("cibscope"))
    store = a.work / "store.duckdb"
    warm_up(cli, posts, store, a.work / "out")
    runs = []
    for _ in range(a.repeat):
        fresh_store(store)
        wi, pi, ci = timed([cli, "ingest", str(posts), "--format", "cnt-csv", "--db", str(store)])
        wd, pd, cd = timed([cli, "detect", "--window", "60s", "--db", str(store), "--out", str(a.work / "out")])
        runs.append({"ingest": wi, "ingest_cpu": ci, "ingest_peak_mib": pi, "detect": wd, "detect_cpu": cd,
                     "detect_peak_mib": pd, "detect_run_s": last_run(store)[1], "total": wi + wd})
    run_id = last_run(store)[0]
    res["cibscope"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"totals": [r["total"] for r in runs]}
    wi, pi, wd, pd, det_s = (res["cibscope"][k] for k in ("ingest", "ingest_peak_mib", "detect", "detect_peak_mib",
                                                           "detect_run_s"))
    res["cibscope_quality"] = scores(cibscope_flagged(store, run_id), truth)
    res["load_end"] = os.getloadavg()[0]
    c = res["cibscope"]
    print(f"cibscope: ingest {wi:.1f} s (peak {pi:.0f} MiB), detect command {wd:.1f} s (peak {pd:.0f} MiB; "
          f"detection {det_s:.1f} s), total {c['total']:.1f} s (medians; totals "
          f"{', '.join(f'{t:.1f}' for t in c['totals'])})", flush=True)
    if "coortweet" in res:
        print(f"ratio CooRTweet whole R process / cibscope ingest + detect: {res['coortweet']['wall'] / c['total']:.1f}x")
        for k, q in res["coortweet_quality"].items():
            print(f"CooRTweet {k}: P {q['precision']:.3f} R {q['recall']:.3f} F1 {q['f1']:.3f} "
                  f"feedbots {q['feedbots']} predicted {q['predicted']}")
    q = res["cibscope_quality"]
    print(f"cibscope flagged clusters: P {q['precision']:.3f} R {q['recall']:.3f} F1 {q['f1']:.3f} "
          f"feedbots {q['feedbots']} predicted {q['predicted']}")
    print(f"load average at end {res['load_end']:.1f}")
    (a.work / "results-coortweet.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
