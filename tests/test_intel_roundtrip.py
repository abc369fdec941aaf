"""Meta's published indicator files go through the sharing hub and come back unchanged: imported,
marked for sharing (TLP:CLEAR, purposes), pushed over real HTTP in several envelopes, pulled by a
research organisation (issue 6: the Doppelganger and Spamouflage files "round-trip through the TAXII hub")."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from _intel_data import INDICATORS, needs_shared
from cibscope.cli import app
from cibscope.intel.meta import import_meta
from cibscope.share.client import ShareError, pull, push
from cibscope.share.markings import PURPOSE_EXTENSION_ID, TLP2_BY_ID, TLP2_IDS, mark_for_sharing
from cibscope.share.serve import spawn, stop
from share_fixtures import COLLECTION, ROOT, make_hub

pytestmark = needs_shared

DOPPEL = INDICATORS / "csv" / "Q2_2023 " / "Q2_2023_Doppelganger_Russia_based_CIB_network_updated.csv"
SPAM = INDICATORS / "csv" / "Q2_2023 " / "Q2_2023_Spamouflage_China_based_CIB_updated.csv"
PURPOSES = ["platform-integrity", "research"]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("hub") / "hub.sqlite"
    fx = make_hub(db)
    fx.hub.engine.dispose()
    proc, base = spawn(db)
    yield fx, f"{base}/{ROOT}/"
    stop(proc)


def _round_trip(fx, server, objects, tmp_path, max_bytes=None):
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--5d0f1f7e-3c0b-4d55-9d6e-1e2f3a4b5c6d",
                                  "objects": objects}))
    status = push(bundle, server, COLLECTION, "platform-integrity", token=fx.tokens["platform-a"],
                  max_bytes=max_bytes)
    got = pull(tmp_path / "pulled", server, COLLECTION, "research", token=fx.tokens["university"])
    return status, {o["id"]: o for o in json.loads(got.path.read_text())["objects"]}


def test_marking_gives_every_object_one_tlp_and_one_purpose():
    res = import_meta(SPAM)
    marked = mark_for_sharing(res.objects, "clear", PURPOSES, "published threat research")
    defs = [o for o in marked if o["type"] in ("marking-definition", "extension-definition")]
    assert {o["id"] for o in defs} >= {TLP2_IDS["clear"], PURPOSE_EXTENSION_ID}
    others = [o for o in marked if o not in defs]
    assert len(others) == len(res.objects)
    for o in others:
        refs = o["object_marking_refs"]
        assert sum(r in TLP2_BY_ID for r in refs) == 1 and refs[-1] == defs[1]["id"]
    # an object keeps its own (stricter) TLP marking, and marking twice replaces the purpose marking
    amber = dict(others[0], object_marking_refs=[TLP2_IDS["amber"]])
    again = mark_for_sharing([amber], "clear", ["research"], "x")
    assert again[-1]["object_marking_refs"] == [TLP2_IDS["amber"], again[1]["id"]]
    assert {o["id"] for o in again if o["type"] == "marking-definition"} >= {TLP2_IDS["amber"], TLP2_IDS["clear"]}


def test_spamouflage_round_trips_in_several_envelopes(live, tmp_path):
    fx, server = live
    objects = mark_for_sharing(import_meta(SPAM).objects, "clear", PURPOSES, "published threat research")
    status, back = _round_trip(fx, server, objects, tmp_path, max_bytes=150_000)
    assert status["envelopes"] > 3 and status["failure_count"] == 0
    assert status["success_count"] == len(objects)
    for o in objects:
        assert back[o["id"]] == o, o["id"]


def test_cli_import_marks_and_share_push_accepts(live, tmp_path):
    fx, server = live
    out = tmp_path / "spam.json"
    r = CliRunner().invoke(app, ["intel", "import", str(SPAM), "--out", str(out), "--purpose", "platform-integrity",
                                 "--purpose", "research", "--tlp", "green"])
    assert r.exit_code == 0, r.output
    # Platform A: the module's hub already holds these objects (the same ids) from Platform A's push above, and
    # only the organisation that stored an object first may add versions of it (docs/sharing.md, ownership)
    r = CliRunner().invoke(app, ["share", "push", str(out), "--server", server, "--collection", COLLECTION,
                                 "--purpose", "platform-integrity", "--token", fx.tokens["platform-a"]])
    assert r.exit_code == 0, r.output
    n = len(json.loads(out.read_text())["objects"])
    assert f"{n} stored, 0 rejected" in r.output
    bad = CliRunner().invoke(app, ["intel", "import", str(SPAM), "--out", str(out), "--purpose", "gossip"])
    assert bad.exit_code == 2 and "gossip" in bad.output


def test_an_object_over_the_limit_is_named(live, tmp_path):
    fx, server = live
    objects = mark_for_sharing(import_meta(SPAM).objects[:5], "clear", PURPOSES, "x")
    with pytest.raises(ShareError, match=r"bundle\.json: object .* over the server's limit of 500 bytes"):
        _round_trip(fx, server, objects, tmp_path, max_bytes=500)


@pytest.mark.slow
def test_doppelganger_round_trips_through_the_hub(live, tmp_path):
    fx, server = live
    objects = mark_for_sharing(import_meta(DOPPEL).objects, "clear", PURPOSES, "published threat research")
    status, back = _round_trip(fx, server, objects, tmp_path)
    assert status["failure_count"] == 0 and status["success_count"] == len(objects) > 18_000
    assert all(back[o["id"]] == o for o in objects)
