#!/usr/bin/env python3
"""Ingest speed per reader: posts per second and peak memory on a generated file of N records.

For each format a file of ``--records`` posts is generated from that format's test fixture
(``tests/fixtures/<format>/``): its records are repeated with new ids, new times (one second
apart) and new account ids (``--accounts`` distinct authors), so the file has the fixture's
realistic shape (nesting, entities, text lengths) at scale. API responses hold a page of records
each (X v2: 100 tweets, TikTok: 100 videos, YouTube: 50 items), as the APIs return them;
Telegram is one ``result.json``; Mastodon one JSON array.

Each run ingests the file into a fresh store in a fresh process (``python -c``), which reports the
ingest's wall time (``time.perf_counter`` around :func:`cibscope.ingest.ingest`, including the
store's action derivation), its CPU seconds (user + system of all its threads, ``getrusage``: less
sensitive than wall time to other jobs on a shared machine) and its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``); the median of ``--repeat`` runs is kept. The generated file is deleted after its runs.

Anchor, measured in the same run on the same file: a DuckDB scan that only splits the file into
records without mapping anything (``read_csv`` of every column as text for CSV, ``read_json_objects``
for JSON lines and arrays; a Telegram export is one object, so its anchor is reading its bytes),
median of the same number of runs; ``ratio`` = ingest time / anchor time.

Second anchor, the **store floor**: the same split with every record written once into a fresh DuckDB
file and the file closed (``CREATE TABLE raw AS SELECT * FROM read_csv(..., all_varchar=true)`` or
``read_json_objects``), the least any ingest that keeps its records must do; ``ratio to floor`` = ingest
time / floor time. (An ingest also writes about five action rows per post and the accounts.)

Run it with the runtime install's Python (``make demo``'s ``.venv`` before ``make test`` adds the test
extras, or any venv with ``pip install .``): with pandas installed (the test extras bring it), pyarrow
imports it on the first Arrow array a process builds, inside the timed ingest (0.8-2 s, more on a cold
disk cache).

Usage::

    python bench/bench_ingest.py --records 1000000 --repeat 3 --out /tmp/bench_ingest.md

``--input FORMAT=PATH`` measures an existing file instead (kept afterwards), e.g. the
coordination-network-toolkit CSV of ``python3 ../shared/bench/gen_posts.py --posts 1000000 --out DIR``::

    python bench/bench_ingest.py --formats --input cnt-csv=DIR/posts.csv --repeat 3

``--reader-only`` runs the reader alone (its batches counted and dropped, no store), which shows
whether the reader's memory follows the file or a batch.

The Markdown table is appended row by row to ``--out`` (so a long run leaves partial results).
"""
from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

FIX = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
T0 = dt.datetime(2021, 9, 24, tzinfo=dt.timezone.utc)


def _iso(i: int) -> str:
    return (T0 + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _pages(items: Iterator, size: int) -> Iterator[list]:
    page = []
    for it in items:
        page.append(it)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def _jsonl(path: Path, objs: Iterator[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for o in objs:
            f.write(json.dumps(o, ensure_ascii=False) + "\n")


def _json_array_stream(f, objs: Iterator[dict]) -> None:
    f.write("[\n")
    for k, o in enumerate(objs):
        f.write((",\n" if k else "") + json.dumps(o, ensure_ascii=False, indent=1))
    f.write("\n]")


def gen_twitter_v2(path: Path, n: int, accounts: int) -> None:
    resp = [json.loads(line) for line in (FIX / "twitter-v2" / "responses.jsonl").read_text().splitlines()]
    tweets, user = resp[0]["data"] + resp[1]["data"], resp[0]["includes"]["users"][0]

    def items():
        for i in range(n):
            t = copy.deepcopy(tweets[i % len(tweets)])
            t["id"] = str(10**18 + i)
            t["author_id"] = str(10**15 + i % accounts)
            t["created_at"] = _iso(i)
            yield t

    def pages():
        for page in _pages(items(), 100):
            users = [dict(user, id=a, username=f"user{a}") for a in sorted({t["author_id"] for t in page})]
            yield {"data": page, "includes": {"users": users}, "meta": {"result_count": len(page)}}
    _jsonl(path, pages())


def _csv_gen(src: Path, path: Path, n: int, mutate: Callable[[dict, int], None]) -> None:
    with open(src, newline="", encoding="utf-8") as f:
        r = csv.DictReader(f)
        header, rows = r.fieldnames, list(r)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, header, lineterminator="\n")
        w.writeheader()
        for i in range(n):
            row = dict(rows[i % len(rows)])
            mutate(row, i)
            w.writerow(row)


def gen_twitter_io(path: Path, n: int, accounts: int) -> None:
    def mutate(row: dict, i: int) -> None:
        row["tweetid"] = str(10**18 + i)
        row["userid"] = str(10**9 + i % accounts)
        row["tweet_time"] = (T0 + dt.timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M")
    _csv_gen(FIX / "twitter-io" / "ira_sample_tweets_csv_hashed.csv", path, n, mutate)


def gen_crowdtangle(path: Path, n: int, accounts: int) -> None:
    def mutate(row: dict, i: int) -> None:
        page = str(10**14 + i % accounts)
        row["Facebook Id"] = page
        row["URL"] = f"https://www.facebook.com/{page}/posts/{10**15 + i}"
        row["Post Created"] = (T0 + dt.timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S UTC")
    _csv_gen(FIX / "crowdtangle" / "facebook_posts.csv", path, n, mutate)


def gen_telegram(path: Path, n: int, accounts: int) -> None:
    chat = json.loads((FIX / "telegram" / "result.json").read_text())
    msgs = [m for m in chat["messages"] if m["type"] == "message"]

    def items():
        for i in range(n):
            m = dict(msgs[i % len(msgs)], id=i + 1, date_unixtime=str(int(T0.timestamp()) + i),
                     from_id=f"channel{10**9 + i % accounts}")
            m["date"] = _iso(i)[:19]
            yield m
    with open(path, "w", encoding="utf-8") as f:
        f.write('{\n "name": "bench",\n "type": "public_channel",\n "id": 1501234567,\n "messages": ')
        _json_array_stream(f, items())
        f.write("\n}\n")


def gen_bluesky(path: Path, n: int, accounts: int) -> None:
    recs = [json.loads(line) for line in (FIX / "bluesky" / "records.jsonl").read_text().splitlines()]
    posts = [r for r in recs if r.get("commit", {}).get("collection") in ("app.bsky.feed.post", "app.bsky.feed.repost")]

    def items():
        for i in range(n):
            r = copy.deepcopy(posts[i % len(posts)])
            r["did"] = f"did:plc:bench{i % accounts:012d}"
            r["commit"]["rkey"] = f"3k{i:011d}"
            r["commit"]["record"]["createdAt"] = _iso(i)
            yield r
    _jsonl(path, items())


def gen_mastodon(path: Path, n: int, accounts: int) -> None:
    statuses = json.loads((FIX / "mastodon" / "statuses.json").read_text())
    simple = [s for s in statuses if s["reblog"] is None]

    def items():
        for i in range(n):
            s = copy.deepcopy(simple[i % len(simple)])
            s["id"] = str(10**17 + i)
            s["created_at"] = _iso(i)
            s["account"]["id"] = str(10**6 + i % accounts)
            s["account"]["acct"] = f"user{i % accounts}"
            yield s
    with open(path, "w", encoding="utf-8") as f:
        _json_array_stream(f, items())


def gen_tiktok(path: Path, n: int, accounts: int) -> None:
    resp = [json.loads(line) for line in (FIX / "tiktok" / "video_query.jsonl").read_text().splitlines()]
    videos = resp[0]["data"]["videos"] + resp[1]["data"]["videos"]

    def items():
        for i in range(n):
            yield dict(videos[i % len(videos)], id=7 * 10**18 + i, create_time=int(T0.timestamp()) + i,
                       username=f"user{i % accounts}")
    _jsonl(path, ({"data": {"videos": p, "cursor": 0, "has_more": True, "search_id": "bench"},
                   "error": {"code": "ok", "message": "", "log_id": "bench"}} for p in _pages(items(), 100)))


def gen_youtube(path: Path, n: int, accounts: int) -> None:
    item = json.loads((FIX / "youtube" / "responses.jsonl").read_text().splitlines()[0])["items"][0]

    def items():
        for i in range(n):
            it = copy.deepcopy(item)
            it["id"] = f"v{i:010d}"
            it["snippet"]["channelId"] = f"UC{i % accounts:022d}"
            it["snippet"]["publishedAt"] = _iso(i)[:19] + "Z"
            yield it
    _jsonl(path, ({"kind": "youtube#videoListResponse", "items": p} for p in _pages(items(), 50)))


#: format -> (generator, file suffix)
GENERATORS: dict[str, tuple[Callable[[Path, int, int], None], str]] = {
    "twitter-v2": (gen_twitter_v2, ".jsonl"), "twitter-io": (gen_twitter_io, ".csv"),
    "crowdtangle": (gen_crowdtangle, ".csv"), "telegram": (gen_telegram, ".json"),
    "bluesky": (gen_bluesky, ".jsonl"), "mastodon": (gen_mastodon, ".json"),
    "tiktok": (gen_tiktok, ".jsonl"), "youtube": (gen_youtube, ".jsonl"),
}

#: Run first in both children: the CSV readers' piece size (argv 4, MiB) and batch size (argv 5, posts)
#: when given ("0" keeps the shipped ``ingest.tabular`` values).
SIZES = """
import sys
from cibscope.ingest import tabular
if sys.argv[4] != "0":
    tabular.CSV_CHUNK_BYTES = int(sys.argv[4]) << 20
if sys.argv[5] != "0":
    tabular.BATCH_ROWS = int(sys.argv[5])
"""

CHILD = """
import json, resource, sys, time
from cibscope.ingest import ingest
from cibscope.store.db import Store
s = Store(sys.argv[2])
u0 = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
r = ingest(s, sys.argv[1], fmt=sys.argv[3])
wall = time.perf_counter() - t
u1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime
print(json.dumps({"wall": wall, "cpu": cpu, "posts": r.posts_added, "errors": r.errors,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


#: ``--reader-only``: the reader's batches are counted and dropped (no store), to see the reader's own memory.
CHILD_READER = """
import json, resource, sys, time
from pathlib import Path
import duckdb
from cibscope.ingest import READERS
from cibscope.store.normalize import install_macros
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute("SET TimeZone = 'UTC'")
install_macros(con)
u0 = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
posts = errors = 0
for b in READERS[sys.argv[3]]().read(Path(sys.argv[1]), con):
    posts += b.posts.num_rows if b.posts is not None else 0
    errors += b.errors.num_rows if b.errors is not None else 0
wall = time.perf_counter() - t
u1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime
print(json.dumps({"wall": wall, "cpu": cpu, "posts": posts, "errors": errors,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


ANCHOR = """
import duckdb, sys, time
f, kind = sys.argv[1], sys.argv[2]
duckdb.execute("SET enable_progress_bar = false")
t = time.perf_counter()
if kind == "csv":
    duckdb.sql("SELECT count(*) FROM read_csv($f, all_varchar=true)", params={"f": f}).fetchall()
elif kind in ("jsonl", "array"):
    fmt = "newline_delimited" if kind == "jsonl" else "array"
    duckdb.sql(f"SELECT count(*) FROM read_json_objects($f, format='{fmt}')", params={"f": f}).fetchall()
else:
    with open(f, "rb") as fh:
        while fh.read(1 << 24):
            pass
print(time.perf_counter() - t)
"""


#: The floor of any ingest that keeps the records: the same split as ANCHOR, with every record written
#: once into a fresh DuckDB file (CSV: all columns as text; JSON: each record's text), closed (checkpoint).
STORE_FLOOR = """
import duckdb, os, sys, tempfile, time
f, kind = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as tmp:
    con = duckdb.connect(os.path.join(tmp, "floor.duckdb"))
    con.execute("SET enable_progress_bar = false")
    t = time.perf_counter()
    if kind == "csv":
        con.execute("CREATE TABLE raw AS SELECT * FROM read_csv($f, all_varchar=true)", {"f": f})
    else:
        fmt = "newline_delimited" if kind == "jsonl" else "array"
        con.execute(f"CREATE TABLE raw AS SELECT * FROM read_json_objects($f, format='{fmt}')", {"f": f})
    con.close()
    print(time.perf_counter() - t)
"""


def _split_kind(path: Path, fmt: str) -> str:
    """How the anchors split ``path`` into records: ``csv``, ``jsonl``, ``array`` or ``bytes`` (Telegram)."""
    return {"telegram": "bytes", "mastodon": "array"}.get(fmt, path.suffix.lstrip("."))


def _median_child(code: str, path: Path, kind: str, repeat: int) -> float:
    """Median of the seconds that ``code`` prints, run ``repeat`` times in a fresh process on ``path``."""
    return statistics.median(float(subprocess.run([sys.executable, "-c", code, str(path), kind], check=True,
                                                  capture_output=True, text=True).stdout.split()[-1])
                             for _ in range(repeat))


def store_floor(path: Path, fmt: str, repeat: int) -> float | None:
    """Median seconds of :data:`STORE_FLOOR` on ``path``; None for Telegram (one JSON object: no record split)."""
    kind = _split_kind(path, fmt)
    return None if kind == "bytes" else _median_child(STORE_FLOOR, path, kind, repeat)


def anchor(path: Path, fmt: str, repeat: int) -> float:
    """Median seconds of the anchor scan of ``path`` (see the module doc)."""
    return _median_child(ANCHOR, path, _split_kind(path, fmt), repeat)


def measure(fmt: str, path: Path, repeat: int, reader_only: bool = False, csv_chunk_mib: int = 0,
            batch_rows: int = 0) -> dict:
    """Median wall time, posts, and the largest peak RSS over ``repeat`` fresh-process ingests.

    ``csv_chunk_mib``: the CSV readers' piece size (``ingest.tabular.CSV_CHUNK_BYTES``) in MiB;
    ``batch_rows``: posts per batch handed to the store by the CSV readers (``ingest.tabular.BATCH_ROWS``);
    0 keeps the shipped value.
    """
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            child = SIZES + (CHILD_READER if reader_only else CHILD)
            out = subprocess.run([sys.executable, "-c", child, str(path), os.path.join(tmp, "b.duckdb"), fmt,
                                  str(csv_chunk_mib), str(batch_rows)],
                                 check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
    wall = statistics.median(r["wall"] for r in runs)
    return {"wall": wall, "cpu": statistics.median(r["cpu"] for r in runs), "posts": runs[0]["posts"], "errors": runs[0]["errors"],
            "peak_mib": max(r["peak_mib"] for r in runs), "walls": [r["wall"] for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", nargs="*", default=list(GENERATORS))
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--input", nargs="*", default=[], metavar="FORMAT=PATH",
                    help="also measure these existing files (not generated, not deleted)")
    ap.add_argument("--reader-only", action="store_true",
                    help="time the reader alone: batches are counted, not stored (posts = valid records)")
    ap.add_argument("--out", type=Path, help="append the Markdown rows here as they are measured")
    ap.add_argument("--csv-chunk-mib", type=int, default=0,
                    help="CSV piece size in MiB (ingest.tabular.CSV_CHUNK_BYTES; default 0: the shipped value): "
                         "the memory / speed trade-off of the CSV readers")
    ap.add_argument("--batch-rows", type=int, default=0,
                    help="posts per batch the CSV readers hand to the store (ingest.tabular.BATCH_ROWS; default 0: "
                         "the shipped value)")
    a = ap.parse_args()
    what = f"{a.records:,} posts per generated file, {a.accounts:,} accounts" if a.formats else "given files"
    if a.csv_chunk_mib:
        what += f", CSV pieces of {a.csv_chunk_mib} MiB"
    if a.batch_rows:
        what += f", batches of {a.batch_rows:,} posts"
    head = (f"{what}, median of {a.repeat} runs; "
            f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start\n\n"
            "| format | file MiB | ingest s (median) | posts/s | CPU s (median) | peak RSS MiB | anchor s | ratio | "
            "store floor s | ratio to floor | runs s |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
    print(head, end="")
    if a.out:
        a.out.write_text(head)
    jobs = [(fmt, None) for fmt in a.formats] + [tuple(i.split("=", 1)) for i in a.input]
    for fmt, given in jobs:
        if given:
            path = Path(given)
        else:
            gen, suffix = GENERATORS[fmt]
            path = a.tmp / f"bench_ingest_{fmt}{suffix}"
            gen(path, a.records, a.accounts)
        try:
            m = measure(fmt, path, a.repeat, a.reader_only, a.csv_chunk_mib, a.batch_rows)
            base = anchor(path, fmt, a.repeat)
            floor = store_floor(path, fmt, a.repeat)
            floor_cells = f"{floor:.1f} | {m['wall'] / floor:.1f}" if floor else "- | -"
            row = (f"| `{fmt}` | {path.stat().st_size / 2**20:,.0f} | {m['wall']:.1f} | "
                   f"{m['posts'] / m['wall']:,.0f} | {m['cpu']:.1f} | {m['peak_mib']:,.0f} | {base:.1f} | {m['wall'] / base:.0f} | "
                   f"{floor_cells} | {', '.join(f'{w:.1f}' for w in m['walls'])} |\n")
            if (m["posts"] != a.records and not given) or m["errors"]:
                row = row.rstrip("\n") + f" posts {m['posts']:,}, errors {m['errors']:,} |\n"
        finally:
            if not given:
                path.unlink(missing_ok=True)
        print(row, end="", flush=True)
        if a.out:
            with open(a.out, "a") as f:
                f.write(row)


if __name__ == "__main__":
    main()
