"""Meta threat-research importers on the real files of ../shared/data/meta-threat-research."""
from collections import Counter
from datetime import datetime, timezone

import pytest

from _intel_data import INDICATORS, META, needs_shared
from cibscope.intel.meta import META_KILL_CHAIN, import_killchain_ttps, import_meta, network_key
from cibscope.intel.result import validate_objects

pytestmark = needs_shared
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
FILES = sorted(p for p in INDICATORS.rglob("*") if p.suffix in (".csv", ".md")) if INDICATORS.is_dir() else []
DOPPEL = INDICATORS / "csv" / "Q2_2023 " / "Q2_2023_Doppelganger_Russia_based_CIB_network_updated.csv"
SPAM = INDICATORS / "csv" / "Q2_2023 " / "Q2_2023_Spamouflage_China_based_CIB_updated.csv"


def _data_lines(path):
    """Non-blank records of a CSV (csv module) or table rows of a Markdown page, counted independently."""
    import csv
    if path.suffix == ".md":
        rows = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("|")]
        return max(len(rows) - 2, 0)
    with open(path, encoding="utf-8-sig", newline="") as f:
        return sum(1 for r in list(csv.reader(f))[1:] if any(c.strip() for c in r))


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(INDICATORS)) for p in FILES])
def test_every_file_imports_with_a_summary(path):
    res = import_meta(path, created=T0)
    (s,) = res.summaries
    assert s.file == str(path)
    assert s.rows == _data_lines(path)
    assert s.rows_imported + s.rows_failed == s.rows          # every row accounted for
    assert len(res.errors) == s.rows_failed
    assert all(e.file == str(path) and e.row and e.reason for e in res.errors)
    assert sum(s.objects_by_type.values()) == len(res.objects)
    assert s.objects_by_type["intrusion-set"] == 1 and s.objects_by_type["report"] == 1
    # every indicator indicates the file's intrusion-set
    iset = res.by_type("intrusion-set")[0]["id"]
    indicates = {r["source_ref"] for r in res.by_type("relationship") if r["relationship_type"] == "indicates"
                 and r["target_ref"] == iset}
    assert indicates == {i["id"] for i in res.by_type("indicator")}
    assert s.line().startswith(str(path))


def test_doppelganger_rows_and_objects():
    res = import_meta(DOPPEL, created=T0)
    s = res.summaries[0]
    # 6,497 data lines after the header: 6,495 records + 2 separator lines (",,,,")
    assert (s.rows, s.blank_rows) == (6495, 2)
    assert s.rows_failed == 0 and s.rows_imported == 6495
    domains = {o["value"] for o in res.by_type("domain-name")}
    assert "spiegel.today" in domains and "welt.pm" in domains and not any("[" in d for d in domains)
    procs = {r["external_id"] for o in res.by_type("attack-pattern") for r in o["external_references"]}
    assert procs == {"0.6.2", "7.5.1", "9.5.3"}


def test_spamouflage_is_valid_stix():
    res = import_meta(SPAM, created=T0)
    rep = validate_objects(res.bundle()["objects"])
    assert rep.errors == [] and rep.objects == len(res.objects) > 1000
    accounts = {(o.get("account_type"), o.get("account_login")) for o in res.by_type("user-account")}
    assert len(accounts) > 150 and all(t for t, _ in accounts)


@pytest.mark.slow
def test_doppelganger_is_valid_stix():
    res = import_meta(DOPPEL, created=T0)
    rep = validate_objects(res.bundle()["objects"])
    assert rep.objects > 18000
    assert rep.errors == []


def test_count_row_becomes_a_note_not_an_indicator():
    path = INDICATORS / "csv" / "Q1_2023" / "Q1_2023_ Iran-based_CIB_network.csv"
    res = import_meta(path, created=T0)
    notes = {n["content"]: n for n in res.by_type("note")}
    assert "67 accounts" in notes and notes["67 accounts"]["labels"] == ["asset-count"]
    assert notes["Sharing on Facebook" if "Sharing on Facebook" in notes else "Share on Facebook"]["labels"] == \
        ["observation"]
    assert not any("67 accounts" in i["pattern"] for i in res.by_type("indicator"))
    iset = res.by_type("intrusion-set")[0]["id"]
    assert iset in notes["67 accounts"]["object_refs"]
    # the e-mail with a trailing comment is refanged into an email-addr
    assert {o["value"] for o in res.by_type("email-addr")} == {"info@amc239.com", "info@holysouls.cc"}


def test_killchain_procedure_becomes_attack_pattern_used_by_network():
    path = INDICATORS / "csv" / "Q1_2023" / "Q1_2023_ Iran-based_CIB_network.csv"
    res = import_meta(path, created=T0)
    ap = {r["external_id"]: o for o in res.by_type("attack-pattern") for r in o["external_references"]}
    assert ap["0.9.4"]["name"] == "Acquiring X / Twitter accounts"
    assert ap["0.9.4"]["kill_chain_phases"] == [{"kill_chain_name": META_KILL_CHAIN, "phase_name": "acquiring-assets"}]
    iset = res.by_type("intrusion-set")[0]["id"]
    uses = {r["target_ref"] for r in res.by_type("relationship") if r["relationship_type"] == "uses"}
    assert ap["0.9.4"]["id"] in uses and all(r["source_ref"] == iset for r in res.by_type("relationship")
                                              if r["relationship_type"] == "uses")
    ind = next(i for i in res.by_type("indicator") if "GenerousThief1" in i["pattern"])
    assert {"source_name": META_KILL_CHAIN, "external_id": "0.9.4",
            "description": "Acquiring X / Twitter accounts"} in ind["external_references"]


def test_bad_rows_land_in_the_error_list_with_file_row_and_reason():
    path = INDICATORS / "csv" / "Q3_2024" / "Q3_2024 IRAN_BASED_CIB_NETWORK.csv"
    res = import_meta(path, created=T0)
    (err,) = res.errors
    assert (err.row, err.field, err.raw) == (23, "Indicator", "t[.]/RGUD_bot")
    assert "not a valid URL" in err.reason


def test_markdown_page_and_csv_share_the_network():
    md = INDICATORS / "meta-h1-2026-iran-based-cib-network-2.md"
    csv_ = INDICATORS / "csv" / "Q4-1_2026_GithubIOCs - H1_2026_IRAN_BASED_CIB_NETWORK_2.csv"
    assert network_key(md) == network_key(csv_) == "h1-2026-iran-based-cib-network-2"
    a, b = import_meta(md, created=T0), import_meta(csv_, created=T0)
    assert a.by_type("intrusion-set")[0]["id"] == b.by_type("intrusion-set")[0]["id"]
    assert a.by_type("intrusion-set")[0]["name"] == "Iran-Based Influence Operation Network Targeting Azerbaijan"
    assert {o["value"] for o in a.by_type("domain-name")} == {"sizinyol.org", "qafqaztimes.com"}


def test_markdown_proxy_ips_are_anonymization_indicators():
    hits = []
    for p in INDICATORS.glob("*.md"):
        res = import_meta(p, created=T0)
        hits += [i for i in res.by_type("indicator") if i["pattern"].startswith("[ipv4-addr")]
    assert len(hits) == 7 and all(i["indicator_types"] == ["anonymization"] for i in hits)


def test_classic_csv_and_json_give_the_same_objects():
    stem = "2022_09_removing_coordinated_inauthentic_behavior_from_china_and_russia"
    a = import_meta(INDICATORS / "csv" / f"{stem}.csv", created=T0)
    b = import_meta(INDICATORS / "json" / f"{stem}.json", created=T0)
    assert a.summaries[0].rows == b.summaries[0].rows == 350
    sco_a = {o["id"] for o in a.objects if "created" not in o}
    assert sco_a == {o["id"] for o in b.objects if "created" not in o}
    assert Counter(o["type"] for o in a.objects) == Counter(o["type"] for o in b.objects)
    telegram = {o["account_login"] for o in a.by_type("user-account") if o["account_type"] == "telegram"}
    assert "via_napoli" in telegram


def test_reimport_is_identical():
    a = import_meta(SPAM, created=T0).bundle()
    b = import_meta(SPAM, created=T0).bundle()
    assert a == b


def test_killchain_catalogue_becomes_attack_patterns():
    res = import_killchain_ttps(META / "Online_Operations_Killchain-TTPs.csv", created=T0)
    s = res.summaries[0]
    assert s.rows_imported + s.rows_failed == s.rows and s.rows_failed == 0
    aps = res.by_type("attack-pattern")
    assert len(aps) == s.rows_imported > 150
    names = {r["external_id"]: o["name"] for o in aps for r in o["external_references"]}
    assert names["0.6.1"] == "Acquiring domains to host, deploy, and support malware campaigns"  # multi-line cell
    # same ids as the attack-patterns the indicator files make
    net = import_meta(DOPPEL, created=T0)
    assert {o["id"] for o in net.by_type("attack-pattern")} <= {o["id"] for o in aps}
    assert validate_objects(aps).errors == []
