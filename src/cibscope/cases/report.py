"""A case's outputs: an offline HTML report and a TLP 2.0-marked STIX 2.1 bundle with sightings.

:func:`case_bundle` builds the bundle (STIX 2.1 sections 4.13 ``sighting``, 4.14
``observed-data``, 4.10 ``intrusion-set``): for every partner indicator the data
matched, the indicator itself, an ``observed-data`` over the matched accounts and
a ``sighting`` (``sighting_of_ref`` the indicator, ``where_sighted_refs`` our
identity, ``count``, ``first_seen``/``last_seen``); the discovered intrusion-set
with ``indicates`` relationships from the sighted indicators; one
``observed-data`` per account the expansion added (the two accounts of the edge
that brought it in, the edge's co-actions as ``number_observed``) related to the
intrusion-set with the path and evidence in the description; and the case's
DISARM tags as ``uses`` relationships (:mod:`cibscope.explain.disarm`). Every
object carries the tip's TLP 2.0 marking and a purpose-limitation marking for
the tip's purpose (TLP:AMBER+STRICT: the partner named as recipient organisation), so
the sharing hub accepts it. A TLP:RED tip needs named recipient users, which a
tip does not carry: share such a case by hand.

:func:`write_case` writes ``case.html`` (Jinja2, autoescaped, no external
resources) and ``case-bundle.json``.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jinja2

from ..explain.disarm import Tag, tag_case, uses_relationships
from ..intel.result import validate_objects
from ..report.html import TLP_COLOURS
from ..intel.stixobj import bundle_id, relationship, sco, sdo, stix_timestamp
from ..share.markings import TLP2_IDS, purpose_marking, tlp2_marking_definition
from ..store.db import Store
from ..store.conn import one, transaction
from ..text import plural
from .expand import case_members
from .tips import tip_objects

#: Name of the identity that sighted the indicators (this platform), unless one is given.
DEFAULT_IDENTITY = "cibscope platform-integrity team"
#: Days the purpose marking lets the hub serve the case's objects.
RETENTION_DAYS = 365


def _ts(d: dt.datetime | None) -> str | None:
    """STIX timestamp of a naive-UTC store time."""
    return stix_timestamp(d.replace(tzinfo=dt.timezone.utc)) if d is not None else None


def _case(store: Store, case_id: str) -> dict[str, Any]:
    rows = store.con.sql("SELECT c.*, t.partner_org, t.purpose, t.tlp, t.path AS tip_path, t.received_at, "
                         "t.file_sha256 FROM cases c JOIN tips t USING (tip_id) WHERE case_id = $c",
                         params={"c": case_id}).to_arrow_table().to_pylist()
    if not rows:
        raise KeyError(f"no case {case_id!r} in {store.path}")
    return rows[0]


def sighted_indicators(store: Store, tip_id: str) -> list[dict[str, Any]]:
    """Per matched indicator: match types, accounts, posts and first/last seen (UTC).

    ``first_seen``/``last_seen`` span the matched posts; for an account match (a handle)
    they span that account's posts. ``count`` is the matched posts, or the accounts when
    the match is on accounts only.
    """
    return store.con.sql("""
        WITH m AS (SELECT * FROM tip_matches WHERE tip_id = $t AND match_type <> 'mention'),
        span AS (SELECT p.account_key, min(p.created_at) AS f, max(p.created_at) AS l
                 FROM posts p SEMI JOIN m ON m.account_key = p.account_key GROUP BY ALL)
        SELECT m.indicator_ref, any_value(m.kind) AS kind, any_value(m.value) AS value,
               list(DISTINCT m.match_type ORDER BY m.match_type) AS match_types,
               list(DISTINCT m.account_key ORDER BY m.account_key) AS accounts,
               count(DISTINCT m.post_key) AS n_posts, count(DISTINCT m.account_key) AS n_accounts,
               min(coalesce(m.ts, s.f)) AS first_seen, max(coalesce(m.ts, s.l)) AS last_seen
        FROM m LEFT JOIN span s USING (account_key)
        GROUP BY m.indicator_ref ORDER BY value
    """, params={"t": tip_id}).to_arrow_table().to_pylist()


def case_bundle(store: Store, case_id: str, *, identity_name: str = DEFAULT_IDENTITY,
                tags: list[Tag] | None = None, created: dt.datetime | None = None) -> dict[str, Any]:
    """The STIX 2.1 bundle of a case (see the module docstring for its objects).

    Parameters
    ----------
    store : Store
    case_id : str
    identity_name : str
        Name of the ``identity`` that sighted the indicators.
    tags : list of Tag, optional
        DISARM tags (default: :func:`cibscope.explain.disarm.tag_case`).
    created : datetime, optional
        ``created``/``modified`` of the new objects (default: the case's creation time), UTC.

    Raises
    ------
    KeyError
        No such case.
    """
    case = _case(store, case_id)
    now = _ts(created or case["created_at"])
    tlp_id = TLP2_IDS[case["tlp"]]
    pm = purpose_marking([case["purpose"]], f"partner tip {case['tip_id']} from {case['partner_org']} "
                         f"(sha256 {case['file_sha256'][:16]})", RETENTION_DAYS, created=now,
                         recipient_organizations=[case["partner_org"]] if case["tlp"] == "amber+strict" else None)
    marks = {"object_marking_refs": [tlp_id, pm["id"]]}
    ident = {**sdo("identity", ("cibscope-identity", identity_name), now, name=identity_name,
                   identity_class="organization"), **marks}
    common = {**marks, "created_by_ref": ident["id"]}
    objs: list[dict[str, Any]] = [tlp2_marking_definition(case["tlp"]), pm, ident]
    members = case_members(store, case_id)
    accounts = {r["account_key"]: r for r in store.con.sql(
        "SELECT account_key, platform, account_id, handle FROM accounts WHERE account_key IN "
        "(SELECT account_key FROM case_members WHERE case_id = $c UNION SELECT account_key FROM tip_matches "
        "WHERE tip_id = $t)", params={"c": case_id, "t": case["tip_id"]}).to_arrow_table().to_pylist()}
    sco_ids: dict[str, str] = {}

    def account_sco(key: str) -> str:
        if key not in sco_ids:
            a = accounts[key]
            o = {**sco("user-account", account_type=a["platform"], user_id=a["account_id"],
                       account_login=a["handle"]), **marks}
            objs.append(o)
            sco_ids[key] = o["id"]
        return sco_ids[key]

    span = one(store.con, "SELECT min(e.first_seen), max(e.last_seen) FROM edges e JOIN case_members m "
                             "ON m.case_id = ? AND e.run_id = ? AND (e.account_a = m.account_key OR "
                             "e.account_b = m.account_key)", [case_id, case["run_id"]])
    n_seeds, n_members = case["n_seeds"], case["n_members"]
    iset = {**sdo("intrusion-set", ("cibscope-case", case_id), now,
                  name=f"Case {case_id}: network around partner tip {case['tip_id']}",
                  description=(f"{plural(n_members, 'account')}: {n_seeds:,} matched the indicators shared by "
                               f"{case['partner_org']} and {n_members - n_seeds} joined through significant "
                               f"co-action edges of detection run {case['run_id']} "
                               f"(at most {plural(case['hops'], 'hop')}, q <= {case['max_q']:g}, "
                               f"at least {plural(case['min_links'], 'edge')} into the case)."),
                  first_seen=_ts(span[0]), last_seen=_ts(span[1])), **common}
    objs.append(iset)
    partner = tip_objects(store, case["tip_id"])
    for ind in sighted_indicators(store, case["tip_id"]):
        src = partner.get(ind["indicator_ref"])
        refs = [account_sco(a) for a in ind["accounts"]]
        count = ind["n_posts"] or ind["n_accounts"]
        od_refs = []
        if ind["first_seen"] is not None:  # an account known only from a profile list has no posts to observe
            od = {**sdo("observed-data", ("cibscope-case-match", case_id, ind["indicator_ref"]), now,
                        first_observed=_ts(ind["first_seen"]), last_observed=_ts(ind["last_seen"]),
                        number_observed=max(1, count), object_refs=refs), **common}
            objs.append(od)
            od_refs = [od["id"]]
        if src is None or src["type"] != "indicator":
            continue  # an observable without an indicator cannot be sighted (sighting_of_ref is an SDO)
        objs.append({**src, **marks})
        objs.append({**sdo("sighting", ("cibscope-case-sighting", case_id, ind["indicator_ref"]), now,
                           sighting_of_ref=src["id"], where_sighted_refs=[ident["id"]], count=count,
                           first_seen=_ts(ind["first_seen"]), last_seen=_ts(ind["last_seen"]),
                           observed_data_refs=od_refs,
                           description=f"{ind['kind']} {ind['value']}: matched as {', '.join(ind['match_types'])} "
                                       f"by {plural(ind['n_accounts'], 'account')}, "
                                       f"{plural(ind['n_posts'], 'post')}"), **common})
        objs.append({**relationship(src["id"], "indicates", iset["id"], now), **common})
    for m in members:
        if m["hop"] == 0:
            account_sco(m["account_key"])
            continue
        edge = one(store.con, "SELECT first_seen, last_seen FROM edges WHERE run_id = ? AND account_a = ? "
                                 "AND account_b = ?", [case["run_id"], *sorted((m["account_key"], m["via"]))]
                                 )
        od = {**sdo("observed-data", ("cibscope-case-member", case_id, m["account_key"]), now,
                    first_observed=_ts(edge[0]), last_observed=_ts(edge[1]),
                    number_observed=max(1, int(m["n_coactions"])),
                    object_refs=[account_sco(m["account_key"]), account_sco(m["via"])]), **common}
        objs.append(od)
        why = {"hop": m["hop"], "path": m["path"], "p_value": m["p_value"], "q_value": m["q_value"],
               "n_coactions": m["n_coactions"], "n_links": m["n_links"], "signals": m["signals"],
               "shared": m["shared"]}
        objs.append({**relationship(od["id"], "related-to", iset["id"], now,
                                    description="co-action evidence that brought the account into the case: "
                                                + json.dumps(why, sort_keys=True, default=str)), **common})
    tags = tag_case(store, case_id) if tags is None else tags
    objs += uses_relationships(iset["id"], tags, now, **common)
    return {"type": "bundle", "id": bundle_id(o["id"] for o in objs), "objects": objs}


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("cibscope.cases", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined)
_ENV.filters["ts"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else ""
_ENV.filters["plural"] = plural


def render_case_html(store: Store, case_id: str, tags: list[Tag]) -> str:
    """The case report as one self-contained HTML page (autoescaped; no external resources)."""
    case = _case(store, case_id)
    members = case_members(store, case_id)
    labels = dict(store.con.execute("SELECT coalesce(label, '(none)'), count(*) FROM case_members m "
                                    "JOIN accounts a USING (account_key) WHERE case_id = ? GROUP BY ALL "
                                    "ORDER BY 2 DESC", [case_id]).fetchall())
    matches = store.con.sql("SELECT * FROM tip_matches WHERE tip_id = $t ORDER BY match_type, account_key, ts",
                            params={"t": case["tip_id"]}).to_arrow_table().to_pylist()
    return _ENV.get_template("case.html.j2").render(
        case=case, members=members, labels=labels, matches=matches[:500], n_matches=len(matches),
        indicators=sighted_indicators(store, case["tip_id"]), tags=tags,
        tlp_colours=TLP_COLOURS[case["tlp"]])


def write_case(store: Store, case_id: str, out_dir: str | Path, *, validate: bool = True,
               identity_name: str = DEFAULT_IDENTITY) -> dict[str, Path]:
    """Write ``case.html`` and ``case-bundle.json`` for a case into ``out_dir``.

    Raises
    ------
    KeyError
        No such case.
    ValueError
        ``validate`` is on and stix2-validator finds an error in the bundle (the message lists them).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tags = tag_case(store, case_id)
    bundle = case_bundle(store, case_id, identity_name=identity_name, tags=tags)
    if validate:
        rep = validate_objects(bundle["objects"])
        if rep.errors:
            raise ValueError(f"case {case_id}: the STIX bundle is invalid: " + "; ".join(rep.errors[:5]))
    paths = {"bundle": out / "case-bundle.json", "html": out / "case.html"}
    paths["bundle"].write_text(json.dumps(bundle, indent=1, ensure_ascii=False), encoding="utf-8")
    paths["html"].write_text(render_case_html(store, case_id, tags), encoding="utf-8")
    return paths
