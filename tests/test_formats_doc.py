"""docs/formats.md names every format and every field the readers' constants hold."""
from __future__ import annotations

from pathlib import Path

import pytest

from cibscope.ingest import READERS, cnt_csv, coortweet, ira_csv, mapped, twitter_v1

DOC = (Path(__file__).resolve().parents[1] / "docs" / "formats.md").read_text()


def _leaves(struct: dict, prefix: str = "") -> list[str]:
    """Field paths of a json_transform structure (``a.b``, ``a[].b``); extended_tweet's parts by name only."""
    out = []
    for k, v in struct.items():
        path = prefix + k
        if isinstance(v, list):
            v = v[0]
            path += "[]"
        if isinstance(v, dict) and not prefix.startswith("extended_tweet"):
            out += _leaves(v, path + ".") if path != "extended_tweet" else [f"{path}.{c}" for c in v]
        else:
            out.append(path)
    return out


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_format_has_a_section(name):
    assert f"| `{name}` |" in DOC
    assert any(line.startswith("## ") and name in line for line in DOC.splitlines()), name


@pytest.mark.parametrize("field", sorted(set(
    ira_csv.TWEET_FIELDS + ira_csv.AUTHOR_FIELDS + coortweet.SHARE_FIELDS + coortweet.MULTIMODAL_FIELDS
    + cnt_csv.CNT_FIELDS + mapped.POST_FIELDS + tuple(coortweet.PLATFORM_PREFIXES.values())
    + tuple(_leaves(twitter_v1.TWEET_STRUCT)))))
def test_every_field_is_documented(field):
    assert f"`{field}`" in DOC


def test_mappings_match_the_tables():
    for fld, col in {**cnt_csv.CNT_MAPPING, **coortweet.SHARE_MAPPING}.items():
        assert any(line.startswith(f"| `{col}` | `{fld}`") for line in DOC.splitlines()), (col, fld)
