"""Attack suite for the web app (issue #17): rows 5 (ingest of server paths), 6 (push to arbitrary URLs),
7 (password guessing on /login), 9 (a signed-out cookie), 10 (huge integers) and 11 (over-long requests),
each replayed as a test that fails if the attack succeeds. Servers on 127.0.0.1 only."""
from __future__ import annotations

import http.server
import json
import os
import socket
import statistics
import threading
import time

import pytest
from fastapi.testclient import TestClient

from cibscope.web.app import Settings, create_app
from share_fixtures import COLLECTION
from test_web_app import PW, _prepare, sign_in, world  # noqa: F401  (the module's shared world fixture)
from web_fixtures import serve_in_thread

SECRET = "internal-secret-7f3a"


@pytest.fixture(scope="module")
def internal_server():
    """An 'internal' HTTP server on 127.0.0.1 that answers 500 with a secret body and counts requests."""
    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            hits.append(self.path)
            body = f"<html>{SECRET} admin console</html>".encode()
            self.send_response(500)
            self.send_header("Content-Type", "text/html")
            self.send_header("X-Internal", SECRET)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", hits
    srv.shutdown()


def _approved_share(world):
    c = world["client"]
    tok = sign_in(c, "ana")
    sh = _prepare(c, tok, world)
    tok = sign_in(c, "rita")
    assert c.post(f"/api/shares/{sh['id']}/approve", headers={"X-CSRF-Token": tok}).status_code == 200
    return c, tok, sh


# ------------------------------------------------------------------------------------------------ row 5
def test_row5_ingest_only_under_the_data_root(world, tmp_path):
    c = world["client"]
    tok = sign_in(c, "ana")
    h = {"X-CSRF-Token": tok}
    outside = [str(tmp_path), "/etc/passwd", "/root", "../" * 12 + "etc/passwd", str(world["tmp"]) + "/../.."]
    link = world["tmp"] / "etc-link"
    if not link.exists():
        os.symlink("/etc", link)
    outside.append("etc-link/passwd")
    for p in outside:
        r = c.post("/api/jobs", headers=h, json={"kind": "ingest", "args": {"path": p, "format": "ira-csv"}})
        assert r.status_code == 403, (p, r.text)
        assert "root:" not in r.text
    # the form route refuses too
    page_tok = c.get("/jobs").text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post("/jobs", data={"kind": "ingest", "path": "/etc/passwd", "csrf_token": page_tok})
    assert r.status_code == 403


def test_row5_ingest_errors_never_quote_the_file(world):
    c = world["client"]
    tok = sign_in(c, "ana")
    f = world["tmp"] / "looks-like-passwd.csv"
    f.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    r = c.post("/api/jobs", headers={"X-CSRF-Token": tok},
               json={"kind": "ingest", "args": {"path": f.name, "format": "ira-csv"}})
    assert r.status_code == 202, r.text
    jid = r.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        j = c.get(f"/api/jobs/{jid}").json()
        if j["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    blob = json.dumps(j)
    assert "root:x" not in blob and "/bin/bash" not in blob and "nologin" not in blob, blob
    assert "root:x" not in json.dumps(c.get("/api/audit").json()["entries"][:3])


def test_row5_no_data_root_means_no_web_ingest(world, tmp_path):
    app = create_app(Settings(str(tmp_path / "s.duckdb"), str(world["tmp"] / "web.sqlite")))
    with TestClient(app) as c:
        tok = sign_in(c, "ana")
        r = c.post("/api/jobs", headers={"X-CSRF-Token": tok},
                   json={"kind": "ingest", "args": {"path": str(world["tmp"])}})
        assert r.status_code == 403 and "data-root" in r.json()["detail"]


# ------------------------------------------------------------------------------------------------ row 6
def test_row6_push_only_to_registered_hubs(world, internal_server):
    url, hits = internal_server
    c, tok, sh = _approved_share(world)
    before = len(hits)
    r = c.post(f"/api/shares/{sh['id']}/push", headers={"X-CSRF-Token": tok},
               json={"hub_url": url + "/hub/", "collection_id": COLLECTION, "token": "cbs_x"})
    assert r.status_code == 409 and "registered" in r.json()["detail"]
    assert len(hits) == before  # the server never called the address
    assert SECRET not in r.text


def test_row6_remote_answers_are_not_echoed(world, internal_server):
    url, hits = internal_server
    app = world["app"]
    app.state.web.state.add_hub("misconfigured", url + "/hub/")
    c, tok, sh = _approved_share(world)
    r = c.post(f"/api/shares/{sh['id']}/push", headers={"X-CSRF-Token": tok},
               json={"hub_url": "misconfigured", "collection_id": COLLECTION, "token": "cbs_x"})
    assert r.status_code == 502
    assert SECRET not in r.text and "admin console" not in r.text, r.text
    assert SECRET not in json.dumps(c.get("/api/audit").json()["entries"][:3])
    assert c.get(f"/api/shares/{sh['id']}").json()["state"] == "approved"


# ------------------------------------------------------------------------------------------------ row 7
def _login(c, name, password):
    page = c.get("/login")
    tok = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    return c.post("/login", data={"name": name, "password": password, "csrf_token": tok}, follow_redirects=False)


def test_row7_login_guessing_backs_off_and_is_audited(world, tmp_path):
    app = create_app(Settings(str(tmp_path / "s.duckdb"), str(world["tmp"] / "web.sqlite")))
    with TestClient(app) as c:
        n0 = len(app.state.web.state.audit())
        codes = [_login(c, "ana", f"guess {i}").status_code for i in range(30)]
        assert codes[:5] == [401] * 5 and codes.count(429) >= 24
        t = time.perf_counter()
        r = _login(c, "ana", PW["ana"])  # locked: even the right password waits, no Argon2 work
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert time.perf_counter() - t < 0.2
        new = app.state.web.state.audit()[: len(app.state.web.state.audit()) - n0]
        assert len(new) <= 6  # was one row per guess, with the attacker's name
        assert any(e["detail"].get("reason") == "lockout" for e in new)


def test_row7_unknown_user_costs_the_same_as_a_wrong_password(world, tmp_path):
    app = create_app(Settings(str(tmp_path / "s.duckdb"), str(world["tmp"] / "web.sqlite")))
    with TestClient(app) as c:
        known, unknown = [], []
        for i in range(4):
            for name, out in (("rita", known), (f"nobody{i}", unknown)):
                t = time.perf_counter()
                assert _login(c, name, "a wrong password guess").status_code == 401
                out.append(time.perf_counter() - t)
        assert 0.5 < statistics.median(unknown) / statistics.median(known) < 2, (known, unknown)


# ------------------------------------------------------------------------------------------------ row 9
def test_row9_signed_out_cookie_is_no_session(world):
    c = world["client"]
    sign_in(c, "ana")
    stolen = c.cookies.get("cibscope_session")
    assert c.get("/api/me").status_code == 200
    tok = c.get("/api/me").json()["csrf_token"]
    assert c.post("/logout", headers={"X-CSRF-Token": tok}, follow_redirects=False).status_code == 303
    c.cookies.clear()
    c.cookies.set("cibscope_session", stolen)
    assert c.get("/api/me").status_code == 401


def test_row9_password_change_ends_sessions(world):
    c = world["client"]
    sign_in(c, "adam")
    stolen = c.cookies.get("cibscope_session")
    world["app"].state.web.state.set_password("adam", PW["adam"])  # same value: still a change event
    c.cookies.clear()
    c.cookies.set("cibscope_session", stolen)
    assert c.get("/api/me").status_code == 401


# ----------------------------------------------------------------------------------------------- row 10
def test_row10_huge_integers_are_4xx(world):
    c = world["client"]
    tok = sign_in(c, "ana")
    r = c.post("/api/shares", headers={"X-CSRF-Token": tok, "Content-Type": "application/json"},
               content='{"run_id": ' + "9" * 5000 + ', "cluster_id": "x", "tlp": "amber", "purpose": '
                       '"national-security", "legal_basis": "x", "retention_days": 30}')
    assert 400 <= r.status_code < 500
    assert 400 <= c.get("/api/runs/" + "9" * 5000 + "/clusters").status_code < 500


# ------------------------------------------------------------------------------------- issue 17 round 2
def _fake_hub(answer):
    """A server on 127.0.0.1 whose handler ``answer(handler)`` answers every request; yields (url, hits)."""
    hits: list = []

    class H(http.server.BaseHTTPRequestHandler):
        def _any(self):
            n = int(self.headers.get("Content-Length") or 0)
            hits.append((self.command, self.path, self.rfile.read(n) if n else b""))
            answer(self)

        do_GET = do_POST = _any

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}", hits


def _api_root(h):
    body = json.dumps({"title": "fake", "versions": ["application/taxii+json;version=2.1"],  # root and collection
                       "max_content_length": 10_000_000, "id": COLLECTION, "can_read": True, "can_write": True,
                       "media_types": ["application/stix+json;version=2.1"]}).encode()
    h.send_response(200)
    h.send_header("Content-Type", "application/taxii+json;version=2.1")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@pytest.fixture
def redirecting_hub():
    """A 'hub' answering the objects POST with 307 to a second server, which counts what reaches it."""
    other, other_url, other_hits = _fake_hub(_api_root)

    def answer(h):
        if h.command == "GET":
            return _api_root(h)
        h.send_response(307)
        h.send_header("Location", f"{other_url}{h.path}")
        h.send_header("Content-Length", "0")
        h.end_headers()

    srv, url, hits = _fake_hub(answer)
    yield url, hits, other_hits
    srv.shutdown()
    other.shutdown()


def test_push_never_follows_a_redirect(world, redirecting_hub):
    url, hits, other_hits = redirecting_hub
    world["app"].state.web.state.add_hub("redirecting", url + "/hub/")
    c, tok, sh = _approved_share(world)
    r = c.post(f"/api/shares/{sh['id']}/push", headers={"X-CSRF-Token": tok},
               json={"hub_url": "redirecting", "collection_id": COLLECTION, "token": "cbs_x"})
    assert r.status_code == 502 and "redirecting" in r.text and "307" in r.text, r.text
    assert any(m == "POST" for m, _, _ in hits)
    assert other_hits == []  # the bundle never reached the unregistered address
    top = c.get("/api/audit").json()["entries"][0]
    assert top["action"] == "share-push-failed" and "307" in top["detail"]["error"]
    assert c.get(f"/api/shares/{sh['id']}").json()["state"] == "approved"


def test_cli_push_never_follows_a_redirect(redirecting_hub, tmp_path):
    from cibscope.share.client import ShareError, push
    url, hits, other_hits = redirecting_hub
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [{"type": "x", "id": "x--1"}]}))
    with pytest.raises(ShareError, match="307"):
        push(b, url + "/hub/", COLLECTION, "research", token="cbs_x")
    assert other_hits == []


def test_push_to_a_hub_without_content_type_is_a_failed_push(world):
    def answer(h):
        if h.command == "GET":
            return _api_root(h)
        h.send_response(202)
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"{}")

    srv, url, _ = _fake_hub(answer)
    try:
        world["app"].state.web.state.add_hub("no-ctype", url + "/hub/")
        c, tok, sh = _approved_share(world)
        r = c.post(f"/api/shares/{sh['id']}/push", headers={"X-CSRF-Token": tok},
                   json={"hub_url": "no-ctype", "collection_id": COLLECTION, "token": "cbs_x"})
        assert r.status_code == 502 and "no-ctype" in r.text and "202" in r.text, r.text
        assert c.get("/api/audit").json()["entries"][0]["action"] == "share-push-failed"
    finally:
        srv.shutdown()


def test_push_to_a_silent_hub_times_out(world, monkeypatch):
    from cibscope.share import client
    monkeypatch.setattr(client, "TIMEOUT_S", 0.5)
    gate = threading.Event()
    srv, url, _ = _fake_hub(lambda h: gate.wait(10))
    try:
        world["app"].state.web.state.add_hub("silent", url + "/hub/")
        c, tok, sh = _approved_share(world)
        t0 = time.monotonic()
        r = c.post(f"/api/shares/{sh['id']}/push", headers={"X-CSRF-Token": tok},
                   json={"hub_url": "silent", "collection_id": COLLECTION, "token": "cbs_x"})
        assert r.status_code == 502 and "silent" in r.text, r.text
        assert time.monotonic() - t0 < 5
        assert c.get("/api/audit").json()["entries"][0]["action"] == "share-push-failed"
    finally:
        gate.set()
        srv.shutdown()


def test_one_approval_is_pushed_once(world):
    def slow(h):
        time.sleep(1.5)
        body = b'{"title": "slow hub refuses"}'
        h.send_response(500)
        h.send_header("Content-Type", "application/taxii+json;version=2.1")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    s_srv, s_url, s_hits = _fake_hub(slow)
    f_srv, f_url, f_hits = _fake_hub(_api_root)
    try:
        st = world["app"].state.web.state
        st.add_hub("slow", s_url + "/hub/")
        st.add_hub("fast", f_url + "/hub/")
        c, tok, sh = _approved_share(world)
        n_audit = len(c.get("/api/audit").json()["entries"])
        out = {}

        def go(name):
            out[name] = c.post(f"/api/shares/{sh['id']}/push", headers={"X-CSRF-Token": tok},
                               json={"hub_url": name, "collection_id": COLLECTION, "token": "cbs_x"})

        t1 = threading.Thread(target=go, args=("slow",))
        t1.start()
        time.sleep(0.5)
        go("fast")
        t1.join(30)
        assert out["fast"].status_code == 409, out["fast"].text
        assert f_hits == []  # the loser contacted no hub
        assert out["slow"].status_code == 502
        entries = c.get("/api/audit").json()["entries"]
        assert [e["action"] for e in entries[:len(entries) - n_audit]] == ["share-push-failed"]
        assert c.get(f"/api/shares/{sh['id']}").json()["state"] == "approved"
    finally:
        s_srv.shutdown()
        f_srv.shutdown()

_LONE = "\\ud800"  # the six characters \ud800 in a JSON body: a lone UTF-16 surrogate once decoded


@pytest.mark.parametrize("field", ["cluster_id", "legal_basis", "recipient_orgs"])
def test_lone_surrogates_in_a_share_request_are_422(world, field):
    c = world["client"]
    tok = sign_in(c, "ana")
    n_shares, n_audit = len(c.get("/api/shares").json()), len(c.get("/api/audit").json()["entries"])
    body = {"run_id": world["run"], "cluster_id": json.dumps(world["small"]), "tlp": '"amber"',
            "purpose": '"national-security"', "legal_basis": '"EU DSA art. 40"', "recipient_orgs": "[]"}
    body[field] = f'["org {_LONE}"]' if field == "recipient_orgs" else f'"x{_LONE}"'
    raw = "{" + ", ".join(f'"{k}": {v}' for k, v in body.items()) + "}"
    r = c.post("/api/shares", content=raw.encode(), headers={"X-CSRF-Token": tok, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert len(c.get("/api/shares").json()) == n_shares
    assert len(c.get("/api/audit").json()["entries"]) == n_audit


@pytest.mark.parametrize("raw", [
    '{"kind": "detect", "args": {"datasets": ["d%s"]}}',
    '{"kind": "ingest", "args": {"path": "x.csv", "format": "csv%s"}}',
    '{"kind": "ingest", "args": {"path": "x.csv", "dataset": "d%s"}}',
    '{"kind": "detect", "args": {"d%s": 1}}',
])
def test_lone_surrogates_in_a_job_request_are_422_and_start_nothing(world, raw):
    c = world["client"]
    tok = sign_in(c, "ana")
    n_jobs, n_audit = len(c.get("/api/jobs").json()), len(c.get("/api/audit").json()["entries"])
    r = c.post("/api/jobs", content=(raw % _LONE).encode(),
               headers={"X-CSRF-Token": tok, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert len(c.get("/api/jobs").json()) == n_jobs
    assert len(c.get("/api/audit").json()["entries"]) == n_audit


# ----------------------------------------------------------------------------------------------- row 11
def _raw(port, request: bytes, timeout=5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return data + b"<timeout>"
            if not chunk:
                return data
            data += chunk


def test_row11_long_request_lines_and_headers_are_refused_at_once(world):
    c = world["client"]
    sign_in(c, "ana")
    cookie = c.cookies.get("cibscope_session")
    with serve_in_thread(world["app"]) as base:
        port = int(base.rsplit(":", 1)[1])
        for n in (8000, 12000, 16000):
            for path in ("/clusters", "/api/runs", "/login"):
                t = time.monotonic()
                got = _raw(port, f"GET {path}?q={'a' * n} HTTP/1.1\r\nHost: x\r\nCookie: cibscope_session={cookie}"
                                 "\r\nConnection: close\r\n\r\n".encode())
                assert got.startswith(b"HTTP/1.1 "), (n, path, got[:100])
                assert time.monotonic() - t < 3
                target = len(path) + 3 + n
                assert (got[9:12] == b"414") == (target > 8192), (n, path, got[:100])
        got = _raw(port, b"GET /login HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\nConnection: close\r\n\r\n")
        assert got[9:12] == b"431", got[:100]


def test_row11_an_unfinished_request_head_is_cut_off(world):
    """Slowloris: a request line without its final empty line held a connection open indefinitely."""
    from cibscope.share.http_limits import MAX_HEADERS, head_timeout_protocol
    with serve_in_thread(world["app"], http=head_timeout_protocol(1.5),
                         h11_max_incomplete_event_size=MAX_HEADERS) as base:
        port = int(base.rsplit(":", 1)[1])
        t = time.monotonic()
        got = _raw(port, f"GET /login?q={'a' * 8000} HTTP/1.1\r\nHost: x\r\n".encode(), timeout=10)
        assert not got.endswith(b"<timeout>") and time.monotonic() - t < 5, got[:100]
        # a keep-alive connection: the first request is answered, an unfinished second one is cut off
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(15).startswith(b"HTTP/1.1 200")
            s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n")
            t = time.monotonic()
            while s.recv(65536):
                assert time.monotonic() - t < 8
        # over 16 KiB of an unfinished head: refused at once by the parser
        got = _raw(port, f"GET /login?q={'a' * 20000}".encode(), timeout=10)
        assert got.startswith(b"HTTP/1.1 400"), got[:60]

