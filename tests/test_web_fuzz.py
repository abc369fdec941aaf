"""Fuzzing of the web app's JSON API (``/api/openapi.json``) with schemathesis: no request may get a 5xx.

Every operation gets at most :data:`MAX_EXAMPLES` generated cases (positive and negative, fixed seed, no
example database), run in-process against the app over a copy of the shipped sample store (one detection
run) opened read-only (no jobs start), each sent twice: signed out (401 paths) and signed in as an
analyst with the session's CSRF token (fuzzed paths, queries and bodies against real data). Every answer
must be below 500 and, under ``/api/``, JSON.
"""
from __future__ import annotations

import re

import pytest
import schemathesis
from fastapi.testclient import TestClient

from cibscope.web.app import Settings, create_app
from test_web_app import PW
from web_fixtures import sample_store, web_state

MAX_EXAMPLES = 8
CONFIG = schemathesis.Config.from_dict({
    "seed": 20261202,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
})
SENT: list[int] = []


@pytest.fixture(scope="module")
def web_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web-fuzz")
    db, _ = sample_store(tmp / "store.duckdb")
    web_state(tmp / "web.sqlite")
    app = create_app(Settings(str(db), str(tmp / "web.sqlite"), read_only=True))
    with TestClient(app) as c:
        page = c.get("/login")
        tok = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = c.post("/login", data={"name": "ana", "password": PW["ana"], "csrf_token": tok}, follow_redirects=False)
        assert r.status_code == 303
        csrf = c.get("/api/me").json()["csrf_token"]
        cookie = c.cookies.get("cibscope_session")
        c.cookies.clear()
        yield c, {"Cookie": f"cibscope_session={cookie}", "X-CSRF-Token": csrf}



def _openapi() -> dict:
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory(prefix="cibscope-web-openapi-") as d:
        app = create_app(Settings(str(Path(d) / "s.duckdb"), str(Path(d) / "w.sqlite"), read_only=False))
        return app.openapi()


schema = schemathesis.openapi.from_dict(_openapi(), config=CONFIG)


def _send(client: TestClient, case, headers: dict):
    """The case through the module's one client (one app lifespan: ``case.call(app=...)`` would start and
    stop the app, closing its store, for every call)."""
    kw = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    kw.pop("cookies", None)
    client.cookies.clear()
    return client.request(**{k: v for k, v in kw.items() if k in ("method", "url", "headers", "params",
                                                                   "json", "content", "data", "files")})


def _check(case, response) -> None:
    SENT.append(response.status_code)
    assert response.status_code < 500, f"{case.as_curl_command()}\n-> {response.status_code} {response.text[:500]}"
    if case.path.startswith("/api/") and response.status_code != 303:
        assert response.headers["content-type"].startswith("application/json"), case.as_curl_command()


@schema.parametrize()
def test_no_server_errors(case, web_app):
    client, signed_in = web_app
    generated = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("cookie", "x-csrf-token")}
    _check(case, _send(client, case, generated))
    _check(case, _send(client, case, {**generated, **signed_in}))


def test_fuzzing_was_bounded_and_reached_the_data():
    if not SENT:
        pytest.skip("fuzz cases not selected in this run")
    assert sum(200 <= s < 300 for s in SENT) >= 10
    assert 401 in SENT
