"""Refang indicator values and classify them into STIX 2.1 cyber-observables.

Threat reports publish "defanged" values so that they cannot be clicked:
``example[.]org``, ``hxxps[:]//``, ``info[at]example[.]org``. :func:`refang`
undoes that. :func:`classify` then decides what a value is:

============================  =====================  =========================================
value                         STIX object            pattern
============================  =====================  =========================================
profile URL on a known        ``user-account``       ``[user-account:account_type = 'twitter'
platform (x.com/NAME, t.me,   (``account_login`` or  AND user-account:account_login = 'NAME']``
youtube.com/@NAME, ...)       ``user_id``)
other URL                     ``url``                ``[url:value = '...']``
domain name                   ``domain-name``        ``[domain-name:value = '...']``
IPv4 / IPv6 address           ``ipv4-addr``/``ipv6``  ``[ipv4-addr:value = '...']``
e-mail address                ``email-addr``         ``[email-addr:value = '...']``
MD5 / SHA-1 / SHA-256 hex     ``file`` (hashes)      ``[file:hashes.'SHA-256' = '...']``
count ("76 accounts")         -- (a note)            --
other text                    -- (a note)            --
============================  =====================  =========================================

A value that still looks like an indicator (defanged, or with a scheme) but
does not parse as one raises :class:`ValueError` with the reason, so the
importer can put it in the error list instead of turning it into a note.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

from .stixobj import pattern_string, sco

# --- refanging ---------------------------------------------------------------------------------
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200a\u200c\u200d\u2060\ufeff"), None)
_REFANG = [
    (re.compile(r"\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*(?:\.|dot)\s*\}", re.I), "."),
    (re.compile(r"\[\s*:\s*\]|\{\s*:\s*\}|\(\s*:\s*\)"), ":"),
    (re.compile(r"\[\s*/\s*\]"), "/"),
    (re.compile(r"\[\s*(?:@|at)\s*\]|\(\s*(?:@|at)\s*\)", re.I), "@"),
    (re.compile(r"^hxxp(s?)(?=:|\[:\])", re.I), r"http\1"),
    (re.compile(r"^fxp(?=:)", re.I), "ftp"),
]
_DEFANG_MARK = re.compile(r"[\[({]\s*(?:\.|:|/|@|at|dot)\s*[\])}]|^hxxps?", re.I)


def refang(value: str) -> str:
    """Undo common defanging: ``[.]``/``(.)``/``[dot]`` -> ``.``, ``[:]`` -> ``:``, ``[at]`` -> ``@``,
    ``hxxp(s)`` -> ``http(s)``; strip backticks, quotes, zero-width characters and whitespace.

    Examples
    --------
    >>> refang("hxxps[:]//www[.]example[.]org/a")
    'https://www.example.org/a'
    >>> refang("info[at]example[.]com")
    'info@example.com'
    """
    v = value.translate(_ZERO_WIDTH).strip().strip("`").strip().strip("\"'").strip()
    for rx, rep in _REFANG:
        v = rx.sub(rep, v)
    return v


def is_defanged(value: str) -> bool:
    """True if ``value`` carries a defanging mark (``[.]``, ``hxxp``, ``[at]``...)."""
    return bool(_DEFANG_MARK.search(value))


# --- recognisers -------------------------------------------------------------------------------
_LABEL = r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)"
_DOMAIN_RX = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{2,59}})$")
_EMAIL_RX = re.compile(r"^[A-Za-z0-9._%+\-]+@([^@\s]+)$")
_SCHEME_RX = re.compile(r"^[a-z][a-z0-9+.\-]*://", re.I)
_HASH_LEN = {32: "MD5", 40: "SHA-1", 64: "SHA-256"}
_HEX_RX = re.compile(r"^[0-9a-f]+$", re.I)
#: "76 accounts", "About 50 accounts on Facebook", "less than 100 accounts joined", "$400 in ads".
_COUNT_RX = re.compile(
    r"^(?:about|around|approximately|approx\.?|over|more than|less than|fewer than|under|nearly|almost|~|>|<)?"
    r"\s*\$?\d[\d,.]*\+?\s*(?:k|m)?\s+[^\W\d_]", re.I)


def normalise_domain(host: str) -> str | None:
    """Lower-case, IDNA-encode and check a host name; None if it is not a domain name."""
    h = host.strip().rstrip(".").lower()
    if not h:
        return None
    try:
        ascii_h = h.encode("idna").decode("ascii") if not h.isascii() else h
    except UnicodeError:
        return None
    return h if _DOMAIN_RX.match(ascii_h) else None


def is_count(text: str) -> bool:
    """True for asset counts such as ``"76 accounts"`` or ``"About 2,300 accounts followed ..."``."""
    return bool(_COUNT_RX.match(text.strip()))


# --- social-media profile URLs -> user-account -------------------------------------------------
#: host (without ``www.``/``m.``/``mobile.``) -> STIX account_type. ``twitter`` and ``facebook`` are in
#: the STIX ``account-type-ov`` vocabulary; the others are lower-case platform names (open vocabulary).
PLATFORM_HOSTS: dict[str, str] = {
    "twitter.com": "twitter", "x.com": "twitter", "t.me": "telegram", "telegram.me": "telegram",
    "youtube.com": "youtube", "tiktok.com": "tiktok", "facebook.com": "facebook", "fb.com": "facebook",
    "instagram.com": "instagram", "vk.com": "vk", "medium.com": "medium", "reddit.com": "reddit",
    "threads.net": "threads", "threads.com": "threads", "ok.ru": "odnoklassniki", "linkedin.com": "linkedin",
    "pinterest.com": "pinterest", "quora.com": "quora", "steemit.com": "steemit", "flickr.com": "flickr",
    "tumblr.com": "tumblr", "rumble.com": "rumble", "gettr.com": "gettr", "truthsocial.com": "truthsocial",
    "bsky.app": "bluesky", "livejournal.com": "livejournal",
}
_RESERVED = {"twitter": {"i", "home", "search", "hashtag", "intent", "share", "explore", "settings", "status"},
             "facebook": {"groups", "events", "watch", "sharer", "sharer.php", "story.php", "permalink.php",
                          "photo.php", "photo", "hashtag", "share"},
             "instagram": {"p", "reel", "reels", "explore", "stories", "tv"},
             "telegram": {"joinchat", "addstickers", "share", "proxy"},
             "tiktok": {"tag", "music", "discover"}, "vk": {"wall", "video", "photo", "feed"},
             "pinterest": {"pin", "search", "ideas"}, "linkedin": {"posts", "pulse", "feed"},
             "reddit": {"r", "comments"}, "youtube": {"watch", "shorts", "playlist", "results", "embed"}}


def _strip_sub(host: str) -> str:
    for p in ("www.", "m.", "mobile.", "web.", "mbasic."):
        if host.startswith(p):
            return host[len(p):]
    # country sub-domains of pinterest (ca.pinterest.com) and the like
    parts = host.split(".")
    if len(parts) == 3 and len(parts[0]) == 2 and ".".join(parts[1:]) in PLATFORM_HOSTS:
        return ".".join(parts[1:])
    return host


def account_from_url(url: str) -> dict[str, str] | None:
    """The account a profile URL points to, as ``user-account`` properties, or None.

    Only profile URLs count (``x.com/NAME``, ``t.me/NAME``, ``t.me/s/NAME``, ``youtube.com/@NAME``,
    ``youtube.com/channel/ID``, ``tiktok.com/@NAME``, ``facebook.com/profile.php?id=N``,
    ``reddit.com/user/NAME``, ``medium.com/@NAME``, ``vk.com/idN``...); a post URL (``/status/``,
    ``/comments/``, ``/pin/``...) is a ``url``, not an account.
    """
    parts = urlsplit(url)
    host = _strip_sub((parts.hostname or "").lower())
    platform = PLATFORM_HOSTS.get(host)
    if not platform:
        return None
    segs = [unquote(s) for s in parts.path.split("/") if s]
    if platform == "facebook" and segs[:1] == ["profile.php"]:
        uid = parse_qs(parts.query).get("id", [""])[0]
        return {"account_type": platform, "user_id": uid} if uid.isdigit() else None
    if not segs:
        return None
    if platform == "youtube":
        if len(segs) == 1 and segs[0].startswith("@"):
            return {"account_type": platform, "account_login": segs[0][1:]}
        if len(segs) == 2 and segs[0] == "channel":
            return {"account_type": platform, "user_id": segs[1]}
        if len(segs) == 2 and segs[0] in ("c", "user"):
            return {"account_type": platform, "account_login": segs[1]}
        return None
    if platform == "telegram" and len(segs) == 2 and segs[0] == "s":
        segs = segs[1:]
    if platform == "reddit" and len(segs) == 2 and segs[0] in ("user", "u"):
        return {"account_type": platform, "account_login": segs[1]}
    if platform == "quora" and len(segs) == 2 and segs[0] == "profile":
        return {"account_type": platform, "account_login": segs[1]}
    if platform == "tumblr" and len(segs) == 1:
        return {"account_type": platform, "account_login": segs[0]}
    if len(segs) != 1:
        return None
    name = segs[0]
    if platform in ("tiktok", "medium", "threads", "steemit"):
        return {"account_type": platform, "account_login": name[1:]} if name.startswith("@") and len(name) > 1 \
            else None
    if name.lower() in _RESERVED.get(platform, set()) or not re.match(r"^@?[\w.\-]+$", name):
        return None
    name = name.lstrip("@")
    if platform == "vk" and re.fullmatch(r"id\d+", name):
        return {"account_type": platform, "user_id": name[2:]}
    return {"account_type": platform, "account_login": name}


# --- classification ----------------------------------------------------------------------------
@dataclass
class Observable:
    """A value recognised as a cyber-observable.

    Attributes
    ----------
    kind : str
        ``domain``, ``url``, ``account``, ``ipv4``, ``ipv6``, ``email``, ``hash`` or ``software``.
    value : str
        The refanged, normalised value (for accounts: ``platform:login`` or ``platform:id:N``).
    sco : dict
        The STIX 2.1 SCO (deterministic id).
    pattern : str
        STIX pattern matching it (for an ``indicator``).
    comment : str
        Text that followed the value in the same cell ("jiraboom[.]pro (Hosted a spoof ...)").
    changes : list of str
        Normalisations applied (``"refanged"``, ``"scheme https:// added"``) for the indicator's
        description.
    """

    kind: str
    value: str
    sco: dict[str, Any]
    pattern: str
    comment: str = ""
    changes: list[str] = field(default_factory=list)


@dataclass
class Text:
    """A value that is prose, not an indicator: becomes a STIX ``note``.

    ``is_count`` marks asset counts ("76 accounts"), kept as notes, never indicators.
    """

    text: str
    is_count: bool


def iri_to_uri(url: str) -> str:
    """Percent-encode non-ASCII characters (UTF-8) and IDNA-encode the host: STIX ``url:value``
    must be an RFC 3986 URI. ASCII characters, including existing ``%XX`` escapes, are kept."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = parts.netloc
    if host and not host.isascii():
        try:
            netloc = netloc.replace(host, host.encode("idna").decode("ascii"))
        except UnicodeError:
            pass
    enc = [quote(p, safe="".join(chr(c) for c in range(33, 127))) for p in (parts.path, parts.query, parts.fragment)]
    return urlunsplit((parts.scheme, netloc, *enc))


def _url_observable(url: str, changes: list[str]) -> Observable:
    if not url.isascii():
        url = iri_to_uri(url)
        changes = changes + ["non-ASCII characters percent-encoded"]
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not normalise_domain(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"URL host {host!r} is not a domain name or IP address") from None
    acct = account_from_url(url)
    if acct:
        a = sco("user-account", **acct)
        conds = [f"user-account:account_type = {pattern_string(acct['account_type'])}"]
        key = "user_id" if "user_id" in acct else "account_login"
        conds.append(f"user-account:{key} = {pattern_string(acct[key])}")
        label = f"{acct['account_type']}:{'id:' if key == 'user_id' else ''}{acct[key]}"
        return Observable("account", label, a, "[" + " AND ".join(conds) + "]", changes=changes)
    return Observable("url", url, sco("url", value=url), f"[url:value = {pattern_string(url)}]", changes=changes)


def _single(v: str, changes: list[str]) -> Observable | None:
    """Classify one token-free value; None if it is no observable."""
    if _SCHEME_RX.match(v):
        return _url_observable(v, changes)
    try:
        ip = ipaddress.ip_address(v)
        kind = "ipv4" if ip.version == 4 else "ipv6"
        return Observable(kind, str(ip), sco(f"{kind}-addr", value=str(ip)),
                          f"[{kind}-addr:value = {pattern_string(str(ip))}]", changes=changes)
    except ValueError:
        pass
    m = _EMAIL_RX.match(v)
    if m and normalise_domain(m.group(1)):
        e = v.lower()
        return Observable("email", e, sco("email-addr", value=e), f"[email-addr:value = {pattern_string(e)}]",
                          changes=changes)
    if _HEX_RX.match(v) and len(v) in _HASH_LEN:
        algo, h = _HASH_LEN[len(v)], v.lower()
        return Observable("hash", f"{algo}:{h}", sco("file", hashes={algo: h}),
                          f"[file:hashes.{pattern_string(algo)} = {pattern_string(h)}]", changes=changes)
    dom = normalise_domain(v)
    if dom:
        return Observable("domain", dom, sco("domain-name", value=dom),
                          f"[domain-name:value = {pattern_string(dom)}]", changes=changes)
    head = v.split("/", 1)[0]
    if "/" in v and normalise_domain(head):
        return _url_observable("https://" + v, changes + ["scheme https:// added"])
    return None


def classify(raw: str) -> Observable | Text:
    """Refang and classify one indicator cell.

    Parameters
    ----------
    raw : str
        The value as published (possibly defanged, possibly followed by a comment).

    Returns
    -------
    Observable or Text

    Raises
    ------
    ValueError
        The cell is empty, or looks like an indicator (defanged or with a URL scheme) but
        does not parse as one (e.g. ``t[.]/RGUD_bot``: host ``t.`` has no top-level domain).
    """
    if raw is None or not raw.strip():
        raise ValueError("empty value")
    v = refang(raw)
    changes = ["refanged"] if v != raw.strip() and is_defanged(raw) else []
    if not v:
        raise ValueError("empty value")
    if "\n" not in v and " " not in v and "," not in v:
        obs = _single(v, changes)
        if obs:
            return obs
        if is_defanged(raw) or _SCHEME_RX.match(v):
            raise ValueError("looks like a defanged indicator but is not a valid URL, domain, IP or e-mail")
        return Text(raw.strip(), is_count=False)
    # "domain[.]tld (comment)", "info[at]x[.]com, hosted with ...": leading indicator + comment
    m = re.match(r"^(\S+?)[,;]?(?:\s+|\s*,\s*)(.+)$", v, re.S)
    if m and (is_defanged(raw.split()[0]) or _SCHEME_RX.match(m.group(1))):
        try:
            obs = _single(m.group(1), changes)
        except ValueError:
            obs = None
        if obs:
            obs.comment = m.group(2).strip().strip("()").strip()
            return obs
    return Text(raw.strip(), is_count=is_count(raw))
