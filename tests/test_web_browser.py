"""End-to-end browser tests of the web app: Playwright for Python driving Debian's chromium
(/usr/bin/chromium; never a browser download) against the app on 127.0.0.1, over the shipped real IRA
sample, with a sharing hub started by the test.

Screenshots of the main pages go to ``$CIBSCOPE_SCREENSHOTS`` (default: the test's tmp folder);
docs/screenshots/ holds a set made with ``CIBSCOPE_SCREENSHOTS=docs/screenshots``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests

from cibscope.share.serve import spawn, stop
from cibscope.store.db import Store
from cibscope.web.app import Settings, create_app
from cibscope.web.data import evidence
from share_fixtures import COLLECTION, ROOT, make_hub
from web_fixtures import USERS, kochfarms_cluster, sample_store, serve_in_thread, web_state

CHROMIUM = Path("/usr/bin/chromium")
PW = {u: p for u, _, p in USERS}
XSS_POST = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'"> #KochFarms'

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                                               "(.ci/run installs it)")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    tmp = tmp_path_factory.mktemp("browser")
    db, run = sample_store(tmp / "store.duckdb")
    cid = kochfarms_cluster(db, run)
    with Store(db) as s:  # attacker-written text in the cluster's top evidence post
        post = evidence(s, run, cid, limit=1)[0]["post_a"]
        s.con.execute("UPDATE posts SET text = ? WHERE post_key = ?", [XSS_POST, post])
        account = s.con.execute("SELECT account_key FROM posts WHERE post_key = ?", [post]).fetchall()[0][0]
        n_accounts = s.con.execute("SELECT n_accounts FROM clusters WHERE run_id = ? AND cluster_id = ?",
                                   [run, cid]).fetchall()[0][0]
    st = web_state(tmp / "web.sqlite")
    hub = make_hub(tmp / "hub.sqlite")
    proc, hub_base = spawn(tmp / "hub.sqlite")
    shots = Path(os.environ.get("CIBSCOPE_SCREENSHOTS") or tmp / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    st.add_hub("test hub", f"{hub_base}/{ROOT}/")  # shares are pushed only to registered hubs
    app = create_app(Settings(str(db), str(tmp / "web.sqlite"), org="Platform A", sector="platform"))
    try:
        with serve_in_thread(app) as base, sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.set_default_timeout(60_000)
            yield {"page": page, "base": base, "cid": cid, "run": run, "account": account, "shots": shots,
                   "hub": hub, "hub_url": f"{hub_base}/{ROOT}/", "dialogs": dialogs, "n_accounts": n_accounts,
                   "ctx": ctx}
            browser.close()
    finally:
        stop(proc)


def sign_in(page, base: str, user: str, then: str = "/clusters") -> None:
    page.context.clear_cookies()
    page.goto(base + then)
    assert "/login" in page.url
    page.fill("input[name=name]", user)
    page.fill("input[name=password]", PW[user])
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base + then)))
    assert page.text_content("#whoami").startswith(user)


def test_review_and_share_kochfarms_end_to_end(env):
    page, base, cid, shots = env["page"], env["base"], env["cid"], env["shots"]
    sign_in(page, base, "ana")
    assert page.locator("#clusters tr").count() > 5
    page.screenshot(path=str(shots / "clusters.png"))
    # open the KochFarms cluster: the network draws every member, the evidence names the hashtag
    page.click(f"#clusters a:text-is('{cid}')")
    page.wait_for_selector("#cy[data-ready='1']")
    assert int(page.get_attribute("#cy", "data-nodes")) == env["n_accounts"]
    assert int(page.get_attribute("#cy", "data-edges")) > env["n_accounts"]
    assert "accounts" in page.text_content("#cy-status")
    ev = page.locator("#evidence")
    assert ev.locator("tr").count() > 10 and "kochfarms" in ev.text_content()
    page.wait_for_selector("#disarm-box[data-ready='1']")                # DISARM tags load after the page
    assert "T0049" in page.text_content("#disarm")
    assert page.locator("#disarm details pre").first.text_content().strip().startswith("{")
    page.screenshot(path=str(shots / "cluster.png"))
    # prepare a TLP:AMBER share for government partners, purpose national-security
    page.click("#share-link")
    assert page.input_value("input[name=cluster_id]") == cid
    page.select_option("select[name=tlp]", "amber")
    page.select_option("select[name=purpose]", "national-security")
    page.fill("input[name=legal_basis]", "Request of Gov Agency under national law (test)")
    page.click("#prepare-form button[type=submit]")
    page.wait_for_url(re.compile(r"/outbox/\d+$"))
    share_url = page.url
    gov = page.locator("#preview tr[data-sector='government']")
    assert re.fullmatch(r"\d+ objects", gov.locator("td.receives").text_content().strip())
    assert "purpose-sector" in page.text_content("#preview tr[data-sector='research']")
    assert page.text_content("#share-state") == "prepared" and page.locator("#approve-form").count() == 0
    page.screenshot(path=str(shots / "share-preview.png"))
    # a second person, a reviewer, approves; then the share is pushed to the hub
    sign_in(page, base, "rita", then=share_url.removeprefix(base))
    page.click("#approve-form button[type=submit]")
    page.wait_for_selector("#push-form")
    assert page.text_content("#share-state") == "approved"
    page.fill("input[name=hub_url]", env["hub_url"])
    page.fill("input[name=collection_id]", COLLECTION)
    page.fill("input[name=token]", env["hub"].tokens["platform-a"])
    page.click("#push-form button[type=submit]")
    page.wait_for_selector("#share-state.state-pushed")
    pushed = page.text_content("#share-pushed")
    n = int(re.search(r"(\d+) stored, 0 rejected", pushed).group(1))
    page.screenshot(path=str(shots / "share-pushed.png"))
    # the hub serves it to a government reader for national security
    r = requests.get(f"{env['hub_url']}collections/{COLLECTION}/objects/?match[type]=grouping",
                     headers=env["hub"].headers("gov-agency", "national-security"), timeout=30)
    assert r.status_code == 200 and any(cid in o["name"] for o in r.json()["objects"])
    # and the audit view shows the push
    page.goto(base + "/audit")
    first = page.locator("#audit tr").nth(1)
    assert first.locator("td.action").text_content() == "share-push"
    assert "rita" in first.text_content() and f'"success_count": {n}' in first.text_content()
    assert "intact" in page.text_content("#audit-verify")
    page.screenshot(path=str(shots / "audit.png"))
    assert env["dialogs"] == []


def test_post_text_is_inert_in_the_browser(env):
    page, base = env["page"], env["base"]
    sign_in(page, base, "ana", then=f"/runs/{env['run']}/clusters/{env['cid']}")
    page.wait_for_selector("#cy[data-ready='1']")
    for url in [f"/runs/{env['run']}/clusters/{env['cid']}", f"/accounts/{env['account']}"]:
        page.goto(base + url)
        assert page.title() != "pwned" and env["dialogs"] == []
        # shown as text, letter for letter; no element was made from it
        assert page.locator("td.text, .post .text").filter(has_text="<script>document.title").count() >= 1
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    page.goto(base + "/datasets")
    page.screenshot(path=str(env["shots"] / "datasets.png"))
    page.goto(base + "/runs")
    page.screenshot(path=str(env["shots"] / "runs.png"))
