"""docs/formats.md names every format and every field the readers' constants hold."""
from __future__ import annotations

from pathlib import Path

import pytest

from cibscope.ingest import (READERS, bluesky, cnt_csv, coortweet, crowdtangle, ira_csv, mapped, mastodon, reddit,
                             telegram, tiktok, twitter_io, twitter_v1, twitter_v2, youtube)

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
    + cnt_csv.CNT_FIELDS + mapped.POST_FIELDS + mapped.ACCOUNT_FIELDS + twitter_io.IO_FIELDS
    + crowdtangle.FACEBOOK_FIELDS
    + crowdtangle.INSTAGRAM_FIELDS + telegram.CHAT_FIELDS + tuple(coortweet.PLATFORM_PREFIXES.values())
    + reddit.COMMENT_FIELDS + reddit.SUBMISSION_FIELDS + tuple(_leaves(twitter_v1.TWEET_STRUCT)))))
def test_every_field_is_documented(field):
    assert f"`{field}`" in DOC


def test_mappings_match_the_tables():
    for fld, col in {**cnt_csv.CNT_MAPPING, **coortweet.SHARE_MAPPING}.items():
        assert any(line.startswith(f"| `{col}` | `{fld}`") for line in DOC.splitlines()), (col, fld)


def _section(name: str) -> str:
    return DOC.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]


#: Typed JSON structures of the JSON readers, by the format whose section must name their fields.
STRUCTS = {"twitter-v2": [twitter_v2.TWEET_STRUCT, twitter_v2.USER_STRUCT], "telegram": [telegram.MESSAGE_STRUCT],
           "bluesky": [bluesky.RECORD_STRUCT, bluesky.ENVELOPE_STRUCT], "mastodon": [mastodon.STATUS_STRUCT],
           "tiktok": [tiktok.VIDEO_STRUCT], "youtube": [youtube.ITEM_STRUCT], "reddit": [reddit.THING_STRUCT]}


@pytest.mark.parametrize("fmt,path", [(fmt, p) for fmt, structs in STRUCTS.items() for st in structs
                                      for p in _leaves(st)])
def test_every_json_field_is_in_its_section(fmt, path):
    """Each field read is named in the format's section, as a whole path or by its last part."""
    section = _section(fmt)
    parts = path.replace("[]", "").split(".")
    assert any(f"`{'.'.join(parts[i:])}" in section or f"{'.'.join(parts[i:])}`" in section
               for i in range(len(parts))), path


def test_io_mapping_matches_the_table():
    for fld, col in twitter_io.IO_MAPPING.items():
        if not col.startswith("_"):
            assert any(line.startswith(f"| `{col}` | `{fld}`") for line in _section("twitter-io").splitlines()), col
