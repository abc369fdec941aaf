"""report.html over real IRA rows: offline, complete, and inert against attacker-written text."""
from __future__ import annotations

import re

import pytest

from cibscope.report import write_outputs
from cibscope.report.html import render_html

from conftest import IRA_CLUSTERS, XSS_TEXT

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def outputs(ira_store, tmp_path_factory):
    store, run_id = ira_store
    return write_outputs(store, run_id, tmp_path_factory.mktemp("out"), tlp="amber+strict")


@pytest.fixture(scope="module")
def page(outputs):
    return outputs["html"].read_text(encoding="utf-8")


def test_write_outputs_writes_every_file(outputs):
    assert set(outputs) == {"clusters", "edges", "accounts", "stix", "html"}
    assert all(p.exists() and p.stat().st_size > 0 for p in outputs.values())
    assert [p.name for p in outputs.values()] == ["clusters.csv", "edges.parquet", "accounts.csv",
                                                   "bundle.json", "report.html"]


def test_page_loads_nothing_from_outside(page):
    # No attribute anywhere points at a network resource, and there is no script, link or iframe at all.
    assert not re.search(r"""\b(?:src|href|xlink:href|action|data|poster)\s*=\s*["']?\s*(?:https?:)?//""",
                         page, re.I)
    assert not re.search(r"<\s*(script|link|iframe|object|embed|img)\b", page, re.I)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", page, re.I)   # CSS fetches
    assert not re.search(r"@import", page, re.I)
    assert "default-src 'none'" in page                  # CSP forbids fetches and scripts if anything slipped in


def test_page_has_run_counts_and_every_cluster(ira_store, page):
    store, run_id = ira_store
    n_actions = store.con.execute("SELECT n_actions FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    assert f"{n_actions:,}" in page
    assert "TLP:AMBER+STRICT" in page
    for cid, summary in store.con.execute("SELECT cluster_id, summary FROM clusters WHERE run_id = ?",
                                          [run_id]).fetchall():
        assert f'id="cluster-{cid}"' in page and f'href="#cluster-{cid}"' in page
        assert summary in page
    for account in (a for c in IRA_CLUSTERS for a in c):
        assert f"<td>{account.split(':', 1)[1]}</td>" in page
    assert "IRA:Fearmonger" in page and "window_s" in page
    assert page.count("flagged as a candidate operation") == 3 and page.count(">not flagged<") == 1
    # evidence from the real data: the Koch Farms Thanksgiving hoax shared by the Fearmonger accounts
    assert "kochfarms" in page and "#KochFarms" in page
    assert page.count('aria-label="network of cluster') == len(IRA_CLUSTERS)
    assert page.count("<svg") == 2 * len(IRA_CLUSTERS)      # one timeline + one network each


def test_posted_script_renders_inert(ira_store):
    store, run_id = ira_store
    page = render_html(store, run_id, objects_per_cluster=100)
    escaped = XSS_TEXT.replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in page                                  # the planted post is shown as evidence ...
    assert "<script>alert(1)" not in page and "<script" not in page.lower()   # ... as text only


def test_pictures_only_for_top_clusters(ira_store):
    store, run_id = ira_store
    page = render_html(store, run_id, top_clusters=1)
    assert page.count('aria-label="network of cluster') == 1
    assert page.count("<svg") == 2
    assert page.count('class="cluster"') == len(IRA_CLUSTERS)   # text sections still for every cluster
