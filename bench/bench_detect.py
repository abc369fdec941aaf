#!/usr/bin/env python3
"""Coordination detection against coordination-network-toolkit 1.5.2: speed, peak memory, quality.

Both tools read the same file, ``posts.csv`` written by ``../shared/bench/gen_posts.py`` (the
toolkit's CSV layout, with ``truth.csv`` beside it), in one run of this script, one step at a
time (never two heavy steps at once):

* **toolkit** (one fresh process per repetition, its Python API with its CLI defaults:
  ``n_threads = cpu_count()``, similarity threshold 0.8 and minimum document size 1; window 60 s;
  ``min_edge_weight = 1`` so that the quality sweep below can pick any threshold - the weight
  cut is a ``HAVING`` after the join and costs nothing): *load* = ``preprocess_csv_files`` plus
  the removal of its empty-URL rows (upstream issue 46: every link-less post gets a url ``''``
  and co-links with all others), then ``co_retweet``, ``co_link``, ``co_tweet`` and
  ``co_similar_tweet``, each timed.
* **cibscope** (the real CLI): ``cibscope ingest posts.csv --format cnt-csv`` into a fresh store
  (``--ingest-repeat`` times; detection uses the last store), then per repetition ``cibscope detect
  --window 60s`` twice: with the default signals and with every signal (``--signals`` all of
  ``SIGNALS``: adds domain, mention, near-duplicate text, fast repost and bursts), each with
  significance, Leiden clustering and the outputs it writes. Its own detection time
  (``runs.seconds``, without process start and output writing) is reported too. A second detection with ``--window 1h
  --max-object-accounts 100`` (planted groups react with delays up to 1 h) is run once, for quality.

Peak memory is the maximum resident set size reported by ``/usr/bin/time -v`` for each step's
process (for the toolkit: the largest single process of its pool, as ``wait4`` reports it).

Quality (node level) against ``truth.csv``: positive = label ``coordinated``; ``organic`` and
``feedbot`` are negative. cibscope predicts an account coordinated when it is a member of a
cluster with ``flagged = true``. The toolkit has no notion of a flagged group, so its prediction is
the union of its four networks, each cut at a weight: an account is predicted when any of its
edges (self-pairs dropped, either direction) in network n has weight >= T_n. Reported: every
T_n = 2 (the toolkit CLI's default ``--min_edge_weight``), the best single T for all networks, and
the best per-network T_n over a grid (``CUTS``, including leaving a network out) - an oracle
choice on the truth itself, i.e. hand-tuning at its best, which favours the toolkit.

Usage::

    python bench/bench_detect.py --data /tmp/g200k --repeat 3 --toolkit-repeat 1
    python bench/bench_detect.py --data /tmp/g1m --repeat 3 --toolkit-repeat 1 --work /tmp/bench_work
    # issue 19's end to end: the toolkit at its CLI default --min_edge_weight 2, 3 runs of each tool
    python bench/bench_detect.py --data /tmp/g1m --repeat 3 --ingest-repeat 3 --toolkit-repeat 3 --toolkit-min-edge-weight 2

Before the timed cibscope commands, one untimed ingest and detection let Python write the byte-code of
what they import (:func:`warm_up`), as after a user's first run.

Writes ``<work>/results-<name>.json`` and prints Markdown rows for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cibscope.detect.params import SIGNALS

WINDOW_S = 60
NETWORKS = ("co_retweet", "co_link", "co_tweet", "co_similar_tweet")
TOOLKIT_DEFAULT_MIN_WEIGHT = 2  # the toolkit CLI's --min_edge_weight default


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd`` under ``/usr/bin/time -v``; return (wall s, peak RSS MiB, CPU s = user + system).

    CPU seconds include the command's waited-for children (the toolkit's worker pool); on a
    shared, oversubscribed machine they say more about the work done than wall time does.

    Raises
    ------
    subprocess.CalledProcessError
        The command failed (its stderr is printed).
    """
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode:
        print(p.stdout[-4000:], p.stderr[-4000:], file=sys.stderr)
        raise subprocess.CalledProcessError(p.returncode, cmd)
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", p.stderr).group(1)) for k in ("User", "System"))
    return wall, peak_kb / 1024, cpu


# ---- toolkit ------------------------------------------------------------------------------------

def toolkit_run(posts: Path, db: Path, min_edge_weight: int = 1) -> dict[str, float]:
    """Load ``posts`` into a fresh toolkit database ``db`` and compute its four networks (timed).

    Runs inside the child process started by :func:`main`. Returns seconds per step.
    ``min_edge_weight``: 1 keeps every edge for the quality sweep; 2 is the toolkit CLI's default.
    """
    import multiprocessing as mp

    from coordination_network_toolkit import compute_networks as cn
    from coordination_network_toolkit.preprocess import preprocess_csv_files
    from coordination_network_toolkit.similarity import get_similarity_fn_from_min_size

    threads = mp.cpu_count()  # the CLI's default --n_cpus
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    out: dict[str, float] = {}
    t = time.perf_counter()
    preprocess_csv_files(str(db), [str(posts)])
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM message_url WHERE url = ''")  # upstream issue 46
    out["load"] = time.perf_counter() - t
    steps = {
        "co_retweet": lambda: cn.compute_co_retweet_parallel(str(db), WINDOW_S, n_threads=threads,
                                                             min_edge_weight=min_edge_weight),
        "co_link": lambda: cn.compute_co_link_network(str(db), WINDOW_S, n_threads=threads,
                                                      min_edge_weight=min_edge_weight),
        "co_tweet": lambda: cn.compute_co_tweet_network(str(db), WINDOW_S, n_threads=threads,
                                                        min_edge_weight=min_edge_weight),
        "co_similar_tweet": lambda: cn.compute_co_similar_tweet(
            str(db), WINDOW_S, n_threads=threads, min_edge_weight=min_edge_weight, similarity_threshold=0.8,
            similarity_function=get_similarity_fn_from_min_size(1)),
    }
    for name in NETWORKS:
        t = time.perf_counter()
        steps[name]()
        out[name] = time.perf_counter() - t
    return out


def toolkit_max_weights(db: Path) -> dict[str, dict[str, int]]:
    """Per network, per user: the largest weight of any non-self edge touching the user (either direction)."""
    out = {}
    with sqlite3.connect(db) as con:
        for n in NETWORKS:
            q = (f"SELECT u, max(w) FROM (SELECT user_1 AS u, weight AS w FROM {n}_network WHERE user_1 <> user_2 "
                 f"UNION ALL SELECT user_2, weight FROM {n}_network WHERE user_1 <> user_2) GROUP BY u")
            out[n] = {str(u): int(w) for u, w in con.execute(q)}
    return out


# ---- quality ------------------------------------------------------------------------------------

def read_truth(folder: Path) -> dict[str, str]:
    """``{user_id: label}`` from the generator's ``truth.csv``."""
    with open(folder / "truth.csv", newline="") as f:
        return {r["user_id"]: r["label"] for r in csv.DictReader(f)}


def scores(predicted: set[str], truth: dict[str, str]) -> dict[str, float]:
    """Node-level precision, recall, F1 (positive: ``coordinated``) and feed bots predicted."""
    pos = {u for u, lab in truth.items() if lab == "coordinated"}
    tp = len(predicted & pos)
    prec = tp / len(predicted) if predicted else 0.0
    rec = tp / len(pos) if pos else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    feed = sum(1 for u in predicted if truth.get(u) == "feedbot")
    return {"precision": prec, "recall": rec, "f1": f1, "feedbots": feed, "predicted": len(predicted)}


#: Weight cuts tried per network in the tuned union (``None``: the network is left out).
CUTS = (1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, None)


def toolkit_quality(max_w: dict[str, dict[str, int]], truth: dict[str, str], min_edge_weight: int = 1) -> dict:
    """Scores of the union of the toolkit's networks, each cut at a weight.

    ``default``: every network cut at the CLI default ``--min_edge_weight 2``; ``best_single``: one
    cut for all networks, the best F1 over :data:`CUTS`; ``best_tuned``: a cut per network, the best
    F1 over all :data:`CUTS` combinations (an oracle, hand-tuning at its best). Cuts below
    ``min_edge_weight`` (the networks' own cut) are left out: they would equal that cut.
    """
    cuts = [c for c in CUTS if c is None or c >= min_edge_weight]
    users = np.array(sorted(truth))
    pos = np.array([truth[u] == "coordinated" for u in users])
    feed = np.array([truth[u] == "feedbot" for u in users])
    idx = {u: i for i, u in enumerate(users)}
    w = np.zeros((len(NETWORKS), len(users)), dtype=np.int64)
    for k, n in enumerate(NETWORKS):
        for u, x in max_w[n].items():
            if u in idx:
                w[k, idx[u]] = x

    def score(cuts) -> dict:
        pred = np.zeros(len(users), dtype=bool)
        for k, c in enumerate(cuts):
            if c is not None:
                pred |= w[k] >= c
        tp, n_pred = int((pred & pos).sum()), int(pred.sum())
        prec, rec = (tp / n_pred if n_pred else 0.0), tp / max(int(pos.sum()), 1)
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        return {"precision": prec, "recall": rec, "f1": f1, "feedbots": int((pred & feed).sum()),
                "predicted": n_pred, "cuts": dict(zip(NETWORKS, cuts))}

    grid = itertools.product(cuts, repeat=len(NETWORKS))
    return {"default": score([TOOLKIT_DEFAULT_MIN_WEIGHT] * len(NETWORKS)),
            "best_single": max((score([c] * len(NETWORKS)) for c in cuts if c is not None), key=lambda s: s["f1"]),
            "best_tuned": max((score(c) for c in grid if any(x is not None for x in c)), key=lambda s: s["f1"])}


def cibscope_flagged(store: Path, run_id: int) -> set[str]:
    """User ids (``twitter:`` prefix dropped) in flagged clusters of run ``run_id``."""
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        rows = con.execute("""
            SELECT DISTINCT m.account_key FROM cluster_members m JOIN clusters c USING (run_id, cluster_id)
            WHERE m.run_id = ? AND c.flagged""", [run_id]).fetchall()
        return {k.split(":", 1)[1] for (k,) in rows}
    finally:
        con.close()


def last_run(store: Path) -> tuple[int, float]:
    """(run_id, detection seconds) of the store's latest run."""
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        return tuple(con.execute("SELECT run_id, seconds FROM runs ORDER BY run_id DESC LIMIT 1").fetchone())
    finally:
        con.close()


def fresh_store(store: Path) -> None:
    """Delete the DuckDB file ``store`` and its WAL, if present."""
    for p in (store, Path(str(store) + ".wal")):
        p.unlink(missing_ok=True)


def warm_up(cli: str, posts: Path, store: Path, out: Path) -> None:
    """One untimed ``cibscope ingest`` and ``detect`` of ``posts``, so that the timed commands run as a user's second run.

    Python keeps the byte-code of what a command imports (``__pycache__``); with ``PYTHONDONTWRITEBYTECODE``
    set (the development machine's shell sets it, as some CI images do) every command would compile its
    ~1,000 modules again (1.6 s per command there). The variable is unset for this process and its children.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    fresh_store(store)
    for cmd in (["ingest", str(posts), "--format", "cnt-csv"], ["detect", "--window", "60s", "--out", str(out)]):
        subprocess.run([cli, *cmd, "--db", str(store)], check=True, capture_output=True)


# ---- driver -------------------------------------------------------------------------------------

def bench(data: Path, work: Path, repeat: int, toolkit_repeat: int, ingest_repeat: int = 1,
          toolkit_min_edge_weight: int = 1) -> dict:
    """Run both tools on ``data/posts.csv``; return every measurement (see the module doc)."""
    posts = data / "posts.csv"
    truth = read_truth(data)
    cli = str(Path(sys.executable).with_name("cibscope"))
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"data": str(data), "posts": sum(1 for _ in open(posts, "rb")) - 1, "toolkit": [], "ingest": [], "cibscope": []}

    for i in range(toolkit_repeat):
        db, js = work / "cnt.sqlite", work / "cnt.json"
        wall, peak, cpu = timed([sys.executable, __file__, "_toolkit", str(posts), str(db), str(js),
                                 str(toolkit_min_edge_weight)])
        steps = json.loads(js.read_text())
        steps.update(wall=wall, cpu=cpu, peak_mib=peak, networks=sum(steps[n] for n in NETWORKS))
        res["toolkit"].append(steps)
        print(f"toolkit run {i + 1}: {json.dumps({k: round(v, 1) for k, v in steps.items()})}", flush=True)
    if toolkit_repeat:
        res["toolkit_max_weights"] = toolkit_max_weights(work / "cnt.sqlite")
        res["toolkit_quality"] = toolkit_quality(res["toolkit_max_weights"], truth, toolkit_min_edge_weight)
        for suffix in ("", "-wal", "-shm"):
            Path(str(work / "cnt.sqlite") + suffix).unlink(missing_ok=True)

    store = work / "store.duckdb"
    warm_up(cli, posts, store, work / "out-warm")
    for i in range(ingest_repeat):
        fresh_store(store)
        wall, peak, cpu = timed([cli, "ingest", str(posts), "--format", "cnt-csv", "--db", str(store)])
        res["ingest"].append({"ingest": wall, "ingest_cpu": cpu, "ingest_peak_mib": peak})
        print(f"cibscope ingest {i + 1}: {json.dumps({k: round(v, 1) for k, v in res['ingest'][-1].items()})}",
              flush=True)
    for i in range(repeat):
        row = {}
        for label, extra in (("", []), ("all_", ["--signals", ",".join(SIGNALS)])):
            out = work / f"out-{label or 'default_'}{i}"
            shutil.rmtree(out, ignore_errors=True)
            wall, peak, cpu = timed([cli, "detect", "--window", "60s", *extra, "--db", str(store), "--out", str(out)])
            run_id, det_s = last_run(store)
            row.update({f"{label}detect": wall, f"{label}detect_cpu": cpu, f"{label}detect_peak_mib": peak,
                        f"{label}detect_run_s": det_s})
            if i == repeat - 1 and not label:
                res["cibscope_quality_60s"] = scores(cibscope_flagged(store, run_id), truth)
        if i == repeat - 1:
            w, pk, cp = timed([cli, "detect", "--window", "1h", "--max-object-accounts", "100", "--db", str(store),
                              "--out", str(work / "out-1h")])
            run_1h, s_1h = last_run(store)
            res["cibscope_quality_1h"] = scores(cibscope_flagged(store, run_1h), truth)
            res["cibscope_1h"] = {"detect": w, "detect_cpu": cp, "detect_peak_mib": pk, "detect_run_s": s_1h}
        res["cibscope"].append(row)
        print(f"cibscope run {i + 1}: {json.dumps({k: round(v, 1) for k, v in row.items()})}", flush=True)
    return res


def summarise(res: dict) -> str:
    """Markdown lines: medians, ratio, memory, quality."""
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    lines = [f"posts: {res['posts']:,} ({res['data']})"]
    c = res["cibscope"]
    if res["toolkit"]:
        t = res["toolkit"]
        lines.append(f"toolkit ({len(t)} run(s), median): load {med(t, 'load'):.1f} s, "
                     + ", ".join(f"{n} {med(t, n):.1f} s" for n in NETWORKS)
                     + f", four networks {med(t, 'networks'):.1f} s, CPU (load + networks) {med(t, 'cpu'):.1f} s, "
                       f"peak {med(t, 'peak_mib'):.0f} MiB")
    if not c:
        return "\n".join(lines + _quality_lines(res))
    g = res["ingest"]
    lines.append(f"cibscope ingest ({len(g)} run(s), median): {med(g, 'ingest'):.1f} s "
                 f"(CPU {med(g, 'ingest_cpu'):.1f} s, peak {med(g, 'ingest_peak_mib'):.0f} MiB)")
    for label, what in (("", "default signals"), ("all_", "every signal")):
        lines.append(f"cibscope detect, {what} ({len(c)} runs, median): CLI {med(c, label + 'detect'):.1f} s "
                     f"(CPU {med(c, label + 'detect_cpu'):.1f} s; peak {med(c, label + 'detect_peak_mib'):.0f} MiB), "
                     f"detection itself {med(c, label + 'detect_run_s'):.1f} s")
        if res["toolkit"]:
            nets = med(res["toolkit"], "networks")
            lines.append(f"  ratio toolkit four networks / cibscope {what}: detection "
                         f"{nets / med(c, label + 'detect_run_s'):.1f}x, detect CLI {nets / med(c, label + 'detect'):.1f}x")
    if res["toolkit"]:
        lines.append(f"  end to end, (toolkit load + networks) / (cibscope ingest + detect CLI, default signals): "
                     f"{(nets + med(res['toolkit'], 'load')) / (med(c, 'detect') + med(g, 'ingest')):.1f}x")
    return "\n".join(lines + _quality_lines(res))


def _quality_lines(res: dict) -> list[str]:
    lines = []
    for key in ("cibscope_quality_60s", "cibscope_quality_1h"):
        if key not in res:
            continue
        q = res[key]
        lines.append(f"{key}: P {q['precision']:.3f} R {q['recall']:.3f} F1 {q['f1']:.3f} "
                     f"feedbots {q['feedbots']} predicted {q['predicted']}")
    if "toolkit_quality" in res:
        for k, q in res["toolkit_quality"].items():
            lines.append(f"toolkit union, {k} cuts {q['cuts']}: P {q['precision']:.3f} R {q['recall']:.3f} "
                         f"F1 {q['f1']:.3f} feedbots {q['feedbots']} predicted {q['predicted']}")
    return lines


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "_toolkit":  # child process: one toolkit repetition
        steps = toolkit_run(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[5]))
        Path(sys.argv[4]).write_text(json.dumps(steps))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="gen_posts.py output folder (posts.csv, truth.csv)")
    ap.add_argument("--repeat", type=int, default=3, help="cibscope repetitions")
    ap.add_argument("--toolkit-repeat", type=int, default=1, help="toolkit repetitions (0: skip the toolkit)")
    ap.add_argument("--ingest-repeat", type=int, default=1, help="cibscope ingest repetitions (detection reuses the last store)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_detect_work"))
    ap.add_argument("--toolkit-min-edge-weight", type=int, default=1,
                    help="the toolkit's --min_edge_weight: 1 (default) keeps every edge for the quality sweep, "
                         "2 is its CLI default (the end-to-end comparison of issue 19); the sweep then starts at 2")
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}, load average at start {os.getloadavg()[0]:.1f}", flush=True)
    res = bench(a.data, a.work, a.repeat, a.toolkit_repeat, a.ingest_repeat, a.toolkit_min_edge_weight)
    res["toolkit_min_edge_weight"] = a.toolkit_min_edge_weight
    res["loadavg_end"] = os.getloadavg()[0]
    (a.work / f"results-{a.data.name}.json").write_text(json.dumps(res, indent=1))
    print(summarise(res))


if __name__ == "__main__":
    main()
