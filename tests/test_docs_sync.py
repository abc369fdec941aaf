"""The documentation of the data model and the detection parameters matches the code."""
from __future__ import annotations

import re
from pathlib import Path

from cibscope.detect.params import DetectionParams
from cibscope.store.schema import DDL

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_table_and_column_is_documented():
    doc = (DOCS / "data-model.md").read_text()
    tables = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", DDL, re.S)
    assert len(tables) >= 11
    for table, body in tables:
        section = doc.split(f"### `{table}`", 1)
        assert len(section) == 2, f"table {table} missing from docs/data-model.md"
        section = section[1].split("###", 1)[0]
        for line in body.strip().splitlines():
            col = line.strip().split()[0]
            if col != "PRIMARY":
                assert f"| `{col}` |" in section, f"{table}.{col} missing from docs/data-model.md"


def test_every_detection_parameter_is_documented_with_its_default():
    doc = (DOCS / "detection.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| [^|]* \| ([^|]*) \|", doc, re.M)}
    for name, field in DetectionParams.model_fields.items():
        assert name in rows, f"parameter {name} missing from docs/detection.md"
        default = field.get_default(call_default_factory=True)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert float(rows[name].strip()) == float(default), f"{name}: doc says {rows[name]}, code {default}"
        elif isinstance(default, list):
            assert rows[name].strip() == ",".join(f"{x:g}" if isinstance(x, float) else x for x in default), \
                f"{name}: doc says {rows[name]}, code {default}"


def test_every_disarm_rule_is_documented_with_its_threshold():
    from cibscope.explain.disarm import RULES
    from cibscope.intel.disarm import DisarmCatalogue

    doc = (DOCS / "disarm.md").read_text()
    cat = DisarmCatalogue.load()
    for r in RULES:
        assert f"| {r.disarm_id} | {cat.get(r.disarm_id).name} |" in doc, r.disarm_id
        assert f"| {r.threshold} |" in doc, f"{r.disarm_id}: threshold differs from docs/disarm.md"
