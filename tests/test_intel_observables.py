"""Refanging and value classification (pure functions, no shared data needed)."""
import pytest

from cibscope.intel.observables import Observable, Text, classify, refang
from cibscope.intel.stixobj import sco


@pytest.mark.parametrize("raw, expected", [
    ("example[.]org", "example.org"),
    ("hxxps[:]//www[.]example[.]org/a?b=1", "https://www.example.org/a?b=1"),
    ("hxxp://x[.]com/jabkowojciech", "http://x.com/jabkowojciech"),
    ("https{:}//t[.]me/kothetjournalist", "https://t.me/kothetjournalist"),
    ("info[at]amc239[.]com", "info@amc239.com"),
    ("`45[.]141[.]152[.]19`", "45.141.152.19"),
    ("walla[.]com[.]co", "walla.com.co"),
    ("evil(.)example(dot)net", "evil.example.net"),
])
def test_refang(raw, expected):
    assert refang(raw) == expected


@pytest.mark.parametrize("raw, kind, value", [
    ("amc239[.]com", "domain", "amc239.com"),
    ("spiegel.fun", "domain", "spiegel.fun"),
    ("https://twitter[.]com/AMC239", "account", "twitter:AMC239"),
    ("hxxps://x[.]com/Allo_Afrique", "account", "twitter:Allo_Afrique"),
    ("www[.]youtube[.]com/@ImastunYerkir", "account", "youtube:ImastunYerkir"),
    ("https://www.youtube[.]com/channel/UCQ8TUByC9EmbhoUDaInIGeA", "account", "youtube:id:UCQ8TUByC9EmbhoUDaInIGeA"),
    ("hxxp://vk[.]com/id464508604", "account", "vk:id:464508604"),
    ("hxxps://t[.]me/s/derniere_minute", "account", "telegram:derniere_minute"),
    ("http://reddit.com/user/erispope/comments/1g1p9ru/le", "url",
     "http://reddit.com/user/erispope/comments/1g1p9ru/le"),
    ("www[.]iol[.]co[.]za/sundayindependent/x", "url", "https://www.iol.co.za/sundayindependent/x"),
    ("45[.]141[.]152[.]19", "ipv4", "45.141.152.19"),
    ("info[at]amc239[.]com, hosted with Titan.email service", "email", "info@amc239.com"),
    ("c11ed89d2584564fdb99d6ba1b42bd7d", "hash", "MD5:c11ed89d2584564fdb99d6ba1b42bd7d"),
])
def test_classify_observables(raw, kind, value):
    got = classify(raw)
    assert isinstance(got, Observable)
    assert (got.kind, got.value) == (kind, value)


def test_comment_after_value_is_kept():
    got = classify("jiraboom[.]pro (Hosted a spoof of Der Spiegel)")
    assert got.value == "jiraboom.pro" and got.comment == "Hosted a spoof of Der Spiegel"


def test_profile_url_becomes_user_account_with_login_and_type():
    got = classify("https://twitter[.]com/GenerousThief1")
    assert got.sco["type"] == "user-account"
    assert got.sco["account_login"] == "GenerousThief1" and got.sco["account_type"] == "twitter"
    assert got.pattern == ("[user-account:account_type = 'twitter' AND "
                           "user-account:account_login = 'GenerousThief1']")


@pytest.mark.parametrize("raw", ["76 accounts", "14 Pages", "About 50 accounts on Facebook and Instagram",
                                 "about 63,000 accounts followed one or more of these Instagram accounts",
                                 "less than 100 accounts joined this Group"])
def test_counts_are_text_not_indicators(raw):
    got = classify(raw)
    assert isinstance(got, Text) and got.is_count


@pytest.mark.parametrize("raw", ["Sharing on Facebook", "Using bit[.]ly to hide the ultimate destination",
                                 "Sangkancil", "Registering domains with Namecheap which uses withheldforprivacy[.]com"])
def test_prose_is_text(raw):
    got = classify(raw)
    assert isinstance(got, Text) and not got.is_count


@pytest.mark.parametrize("raw", ["t[.]/RGUD_bot", "", "hxxps://nohost[.]/x"])
def test_broken_indicators_raise(raw):
    with pytest.raises(ValueError):
        classify(raw)


def test_non_ascii_url_is_percent_encoded():
    got = classify("http://reddit.com/user/a/comments/1/życie_w_unii")
    assert got.value == "http://reddit.com/user/a/comments/1/%C5%BCycie_w_unii"
    assert "non-ASCII characters percent-encoded" in got.changes


def test_sco_ids_follow_the_stix_deterministic_rule():
    # STIX 2.1 spec section 2.9 example value; the stix2 library computes the same id.
    import stix2
    assert sco("domain-name", value="example.com")["id"] == stix2.DomainName(value="example.com").id
    ua = sco("user-account", account_type="twitter", account_login="AMC239")
    assert ua["id"] == stix2.UserAccount(account_type="twitter", account_login="AMC239").id
