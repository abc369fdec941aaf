"""DISARM Red v1.6 catalogue and import."""
import pytest

from _intel_data import DISARM, GALAXY, shared_only
from cibscope.intel.disarm import DisarmCatalogue, DisarmError, WithdrawnTechniqueError, import_disarm


def test_packaged_catalogue_has_391_techniques():
    cat = DisarmCatalogue.load(version="1.6")
    assert len(cat) == 391 and len(cat.tactics) == 16
    t = cat.get("T0049")
    assert (t.name, t.tactic_id, t.tactic_name, t.version) == ("Flood Information Space", "TA17",
                                                                  "Maximise Exposure", "1.6")
    assert cat.get("T0049.002").parent_id == "T0049"
    assert [x.disarm_id for x in cat.list("TA17")][:2] == ["T0039", "T0049"]
    assert all(x.tactic_name and x.description for x in cat.list())


def test_removed_ids_are_withdrawn_or_mapped_to_successors():
    cat = DisarmCatalogue.load("1.6")
    for old in ("T0007", "T0090"):
        r = cat.lookup(old)
        assert r.withdrawn and r.name
        with pytest.raises(WithdrawnTechniqueError):
            cat.get(old)
        assert cat.resolve(old) == []
    assert [t.disarm_id for t in cat.resolve("T0099")] == ["T0143.003"]
    assert [t.disarm_id for t in cat.resolve("T0104.005")] == ["T0015.001"]
    assert [t.disarm_id for t in cat.resolve("T0001")] == ["T0075", "T0076", "T0077", "T0078", "T0079"]
    assert "T0099" in cat.lookup("T0099").evidence
    with pytest.raises(KeyError, match="T0143.003"):
        cat.get("T0099")
    with pytest.raises(KeyError):
        cat.lookup("T9999")


def test_unknown_version_is_refused():
    with pytest.raises(DisarmError):
        DisarmCatalogue.load(version="0.9")


@shared_only
def test_catalogue_rebuilds_identically_from_the_sources():
    built = DisarmCatalogue.from_sources(DISARM, "1.6", previous=[GALAXY])
    assert built.to_json() == DisarmCatalogue.load("1.6").to_json()


@shared_only
def test_import_reports_391_techniques_and_keeps_custom_types():
    res = import_disarm(DISARM, previous=[GALAXY])
    s = res.summaries[0]
    assert s.objects_by_type["attack-pattern"] == 391
    assert s.objects_by_type["x-mitre-tactic"] == 16 and s.objects_by_type["x-mitre-matrix"] == 1
    assert s.rows == s.rows_imported == len(res.objects) and res.errors == []
    assert any(n.startswith("DISARM Red v1.6: 391 techniques") for n in s.notes)
    assert "retired T0007 'Create Inauthentic Social Media Pages and Groups': withdrawn" in s.notes
    assert "retired T0099 'Impersonate Existing Entity': -> T0143.003" in s.notes
    # catalogue keys are DISARM ids; the STIX ids of this release are only attributes
    cat = DisarmCatalogue.load("1.6")
    ap = {o["external_references"][0]["external_id"]: o["id"] for o in res.by_type("attack-pattern")}
    assert all(cat.get(k).stix_id == v for k, v in ap.items())
