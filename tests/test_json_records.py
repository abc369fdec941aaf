"""Record splitting shared by the JSON readers: JSON lines, arrays, pretty-printed values, one streamed member."""
from __future__ import annotations

import json

from cibscope.ingest.json_records import array_records, file_records, member_records, value_records


def test_pretty_printed_values_numbered_by_line(tmp_path):
    f = tmp_path / "v.json"
    f.write_text(json.dumps({"a": 1}, indent=2) + "\n" + json.dumps({"b": [1, 2]}, indent=2) + "\n")
    recs = list(value_records(f))
    assert [(line, json.loads(raw), p) for line, raw, p in recs] == [(1, {"a": 1}, None), (4, {"b": [1, 2]}, None)]
    assert list(file_records(f)) == recs  # the first line is not JSON on its own: not JSON lines


def test_array_by_line_and_by_element(tmp_path):
    f = tmp_path / "a.json"
    f.write_text('[\n {"x": 1},\n\n {"x": "a\\nb"},\n {"x": 3}\n]')
    assert [r[0] for r in array_records(f)] == [2, 4, 5]
    assert [r[0] for r in array_records(f, by_element=True)] == [1, 2, 3]


def test_member_streamed_and_others_kept(tmp_path):
    f = tmp_path / "o.json"
    f.write_text('{"name": "c", "id": 7,\n "messages": [\n  {"id": 1},\n  {"id": 2}\n ], "tail": {"k": [1]}}')
    members: dict = {}
    recs = list(member_records(f, "messages", members))
    assert [(line, json.loads(raw)) for line, raw, _ in recs] == [(3, {"id": 1}), (4, {"id": 2})]
    assert members == {"name": "c", "id": 7, "tail": {"k": [1]}}


def test_truncated_array_keeps_what_came_before(tmp_path):
    f = tmp_path / "t.json"
    f.write_text('[{"x": 1},\n{"x": 2},\n{"x": ')
    recs = list(array_records(f))
    assert [r[2] for r in recs[:2]] == [None, None]
    assert recs[2][0] == 3 and recs[2][2].startswith("invalid JSON") and "rest of file not read" in recs[2][2]


def test_jsonl_bad_line_is_one_record(tmp_path):
    f = tmp_path / "l.jsonl"
    f.write_bytes(b'{"x": 1}\n{oops\n\n{"x": 3}\n\xff\n')
    recs = list(file_records(f))
    assert [(line, raw) for line, raw, _ in recs[:3]] == [(1, '{"x": 1}'), (2, "{oops"), (4, '{"x": 3}')]
    assert recs[3][0] == 5 and recs[3][2].startswith("not UTF-8")


def test_batches_bounded_by_characters(monkeypatch):
    """A page-sized API response closes a batch on its own: memory follows bytes, not record counts."""
    import duckdb

    from cibscope.ingest import json_records
    from cibscope.ingest.twitter_v2 import TwitterV2Reader
    from conftest import FIXTURES

    path = FIXTURES / "twitter-v2" / "responses.jsonl"
    monkeypatch.setattr(json_records, "BATCH_CHARS", 1000)  # each response is larger
    batches = list(TwitterV2Reader().read(path, duckdb.connect(), None))
    assert [b.rows_read for b in batches] == [1, 1]
    assert [b.posts.num_rows for b in batches] == [3, 2]  # 2 tweets + 1 included tweet; 2 tweets


# Arrays DuckDB splits (read_json_objects) must give exactly the records of the Python decoder, also where
# DuckDB stops part-way (the Python decoder resumes after the last element found) or accepts what JSON forbids.
_ARRAYS = {
    "plain": '[\n {"a": 1,\n  "b": "x\\u00e9y"},\n{"c": [1, 2]} ,\n\n  {"d": "\\n, }"}\n]\n',
    "trailing_comma_mid_file": '[{"a": 1},\n{"b": 2,}\n, {"c": 3}]',
    "raw_tab_in_string": '[{"a": 1},\n{"b": "x\ty"},\n {"c": 3}\n]',
    "bom_unclosed": '\ufeff[{"a": 1},\n{"b": "x"}\n, {"c": 3}\n',
    "lone_surrogate_then_junk": '[{"a": 1},\n{"b": "\\ud800"},\n {"c": 3}] trailing',
    "missing_comma": '[{"a": 1}\n{"b": 2}]',
    "scalars": '[1, "x", {"a": "y, }"}, []]',
    "cr_line_ends": '[{"a": 1},\r{"b":\r2},\r\n\r\n {"c": 3}\r]',
    "empty": "[]",
}


def test_duckdb_split_arrays_match_the_python_decoder(tmp_path):
    from cibscope.ingest.json_records import _python_array_records

    for name, text in _ARRAYS.items():
        f = tmp_path / f"{name}.json"
        f.write_bytes(text.encode("utf-8"))
        for by_element in (False, True):
            assert list(array_records(f, by_element=by_element)) == list(_python_array_records(f, by_element)), name
    recs = list(array_records(tmp_path / "trailing_comma_mid_file.json"))
    assert recs[0] == (1, '{"a": 1}', None) and recs[1][0] == 2 and "rest of file not read" in recs[1][2]


def test_duckdb_split_resumes_after_the_last_good_element(tmp_path, monkeypatch):
    import cibscope.ingest.json_records as jr

    f = tmp_path / "late.json"
    good = ",\n".join(json.dumps({"i": i, "t": "x\ny"}, indent=1) for i in range(9000))
    f.write_text("[" + good + ',\n{"bad": [1,\n]},\n{"i": -1}\n]', encoding="utf-8")  # DuckDB accepts [1,]
    resumed = []
    real = jr._python_array_records
    monkeypatch.setattr(jr, "_python_array_records",
                        lambda *a, **k: resumed.append(a[2:]) or real(*a, **k))
    recs = list(jr.array_records(f))
    assert resumed and resumed[0][0] > 0  # DuckDB's part was used, the decoder took over mid-file
    assert recs == list(real(f, False))
    assert len(recs) == 9001 and recs[-1][0] == 9000 * 4 + 1 and "invalid JSON" in recs[-1][2]
    assert json.loads(recs[-2][1]) == {"i": 8999, "t": "x\ny"} and recs[-2][0] == 8999 * 4 + 1
