"""Generic STIX bundle import (custom types kept), plain CSV lists, and the `cibscope intel import` CLI."""
import json
from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner

from _intel_data import INDICATORS, shared_only
from cibscope.cli import app
from cibscope.intel.plain_list import import_plain_list
from cibscope.intel.result import validate_objects
from cibscope.intel.stix_bundle import BundleImportError, import_stix_bundle

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
TS = "2026-01-01T00:00:00.000Z"
CUSTOM = {"type": "x-opencti-case", "spec_version": "2.1", "id": "x-opencti-case--6f0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
          "created": TS, "modified": TS, "name": "Tip 2026-001", "x_opencti_priority": "P2",
          "x_case_refs": ["indicator--1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b"]}
INDICATOR = {"type": "indicator", "spec_version": "2.1", "id": "indicator--1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b",
             "created": TS, "modified": TS, "pattern": "[domain-name:value = 'spiegel.today']",
             "pattern_type": "stix", "valid_from": TS, "x_misp_category": "Network activity"}


def _write(tmp_path, objects, name="bundle.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"type": "bundle", "id": "bundle--0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                             "objects": objects}), encoding="utf-8")
    return p


def test_custom_type_bundle_round_trips(tmp_path):
    src = _write(tmp_path, [INDICATOR, CUSTOM])
    res = import_stix_bundle(src)
    assert res.errors == [] and res.objects == [INDICATOR, CUSTOM]       # kept verbatim, custom props too
    out = res.write_bundle(tmp_path / "out.json")
    again = import_stix_bundle(out)
    assert again.objects == [INDICATOR, CUSTOM]
    assert validate_objects(again.objects).errors == []
    assert again.summaries[0].objects_by_type == {"indicator": 1, "x-opencti-case": 1}


def test_broken_objects_go_to_the_error_list(tmp_path):
    bad_id = dict(INDICATOR, id="indicator--not-a-uuid")
    stix20 = {k: v for k, v in CUSTOM.items() if k != "spec_version"}
    stix20["id"] = "x-opencti-case--0f0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
    clash = dict(INDICATOR, pattern="[domain-name:value = 'other.example']")
    res = import_stix_bundle(_write(tmp_path, [INDICATOR, bad_id, "junk", stix20, clash]))
    # a STIX 2.0 object (no spec_version) is converted to 2.1, not refused (issue #18 item 17)
    assert [o["id"] for o in res.objects] == [INDICATOR["id"], stix20["id"]]
    assert res.objects[1]["spec_version"] == "2.1"
    assert [(e.row, e.field) for e in res.errors] == [(2, "id"), (3, "object"), (5, "id")]
    s = res.summaries[0]
    assert (s.rows, s.rows_imported, s.rows_failed) == (5, 2, 3)


def test_validate_moves_invalid_objects_to_errors(tmp_path):
    invalid = dict(INDICATOR, id="indicator--2e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b", pattern="[not a pattern")
    res = import_stix_bundle(_write(tmp_path, [INDICATOR, invalid]), validate=True)
    assert [o["id"] for o in res.objects] == [INDICATOR["id"]]
    assert res.errors[0].field == invalid["id"] and "stix2-validator" in res.errors[0].reason


def test_not_a_bundle_is_refused(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(BundleImportError, match="x.json"):
        import_stix_bundle(p)


def test_plain_list_detects_types_and_reports_bad_rows(tmp_path):
    p = tmp_path / "partner.csv"
    p.write_text("value,platform,note\n"
                 "spiegel[.]today,,spoofed outlet\n"
                 "https://x.com/Allo_Afrique,,\n"
                 "@derniere_minute,telegram,\n"
                 "GenerousThief1,x,\n"
                 "hxxps://www[.]youtube[.]com/@Sahel_Urgent,,\n"
                 "\n"
                 "76 accounts,,\n"
                 "lonely_handle,,\n"
                 "t[.]/RGUD_bot,,\n"
                 "Posting into groups,,\n", encoding="utf-8")
    res = import_plain_list(p, created=T0)
    s = res.summaries[0]
    assert (s.rows, s.rows_imported, s.rows_failed, s.blank_rows) == (9, 5, 4, 1)
    accounts = {(o["account_type"], o["account_login"]) for o in res.by_type("user-account")}
    assert accounts == {("twitter", "Allo_Afrique"), ("telegram", "derniere_minute"),
                        ("twitter", "GenerousThief1"), ("youtube", "Sahel_Urgent")}
    assert [o["value"] for o in res.by_type("domain-name")] == ["spiegel.today"]
    assert [(e.row, e.raw) for e in res.errors] == [(8, "76 accounts"), (9, "lonely_handle"),
                                                    (10, "t[.]/RGUD_bot"), (11, "Posting into groups")]
    assert "platform" in res.errors[1].reason and "count" in res.errors[0].reason
    assert validate_objects(res.objects).errors == []


def test_headerless_list_with_default_platform(tmp_path):
    p = tmp_path / "handles.txt"
    p.write_text("AMC239\nBlackMagic2511\nexample[.]org\n", encoding="utf-8")
    res = import_plain_list(p, platform="twitter", created=T0)
    assert res.summaries[0].rows_imported == 3 and res.errors == []
    assert len(res.by_type("user-account")) == 2 and len(res.by_type("indicator")) == 3


@shared_only
def test_cli_imports_a_meta_file_and_prints_the_summary(tmp_path):
    src = INDICATORS / "csv" / "Q3_2024" / "Q3_2024 IRAN_BASED_CIB_NETWORK.csv"
    out = tmp_path / "bundle.json"
    r = CliRunner().invoke(app, ["intel", "import", str(src), "--format", "meta", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "[meta-killchain]: 41 rows -> 40 imported, 1 errors" in r.output
    assert "RGUD_bot" in r.output
    bundle = json.loads(out.read_text())
    assert bundle["type"] == "bundle" and len(bundle["objects"]) > 100


def test_cli_list_with_validation(tmp_path):
    src = tmp_path / "l.csv"
    src.write_text("value\nexample[.]org\n", encoding="utf-8")
    out = tmp_path / "b.json"
    r = CliRunner().invoke(app, ["intel", "import", str(src), "--format", "list", "--out", str(out), "--validate"])
    assert r.exit_code == 0, r.output
    assert "1 rows -> 1 imported, 0 errors" in r.output and "stix2-validator: 0 errors" in r.output


def test_cli_unknown_format_fails_cleanly(tmp_path):
    src = tmp_path / "l.csv"
    src.write_text("value\nexample.org\n")
    r = CliRunner().invoke(app, ["intel", "import", str(src), "--format", "nope", "--out", str(tmp_path / "b.json")])
    assert r.exit_code == 2 and "unknown format" in r.output
