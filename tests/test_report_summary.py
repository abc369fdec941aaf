"""The report's one-minute summary, reading note, shared objects as text and parameters at the end, on a
real detector run over the shipped IRA sample (the demo run)."""
from __future__ import annotations

import html
import re

import pytest

from cibscope.detect.interval import follow_delays
from cibscope.report.html import render_html
from cibscope.report.summary import duration_text, object_display, p_text
from cibscope.store.db import Store
from cibscope.text import plural

from web_fixtures import SAMPLE, sample_store

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="shipped sample absent")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    db, run_id = sample_store(tmp_path_factory.mktemp("summary") / "s.duckdb")
    with Store(db, read_only=True) as s:
        text = render_html(s, run_id)
        facts = s.con.execute("""
            SELECT count(*) FILTER (WHERE flagged), count(*),
                   (SELECT count(DISTINCT account_key) FROM cluster_members m JOIN clusters c USING (run_id, cluster_id)
                    WHERE c.flagged AND m.run_id = ?), count(*) FILTER (WHERE p_value = 0)
            FROM clusters WHERE run_id = ?""", [run_id, run_id]).fetchone()
        window = follow_delays(s, datasets=["ira-sample"])
    return text, facts, window


def _plain(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


def test_summary_comes_first_and_states_the_findings(page):
    text, (n_flagged, n_clusters, n_flag_acc, n_capped), _ = page
    order = [text.index(f'<section id="{s}"') for s in ("summary", "how-to-read", "clusters", "run")]
    assert order == sorted(order)
    summary = _plain(text[order[0]:order[1]])
    assert f"{n_flagged} of {plural(n_clusters, 'cluster')} {'is' if n_flagged == 1 else 'are'} flagged" in summary
    assert f"{n_flag_acc:,} accounts of the 172 analysed" in summary
    assert "not proof of inauthenticity" in summary and "not cleared" in summary
    assert "IRA:Fearmonger" in summary        # the sample's known labels, most common first
    assert "How strongly." in summary and "#1 (" in summary


def test_capped_p_values_read_as_a_cap_not_a_tie(page):
    text, (_, _, _, n_capped), _ = page
    assert n_capped >= 2                        # the sample has several clusters at the cap
    assert "0.0e+00" not in text
    assert text.count("&lt; 1e-300") >= n_capped
    how = _plain(text[text.index('id="how-to-read"'):text.index('id="clusters"')])
    assert "score is capped at 300" in how and "not tied" in how and "Flagged means a candidate operation" in how


def test_shared_texts_read_as_their_words_with_the_hash_linked(page):
    text, _, _ = page
    hashed = re.findall(r'<div class="object" id="(o-[^"]+)">\s*<div><b>(text|repost)</b> <span class="object-text">'
                        r'([^<]*)</span>\s*<a class="key hash" href="#(o-[^"]+)" title="([^"]+)">([^<]+)</a>'
                        r'.*?<div class="text">([^<]*)</div>', text, re.S)
    assert hashed, "no text or repost object is shown by its words with its hash linked"
    for anchor, _, shown, href, key, short, first_post in hashed:
        assert href == anchor and short == key.split(":")[-1][:12] + "…"
        shown = html.unescape(shown)
        assert shown.startswith("“") and shown.strip("“”").rstrip(" …") == " ".join(
            html.unescape(first_post).split()[:12])
    objects = _plain("".join(re.findall(r'<div class="object".*?</div>', text, re.S)))
    assert hashed[0][4] not in objects          # the full hash is in the link's title only


def test_parameters_and_suggested_window_at_the_end(page):
    text, _, window = page
    tail = _plain(text[text.index('<section id="run"'):])
    assert "Parameters" in tail and "min_lift" in tail and "alpha" in tail
    assert f"suggests a window of {duration_text(window.suggested_s)} (rounded up to whole minutes" in tail
    assert "min_lift" not in _plain(text[:text.index('<section id="clusters"')]).split("How to read")[0]


def test_display_helpers():
    assert p_text(0.0) == "< 1e-300" and p_text(3.2e-12) == "3.2e-12"
    assert object_display("hashtag", "kochfarms", None)["text"] == "#kochfarms"
    d = object_display("text", "text:5ae2c0ffee0123456789", "one two three four five six seven eight nine ten "
                       "eleven twelve thirteen")
    assert d["text"] == "“one two three four five six seven eight nine ten eleven twelve …”"
    assert d["short_key"] == "5ae2c0ffee01…"
    assert object_display("link", "example.com/a", "x") == {"text": "example.com/a", "key": "example.com/a",
                                                            "short_key": None}


def test_a_run_without_clusters_lists_its_significant_pairs(tmp_path):
    """Pairs that co-act beyond chance but form no cluster (as on the Reddit IRA data) are shown, and the
    summary does not claim that nothing co-acted."""
    from cibscope.detect import DetectionParams, detect
    from cibscope.report.query import loose_pairs

    db, _ = sample_store(tmp_path / "s.duckdb")
    with Store(db) as s:
        rid = detect(s, DetectionParams(datasets=["ira-sample"], window_s=60, min_cluster_size=500)).run_id
        n_edges = s.con.execute("SELECT count(*) FROM edges WHERE run_id = ?", [rid]).fetchone()[0]
        text = render_html(s, rid, suggest_window=False)
        total, first = loose_pairs(s, rid, limit=5)
    assert n_edges > 0 and total == n_edges and len(first) == 5
    summary = _plain(text[text.index('<section id="summary"'):text.index('<section id="how-to-read"')])
    assert f"No cluster formed: {plural(n_edges, 'pair')} of accounts co-acted more than chance" in summary
    assert "No pair of accounts" not in summary
    pairs = _plain(text[text.index('<section id="pairs"'):text.index('<section id="run"')])
    assert f"{n_edges:,} significant edge(s)" in pairs
    h = first[0]
    assert f"{h['handle_a']} & {h['handle_b']}" in pairs and "Suggested coordination window" not in text


def test_reading_note_gives_every_rule_of_the_flag_and_the_table_each_clusters_overlap(page):
    text, _, _ = page
    note = _plain(text[text.index('<section id="how-to-read"'):text.index('<section id="clusters"')])
    # a not-flagged cluster with p < 1e-300 and a lift of 20 reads as a contradiction unless every rule is named
    assert "at least 5" in note and "co-action events per member" in note and "overlap" in note
    assert "is at least 0.07" in note
    table = text[text.index('<section id="clusters"'):]
    assert "<th>overlap</th>" in table
    overlaps = re.findall(r'<td class="n">(0\.\d{3})</td><td class="n">\d+\.\d</td>', table)
    assert overlaps and all(0 < float(v) <= 1 for v in overlaps)


def test_an_unflagged_cluster_says_which_rule_it_fails(tmp_path):
    """The demo run's unflagged clusters are far beyond chance (p < 1e-300) yet not flagged: the report, the
    CSV and the web page must say why, from the cluster's own values and the run's parameters."""
    from cibscope.report import query as rq
    from cibscope.report.tables import write_clusters_csv

    db, run_id = sample_store(tmp_path / "s.duckdb")
    with Store(db, read_only=True) as s:
        cs = rq.clusters(s, run_id)
        params = s.con.execute("SELECT params::JSON->>'min_overlap' FROM runs WHERE run_id = ?", [run_id]).fetchone()
        text = render_html(s, run_id)
        csv_path = write_clusters_csv(s, run_id, tmp_path / "clusters.csv")
    unflagged = [c for c in cs if not c["flagged"]]
    assert unflagged and all(c["not_flagged_because"] for c in unflagged)
    assert all(c["not_flagged_because"] is None for c in cs if c["flagged"])
    low = [c for c in unflagged if c["overlap"] < float(params[0])]
    assert low, "the sample's unflagged clusters fail the overlap rule"
    for c in low:
        reason = c["not_flagged_because"]
        assert f"overlap {c['overlap']:.3f} < min_overlap {params[0]}" in reason
        assert f"not flagged: {reason}" in _plain(text)
    import csv as csvmod
    with open(csv_path, newline="") as f:
        rows = {r["cluster_id"]: r for r in csvmod.DictReader(f)}
    assert all(rows[c["cluster_id"]]["not_flagged_because"] == c["not_flagged_because"] for c in unflagged)
    assert all(rows[c["cluster_id"]]["not_flagged_because"] == "" for c in cs if c["flagged"])


def test_summary_names_how_many_labels_it_leaves_out(tmp_path):
    from cibscope.detect import DetectionParams, detect

    db, _ = sample_store(tmp_path / "s.duckdb")
    with Store(db) as s:                          # the demo's run: default scales
        run_id = detect(s, DetectionParams(datasets=["ira-sample"])).run_id
        labels = s.con.execute("""
            SELECT a.label, count(DISTINCT m.account_key) FROM cluster_members m
            JOIN clusters c USING (run_id, cluster_id) JOIN accounts a USING (account_key)
            WHERE m.run_id = ? AND c.flagged AND a.label IS NOT NULL GROUP BY ALL ORDER BY 2 DESC, 1""",
                               [run_id]).fetchall()
        text = _plain(render_html(s, run_id))
    assert len(labels) > 3, labels               # the sample's flagged accounts carry four IRA categories
    more = labels[3:]
    assert f"and {plural(len(more), 'other label')} on {plural(sum(n for _, n in more), 'account')}." in text
