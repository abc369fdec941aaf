#!/usr/bin/env python3
"""Scaling of detection: the embedded DuckDB engine and Spark (local) on growing generated data.

For each ``--posts`` size: ``../shared/bench/gen_posts.py`` writes ``posts.csv`` (skipped when the
folder already has one), ``cibscope ingest --format cnt-csv`` loads a store once and
``cibscope export`` writes its Parquet tables. Then, one step at a time, each engine runs the same
detection (default parameters, window 60 s) ``--repeat`` times in a fresh process under
``/usr/bin/time -v``:

* ``duckdb``: ``detect(store, params)`` on a fresh copy of the ingested store;
* ``spark``: ``detect_parquet(store, <export>, params)`` with ``--master`` (default ``local[2]``),
  session start included in the wall time, the run's own time (``runs.seconds``) reported too.

``--replicate K`` adds, for the largest ``--posts`` size, a store whose ``actions`` are K disjoint copies
of that size's actions (copy k suffixes account, object and post keys with ``~k``; timestamps are
kept): K times the actions with the same per-object structure (the null model's expectations
shrink with the number of accounts, so edge and cluster counts are not exactly K times). This
reaches 100M actions without generating and ingesting ~65M posts (DuckDB engine only). ``--memory-limit`` sets ``CIBSCOPE_MEMORY_LIMIT`` for the
DuckDB children (DuckDB spills to ``<store>.tmp`` beyond it: out-of-core).

Recorded per run: wall seconds, the run's own seconds, peak memory (the larger of the child's
maximum RSS and the largest sampled sum over its process tree: for Spark, driver + JVM), actions, candidate pairs, edges, clusters, and the 1-minute load average before and
after (the machine may be shared). Prints Markdown rows (median of the runs) for
docs/benchmarks.md and writes ``<work>/scale.json``.

Usage::

    python bench/bench_scale.py --posts 200000 1000000 --engines duckdb spark --repeat 3 --work /tmp/bench_scale
    python bench/bench_scale.py --posts 10000000 --engines duckdb --repeat 1 --replicate 7 --memory-limit 12GB
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

GEN = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_posts.py"
CHILD = r"""
import json, sys, time
from cibscope.store.db import Store
from cibscope.detect import DetectionParams, detect
engine, store_path, export, master = sys.argv[1:5]
t = time.perf_counter()
store = Store(store_path)
if engine == "duckdb":
    r = detect(store, DetectionParams(window_s=60))
else:
    from cibscope.detect.spark import detect_parquet, spark_session
    session = spark_session(master)
    r = detect_parquet(store, export, DetectionParams(window_s=60), session=session)
print("RESULT " + json.dumps(dict(wall=time.perf_counter() - t, seconds=r.seconds, actions=r.n_actions,
      candidates=r.n_candidate_pairs, edges=r.n_edges, clusters=r.n_clusters)))
"""


def load() -> float:
    return os.getloadavg()[0]


def replicate(base: Path, k: int, out: Path) -> None:
    """Write ``out``: a copy of store ``base`` whose ``actions`` are ``k`` disjoint copies (see the module doc)."""
    import duckdb

    if out.exists():
        return
    tmp = out.with_suffix(".partial")
    shutil.copy(base, tmp)
    con = duckdb.connect(str(tmp))
    con.execute("CREATE TEMP TABLE base AS SELECT * FROM actions")
    for i in range(1, k):
        con.execute(f"""INSERT INTO actions SELECT account_key || '~{i}', action_type, object_key || '~{i}', ts,
                        post_key || '~{i}', dataset FROM base""")
    con.close()
    tmp.rename(out)


def tree_rss_kib(pid: int) -> int:
    """Resident memory (KiB) of process ``pid`` and all its descendants, from /proc (0 once it has gone)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        children.setdefault(int(fields["PPid"]), []).append(int(entry))
        rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def timed_child(args: list[str], env: dict | None = None) -> dict:
    """Run the detection child under /usr/bin/time -v; its RESULT plus peak memory (MiB).

    ``peak_rss_mib`` is the larger of /usr/bin/time's maximum resident set size (exact, but only for
    processes the child waits for: not Spark's JVM) and the largest sum of resident memory over the
    child's whole process tree, sampled every 0.25 s (for Spark: Python driver + JVM).

    Raises
    ------
    subprocess.CalledProcessError
        The child failed (its output is printed).
    """
    before = load()
    p = subprocess.Popen(["/usr/bin/time", "-v", sys.executable, "-W", "ignore", "-c", CHILD, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    tree_peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal tree_peak
        while not done.wait(0.25):
            tree_peak = max(tree_peak, tree_rss_kib(p.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = p.communicate()
    done.set()
    sampler.join()
    if p.returncode:
        print(stdout[-3000:], stderr[-3000:], file=sys.stderr)
        raise subprocess.CalledProcessError(p.returncode, args)
    out = json.loads(re.search(r"^RESULT (.*)$", stdout, re.M).group(1))
    time_v = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))
    out["peak_rss_mib"] = max(time_v, tree_peak) / 1024
    out["time_v_rss_mib"], out["tree_rss_mib"] = time_v / 1024, tree_peak / 1024
    out["load_before"], out["load_after"] = before, load()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--engines", nargs="+", default=["duckdb", "spark"], choices=["duckdb", "spark"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_scale"))
    ap.add_argument("--replicate", type=int, default=1, help="also run K disjoint copies of the largest size (DuckDB)")
    ap.add_argument("--memory-limit", help="CIBSCOPE_MEMORY_LIMIT for the DuckDB children, e.g. 12GB")
    ap.add_argument("--replicate-only", action="store_true", help="run only the --replicate store")
    a = ap.parse_args()
    env = dict(os.environ, **({"CIBSCOPE_MEMORY_LIMIT": a.memory_limit} if a.memory_limit else {}))
    a.work.mkdir(parents=True, exist_ok=True)
    cli = str(Path(sys.executable).parent / "cibscope")
    results = []
    for n in a.posts:
        data = a.work / f"g{n}"
        if not (data / "posts.csv").exists():
            subprocess.run([sys.executable, str(GEN), "--posts", str(n), "--out", str(data)], check=True)
        base = data / "store.duckdb"
        if not base.exists():
            subprocess.run([cli, "ingest", str(data / "posts.csv"), "--format", "cnt-csv", "--db", str(base)],
                           check=True, capture_output=True)
            subprocess.run([cli, "export", str(data / "export"), "--db", str(base)], check=True, capture_output=True)
        jobs = [] if a.replicate_only else [(engine, n, 1, base) for engine in a.engines]
        if a.replicate > 1 and n == max(a.posts):
            rep = data / f"store-x{a.replicate}.duckdb"
            replicate(base, a.replicate, rep)
            jobs.append(("duckdb", n, a.replicate, rep))
        for engine, n_posts, k, source in jobs:
            runs = []
            for _ in range(a.repeat):
                run_store = a.work / "run.duckdb"
                for leftover in (run_store, Path(f"{run_store}.wal")):
                    leftover.unlink(missing_ok=True)
                if engine == "duckdb":
                    shutil.copy(source, run_store)
                runs.append(timed_child([engine, str(run_store), str(data / "export"), a.master],
                                        env if engine == "duckdb" else None))
                time.sleep(1)
            med = {key: statistics.median(r[key] for r in runs) for key in ("wall", "seconds", "peak_rss_mib")}
            row = dict(posts=n_posts, copies=k, engine=engine, memory_limit=a.memory_limit if engine == "duckdb" else None,
                       runs=runs, **{f"median_{key}": v for key, v in med.items()})
            results.append(row)
            r0 = runs[0]
            label = f"{n_posts:,}" + (f" x {k} copies" if k > 1 else "")
            print(f"| {label} | {r0['actions']:,} | {engine} | {len(runs)} | {med['wall']:.1f} | {med['seconds']:.1f} | "
                  f"{med['peak_rss_mib']:,.0f} | {r0['candidates']:,} / {r0['edges']:,} / {r0['clusters']} | "
                  f"{min(r['load_before'] for r in runs):.1f}-{max(r['load_after'] for r in runs):.1f} |",
                  flush=True)
    (a.work / "scale.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
