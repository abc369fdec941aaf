#!/usr/bin/env python3
"""Web app responsiveness on the full IRA data: cluster list and a ~500-node cluster in a real browser.

Builds (or reuses, ``--db``) a store holding all of ``ira-troll-tweets-by-author`` (reader ``ira-csv``)
and one detection run at ``--resolution`` (Leiden; 0.3 makes a cluster of more than 500 accounts on this
data, where the default 1.0 stops at 356), starts the app (``cibscope serve``'s app, Uvicorn in a
thread) and drives Debian's chromium with Playwright. Each repetition is a fresh page load:

* cluster list: from ``page.goto`` to the ``load`` event of ``/clusters`` (the first 100 clusters);
* cluster page: from ``page.goto`` of the largest cluster until its network is drawn (cytoscape.js
  ``ready`` after fetching ``/api/.../network``), split into HTML (server + load) and network
  (fetch + draw); the server's part of the HTML is the Navigation Timing ``responseEnd - requestStart``
  of the page, and its DISARM table (fetched after the page) is waited for as well.

The first load of each page is reported apart: it computes the cluster's views (the page starts
its network and DISARM tags in the background as it renders); the later loads are served from the
app's view cache (:meth:`cibscope.web.core.WebContext.cached`) and the browser draws again. The medians are over the other ``--repeat`` loads. Prints a Markdown block for docs/benchmarks.md.

Usage::

    python bench/bench_web.py --data ../shared/data/ira-troll-tweets-by-author --repeat 5
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path


def build_store(db: Path, data: Path, resolution: float) -> int:
    """Ingest ``data`` unless the store has it, detect at ``resolution`` unless a run with it exists;
    return the run id."""
    from cibscope.detect import DetectionParams, detect
    from cibscope.ingest import ingest
    from cibscope.store.db import Store

    with Store(db) as s:
        if not s.con.execute("SELECT count(*) FROM posts").fetchall()[0][0]:
            t = time.perf_counter()
            ingest(s, data, fmt="ira-csv")
            print(f"ingest {data}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        for run_id, params in s.con.execute("SELECT run_id, params FROM runs ORDER BY run_id").fetchall():
            if f'"resolution":{resolution}' in params.replace(" ", ""):
                return run_id
        t = time.perf_counter()
        r = detect(s, DetectionParams(resolution=resolution))
        print(f"detect (resolution {resolution}): {time.perf_counter() - t:.1f} s", file=sys.stderr)
        return r.run_id


def serve(app):
    """Uvicorn on a free 127.0.0.1 port in a thread; returns (server, base URL)."""
    import socket

    import uvicorn
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/ira-troll-tweets-by-author"))
    ap.add_argument("--db", type=Path, help="store to use (built when empty); default: a temporary one")
    ap.add_argument("--resolution", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from cibscope.store.db import Store
    from cibscope.web.app import Settings, create_app
    from cibscope.web.state import WebState

    tmp = Path(tempfile.mkdtemp(prefix="cibscope-bench-web-"))
    db = args.db or tmp / "ira.duckdb"
    run = build_store(db, args.data, args.resolution)
    with Store(db, read_only=True) as s:
        cid, n_acc, n_edges = s.con.execute("SELECT cluster_id, n_accounts, n_edges FROM clusters WHERE run_id = ? "
                                            "ORDER BY n_accounts DESC LIMIT 1", [run]).fetchall()[0]
        n_clusters = s.con.execute("SELECT count(*) FROM clusters WHERE run_id = ?", [run]).fetchall()[0][0]
    WebState(tmp / "web.sqlite").add_user("bench", "analyst", "bench-password")
    server, base = serve(create_app(Settings(str(db), str(tmp / "web.sqlite"), read_only=True)))
    load_before = os.getloadavg()
    lists, htmls, nets, totals, servers = [], [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(base + "/login")
        page.fill("input[name=name]", "bench")
        page.fill("input[name=password]", "bench-password")
        page.click("#login-form button[type=submit]")
        page.wait_for_url(base + "/clusters")
        for i in range(args.repeat + 1):
            t = time.perf_counter()
            page.goto(f"{base}/clusters?run={run}", wait_until="load")
            lists.append(time.perf_counter() - t)
            t = time.perf_counter()
            page.goto(f"{base}/runs/{run}/clusters/{cid}", wait_until="load")
            html = time.perf_counter() - t
            page.wait_for_selector("#cy[data-ready='1']")
            page.wait_for_selector("#disarm-box[data-ready='1']")
            total = time.perf_counter() - t
            servers.append(page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0]; "
                                         "return (n.responseEnd - n.requestStart) / 1000; }"))
            drawn = int(page.get_attribute("#cy", "data-nodes"))
            n_drawn_edges = int(page.get_attribute("#cy", "data-edges"))
            assert drawn == n_acc, (drawn, n_acc)
            htmls.append(html)
            nets.append(total - html)
            totals.append(total)
        browser.close()
    server.should_exit = True
    load_after = os.getloadavg()

    def med(xs: list[float]) -> str:
        return f"{statistics.median(xs[1:]):.2f}"

    print(f"""
Command: `python bench/bench_web.py --data {args.data} --resolution {args.resolution} --repeat {args.repeat}`
Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, chromium headless;
load average (1/5/15 min) {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f} before,
{load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} after.
Run {run}: {n_clusters} clusters; largest {cid}: {n_acc} accounts (all drawn), {n_edges:,} edges (laid out;
{n_drawn_edges:,} drawn).

| page | first load s | median of {args.repeat} s | runs s |
|---|---|---|---|
| cluster list (`/clusters`, load event) | {lists[0]:.2f} | {med(lists)} | {', '.join(f'{x:.2f}' for x in lists[1:])} |
| cluster page HTML, server part (request to response end) | {servers[0]:.2f} | {med(servers)} | {', '.join(f'{x:.2f}' for x in servers[1:])} |
| cluster page HTML ({n_acc} accounts, load event) | {htmls[0]:.2f} | {med(htmls)} | {', '.join(f'{x:.2f}' for x in htmls[1:])} |
| then network fetched and drawn, DISARM table shown | {nets[0]:.2f} | {med(nets)} | {', '.join(f'{x:.2f}' for x in nets[1:])} |
| cluster page total | {totals[0]:.2f} | {med(totals)} | {', '.join(f'{x:.2f}' for x in totals[1:])} |
""")


if __name__ == "__main__":
    main()
