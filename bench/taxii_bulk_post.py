#!/usr/bin/env python3
"""Throughput of one large POST to the TAXII hub (issue #17 row 12), against medallion 3.0 on the same mix.

Per repetition: a fresh hub (``bench/taxii_load.py``'s ``setup_hub``, API root ``max_content_length`` raised
to 256 MiB) served by ``python -m cibscope.share.serve`` on a free 127.0.0.1 port, and a fresh medallion
3.0 (memory backend), each holding the purpose marking already (the hub's first POST, untimed, also imports
stix2-validator); then one envelope of ``--objects`` new objects (a third each of threat-actors,
user-accounts and indicators with a STIX pattern, all TLP:CLEAR under that marking) is posted once to each,
timed from the request to the 202 (client on the same machine). Each server is checked to have stored
every object. Prints objects/s per run, the medians and the ratio hub / medallion measured in the same run.

Usage::

    python bench/taxii_bulk_post.py --objects 10000 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from taxii_load import (COLLECTION, MED_PASSWORD, MED_USER, ROOT, TAXII, make_objects, setup_hub,  # noqa: E402
                        start_medallion)

from cibscope.share.hub import Hub  # noqa: E402
from cibscope.share.markings import TLP2_IDS  # noqa: E402
from cibscope.share.serve import spawn, stop  # noqa: E402


def mix(n: int, marking: dict) -> list[dict]:
    """``n`` new TLP:CLEAR objects under ``marking``: a third indicators with a STIX pattern, the rest
    ``taxii_load.make_objects`` (threat-actors and user-accounts, half each)."""
    marks = [TLP2_IDS["clear"], marking["id"]]
    indicators = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                   "created": "2023-05-03T00:00:00.000Z", "modified": "2023-05-03T00:00:00.000Z",
                   "name": f"domain {i}", "indicator_types": ["malicious-activity"],
                   "pattern": f"[domain-name:value = 'site{i}.example']", "pattern_type": "stix",
                   "valid_from": "2023-05-03T00:00:00Z", "object_marking_refs": marks} for i in range(n // 3)]
    return make_objects(n - len(indicators), marking) + indicators


def post_once(url: str, body: bytes, headers: dict, auth=None) -> tuple[float, dict]:
    t = time.perf_counter()
    r = requests.post(url, data=body, headers=headers, auth=auth, timeout=1800)
    dt = time.perf_counter() - t
    assert r.status_code == 202, r.text[:500]
    return dt, r.json()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-medallion", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    ours, theirs = [], []
    for rep in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="cibscope-bulk-") as d:
            tmp = Path(d)
            tokens, marking, _ = setup_hub(tmp / "hub.sqlite", 0)
            hub = Hub(tmp / "hub.sqlite")
            with hub.engine.begin() as conn:
                conn.exec_driver_sql("UPDATE api_roots SET max_content_length = 268435456")
            hub.engine.dispose()
            objs = mix(args.objects, marking)
            body = json.dumps({"objects": objs}).encode()
            proc, base = spawn(tmp / "hub.sqlite")
            try:
                h = {"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Bearer {tokens['lab']}",
                     "X-Cibscope-Purpose": "research"}
                url = f"{base}/{ROOT}/collections/{COLLECTION}/objects/"
                # warm-up: the marking alone (the server imports stix2-validator on its first POST, once)
                post_once(url, json.dumps({"objects": [marking]}).encode(), h)
                dt, st = post_once(url, body, h)
                assert st["success_count"] == len(objs) and st["failure_count"] == 0, st["failures"][:3]
            finally:
                stop(proc)
            ours.append(len(objs) / dt)
            line = f"run {rep + 1}: hub {len(objs):,} objects in {dt:.1f} s = {ours[-1]:,.0f} objects/s"
            if not args.no_medallion:
                med, url = start_medallion(tmp, [marking])
                if med is not None:
                    try:
                        dt2, st2 = post_once(url, body, {"Accept": TAXII, "Content-Type": TAXII},
                                             (MED_USER, MED_PASSWORD))
                        assert st2["success_count"] == len(objs), str(st2)[:300]
                    finally:
                        stop(med)
                    theirs.append(len(objs) / dt2)
                    line += f"; medallion {dt2:.1f} s = {theirs[-1]:,.0f} objects/s; ratio {ours[-1] / theirs[-1]:.2f}"
            print(line, flush=True)
    print(f"median hub: {statistics.median(ours):,.0f} objects/s over {len(ours)} runs")
    if theirs:
        print(f"median medallion: {statistics.median(theirs):,.0f} objects/s; median of per-run ratios "
              f"{statistics.median(a / b for a, b in zip(ours, theirs)):.2f}")


if __name__ == "__main__":
    main()
