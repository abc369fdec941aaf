#!/usr/bin/env python3
"""Load benchmark of the TAXII hub over loopback: objects GET and POST with several concurrent clients.

The script builds a hub in a temporary folder (one API root, one collection, a platform
and a research organisation), preloads ``--preload`` objects through the normal write
path, starts ``python -m cibscope.share.serve`` on a free 127.0.0.1 port and runs, per
repetition, these phases with ``--clients`` threads (one keep-alive ``requests`` session
each) until ``--requests`` requests are done (POST: ``--posts``):

* ``discovery`` (anchor): ``GET /taxii2/`` - authentication and routing, no data access;
* ``GET objects``: a page of ``--page`` objects from a random offset of the collection
  (policy check per object, audit entry per request);
* ``POST objects``: envelopes of ``--batch`` new objects (stix2-validator, policy, one
  write transaction with status and audit entry);
* ``GET objects, 1 client`` and ``medallion GET, 1 client`` (anchor): the same pages from
  medallion 3.0 (if installed; memory backend, objects posted through its API). One client
  only: medallion's memory backend answers HTTP 500 under concurrent GETs.

Each phase reports requests/s, objects/s and p50/p99 latency (ms); the table holds the
median over ``--repeat`` repetitions, and the ratios of GET objects to the anchors. The
clients run on the same machine as the server, so the anchor absorbs their cost.

Usage::

    python bench/taxii_load.py --clients 4 --requests 300 --posts 40 --batch 10 --preload 1000 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Optional

import requests

from cibscope.share.auth import authenticate_token
from cibscope.share.hub import Hub
from cibscope.share.markings import TLP2_IDS, purpose_marking
from cibscope.share.serve import free_port, spawn, start_process, stop

TAXII = "application/taxii+json;version=2.1"
ROOT, COLLECTION = "bench", "c0ffee00-0000-4000-8000-000000000001"
MED_ROOT, MED_USER, MED_PASSWORD = "bench", "bench", "bench-password"


def make_objects(n: int, marking: dict) -> list[dict]:
    """``n`` TLP:CLEAR threat-actor and user-account objects (half each) under ``marking``."""
    marks = [TLP2_IDS["clear"], marking["id"]]
    out = []
    for i in range(n):
        if i % 2:
            out.append({"type": "user-account", "spec_version": "2.1", "id": f"user-account--{uuid.uuid4()}",
                        "user_id": str(10**9 + i), "account_login": f"acct{i}", "account_type": "twitter",
                        "object_marking_refs": marks})
        else:
            out.append({"type": "threat-actor", "spec_version": "2.1", "id": f"threat-actor--{uuid.uuid4()}",
                        "created": "2018-02-16T00:00:00.000Z", "modified": "2018-02-16T00:00:00.000Z",
                        "name": f"Operation {i}", "threat_actor_types": ["nation-state"],
                        "object_marking_refs": marks})
    return out


def setup_hub(db: Path, preload: int) -> tuple[dict[str, str], dict, list[dict]]:
    """Create the hub and preload objects; return tokens, the purpose marking and the preloaded objects."""
    hub = Hub(db)
    hub.add_api_root(ROOT, "Benchmark hub")
    hub.add_collection(ROOT, "bench", collection_id=COLLECTION)
    tokens = {}
    for org, sector in (("Platform", "platform"), ("Lab", "research")):
        hub.add_org(org, sector)
        hub.add_user(org.lower(), org)
        tokens[org.lower()] = hub.add_token(org.lower())
        hub.grant(org, COLLECTION, read=True, write=True)
    marking = purpose_marking(["research", "platform-integrity"], "benchmark", 3650)
    objs = make_objects(preload, marking)
    with hub.engine.connect() as conn:
        who = authenticate_token(conn, tokens["lab"])
    for i in range(0, len(objs), 200):
        st = hub.post_objects(ROOT, COLLECTION, who, "research", ([marking] if i == 0 else []) + objs[i:i + 200])
        assert st["failure_count"] == 0, st["failures"][:3]
    hub.engine.dispose()
    return tokens, marking, [marking] + objs


def start_medallion(tmp: Path, objs: list[dict]):
    """medallion 3.0 on a free port with ``objs`` posted to one collection; (None, None) if not installed."""
    try:
        import medallion  # noqa: F401
    except ImportError:
        return None, None
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    col = {"id": COLLECTION, "title": "bench", "can_read": True, "can_write": True,
           "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}
    data = {"/discovery": {"title": "medallion", "default": f"{base}/{MED_ROOT}/", "api_roots": [f"{base}/{MED_ROOT}/"]},
            MED_ROOT: {"information": {"title": "bench", "versions": [TAXII], "max_content_length": 10**8},
                       "status": [], "collections": [col]}}
    (tmp / "med-data.json").write_text(json.dumps(data))
    (tmp / "med-config.json").write_text(json.dumps({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": str(tmp / "med-data.json")},
        "users": {MED_USER: MED_PASSWORD}, "taxii": {"max_page_size": 1000}}))
    proc = start_process([sys.executable, "-c", "from medallion.scripts.run import main; main()", "--port",
                          str(port), "--log-level", "ERROR", str(tmp / "med-config.json")], port)
    url = f"{base}/{MED_ROOT}/collections/{COLLECTION}/objects/"
    r = requests.post(url, data=json.dumps({"objects": objs}), auth=(MED_USER, MED_PASSWORD),
                      headers={"Accept": TAXII, "Content-Type": TAXII}, timeout=300)
    assert r.status_code == 202 and r.json()["success_count"] == len(objs), r.text[:300]
    return proc, url


def run_phase(n: int, clients: int, make_request: Callable[[requests.Session, int], int]) -> dict:
    """Run ``n`` requests with ``clients`` threads; ``make_request(session, i)`` returns the objects moved."""
    lat: list[float] = []
    moved = [0]
    lock = threading.Lock()
    counter = iter(range(n))
    errors: list[str] = []

    def worker() -> None:
        with requests.Session() as s:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t = time.perf_counter()
                try:
                    k = make_request(s, i)
                except Exception as exc:  # report, do not hide: the run is then invalid
                    errors.append(repr(exc))
                    return
                dt = time.perf_counter() - t
                with lock:
                    lat.append(dt)
                    moved[0] += k

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    lat.sort()
    return {"requests": len(lat), "wall_s": wall, "req_s": len(lat) / wall, "obj_s": moved[0] / wall,
            "p50_ms": 1000 * lat[len(lat) // 2], "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))]}


def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=400, help="GET requests per phase and repetition")
    ap.add_argument("--posts", type=int, default=60, help="POST requests per repetition")
    ap.add_argument("--medallion-requests", type=int, default=20,
                    help="medallion GETs per repetition (each takes about a second at 1,000 objects)")
    ap.add_argument("--batch", type=int, default=10, help="objects per POST")
    ap.add_argument("--page", type=int, default=100, help="objects per GET page")
    ap.add_argument("--preload", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="cibscope-taxii-bench-") as tmp_s:
        tmp = Path(tmp_s)
        t = time.perf_counter()
        tokens, marking, objs = setup_hub(tmp / "hub.sqlite", args.preload)
        print(f"setup: {len(objs)} objects preloaded in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        proc, base = spawn(tmp / "hub.sqlite")
        med, med_url = start_medallion(tmp, objs)
        url = f"{base}/{ROOT}/collections/{COLLECTION}/objects/"
        read_h = {"Accept": TAXII, "Authorization": f"Bearer {tokens['platform']}",
                  "X-Cibscope-Purpose": "platform-integrity"}
        write_h = {"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Bearer {tokens['lab']}",
                   "X-Cibscope-Purpose": "research"}
        # random page starts: match[id] of a page-sized slice keeps every request the same size
        starts = [rng.randrange(0, max(1, len(objs) - args.page)) for _ in range(args.requests)]
        envelopes = [make_objects(args.batch, marking) for _ in range(args.posts * args.repeat + 2 * args.clients)]

        def discovery(s: requests.Session, i: int) -> int:
            r = s.get(f"{base}/taxii2/", headers=read_h, timeout=60)
            assert r.status_code == 200, r.text
            return 0

        def page_ids(i: int) -> str:
            return ",".join(o["id"] for o in objs[starts[i]:starts[i] + args.page])

        def get_objects(s: requests.Session, i: int) -> int:
            r = s.get(url, headers=read_h, params={"match[id]": page_ids(i), "limit": args.page}, timeout=60)
            assert r.status_code == 200 and len(r.json()["objects"]) == args.page, r.text[:300]
            return args.page

        post_i = iter(range(len(envelopes)))
        post_lock = threading.Lock()

        def post_objects(s: requests.Session, i: int) -> int:
            with post_lock:
                env = envelopes[next(post_i)]
            r = s.post(url, data=json.dumps({"objects": env}), headers=write_h, timeout=120)
            assert r.status_code == 202 and r.json()["success_count"] == len(env), r.text[:300]
            return len(env)

        def medallion_get(s: requests.Session, i: int) -> int:
            r = s.get(med_url, auth=(MED_USER, MED_PASSWORD), headers={"Accept": TAXII},
                      params={"match[id]": page_ids(i), "limit": args.page}, timeout=60)
            assert r.status_code == 200 and len(r.json()["objects"]) == args.page, r.text[:300]
            return args.page

        c = args.clients
        phases = {"discovery (anchor)": (discovery, args.requests, c),
                  "GET objects": (get_objects, args.requests, c),
                  "POST objects": (post_objects, args.posts, c),
                  "GET objects, 1 client": (get_objects, args.requests // 2, 1)}
        if med is not None:  # one client: medallion's memory backend answers 500 under concurrent GETs
            phases["medallion GET, 1 client (anchor)"] = (medallion_get, args.medallion_requests, 1)
        results: dict[str, list[dict]] = {k: [] for k in phases}
        try:
            for name, (fn, n, k) in phases.items():  # warm-up (imports, caches, connections)
                run_phase(k if fn is medallion_get else 2 * k, k, fn)
            for rep in range(args.repeat):
                for name, (fn, n, k) in phases.items():
                    results[name].append(run_phase(n, k, fn))
                    print(f"run {rep + 1} {name}: {results[name][-1]['req_s']:.1f} req/s", file=sys.stderr)
        finally:
            stop(proc)
            if med is not None:
                stop(med)

    med_of = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.clients} clients, {args.requests} GETs and {args.posts} POSTs x {args.batch} objects per phase, "
          f"page {args.page}, {len(objs)} objects preloaded, median of {args.repeat} runs\n")
    print("| phase | requests/s | objects/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for k, m in med_of.items():
        print(f"| {k} | {m['req_s']:.1f} | {m['obj_s']:.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} |")
    g = med_of["GET objects"]["req_s"]
    print(f"\nGET objects / discovery anchor, {args.clients} clients (requests/s): "
          f"{g / med_of['discovery (anchor)']['req_s']:.2f}")
    if "medallion GET, 1 client (anchor)" in med_of:
        print(f"GET objects / medallion GET of the same pages, 1 client (requests/s): "
              f"{med_of['GET objects, 1 client']['req_s'] / med_of['medallion GET, 1 client (anchor)']['req_s']:.2f}")

if __name__ == "__main__":
    main()
