"""Partner tips: record a tip's STIX objects with their provenance and extract the matchable values.

A *tip* is a file a partner sent (Meta indicators, a STIX bundle, a plain list:
any format of :mod:`cibscope.intel`). :func:`ingest_tip` imports it with the
intel importers, then stores

* one ``tips`` row: partner organisation, purpose, TLP 2.0 level, received time
  (UTC), file hash, counts and the importer's refused records;
* every STIX object in ``tip_objects`` (the sightings of a case refer to them);
* every matchable value in ``tip_indicators``: domains, URLs, handles and user
  ids read from indicator patterns (``[domain-name:value = '...']``,
  ``[url:value = '...']``, ``[user-account:account_type = 'twitter' AND
  user-account:account_login = '...']``) and from observables (SCOs) that no
  indicator covers. Values are normalised in DuckDB with the store's
  ``url_host``/``canonical_url`` macros, the same ones that made ``actions``.

Ingesting the same bytes from the same partner again adds nothing.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa

from ..intel.formats import detect_format, run_import
from ..intel.disarm import DisarmError
from ..intel.meta import MetaImportError
from ..intel.plain_list import ListImportError
from ..intel.stix_bundle import BundleImportError
from ..share.markings import PURPOSES, TLP2_IDS
from ..store.db import Store, file_sha256
from ..store.conn import one, transaction

#: STIX pattern comparison ``object-type:property = 'value'`` (STIX 2.1 section 9).
_CMP_RX = re.compile(r"([a-z0-9-]+):([A-Za-z0-9_.']+)\s*=\s*'((?:[^'\\]|\\.)*)'")
_OBS_RX = re.compile(r"\[([^\]]*)\]")


class TipError(ValueError):
    """A tip that cannot be recorded (unreadable file, unknown purpose or TLP level)."""


@dataclass
class TipSummary:
    """What :func:`ingest_tip` recorded.

    ``skipped`` is True when the same file from the same partner was ingested before
    (then the counts are those stored the first time).
    """

    tip_id: str
    path: str
    format: str
    partner_org: str
    n_objects: int
    n_indicators: int
    n_errors: int
    skipped: bool = False


def tip_id_for(sha256: str, partner_org: str) -> str:
    """The tip id: ``T`` + 12 hex characters of sha256(file hash | partner)."""
    return "T" + hashlib.sha256(f"{sha256}|{partner_org}".encode()).hexdigest()[:12]


def _unescape(v: str) -> str:
    return v.replace("\\'", "'").replace("\\\\", "\\")


def pattern_values(pattern: str) -> list[tuple[str, str, str | None]]:
    """Matchable ``(kind, raw value, platform)`` triples of a STIX pattern.

    Each observation expression (``[...]``) is read on its own: ``domain-name:value``
    gives a ``domain``, ``url:value`` a ``url``, ``user-account:account_login`` a
    ``handle`` and ``user-account:user_id`` a ``user_id`` (with the
    ``user-account:account_type`` of the same expression as platform). Comparisons
    other than ``=`` on these properties are not matchable and are ignored.
    """
    out: list[tuple[str, str, str | None]] = []
    for obs in _OBS_RX.findall(pattern):
        props = {(t, p): _unescape(v) for t, p, v in _CMP_RX.findall(obs)}
        platform = props.get(("user-account", "account_type"))
        for (t, p), v in props.items():
            kind = {("domain-name", "value"): "domain", ("url", "value"): "url",
                    ("user-account", "account_login"): "handle", ("user-account", "user_id"): "user_id"}.get((t, p))
            if kind:
                out.append((kind, v, platform if kind in ("handle", "user_id") else None))
    return out


def sco_values(obj: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """Matchable ``(kind, raw value, platform)`` triples of one observable (SCO)."""
    t = obj.get("type")
    if t == "domain-name" and obj.get("value"):
        return [("domain", obj["value"], None)]
    if t == "url" and obj.get("value"):
        return [("url", obj["value"], None)]
    if t == "user-account":
        plat = obj.get("account_type")
        out = [("handle", obj["account_login"], plat)] if obj.get("account_login") else []
        return out + ([("user_id", obj["user_id"], plat)] if obj.get("user_id") else [])
    return []


def indicator_rows(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per matchable value: from indicator patterns, then from SCOs no indicator covers.

    Returns dicts with ``indicator_ref`` (the indicator's or SCO's id), ``kind``, ``raw_value``
    and ``platform``. Per object, a tip is small (thousands of objects), so this is plain Python;
    the normalisation and all matching are SQL.
    """
    rows: list[dict[str, Any]] = []
    covered: set[tuple[str, str, str | None]] = set()
    objects = list(objects)
    for o in objects:
        if o.get("type") == "indicator" and o.get("pattern_type", "stix") == "stix":
            for kind, v, plat in pattern_values(o.get("pattern", "")):
                covered.add((kind, v, plat))
                rows.append({"indicator_ref": o["id"], "kind": kind, "raw_value": v, "platform": plat})
    for o in objects:
        for kind, v, plat in sco_values(o):
            if (kind, v, plat) not in covered:
                covered.add((kind, v, plat))
                rows.append({"indicator_ref": o["id"], "kind": kind, "raw_value": v, "platform": plat})
    return rows


def ingest_tip(store: Store, path: str | Path, *, partner_org: str, purpose: str, tlp: str = "amber",
               fmt: str | None = None, platform: str | None = None) -> TipSummary:
    """Import a partner's tip file and record it with its provenance.

    Parameters
    ----------
    store : Store
    path : str or Path
        The tip file (or a Meta folder), in any :mod:`cibscope.intel` format.
    partner_org : str
        The organisation that sent it.
    purpose : str
        One of :data:`cibscope.share.markings.PURPOSES`: the purpose it was shared for.
    tlp : str
        TLP 2.0 level of the tip (``clear``, ``green``, ``amber``, ``amber+strict``, ``red``).
    fmt : str, optional
        Importer (``meta``, ``disarm``, ``stix``, ``list``); detected when omitted.
    platform : str, optional
        Platform of bare handles in a plain list (e.g. ``twitter``).

    Returns
    -------
    TipSummary

    Raises
    ------
    TipError
        Unknown purpose or TLP level, empty partner name, a file the importer cannot read, or a
        tip of which no row was imported (the message names the file and the first import errors;
        nothing is recorded).
    """
    path = Path(path)
    if purpose not in PURPOSES:
        raise TipError(f"unknown purpose {purpose!r}: use one of {', '.join(PURPOSES)}")
    if tlp not in TLP2_IDS:
        raise TipError(f"unknown TLP level {tlp!r}: use one of {', '.join(TLP2_IDS)}")
    if not partner_org.strip():
        raise TipError("the partner organisation (--from) must not be empty")
    if not path.exists():
        raise TipError(f"{path}: no such file")
    sha = file_sha256(path)
    tip_id = tip_id_for(sha, partner_org)
    old = one(store.con, "SELECT path, format, n_objects, n_indicators, n_errors FROM tips WHERE tip_id = ?",
                            [tip_id])
    if old:
        return TipSummary(tip_id, old[0], old[1], partner_org, old[2], old[3], old[4], skipped=True)
    fmt = fmt or detect_format(path)
    try:
        result = run_import(path, fmt, platform)
    except (ValueError, MetaImportError, DisarmError, BundleImportError, ListImportError) as exc:
        raise TipError(f"{path}: {exc}") from None
    objects = result.objects
    ind = indicator_rows(objects)
    errors = [{"file": e.file, "row": e.row, "field": e.field, "reason": e.reason, "raw": e.raw}
              for e in result.errors]
    con = store.con
    with transaction(con):  # a failed ingest leaves the views registered; the next ingest replaces them
        con.register("_tip_obj", pa.table({
            "stix_id": [o["id"] for o in objects], "stix_type": [o["type"] for o in objects],
            "object": [json.dumps(o, ensure_ascii=False) for o in objects]},
            schema=pa.schema([("stix_id", pa.string()), ("stix_type", pa.string()), ("object", pa.string())])))
        con.execute("INSERT INTO tip_objects SELECT ?, stix_id, stix_type, object::JSON FROM _tip_obj", [tip_id])
        con.register("_tip_ind", pa.Table.from_pylist(ind, schema=pa.schema([
            ("indicator_ref", pa.string()), ("kind", pa.string()), ("raw_value", pa.string()),
            ("platform", pa.string())])))
        con.execute("""
            INSERT INTO tip_indicators
            SELECT DISTINCT ?, indicator_ref, kind, value, platform, raw_value FROM (
                SELECT *, CASE kind WHEN 'domain' THEN url_host(raw_value)
                                    WHEN 'url' THEN canonical_url(raw_value)
                                    ELSE lower(ltrim(trim(raw_value), '@')) END AS value
                FROM _tip_ind) WHERE value IS NOT NULL AND value <> ''
        """, [tip_id])
        n_ind = one(con, "SELECT count(*) FROM tip_indicators WHERE tip_id = ?", [tip_id])[0]
        if not objects or not sum(x.rows_imported for x in result.summaries):
            # no row was read (only the importer's wrapper object): refuse rather than record an empty tip
            why = "; ".join(f"row {e['row']}: {e['reason']}" for e in errors[:3])
            raise TipError(f"{path}: no matchable indicator and no other STIX object in the tip"
                           + (f"; {len(errors)} import errors, e.g. {why}" if errors else ""))
        # a tip of infrastructure only (proxy IPs, app packages, counts) is still a tip: it is kept and
        # can be shared as STIX, though nothing in post data can match it (n_indicators = 0)
        con.execute("INSERT INTO tips VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::JSON)",
                    [tip_id, sha, str(path), fmt, partner_org, purpose, tlp, _now(), len(objects), n_ind,
                     len(errors), json.dumps(errors, ensure_ascii=False)])
    for name in ("_tip_obj", "_tip_ind"):
        con.unregister(name)
    return TipSummary(tip_id, str(path), fmt, partner_org, len(objects), n_ind, len(errors))


def tip_objects(store: Store, tip_id: str) -> dict[str, dict[str, Any]]:
    """The stored STIX objects of a tip, by id.

    Raises
    ------
    KeyError
        No such tip.
    """
    if not one(store.con, "SELECT 1 FROM tips WHERE tip_id = ?", [tip_id]):
        raise KeyError(f"no tip {tip_id!r} in {store.path}")
    rows = store.con.execute("SELECT stix_id, object FROM tip_objects WHERE tip_id = ?", [tip_id]).fetchall()
    return {i: json.loads(o) for i, o in rows}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
