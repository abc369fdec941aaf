"""Fuzzing of the hub's OpenAPI surface with schemathesis: no request may get a 5xx.

Every operation of ``/openapi.json`` gets at most :data:`MAX_EXAMPLES` generated cases
(positive and negative, fixed seed, no example database), run in-process against the
ASGI app over a hub holding real objects. Each case is sent four times: as
generated but with a valid Accept (fuzzed credentials: the audited 401 paths); with a
valid token and the generated purpose (the audited 403 paths); with a valid token and
purpose (fuzzed paths, query and body); and with those plus the real API root,
collection and object ids (fuzzed filters, paging and envelopes against stored data).
Every answer must be a TAXII message below 500.
"""
from __future__ import annotations

import json

import pytest
import schemathesis
from fastapi.testclient import TestClient

from cibscope.share.api import create_app
from share_fixtures import COLLECTION, ROOT, TAXII, ira_objects, make_hub

MAX_EXAMPLES = 12
CONFIG = schemathesis.Config.from_dict({
    "seed": 20261129,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
})
SENT: list[int] = []


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory):
    fx = make_hub(tmp_path_factory.mktemp("fuzz") / "hub.sqlite")
    app = create_app(fx.hub)
    objs = ira_objects("green", ["research", "platform-integrity"], personal_data=True, seed="fuzz")
    r = TestClient(app).post(f"/{ROOT}/collections/{COLLECTION}/objects/", content=json.dumps({"objects": objs}),
                             headers=fx.headers("university", "research"))
    assert r.status_code == 202 and r.json()["failure_count"] == 0, r.text
    return fx, app, objs[2]["id"]


# The OpenAPI document does not depend on the data: take it from an app over an in-memory hub.
# (schemathesis.pytest.from_fixture fails under pytest 9.2: it reads the removed Function._nodeid.)
schema = schemathesis.openapi.from_dict(create_app("sqlite://").openapi(), config=CONFIG)


def _check(case, response) -> None:
    SENT.append(response.status_code)
    assert response.status_code < 500, f"{case.as_curl_command()}\n-> {response.status_code} {response.text[:500]}"
    assert response.headers["content-type"][0].startswith("application/taxii+json"), case.as_curl_command()


@schema.parametrize()
def test_no_server_errors(case, hub_app):
    fx, app, object_id = hub_app
    valid = fx.headers("university", "research")
    valid.pop("Content-Type")  # keep the generated body's media type
    generated = {k: v for k, v in (case.headers or {}).items() if k.lower() != "accept"}
    _check(case, case.call(app=app, headers={"Accept": TAXII, **generated}))  # 401 paths (audited)
    purpose = {"X-Cibscope-Purpose": generated.get("X-Cibscope-Purpose", "")}
    _check(case, case.call(app=app, headers={**valid, **purpose}))  # 403 purpose paths (audited)
    _check(case, case.call(app=app, headers=valid))  # fuzzed paths, queries and bodies
    real = {"api_root": ROOT, "collection_id": COLLECTION, "object_id": object_id}
    case.path_parameters = {k: real.get(k, v) for k, v in (case.path_parameters or {}).items()}
    _check(case, case.call(app=app, headers=valid))  # ... against the stored objects


def test_fuzzing_was_bounded_and_reached_the_data():
    """Runs after the fuzz cases (same module): they were sent, bounded, and many were answered 2xx."""
    if not SENT:
        pytest.skip("fuzz cases not selected in this run")
    assert len(SENT) <= 4 * 11 * 2 * MAX_EXAMPLES * 2
    assert sum(200 <= s < 300 for s in SENT) >= 20
    assert {401, 403, 404} <= set(SENT)
