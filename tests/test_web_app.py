"""The investigator web app over HTTP (no browser): sign-in, CSRF, roles and the four-eyes rule, the
share preview checked against what a real hub serves each sector, background jobs, sorting, escaping
of attacker-written text, the OpenAPI document and the user CLI. Data: the shipped real IRA sample
(ingested and detected as ``cibscope demo`` does) and real coortweet rows (tests/fixtures)."""
from __future__ import annotations

import html
import json
import re
import time

import pytest
import requests
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cibscope.cli import app as cli_app
from cibscope.share.serve import spawn, stop
from cibscope.store.db import Store
from cibscope.web.app import Settings, create_app
from cibscope.web.data import evidence
from cibscope.web.state import WebState
from conftest import FIXTURES, with_bad_rows
from share_fixtures import COLLECTION, ORGS, ROOT, make_hub, user_of
from web_fixtures import USERS, kochfarms_cluster, sample_store, web_state

PW = {u: p for u, _, p in USERS}
XSS_POST = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'"> #KochFarms'
XSS_HANDLE = '<img src=x onerror=alert(1)>'
XSS_BIO = '<svg onload=alert(2)>'
#: The one reader per sector the hub comparison pulls as (never the producer, Platform A).
READERS = {"platform": "platform-b", "government": "gov-agency", "law-enforcement": "police",
           "civil-society": "ngo-lab", "research": "university"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    db, run = sample_store(tmp / "store.duckdb")
    cid = kochfarms_cluster(db, run)
    with Store(db) as s:  # attacker-written text on rows the pages show: the top evidence post, a handle, a bio
        post = evidence(s, run, cid, limit=1)[0]["post_a"]
        s.con.execute("UPDATE posts SET text = ? WHERE post_key = ?", [XSS_POST, post])
        acct = s.con.execute("SELECT account_key FROM posts WHERE post_key = ?", [post]).fetchall()[0][0]
        s.con.execute("UPDATE accounts SET handle = ?, description = ? WHERE account_key = ?",
                      [XSS_HANDLE, XSS_BIO, acct])
        small = s.con.execute("SELECT cluster_id FROM clusters WHERE run_id = ? AND flagged "
                              "ORDER BY n_accounts, cluster_id LIMIT 1", [run]).fetchall()[0][0]
    st = web_state(tmp / "web.sqlite")
    app = create_app(Settings(str(db), str(tmp / "web.sqlite"), sector="platform", data_root=str(tmp)))
    hub_fx = make_hub(tmp / "hub.sqlite")
    proc, base = spawn(tmp / "hub.sqlite")
    st.add_hub("test hub", f"{base}/{ROOT}/")
    with TestClient(app) as client:
        yield {"client": client, "app": app, "run": run, "cid": cid, "post": post, "account": acct, "tmp": tmp, "small": small,
               "hub": hub_fx, "hub_url": f"{base}/{ROOT}/"}
    stop(proc)


def sign_in(client: TestClient, user: str) -> str:
    """Sign ``user`` in on ``client``; return the session's CSRF token."""
    client.cookies.clear()
    page = client.get("/login")
    r = client.post("/login", data={"name": user, "password": PW[user], "csrf_token": _token(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client.get("/api/me").json()["csrf_token"]


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_sign_in_and_csrf_are_required(world):
    c = world["client"]
    c.cookies.clear()
    assert c.get("/api/runs").status_code == 401
    r = c.get(f"/runs/1/clusters/{world['cid']}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/runs/1/clusters/{world['cid']}"
    page = c.get("/login")
    bad = c.post("/login", data={"name": "ana", "password": "wrong", "csrf_token": _token(page.text)})
    assert bad.status_code == 401 and "wrong password" in bad.text
    # a form post without the token, or with another session's token, is refused before anything runs
    assert c.post("/login", data={"name": "ana", "password": PW["ana"]}).status_code == 403
    assert c.post("/login", data={"name": "ana", "password": PW["ana"], "csrf_token": "x" * 43}).status_code == 403
    tok = sign_in(c, "ana")
    assert c.get("/api/me").json() == {"name": "ana", "role": "analyst", "csrf_token": tok}
    body = {"run_id": 1, "cluster_id": world["cid"], "tlp": "amber", "purpose": "national-security",
            "legal_basis": "test", "retention_days": 30}
    assert c.post("/api/shares", json=body).status_code == 403                          # no X-CSRF-Token
    assert c.post("/api/shares", json=body, headers={"X-CSRF-Token": tok[::-1]}).status_code == 403
    # the session cookie is signed: a forged one is no session (clear first: otherwise the jar may hold the
    # real cookie, domain "testserver", beside the forged one and send either)
    c.cookies.clear()
    c.cookies.set("cibscope_session", "eyJ1c2VyIjogImFkYW0ifQ==.forged.sig")
    assert c.get("/api/me").status_code == 401
    c.cookies.clear()
    r = c.get("/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and r.headers["x-frame-options"] == "DENY"


def _prepare(c, tok, world, **kw) -> dict:
    body = {"run_id": world["run"], "cluster_id": world["small"], "tlp": "amber", "purpose": "national-security",
            "legal_basis": "EU DSA art. 40 / test", "retention_days": 30, **kw}
    r = c.post("/api/shares", json=body, headers={"X-CSRF-Token": tok})
    assert r.status_code == 201, r.text
    return r.json()


def _push(c, tok, world, sid) -> requests.Response:
    return c.post(f"/api/shares/{sid}/push", headers={"X-CSRF-Token": tok},
                  json={"hub_url": world["hub_url"], "collection_id": COLLECTION,
                        "token": world["hub"].tokens["platform-a"]})


def _hub_view(world, purpose: str) -> dict[str, dict | None]:
    """What the hub serves one reader of each sector (None: refused with 403)."""
    out = {}
    for sector, user in READERS.items():
        assert ORGS[{"platform-b": "Platform B", "gov-agency": "Gov Agency", "police": "Police",
                     "ngo-lab": "NGO Lab", "university": "University"}[user]] == sector
        got: dict | None = {}
        params: dict = {}
        while True:  # page through the envelope
            r = requests.get(f"{world['hub_url']}collections/{COLLECTION}/objects/", params=params,
                             headers=world["hub"].headers(user, purpose), timeout=30)
            assert r.status_code in (200, 403), r.text
            if r.status_code == 403:
                got = None
                break
            env = r.json()
            got.update({o["id"]: o for o in env.get("objects", [])})
            if not env.get("more"):
                break
            params = {"next": env["next"]}
        out[sector] = got
    return out


def test_four_eyes_push_and_preview_matches_the_hub(world):
    c = world["client"]
    tok = sign_in(c, "rita")                      # a reviewer cannot approve a share she prepared herself
    own = _prepare(c, tok, world)
    r = c.post(f"/api/shares/{own['id']}/approve", headers={"X-CSRF-Token": tok})
    assert r.status_code == 409 and "second person" in r.json()["detail"]
    tok = sign_in(c, "ana")
    sh = _prepare(c, tok, world, tlp="green", purpose="platform-integrity")
    assert sh["state"] == "prepared" and sh["prepared_by"] == "ana"
    assert _push(c, tok, world, sh["id"]).status_code == 409                        # not approved yet
    r = c.post(f"/api/shares/{sh['id']}/approve", headers={"X-CSRF-Token": tok})
    assert r.status_code == 409 and "reviewer" in r.json()["detail"]                 # analysts do not approve
    tok = sign_in(c, "rita")
    assert c.post(f"/api/shares/{sh['id']}/approve", headers={"X-CSRF-Token": tok}).json()["state"] == "approved"
    full = c.get(f"/api/shares/{sh['id']}").json()
    types = {o["type"] for o in full["objects"]}
    assert {"grouping", "observed-data", "user-account", "relationship", "marking-definition",
            "extension-definition"} <= types
    grouping = next(o for o in full["objects"] if o["type"] == "grouping")
    assert world["small"] in grouping["name"]
    r = _push(c, tok, world, sh["id"])
    assert r.status_code == 200, r.text
    pushed = r.json()
    assert pushed["state"] == "pushed" and pushed["status"]["failure_count"] == 0
    assert pushed["status"]["success_count"] == full["n_objects"]
    # the preview is what the hub serves each sector: same objects, same properties removed
    hub = _hub_view(world, "platform-integrity")
    for p in full["preview"]:
        got = hub[p["sector"]]
        if p["refused"]:
            assert got is None, p["sector"]
            continue
        assert got is not None and set(got) == {o["id"] for o in p["objects"]}, p["sector"]
        for o in p["objects"]:
            if o["type"] == "user-account":
                assert {k for k in ("account_login", "display_name") if k in o} == \
                       {k for k in ("account_login", "display_name") if k in got[o["id"]]}
    by = {p["sector"]: p for p in full["preview"]}
    assert by["government"]["refused"]["rule"] == "purpose-sector"                 # government: national-security only
    assert by["research"]["refused"]["rule"] == "purpose-sector"
    assert not by["platform"]["redacted"] and len(by["platform"]["objects"]) == full["n_objects"]
    civil = by["civil-society"]                                                      # handles removed for civil society
    assert civil["redacted"] and len(civil["objects"]) == full["n_objects"]
    assert all("account_login" not in o and "display_name" not in o
               for o in civil["objects"] if o["type"] == "user-account")
    entries = c.get("/api/audit").json()
    assert entries["ok"] and [e["action"] for e in entries["entries"][:3]] == ["share-push", "share-approve",
                                                                               "sign-in"]
    assert entries["entries"][0]["detail"]["status"] == pushed["status"]["id"]


def test_share_refuses_bad_input(world):
    c = world["client"]
    tok = sign_in(c, "ana")
    unflagged = c.get(f"/api/runs/{world['run']}/clusters?sort=rank&limit=1000").json()["clusters"]
    cid = next(x["cluster_id"] for x in unflagged if not x["flagged"])
    for kw, msg in [({"cluster_id": cid}, "not flagged"), ({"cluster_id": "C000"}, "no cluster"),
                    ({"tlp": "white"}, "unknown TLP"), ({"purpose": "marketing"}, "unknown purpose"),
                    ({"tlp": "amber+strict"}, "named recipient"),
                    ({"purpose": "research"}, "sector 'platform' may not declare purpose 'research'")]:
        body = {"run_id": world["run"], "cluster_id": world["cid"], "tlp": "amber", "purpose": "national-security",
                "legal_basis": "x", "retention_days": 5, **kw}
        r = c.post("/api/shares", json=body, headers={"X-CSRF-Token": tok})
        assert r.status_code == 422 and msg in r.json()["detail"], (kw, r.text)


def test_cluster_list_sorts(world):
    c = world["client"]
    sign_in(c, "ana")
    base = f"/api/runs/{world['run']}/clusters?limit=1000"
    by_rank = c.get(base).json()
    assert by_rank["total"] == len(by_rank["clusters"]) >= 5
    ranked = by_rank["clusters"]
    assert [x["rank"] for x in ranked] == list(range(1, len(ranked) + 1))
    kochfarms = next(x for x in ranked if x["cluster_id"] == world["cid"])
    assert kochfarms["flagged"] and all(x["flagged"] for x in ranked[:kochfarms["rank"]])  # flagged come first
    size = [x["n_accounts"] for x in c.get(base + "&sort=size").json()["clusters"]]
    assert size == sorted(size, reverse=True)
    first = [x["first_seen"] for x in c.get(base + "&sort=first_seen").json()["clusters"]]
    assert first == sorted(first)
    sig = [len(x["signals"]) for x in c.get(base + "&sort=signals").json()["clusters"]]
    assert sig == sorted(sig, reverse=True)
    flagged = c.get(base + "&flagged=true").json()
    assert flagged["total"] < by_rank["total"] and all(x["flagged"] for x in flagged["clusters"])
    assert c.get(base + "&sort=name").status_code == 422
    page = c.get(f"/clusters?run={world['run']}&sort=size").text
    assert page.index(world["cid"]) > 0


def test_bad_parameters_get_an_html_error_page_and_the_api_keeps_json(world):
    c = world["client"]
    c.cookies.clear()
    r = c.get("/clusters?run=abc", follow_redirects=False)           # signed out: sign in first, as for any page
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    tok = sign_in(c, "ana")
    cases = [("/clusters?run=abc", "query parameter 'run': Input should be a valid integer", "'abc'"),
             (f"/clusters?run={world['run']}&page=two", "query parameter 'page'", "'two'"),
             (f"/runs/first/clusters/{world['cid']}", "address part 'run_id'", "'first'"),
             (f"/clusters?run={world['run']}&flagged=perhaps", "query parameter 'flagged': Input should be a valid "
                                                               "boolean", "'perhaps'"),
             # numbers beyond the store's 64-bit integers, and pages below 1, are named, not a 500
             (f"/clusters?run={world['run']}&page=99999999999999999999999", "query parameter 'page'",
              "'99999999999999999999999'"),
             (f"/clusters?run={world['run']}&page=-1", "query parameter 'page'", "'-1'"),
             ("/outbox/99999999999999999999999", "address part 'share_id'", "'99999999999999999999999'"),
             (f"/clusters?run={world['run']}&sort=bogus", "query parameter 'sort': should be one of rank", "'bogus'")]
    for url, problem, sent in cases:
        r = c.get(url)
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), (url, r.text[:200])
        text = html.unescape(r.text)
        assert "<h1>Bad request</h1>" in text and problem in text and f"(sent: {sent})" in text, (url, text)
        assert '"detail"' not in text and 'id="whoami"' in text                   # a page, not FastAPI's JSON
    # a form post with a bad field names the field
    r = c.post("/jobs", data={"kind": "detect", "min_cluster_size": "three", "csrf_token": tok})
    assert r.status_code == 422 and "form field 'min_cluster_size'" in html.unescape(r.text)
    # the value sent is shown as text, never as markup
    r = c.get("/clusters?run=<script>alert(1)</script>")
    assert r.status_code == 422 and "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)" in r.text
    r = c.get("/clusters?run=999999")                           # a run that does not exist: 404, as the API says
    assert r.status_code == 404 and "No detection run 999999." in r.text
    r = c.get("/no-such-page")
    assert r.status_code == 404 and "No page at /no-such-page." in r.text and r.headers["content-type"].startswith(
        "text/html")
    # the API keeps JSON errors
    r = c.get("/api/runs/abc/clusters")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "run_id"]
    r = c.get(f"/api/runs/{world['run']}/clusters?offset=99999999999999999999999")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "offset"]
    # a misspelt key in a JSON body is refused, not ignored
    r = c.post("/api/jobs", json={"kind": "detect", "params": {"window_s": -5}}, headers={"X-CSRF-Token": tok})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "params"], r.text
    assert c.get("/api/no-such-route").json() == {"detail": "Not Found"}
    # a detection on a dataset the store lacks fails (it may be queued behind the ingest that makes it) and
    # saves no empty run that would become the latest
    runs_before = len(c.get("/api/runs").json())
    r = c.post("/api/jobs", json={"kind": "detect", "args": {"datasets": ["nosuch"]}}, headers={"X-CSRF-Token": tok})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while (j := c.get(f"/api/jobs/{r.json()['id']}").json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, j
        time.sleep(0.05)
    assert j["state"] == "failed" and "no dataset named nosuch; known: ira-sample" in j["error"], j
    assert len(c.get("/api/runs").json()) == runs_before


def test_cluster_page_pages_its_tables_and_sends_a_network_backbone(world):
    from cibscope.report import query as rq
    c, run, cid = world["client"], world["run"], world["cid"]
    sign_in(c, "ana")
    base = f"/api/runs/{run}/clusters/{cid}"
    whole = c.get(base + "/evidence?limit=300").json()
    assert whole["total"] > len(whole["evidence"]) == 300                           # KochFarms: many pages
    weights = [e["object_weight"] for e in whole["evidence"]]
    assert weights == sorted(weights, reverse=True)
    paged = [e for off in range(0, 300, 50)
             for e in c.get(base + f"/evidence?limit=50&offset={off}").json()["evidence"]]
    assert paged == whole["evidence"]                                                # pages neither skip nor repeat
    assert all(e["text_a"] is not None and e["text_b"] is not None for e in paged)   # texts found for every row
    detail = c.get(base).json()
    assert detail["evidence"] == whole["evidence"][:50] and detail["evidence_total"] == whole["total"]
    page2 = html.unescape(c.get(f"/runs/{run}/clusters/{cid}?evidence_page=2").text)
    assert "Page 2 of" in page2 and whole["evidence"][50]["object_key"] in page2
    assert c.get(f"/runs/{run}/clusters/{cid}?evidence_page=999").status_code == 404
    # the network: every member placed; with room for few edges, each member's heaviest edge still comes first
    with world["app"].state.web.view() as s:                                      # the app's own store
        edges = rq.internal_edges(s, run, [cid])[cid]
    net = c.get(base + "/network?max_edges=40").json()
    n = len(net["nodes"])
    assert n == detail["cluster"]["n_accounts"] and net["edges_total"] == len(edges) > 40 > n // 2
    heaviest = {}
    for e in edges:                                                                  # edges come heaviest first
        for k in (e["account_a"], e["account_b"]):
            heaviest.setdefault(k, (e["account_a"], e["account_b"]))
    sent = [(e["data"]["source"], e["data"]["target"]) for e in net["edges"]]
    assert len(sent) == 40 and len(set(sent)) == 40 and set(sent) <= {(e["account_a"], e["account_b"]) for e in edges}
    backbone = set(heaviest.values())
    assert backbone <= set(sent) if len(backbone) <= 40 else set(sent) <= backbone
    assert len(c.get(base + "/network").json()["edges"]) == min(len(edges), 1500)


def test_attacker_text_is_inert_on_every_page(world):
    c = world["client"]
    sign_in(c, "ana")
    pages = [f"/runs/{world['run']}/clusters/{world['cid']}", f"/accounts/{world['account']}",
             f"/clusters?run={world['run']}"]
    for url in pages:
        html = c.get(url).text
        assert "<script>document" not in html and "<img src=x" not in html and "<svg onload" not in html, url
    cluster_html = c.get(pages[0]).text
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in cluster_html   # shown, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in cluster_html and "&lt;svg onload=alert(2)&gt;" in cluster_html
    assert "&lt;script&gt;document.title" in c.get(pages[1]).text
    # the API returns the text as data; the page scripts put it into the DOM as text only
    ev = c.get(f"/api/runs/{world['run']}/clusters/{world['cid']}").json()["evidence"]
    assert XSS_POST in {e["text_a"] for e in ev} | {e["text_b"] for e in ev}
    js = (c.get("/static/app.js").text)
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "textContent" in js


def test_jobs_run_in_the_background_with_progress(world):
    c = world["client"]
    tok = sign_in(c, "ana")
    bad = world["tmp"] / "coord.csv"
    lines = with_bad_rows(FIXTURES / "coortweet" / "russian_coord_tweets.csv", bad, [
        b"aa,bb,cc,<script>alert(1)</script>",          # a time that is no POSIX time, written by an attacker
        b"dd,,ee,1623864188",                           # no account
    ])
    r = c.post("/api/jobs", headers={"X-CSRF-Token": tok},
               json={"kind": "ingest", "args": {"path": str(bad), "format": "coortweet", "dataset": "coord"}})
    assert r.status_code == 202, r.text
    ingest_id = r.json()["id"]
    r = c.post("/api/jobs", headers={"X-CSRF-Token": tok},
               json={"kind": "detect", "args": {"datasets": ["coord"], "window_s": 60}})
    detect_id = r.json()["id"]
    assert r.json()["state"] == "queued"               # answered at once: it waits behind the ingest
    seen, polls, pages_ok = set(), 0, 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        j = c.get(f"/api/jobs/{detect_id}").json()
        seen.add((j["state"], j["step"]))
        polls += 1
        pages_ok += c.get("/api/runs").status_code == 200        # the server answers while the jobs run
        if j["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    ing = c.get(f"/api/jobs/{ingest_id}").json()
    assert ing["state"] == "done", ing
    # 2 planted + 2 in the real file (lines 24 and 43 repeat a content_id, tests/test_ingest_coortweet.py)
    assert ing["result"]["errors"] == 4 and ing["result"]["posts_added"] > 0
    assert 0 < ing["done"] <= ing["result"]["rows_read"]                             # the reader reported progress
    assert j["state"] == "done", j
    assert j["result"]["run_id"] == 2 and j["done"] == j["total"] == 6
    assert pages_ok == polls and any(state in ("queued", "running") for state, _ in seen)
    assert [r["run_id"] for r in c.get("/api/runs").json()][:1] == [2]
    errs = c.get("/api/ingest-errors?dataset=coord").json()
    assert sorted(e["line"] for e in errs) == sorted([24, 43, *lines]) and all(e["file"] == str(bad) for e in errs)
    page = c.get("/datasets?dataset=coord").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert c.post("/api/jobs", headers={"X-CSRF-Token": tok},
                  json={"kind": "ingest", "args": {"path": str(world["tmp"] / "nope")}}).status_code == 422
    actions = [e["action"] for e in c.get("/api/audit").json()["entries"]]
    assert "job-done" in actions and "job-start" in actions


def test_openapi_documents_the_api_only(world):
    c = world["client"]
    doc = c.get("/api/openapi.json").json()
    paths = set(doc["paths"])
    assert {"/api/runs/{run_id}/clusters", "/api/shares", "/api/shares/{share_id}/push", "/api/jobs/{job_id}",
            "/api/audit"} <= paths
    assert all(p.startswith("/api/") for p in paths)
    assert c.get("/docs").status_code == 404                   # Swagger UI would load from a CDN
    sign_in(c, "ana")
    for url in ["/clusters", f"/runs/{world['run']}/clusters/{world['cid']}", "/outbox", "/audit", "/datasets"]:
        html = c.get(url).text
        srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert srcs and all(s.startswith(("/", "#")) for s in srcs), (url, [s for s in srcs if not s.startswith("/")])


def test_user_cli(tmp_path):
    db = tmp_path / "w.sqlite"
    cli = CliRunner()
    run = cli.invoke(cli_app, ["web", "user", "add", "olga", "--role", "reviewer", "--password-stdin",
                               "--web-db", str(db)], input="s3cret-long-passphrase\n")
    assert run.exit_code == 0, run.output
    st = WebState(db)
    assert st.check_password("olga", "s3cret-long-passphrase") == {"name": "olga", "role": "reviewer"}
    assert st.check_password("olga", "wrong") is None
    row = st.engine.connect().exec_driver_sql("SELECT password_hash FROM web_users").fetchall()[0][0]
    assert row.startswith("$argon2id$")
    again = cli.invoke(cli_app, ["web", "user", "add", "olga", "--role", "boss", "--password-stdin",
                                 "--web-db", str(db)], input="a-long-enough-one\n")
    assert again.exit_code == 2 and "unknown role" in again.output
    listed = cli.invoke(cli_app, ["web", "user", "list", "--web-db", str(db)])
    assert "olga" in listed.output and "reviewer" in listed.output
    assert st.verify_audit().ok and json.loads(json.dumps(st.audit()))[0]["detail"]["op"] == "add-user"


def test_short_passwords_are_refused(tmp_path):
    db = tmp_path / "w.sqlite"
    cli = CliRunner()
    # 14 characters: one short of the minimum; nothing is stored
    short = cli.invoke(cli_app, ["web", "user", "add", "pia", "--password-stdin", "--web-db", str(db)],
                       input="14-chars-pw-ok\n")
    assert short.exit_code == 2 and "password too short: 14 characters, at least 15" in short.output
    assert WebState(db).users() == []
    # length counts Unicode code points, not bytes: 14 two-byte letters are still too short
    assert cli.invoke(cli_app, ["web", "user", "add", "pia", "--password-stdin", "--web-db", str(db)],
                      input="\u00e9" * 14 + "\n").exit_code == 2
    spaces = cli.invoke(cli_app, ["web", "user", "add", "pia", "--password-stdin", "--web-db", str(db)],
                        input=" " * 20 + "\n")
    assert spaces.exit_code == 2 and "only white space" in spaces.output
    ok = cli.invoke(cli_app, ["web", "user", "add", "pia", "--password-stdin", "--web-db", str(db)],
                    input="fifteen-chars-1\n")
    assert ok.exit_code == 0, ok.output
    st = WebState(db)
    bad = cli.invoke(cli_app, ["web", "user", "passwd", "pia", "--password-stdin", "--web-db", str(db)],
                     input="short\n")
    assert bad.exit_code == 2 and "password too short: 5 characters" in bad.output
    assert st.check_password("pia", "fifteen-chars-1") is not None and st.check_password("pia", "short") is None
    good = cli.invoke(cli_app, ["web", "user", "passwd", "pia", "--password-stdin", "--web-db", str(db)],
                      input="a much longer passphrase\n")
    assert good.exit_code == 0 and st.check_password("pia", "a much longer passphrase") is not None
    assert [e["detail"]["op"] for e in st.audit()] == ["set-password", "add-user"]   # refusals change nothing


def test_cibscope_serve_starts_the_app(world, tmp_path):
    import shutil
    import sys

    from cibscope.share.serve import free_port, start_process
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(world["tmp"] / "store.duckdb", db)
    port = free_port()
    proc = start_process([sys.executable, "-c", "from cibscope.cli import app; app()", "serve", "--db", str(db),
                          "--web-db", str(tmp_path / "w.sqlite"), "--read-only", "--port", str(port)], port)
    try:
        r = requests.get(f"http://127.0.0.1:{port}/login", timeout=30)
        assert r.status_code == 200 and "script-src 'self'" in r.headers["content-security-policy"]
        assert requests.get(f"http://127.0.0.1:{port}/api/runs", timeout=30).status_code == 401
    finally:
        stop(proc)
