"""Shared builders for the web app tests: the shipped real IRA sample ingested and detected once per
test process (as ``cibscope demo`` does), copied per test module; users; an app server on a free
loopback port in a thread; a sharing hub (tests/share_fixtures.py) in a child process."""
from __future__ import annotations

import atexit
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cibscope.detect import DetectionParams, detect
from cibscope.ingest import ingest
from cibscope.store.db import Store
from cibscope.web.state import WebState

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "ira-sample"
#: (user, role, password); Argon2 hashing is deliberately slow, so the users are made once per state file.
USERS = [("ana", "analyst", "ana-long-passphrase-1"), ("rita", "reviewer", "rita-long-passphrase-2"),
         ("adam", "admin", "adam-long-passphrase-3")]
#: The Thanksgiving 2015 #KochFarms food-poisoning hoax: the sample's rank-1 cluster holds the accounts.
KOCHFARMS_SQL = """
    SELECT c.cluster_id FROM clusters c JOIN cluster_members m USING (run_id, cluster_id)
    JOIN actions a ON a.account_key = m.account_key AND a.action_type = 'hashtag'
                  AND a.object_key = 'kochfarms' AND a.ts BETWEEN '2015-11-26' AND '2015-11-28'
    WHERE c.run_id = ? GROUP BY ALL ORDER BY count(DISTINCT m.account_key) DESC LIMIT 1
"""
_BUILT: dict[str, Path] = {}


def sample_store(dst: Path) -> tuple[Path, int]:
    """Copy of a store holding the ingested sample and one detection run (run id 1, 60 s window) at ``dst``."""
    if "sample" not in _BUILT:
        tmp = Path(tempfile.mkdtemp(prefix="cibscope-web-sample-"))
        atexit.register(shutil.rmtree, tmp, True)
        with Store(tmp / "sample.duckdb") as s:
            ingest(s, SAMPLE, fmt="ira-csv", dataset="ira-sample")
            detect(s, DetectionParams(datasets=["ira-sample"], window_s=60))   # one scale: 5 clusters, 2 not flagged
            s.con.execute("CHECKPOINT")
        _BUILT["sample"] = tmp / "sample.duckdb"
    shutil.copyfile(_BUILT["sample"], dst)
    return dst, 1


def kochfarms_cluster(db: Path, run_id: int = 1) -> str:
    """The id of the cluster holding most #KochFarms posters of 26-27 Nov 2015."""
    with Store(db, read_only=True) as s:
        return s.con.execute(KOCHFARMS_SQL, [run_id]).fetchall()[0][0]


def web_state(path: Path) -> WebState:
    """A state file with the :data:`USERS`."""
    if "state" not in _BUILT:
        tmp = Path(tempfile.mkdtemp(prefix="cibscope-web-state-"))
        atexit.register(shutil.rmtree, tmp, True)
        st = WebState(tmp / "web.sqlite")
        for name, role, pw in USERS:
            st.add_user(name, role, pw)
        with st.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        st.engine.dispose()
        _BUILT["state"] = tmp / "web.sqlite"
    shutil.copyfile(_BUILT["state"], path)
    return WebState(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(app, **config) -> Iterator[str]:
    """Run ``app`` with Uvicorn (``config``: more ``uvicorn.Config`` options) on a free 127.0.0.1 port in a
    thread; yield its base URL; stop it."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not t.is_alive():
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(30)


#: Debian's chromium, driven by Playwright (never a browser download); browser tests skip without it.
CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000) -> Iterator:
    """A Playwright page in headless Debian chromium (a ``width`` x ``height`` viewport, 60 s timeouts)."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_context(viewport={"width": width, "height": height}).new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()
