"""Look-alike news domains (explain/lookalike.py) on small lists written for this test."""
import pytest

from cibscope.explain.lookalike import Outlet, OutletIndex, cheap_suffix, registrable_domain, skeleton

OUTLETS = [Outlet("spiegel.de", "Der Spiegel", "DE"), Outlet("bild.de", "Bild", "DE"),
           Outlet("welt.de", "Die Welt", "DE"), Outlet("washingtonpost.com", "The Washington Post", "US"),
           Outlet("t-online.de", "t-online", "DE"), Outlet("lemonde.fr", "Le Monde", "FR"),
           Outlet("sueddeutsche.de", "Süddeutsche Zeitung", "DE"), Outlet("vice.com", "Vice", "US")]


@pytest.fixture(scope="module")
def ix():
    return OutletIndex(OUTLETS)


@pytest.mark.parametrize("host,kind,outlet", [
    ("bild.pics", "other-tld", "bild.de"),                # same short name, new gTLD
    ("www.spiegel.agency", "other-tld", "spiegel.de"),
    ("washingtonpost.pm", "other-tld", "washingtonpost.com"),  # long name: any other suffix
    ("lemonde.co.com", "other-tld", "lemonde.fr"),        # private pseudo-TLD of the PSL
    ("tonline.life", "typo", "t-online.de"),              # hyphen dropped (and another suffix)
    ("t-onlinr.today", "typo", "t-online.de"),
    ("sueddeutshe.com", "typo", "sueddeutsche.de"),       # long name: typo on .com too
    ("bildd.lol", "typo", "bild.de"),                     # doubled letter, cheap suffix
    ("blld.site", "homoglyph", "bild.de"),                # l for i
    ("b\u0456ld.de", "homoglyph", "bild.de"),             # Cyrillic i
    ("xn--spegel-qvf.de", "homoglyph", "spiegel.de"),     # punycode of sp\u0456egel (Cyrillic i)
    ("spiegel-news.com", "added-word", "spiegel.de"),
    ("bild-de.online", "added-word", "bild.de"),
    ("spiegel.de.artikel-lesen.ru", "subdomain", "spiegel.de"),
])
def test_spoofs_are_found_with_their_outlet(ix, host, kind, outlet):
    hit = ix.match_host(host)
    assert hit is not None, host
    assert (hit.kind, hit.outlet.domain) == (kind, outlet)
    assert hit.outlet.name in hit.explanation


@pytest.mark.parametrize("host", [
    "spiegel.de", "www.bild.de", "m.welt.de",             # the outlets themselves
    "bildung.de", "welt-sparen.de", "weltbild.de",        # words that merely contain a short name
    "zeitgeist.com", "stern-apotheke.de", "welt.at",      # short name on an ordinary ccTLD
    "vine.co", "nice.com", "advice.org",                   # one edit from a 4-letter name
    "example.org", "192.168.0.1", "", "localhost",
])
def test_real_and_unrelated_domains_are_not_flagged(ix, host):
    assert ix.match_host(host) is None


def test_allow_list_and_paths(ix):
    assert OutletIndex(OUTLETS, allow=["spiegel.today"]).match_host("spiegel.today") is None
    hit = ix.match_url("https://news-portal.ru/www.spiegel.de/politik/artikel.html")
    assert hit is not None and (hit.kind, hit.outlet.domain, hit.domain) == ("path", "spiegel.de", "news-portal.ru")
    assert ix.match_url("https://www.spiegel.de/politik/artikel.html") is None
    assert ix.match_url("https://example.org/spiegel/artikel") is None


def test_building_blocks():
    assert registrable_domain("www.bild.eu.com") == "bild.eu.com"
    assert registrable_domain("news.bbc.co.uk:443") == "bbc.co.uk"
    assert skeleton("B\u0406LD") == skeleton("bild") == skeleton("b1ld")
    assert skeleton("rnirror") == skeleton("mirror")
    assert cheap_suffix("pics") and cheap_suffix("me") and cheap_suffix("eu.com", private=True)
    assert not cheap_suffix("de") and not cheap_suffix("com") and not cheap_suffix("co.uk")


def test_shipped_reference_list_loads_and_finds_a_spoof():
    from cibscope.explain.lookalike import default_index
    ix = default_index()
    assert len(ix.outlets) >= 300
    assert ix.match_host("dailymail.top").outlet.domain == "dailymail.co.uk"


def test_store_established_domains_join_the_reference(store):
    """A local paper shared by 25 accounts over a year is established: legitimate, and imitable."""
    import datetime as dt

    import pyarrow as pa

    from cibscope.explain.lookalike import established_domains, store_index

    t0 = dt.datetime(2023, 1, 1)
    rows = [{"platform": "twitter", "post_id": f"p{i}", "account_id": f"u{i}", "kind": "post",
             "created_at": t0 + dt.timedelta(days=15 * i), "text": "news", "urls": ["https://www.lokalblatt-nord.de/a"]}
            for i in range(25)]
    rows += [{"platform": "twitter", "post_id": f"q{i}", "account_id": f"u{i}", "kind": "post",
              "created_at": t0 + dt.timedelta(days=i), "text": "x", "urls": ["https://kurzlebig.de/b"]} for i in range(25)]
    store.add_batch(dataset="d", source_file="f", posts=pa.Table.from_pylist(rows),
                    accounts=pa.table({"platform": ["twitter"] * 25, "account_id": [f"u{i}" for i in range(25)]}))
    assert established_domains(store) == ["lokalblatt-nord.de"]        # kurzlebig.de: 24 days only
    ix = store_index(store)
    assert ix.match_host("lokalblatt-nord.de") is None
    hit = ix.match_host("lokalblatt-nord.news")
    assert hit is not None and hit.outlet.domain == "lokalblatt-nord.de" and hit.kind == "other-tld"
