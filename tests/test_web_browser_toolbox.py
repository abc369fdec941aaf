"""Browser tests of the investigator's toolbox pages (issue 20): the run picker, search from the header,
the network's colour and edge filters, evidence one row per post pair, the STIX preview before sharing,
and the report's summary. Playwright for Python driving Debian's /usr/bin/chromium (never a browser
download) against the app on 127.0.0.1, over the shipped real IRA sample with two detection runs.

Screenshots go to ``$CIBSCOPE_SCREENSHOTS`` (default: the test's tmp folder); docs/screenshots/ holds
search.png, cluster-network.png, clusters-run-picker.png and report-summary.png made with
``CIBSCOPE_SCREENSHOTS=docs/screenshots``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cibscope.detect import DetectionParams, detect
from cibscope.report.html import write_html
from cibscope.store.db import Store
from cibscope.web.app import Settings, create_app
from web_fixtures import CHROMIUM, USERS, chromium_page, kochfarms_cluster, sample_store, serve_in_thread, web_state

PW = {u: p for u, _, p in USERS}
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toolbox")
    shots = Path(os.environ.get("CIBSCOPE_SCREENSHOTS") or tmp / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    db, run1 = sample_store(tmp / "store.duckdb")
    with Store(db) as s:   # a second, later run at one 10-minute scale: the picker must reach run 1
        run2 = detect(s, DetectionParams(datasets=["ira-sample"], window_s=600)).run_id
        n1 = s.con.execute("SELECT count(*) FROM clusters WHERE run_id = ?", [run1]).fetchone()[0]
        write_html(s, run1, tmp / "report.html")
    cid = kochfarms_cluster(db, run1)
    web_state(tmp / "web.sqlite")
    app = create_app(Settings(str(db), str(tmp / "web.sqlite"), org="Platform A", sector="platform"))
    with serve_in_thread(app) as base, chromium_page() as page:
        yield {"page": page, "base": base, "cid": cid, "run1": run1, "run2": run2, "n1": n1, "shots": shots,
               "report": tmp / "report.html"}


def sign_in(page, base: str, user: str, then: str = "/clusters") -> None:
    page.context.clear_cookies()
    page.goto(base + then)
    page.fill("input[name=name]", user)
    page.fill("input[name=password]", PW[user])
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base + then)))


def test_run_picker_switches_runs(env):
    page, base = env["page"], env["base"]
    sign_in(page, base, "ana")
    assert page.text_content("h1") == f"Clusters of run {env['run2']}"          # the latest run first
    page.select_option("#run-picker select[name=run]", str(env["run1"]))
    page.click("#run-picker button[type=submit]")
    page.wait_for_url(re.compile(rf"/clusters\?run={env['run1']}"))
    assert page.text_content("h1") == f"Clusters of run {env['run1']}"
    assert page.locator("#clusters tr").count() == env["n1"] + 1
    page.screenshot(path=str(env["shots"] / "clusters-run-picker.png"))


def test_search_from_the_header_leads_to_the_cluster(env):
    page, base = env["page"], env["base"]
    sign_in(page, base, "ana")
    page.fill("header .search-box input[name=q]", "#KochFarms")
    page.press("header .search-box input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    table = page.locator("#search-hashtags")
    assert "#kochfarms" in table.text_content()
    links = table.locator(f"a[href='/runs/{env['run1']}/clusters/{env['cid']}']")
    assert links.count() == 1
    page.screenshot(path=str(env["shots"] / "search.png"), full_page=True)
    # an account search by a piece of a handle, limited to run 1
    page.fill("#search-form input[name=q]", "gerty")
    page.select_option("#search-form select[name=kind]", "account")
    page.select_option("#search-form select[name=run]", str(env["run1"]))
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-accounts")
    assert "Gerty_Hawa" in page.text_content("#search-accounts")
    assert all(f"run {env['run1']} " in t for t in page.locator("#search-accounts a.cluster-link").all_text_contents())
    page.goto(base + f"/search?q=%23KochFarms&run={env['run1']}")
    page.click(f"#search-hashtags a[href='/runs/{env['run1']}/clusters/{env['cid']}']")
    page.wait_for_selector("#cy[data-ready='1']")


def test_network_colour_and_edge_filters(env):
    page, base = env["page"], env["base"]
    sign_in(page, base, "ana", then=f"/runs/{env['run1']}/clusters/{env['cid']}")
    page.wait_for_selector("#cy[data-ready='1']")
    cy = page.locator("#cy")
    total = int(cy.get_attribute("data-edges"))
    assert int(cy.get_attribute("data-visible-edges")) == total and cy.get_attribute("data-colour") == "community"
    assert page.locator("#cy-legend div").first.text_content().strip() == "community 1"
    assert int(cy.get_attribute("data-label-px")) >= 12        # handles stay legible on a 1,400 px screen
    signals = page.locator("#cy-signals input.cy-signal")
    assert signals.count() >= 2
    names = [signals.nth(i).get_attribute("value") for i in range(signals.count())]
    for i, name in enumerate(names):          # hide the hashtag edges: most edges have a hashtag co-action
        if name != "hashtag":
            continue
        signals.nth(i).uncheck()
    without_hashtag = int(cy.get_attribute("data-visible-edges"))
    assert without_hashtag < total
    for i in range(signals.count()):
        signals.nth(i).check()
    page.locator("#cy-weight").fill(str(float(page.get_attribute("#cy-weight", "max")) / 2))
    heavy = int(cy.get_attribute("data-visible-edges"))
    assert 0 < heavy < total
    page.locator("#cy-weight").fill("0")
    page.select_option("#cy-colour", "label")
    assert cy.get_attribute("data-colour") == "label" and "IRA:Fearmonger" in page.text_content("#cy-legend")
    page.select_option("#cy-colour", "community")
    # the STIX preview says what a share would send, and at which TLP, before the outbox
    preview = page.locator("#stix-preview")
    assert "TLP:AMBER" in preview.locator("summary").text_content()
    preview.locator("summary").click()
    types = page.locator("#stix-objects td:first-child").all_text_contents()
    assert "grouping" in types and "user-account" in types
    # one row per post pair: a pair sharing several signals lists them in one row, never twice
    rows = page.locator("#evidence tr")
    keys = []
    for i in range(1, rows.count()):
        cells = rows.nth(i).locator("td")
        keys.append((cells.nth(0).text_content(), cells.nth(4).text_content(), cells.nth(5).text_content()))
    assert len(keys) == len(set(keys)) > 10
    page.locator("#cy").scroll_into_view_if_needed()
    page.screenshot(path=str(env["shots"] / "cluster-network.png"))


def test_report_summary_reads_first(env):
    page = env["page"]
    page.goto(env["report"].as_uri())
    first_h2 = page.locator("h2").first.text_content()
    assert first_h2 == "Summary"
    box = page.locator(".summary-box")
    assert "What was found." in box.text_content() and "What it is not." in box.text_content()
    assert box.bounding_box()["y"] < 400          # on the first screen at 1,400 x 1,000
    page.screenshot(path=str(env["shots"] / "report-summary.png"))
