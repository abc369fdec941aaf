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
    assert page.count("flagged as a candidate operation") == 3 and page.count(">not flagged: ") == 1
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


def test_timeline_draws_counts_on_their_days():
    """Three busy days out of ten: the post area peaks at the busiest day and the shaded co-action span
    covers exactly days 3 to 5."""
    import datetime as dt
    import re

    from cibscope.report.figures import TIMELINE_W, timeline_svg
    day0 = dt.datetime(2016, 10, 1)
    t = [day0 + dt.timedelta(days=d) for d in (0, 3, 4, 5, 9)]
    svg = timeline_svg({"bucket": "day", "t": t, "posts": [1, 10, 40, 10, 1], "coactions": [0, 5, 20, 5, 0]},
                       day0 + dt.timedelta(days=3), day0 + dt.timedelta(days=6))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "href" not in svg
    posts, coact = re.findall(r'<polygon points="([^"]+)" fill="(?:#9ab|#c33)"', svg)
    ys = [float(p.split(",")[1]) for p in posts.split()]
    xs = [float(p.split(",")[0]) for p in posts.split()]
    peak = min(ys)                                           # SVG y grows downwards
    peak_x = [x for x, y in zip(xs, ys) if y == peak]
    x0, x1 = 52.0, TIMELINE_W - 8.0
    per_day = (x1 - x0) / 10                                 # 10 daily bins from 2016-10-01 to 10-10
    assert peak_x == [round(x0 + 4 * per_day, 1), round(x0 + 5 * per_day, 1)]
    shade = re.search(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert float(shade.group(1)) == round(x0 + 3 * per_day, 1)
    assert abs(float(shade.group(2)) - 3 * per_day) < 0.2
    assert "2016-10-01" in svg and ">40<" in svg             # first date tick, top count tick
