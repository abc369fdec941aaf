"""Look-alike news domains: shared links whose domain imitates a real news outlet.

Russia-based "Doppelganger" operations register domains that copy a real
outlet's name under another top-level domain (``bild.de`` -> ``bild.pics``,
``spiegel.ltd``, ``washingtonpost.pm``), with typos (``t-onlinr.life``,
``spiegeli.live``, ``20minuts.com``), letters swapped for look-alikes
(``blld.*``, Cyrillic ``і`` for ``i``) or words added, and spread links to
cloned articles (Meta, *Adversarial Threat Report* Q3 2022 and its 2023
Doppelganger update; EU DisinfoLab, *Doppelganger* 2022). This module compares
each distinct domain against a reference list of outlets.

Method
------
1. **Registrable domain** from the Public Suffix List with ``tldextract``'s
   bundled snapshot (never fetched: ``suffix_list_urls=()``, no cache), with
   the PSL's private section, so that ``bild.eu.com`` is its own registrable
   domain under ``eu.com``. Punycode labels (``xn--``) are decoded.
2. **Skeleton** of a label (after Unicode TR39's *skeleton* idea): NFKC, each
   confusable character replaced by its Latin look-alike (``confusable-homoglyphs``,
   Unicode confusables data), accents dropped, then the visually close ASCII
   classes folded: ``0->o``, ``1/l/I->i``, ``rn->m``, ``vv->w``; hyphens removed.
   Outlet labels get the same skeleton, so both sides compare alike.
3. **Match** against every outlet label of the reference list (the first label
   of its registrable domain, or the outlet's own sub-label such as ``tgcom24``):

   =============  ==========================================================  ===========================
   kind           rule                                                        guard against chance
   =============  ==========================================================  ===========================
   other-tld      same skeleton, another registrable domain                   labels of <= 5 characters
                                                                              only under a *cheap* suffix
   homoglyph      same skeleton but different characters (``blld``,           none
                  Cyrillic letters, punycode)
   typo           Damerau-Levenshtein distance 1 between skeletons (2 for     outlet label >= 9
                  labels of >= 11 characters; outlet label >= 6), or one      characters, or a cheap
                  letter doubled (``bildd``, ``fazz``)                        suffix
   added-word     the outlet label is a hyphen-delimited part of the label    outlet label >= 6
                  (``spiegel-news``), or label = outlet label + its own       characters, or a cheap
                  suffix (``bild-de``)                                        suffix
   subdomain      a host such as ``spiegel.de.example.ru``: the outlet's      none
                  whole domain appears as leading labels of another site
   path           a URL on another site whose path starts with the outlet's   none
                  domain (``example.ru/www.spiegel.de/...``)
   =============  ==========================================================  ===========================

   A label equal to the outlet's but for a hyphen (``le-monde``, ``tonline``) is a ``typo`` too,
   under the guard of ``other-tld``. Order of the checks: subdomain; same skeleton (homoglyph,
   hyphen, other-tld); then an added word wins over typos, fewer edits over more, an earlier
   outlet of the list over a later one; ``path`` only for a URL whose host matched nothing.

   A *cheap* suffix is any new generic TLD (``.pics``, ``.ltd``, ``.today``,
   ...; every suffix except the legacy ``com net org info biz edu gov mil int``
   and two-letter country codes), one of the country codes sold as generic
   names (:data:`VANITY_CC`) or a private second-level suffix of the PSL
   (``co.com``, ``eu.com``, ``com.de``). Short outlet names (``welt``, ``zeit``,
   ``bild``) are ordinary words; the guards keep ``welt-sparen.de`` and
   ``bildung.de`` from matching, while ``welt.tours`` does.

4. **Legitimate**: a domain that *is* a reference outlet's registrable domain, or is in
   ``allow``, is never a look-alike. :func:`store_index` adds a store's long-established
   domains (:func:`established_domains`) as further outlets, legitimate and imitable.

The reference list ``data/news_outlets.csv`` (see ``data/README-news_outlets.md``)
holds 300+ major outlets of 50 countries. What fools the method: outlets not in
the list; look-alikes with new words and no outlet name (``rrn.world``); typo
distance 2 on short names; transliterations (``rbk`` for ``rbc``).
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Sequence
from urllib.parse import urlsplit

#: A URL that starts with its scheme (RFC 3986 section 3.1) and an authority.
HAS_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
#: Legacy generic TLDs; a look-alike on one of these needs more evidence than on a new gTLD.
LEGACY_TLDS = frozenset({"com", "net", "org", "info", "biz", "edu", "gov", "mil", "int"})
#: Country-code TLDs marketed as generic names and common in spoofing and throwaway domains.
VANITY_CC = frozenset({"me", "cc", "co", "ws", "pw", "tk", "ml", "ga", "cf", "gq", "su", "cx", "nu", "top"})
#: Outlet labels at least this long may match with one typo on any suffix.
TYPO_MIN_LEN = 9
#: Outlet labels at least this long may match with two typos.
TYPO2_MIN_LEN = 11
#: Outlet labels at least this long may match as an added word on any suffix.
WORD_MIN_LEN = 6
#: Outlet labels this short or shorter match under another suffix only when the suffix is cheap.
SHORT_LEN = 5
#: Outlet labels shorter than this match by a typo only as a doubled letter (``bildd``, ``fazz``): one
#: edit of a 3-5-letter name is most often another word (``vine``/``vice``, ``cnb``/``cnn``).
MIN_FUZZY_LEN = 6

KINDS = ("other-tld", "homoglyph", "typo", "added-word", "subdomain", "path")


@dataclass(frozen=True)
class Outlet:
    """One reference outlet: ``domain`` (e.g. ``spiegel.de``), ``name`` (``Der Spiegel``), ``country`` (ISO 3166 alpha-2)."""

    domain: str
    name: str
    country: str


@dataclass(frozen=True)
class Lookalike:
    """A domain that imitates an outlet.

    Attributes
    ----------
    domain : str
        The registrable domain seen (``bild.pics``), Unicode where it was punycode.
    host : str
        The host it was seen as (``www.bild.pics``).
    kind : str
        One of :data:`KINDS`.
    outlet : Outlet
        The imitated outlet.
    explanation : str
        One plain sentence.
    """

    domain: str
    host: str
    kind: str
    outlet: Outlet
    explanation: str


@lru_cache(maxsize=1)
def _extractor():
    import tldextract

    # the bundled PSL snapshot only: no download, no cache directory
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def _decode(host: str) -> str:
    labels = []
    for lab in host.split("."):
        if lab.startswith("xn--"):
            try:
                lab = lab.encode("ascii").decode("idna")
            except (UnicodeError, ValueError):
                pass
        labels.append(lab)
    return ".".join(labels)


def split_host(host: str) -> tuple[str, str, str, bool] | None:
    """``(subdomain, label, suffix, private)`` of a host by the Public Suffix List (bundled snapshot, private section included).

    The host is lower-cased, stripped of a port, a trailing dot and ``www.``, and punycode is decoded.
    Returns ``None`` for an IP address, an empty host or one without a known suffix.
    """
    h = (host or "").strip().lower().rstrip(".")
    h = h.rsplit("@", 1)[-1].split(":", 1)[0]
    if not h or re.fullmatch(r"[\d.]+", h):
        return None
    h = _decode(h)
    ex = _extractor()(h)
    if not ex.suffix or not ex.domain:
        return None
    sub = ex.subdomain[4:] if ex.subdomain.startswith("www.") else ("" if ex.subdomain == "www" else ex.subdomain)
    return sub, ex.domain, ex.suffix, bool(ex.is_private)


def registrable_domain(host: str) -> str | None:
    """The registrable domain of ``host`` (``www.bild.eu.com`` -> ``bild.eu.com``), or ``None`` (see :func:`split_host`)."""
    parts = split_host(host)
    return None if parts is None else f"{parts[1]}.{parts[2]}"


@lru_cache(maxsize=65536)
def _latin(label: str) -> str:
    from confusable_homoglyphs import confusables

    s = unicodedata.normalize("NFKC", label).lower()
    if not s.isascii():
        found = confusables.is_confusable(s, greedy=True, preferred_aliases=["latin"]) or []
        repl = {}
        for f in found:
            for h in f["homoglyphs"]:
                if h["c"].isascii() and (h["n"].startswith("LATIN SMALL LETTER") or h["n"].startswith("DIGIT")):
                    repl[f["character"]] = h["c"]
                    break
        s = "".join(repl.get(ch, ch) for ch in s)
        s = "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))
    return s


@lru_cache(maxsize=65536)
def skeleton(label: str) -> str:
    """The comparison form of a domain label (see the module's method, step 2): ``"Вlld"`` -> ``"biid"``."""
    s = _latin(label).replace("rn", "m").replace("vv", "w")
    s = s.translate(str.maketrans({"0": "o", "1": "i", "l": "i", "|": "i"}))
    return s.replace("-", "").replace("_", "")


def _dl1(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, capped at 3."""
    if abs(len(a) - len(b)) > 2:
        return 3
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return min(prev[-1], 3)


def _doubled(cand: str, out: str) -> bool:
    return len(cand) == len(out) + 1 and any(cand[:i] + cand[i + 1:] == out and cand[i] == cand[i - 1]
                                            for i in range(1, len(cand)))


def cheap_suffix(suffix: str, private: bool = False) -> bool:
    """Whether ``suffix`` is a new gTLD, a vanity ccTLD (:data:`VANITY_CC`) or (``private``) in the PSL's private section.

    ``co.com``, ``eu.com`` and ``com.de`` are private pseudo-TLDs sold by companies; ``co.uk`` and
    ``com.ua`` are ordinary country registries (not cheap).
    """
    if private:
        return True
    last = suffix.rsplit(".", 1)[-1]
    if "." in suffix:
        return False
    return last in VANITY_CC or (last not in LEGACY_TLDS and len(last) > 2)


class OutletIndex:
    """Reference outlets indexed for matching.

    Parameters
    ----------
    outlets : sequence of Outlet, optional
        Default: the shipped ``data/news_outlets.csv`` (:func:`load_outlets`).
    allow : iterable of str
        Registrable domains that are legitimate whatever they look like (e.g.
        :func:`established_domains` of a store).
    """

    def __init__(self, outlets: Sequence[Outlet] | None = None, allow: Iterable[str] = ()):
        self.outlets = list(load_outlets() if outlets is None else outlets)
        self.legit = {d.lower() for d in allow}
        self.by_domain: dict[str, Outlet] = {}
        self.labels: list[tuple[str, str, Outlet]] = []  # (raw label, skeleton, outlet)
        seen = set()
        for o in self.outlets:
            parts = split_host(o.domain)
            if parts is None:
                raise ValueError(f"outlet domain {o.domain!r} ({o.name}) has no public suffix")
            sub, lab, suf, _ = parts
            self.legit.add(f"{lab}.{suf}")
            self.by_domain[o.domain] = o
            own = sub.split(".")[-1] if sub and sub not in ("news", "edition") else lab
            if (own, o.name) not in seen:
                seen.add((own, o.name))
                self.labels.append((own, skeleton(own), o))
        self._cache: dict[str, Lookalike | None] = {}
        self._by_len: dict[int, list[int]] = {}
        self._by_sk: dict[str, list[int]] = {}
        for i, (_, sk, _) in enumerate(self.labels):
            self._by_len.setdefault(len(sk), []).append(i)
            self._by_sk.setdefault(sk, []).append(i)
        self.by_skeleton: dict[str, list[tuple[str, Outlet]]] = {}
        for raw, sk, o in self.labels:
            self.by_skeleton.setdefault(sk, []).append((raw, o))

    def match_host(self, host: str) -> Lookalike | None:
        """The outlet ``host`` imitates, or ``None`` (see the module's method, step 3).

        ``host`` is a bare host name (``www.bild.pics``); for a URL use :meth:`match_url`.
        Results are cached per host on the instance.
        """
        if host in self._cache:
            return self._cache[host]
        hit = self._cache[host] = self._match_host(host)
        return hit

    def _match_host(self, host: str) -> Lookalike | None:
        parts = split_host(host)
        if parts is None:
            return None
        sub, lab, suf, private = parts
        reg = f"{lab}.{suf}"
        if reg in self.legit:
            return None
        # subdomain: spiegel.de.example.ru
        if sub:
            for i in range(len(sub.split("."))):
                cand = ".".join(sub.split(".")[i:]) if i else sub
                if cand in self.by_domain:
                    o = self.by_domain[cand]
                    return Lookalike(reg, host, "subdomain", o, f"{host} puts {o.name}'s domain {o.domain} in front "
                                                                   f"of another site, {reg}.")
        cheap = cheap_suffix(suf, private)
        sk = skeleton(lab)
        for raw, o in self.by_skeleton.get(sk, ()):
            if _latin(lab).replace("-", "") != raw.replace("-", "") or lab != _latin(lab):
                return Lookalike(reg, host, "homoglyph", o, f"{reg} spells {o.name}'s name {raw} with look-alike "
                                                            f"characters ({lab}).")
            if lab != raw and lab.replace("-", "") == raw.replace("-", "") and (len(sk) > SHORT_LEN or cheap):
                return Lookalike(reg, host, "typo", o, f"{reg} is {o.name}'s name {raw} ({o.domain}) with a hyphen "
                                                       "added or dropped.")
            if len(sk) > SHORT_LEN or cheap:
                return Lookalike(reg, host, "other-tld", o, f"{reg} is {o.name}'s name ({o.domain}) under "
                                                            f"another suffix, .{suf}.")
        best = None
        words = [skeleton(w) for w in lab.split("-") if w]
        # only outlet labels that can match: length within 2 (typos), a word of the label, or a prefix
        # (name + own TLD); visited in list order, so the result is that of a scan over all labels
        cand_idx = {i for k in range(len(sk) - 2, len(sk) + 3) for i in self._by_len.get(k, ())}
        cand_idx.update(i for w in words for i in self._by_sk.get(w, ()))
        cand_idx.update(i for k in range(3, len(sk)) for i in self._by_sk.get(sk[:k], ()))
        for i in sorted(cand_idx):
            raw, osk, o = self.labels[i]
            n = len(osk)
            if n < 3 or osk == sk:
                continue
            if n >= WORD_MIN_LEN or cheap:
                own_tld = skeleton(o.domain.split(".")[-1])
                if (len(words) > 1 and osk in words) or sk == osk + own_tld:
                    if best is None or best[0] > 0:
                        best = (0, Lookalike(reg, host, "added-word", o, f"{reg} adds words to {o.name}'s name "
                                                                          f"{raw} ({o.domain})."))
                    continue
            if abs(len(sk) - n) <= 2 and (n >= TYPO_MIN_LEN or cheap):
                d = _dl1(sk, osk) if n >= MIN_FUZZY_LEN else 3
                doubled = cheap and _doubled(sk, osk)
                if d == 1 or (d == 2 and n >= TYPO2_MIN_LEN) or doubled:
                    what = "a letter doubled" if doubled else "a typo" if d == 1 else "two typos"
                    cand = (1 if doubled else d, Lookalike(reg, host, "typo", o, f"{reg} is {o.name}'s name {raw} "
                                                                                f"({o.domain}) with {what}."))
                    if best is None or cand[0] < best[0]:
                        best = cand
                    continue
        return best[1] if best else None

    def match_url(self, url: str) -> Lookalike | None:
        """As :meth:`match_host` for the URL's host; else a URL whose path starts with an outlet's domain (kind ``path``).

        ``url`` with or without its scheme (the store keeps links as ``host/path``): without one it is
        read as ``//url``, so a ``//`` later in the path does not hide the host.
        """
        try:
            parts = urlsplit(url if url.startswith("//") or HAS_SCHEME.match(url) else "//" + url)
        except ValueError:
            return None
        host = parts.hostname or ""
        hit = self.match_host(host)
        if hit is not None:
            return hit
        first = parts.path.lstrip("/").split("/", 1)[0].lower()
        first = first[4:] if first.startswith("www.") else first
        if first in self.by_domain:
            reg = registrable_domain(host)
            if reg and reg not in self.legit:
                o = self.by_domain[first]
                return Lookalike(reg, host, "path", o, f"{url[:120]} serves a path named after {o.name}'s "
                                                       f"domain {o.domain} from another site, {reg}.")
        return None

    def match_many(self, hosts: Iterable[str]) -> dict[str, Lookalike]:
        """``{host: Lookalike}`` for the look-alikes among distinct ``hosts`` (one check per distinct host)."""
        out = {}
        for h in set(hosts):
            hit = self.match_host(h)
            if hit is not None:
                out[h] = hit
        return out


#: A store domain is "long-established" when shared by at least this many accounts over at least this many days.
ESTABLISHED_ACCOUNTS, ESTABLISHED_DAYS = 20, 180


def established_domains(store, *, min_accounts: int = ESTABLISHED_ACCOUNTS, min_days: int = ESTABLISHED_DAYS,
                        limit: int = 2000) -> list[str]:
    """Registrable domains long established in a store: shared (``domain`` actions) by at least
    ``min_accounts`` distinct accounts over a span of at least ``min_days`` days (UTC timestamps),
    the ``limit`` most shared first. Set-based in DuckDB; returns host names as stored.

    Such domains are added to an :class:`OutletIndex` both as legitimate and as further outlets a
    look-alike may imitate (:func:`store_index`). An operation that pushed its own domain from many
    accounts for half a year would be whitelisted: the thresholds are set high for that reason.
    """
    rows = store.con.execute(
        "SELECT object_key FROM actions WHERE action_type = 'domain' GROUP BY object_key "
        "HAVING count(DISTINCT account_key) >= ? AND date_diff('day', min(ts), max(ts)) >= ? "
        "ORDER BY count(*) DESC, object_key LIMIT ?", [int(min_accounts), int(min_days), int(limit)]).fetchall()
    return [r[0] for r in rows]


def store_index(store) -> OutletIndex:
    """An :class:`OutletIndex` of the shipped outlets plus the store's :func:`established_domains`."""
    extra = []
    known = {registrable_domain(o.domain) for o in load_outlets()}
    for h in established_domains(store):
        reg = registrable_domain(h)
        if reg and reg not in known:
            known.add(reg)
            extra.append(Outlet(reg, reg, ""))
    return OutletIndex(list(load_outlets()) + extra)


@lru_cache(maxsize=1)
def load_outlets() -> tuple[Outlet, ...]:
    """The shipped reference outlets (``cibscope/explain/data/news_outlets.csv``; columns ``domain,name,country``)."""
    ref = resources.files("cibscope.explain").joinpath("data/news_outlets.csv")
    with ref.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(Outlet(r["domain"].strip().lower(), r["name"].strip(), r["country"].strip()) for r in rows)


@lru_cache(maxsize=1)
def default_index() -> OutletIndex:
    """An :class:`OutletIndex` of the shipped outlets, no extra allowed domains."""
    return OutletIndex()
