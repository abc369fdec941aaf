"""The share outbox: the STIX objects of one cluster under a TLP 2.0 level and a purpose, and what each
recipient sector would receive of them.

:func:`share_objects` takes the cluster's objects from the run's STIX bundle
(:func:`cibscope.report.stix.build_bundle`: the grouping, its observed-data, accounts,
links and relationships, plus the identity and the TLP marking) and adds what the hub
needs to accept them (docs/sharing.md): cibscope's purpose-limitation extension
definition, one purpose marking (:func:`cibscope.share.markings.purpose_marking`)
referenced by every object, and the personal-data marking flagging each account's
``account_login`` and ``display_name``.

:func:`preview` runs the hub's own policy functions
(:func:`~cibscope.share.policy.check_declared_purpose`,
:func:`~cibscope.share.policy.check_read`, :func:`~cibscope.share.policy.redact`) on
every object for a reader of each sector, so the preview is what the hub would serve.
"""
from __future__ import annotations

import json
from typing import Any

from ..report.stix import build_bundle, tlp_level
from ..share.auth import Principal
from ..share.markings import (PERSONAL_DATA_MARKING_ID, PURPOSE_EXTENSION_ID, PURPOSES, SECTORS, TLP2_BY_ID,
                              marking_kind, personal_data_marking, purpose_extension_definition, purpose_marking)
from ..share.policy import ObjectPolicy, Refusal, check_declared_purpose, check_read, redact
from ..store.db import Store

#: Properties of a ``user-account`` flagged as personal data (removed for research and civil society).
PERSONAL_PROPERTIES = ("account_login", "display_name")


class ShareInputError(ValueError):
    """A share that cannot be prepared: unknown TLP or purpose, cluster not flagged or absent, bad terms."""


def share_objects(store: Store, run_id: int, cluster_id: str, *, tlp: str, purpose: str, legal_basis: str,
                  retention_days: int, recipient_orgs: list[str] | None = None) -> list[dict[str, Any]]:
    """The objects a share of one flagged cluster sends (see the module docstring).

    Parameters
    ----------
    store : Store
    run_id : int
    cluster_id : str
        A cluster the run flagged (only flagged clusters are shared, as in ``bundle.json``).
    tlp : str
        TLP 2.0 level (clear, green, amber, amber+strict, red).
    purpose : str
        One of :data:`cibscope.share.markings.PURPOSES`.
    legal_basis : str
        Free text carried in the purpose marking.
    retention_days : int
        Days the hub may serve the objects.
    recipient_orgs : list of str, optional
        Named recipient organisations (AMBER: restricts; AMBER+STRICT: required).

    Returns
    -------
    list of dict
        STIX 2.1 objects (JSON-ready), definitions first.

    Raises
    ------
    ShareInputError
        Unknown TLP level or purpose, bad marking terms, or the cluster is absent or not flagged.
    """
    try:
        level = tlp_level(tlp)
    except ValueError as exc:
        raise ShareInputError(str(exc)) from None
    if purpose not in PURPOSES:
        raise ShareInputError(f"unknown purpose {purpose!r} (allowed: {', '.join(PURPOSES)})")
    if level == "red":
        raise ShareInputError("TLP:RED needs named recipient users; share it outside the outbox")
    if level == "amber+strict" and not recipient_orgs:
        raise ShareInputError("TLP:AMBER+STRICT needs named recipient organisations")
    rows = store.con.execute("SELECT flagged, (SELECT count(*) FROM clusters WHERE run_id = $r AND flagged "
                             "AND rank <= c.rank) FROM clusters c WHERE run_id = $r AND cluster_id = $c",
                             {"r": int(run_id), "c": cluster_id}).fetchall()
    if not rows:
        raise ShareInputError(f"no cluster {cluster_id!r} in run {run_id}")
    if not rows[0][0]:
        raise ShareInputError(f"cluster {cluster_id} was not flagged as a candidate operation; only flagged "
                              "clusters are shared")
    try:
        pm = purpose_marking([purpose], legal_basis, retention_days, recipient_organizations=recipient_orgs or None)
    except ValueError as exc:
        raise ShareInputError(str(exc)) from None
    # The bundle holds the flagged clusters up to this one's place among them; keep this cluster's objects.
    bundle = json.loads(build_bundle(store, run_id, tlp=level, max_clusters=int(rows[0][1])).serialize())
    objs = bundle["objects"]
    prefix = f"cibscope cluster {cluster_id} "
    grouping = next(o for o in objs if o["type"] == "grouping" and o["name"].startswith(prefix))
    keep = set(grouping["object_refs"]) | {grouping["id"], grouping["created_by_ref"]}
    body = [o for o in objs if o["id"] in keep]
    for o in body:
        o["object_marking_refs"] = [*o.get("object_marking_refs", []), pm["id"]]
        if o["type"] == "user-account":
            sel = [p for p in PERSONAL_PROPERTIES if p in o]
            if sel:
                o["granular_markings"] = [{"marking_ref": PERSONAL_DATA_MARKING_ID, "selectors": sel}]
    tlp_def = next(o for o in objs if o["id"] in TLP2_BY_ID)
    return [purpose_extension_definition(), tlp_def, pm, personal_data_marking(), *body]


def cluster_objects(store: Store, run_id: int, cluster_id: str, tlp: str = "amber") -> dict[str, Any] | None:
    """What a share of one flagged cluster would send, for the cluster page, before any share is prepared.

    Returns ``{"tlp": level, "counts": {stix_type: n}, "objects": [{"type", "label", "id"}, ...]}`` for the
    cluster's own objects, grouping first (:func:`share_objects` without the marking and extension definitions; the
    purpose chosen in the outbox only changes the purpose marking), or None when the cluster is absent
    or not flagged (it cannot be shared).
    """
    try:
        objs = share_objects(store, run_id, cluster_id, tlp=tlp, purpose=PURPOSES[0], legal_basis="preview",
                             retention_days=365)
    except ShareInputError:
        return None
    order = ("grouping", "identity", "observed-data", "user-account", "url", "domain-name", "relationship")
    body = sorted((o for o in objs if o["type"] not in ("marking-definition", "extension-definition")),
                  key=lambda o: order.index(o["type"]) if o["type"] in order else len(order))
    counts: dict[str, int] = {}
    for o in body:
        counts[o["type"]] = counts.get(o["type"], 0) + 1
    label_keys = ("name", "value", "account_login", "relationship_type")
    return {"tlp": tlp_level(tlp), "counts": counts,
            "objects": [{"type": o["type"], "id": o["id"],
                         "label": next((str(o[k]) for k in label_keys if o.get(k)), "")} for o in body]}


def _terms(objects: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(TLP level, purpose extension) of a share's objects."""
    pm = next(o for o in objects if o["type"] == "marking-definition" and marking_kind(o) == "purpose")
    tlp = next(TLP2_BY_ID[o["id"]] for o in objects if o["id"] in TLP2_BY_ID)
    return tlp, pm["extensions"][PURPOSE_EXTENSION_ID]


def preview(objects: list[dict[str, Any]], purpose: str, producer_sector: str,
            sectors: tuple[str, ...] = SECTORS) -> list[dict[str, Any]]:
    """What a collection reader of each sector, declaring ``purpose``, would receive.

    The reader is a member of an organisation that is neither the producer nor a
    named recipient (a named recipient organisation passes the AMBER rules).

    Parameters
    ----------
    objects : list of dict
        A share's objects (:func:`share_objects`).
    purpose : str
        The purpose the share is made for (recipients declare it).
    producer_sector : str
        Sector of the organisation pushing the share (the web app's ``--sector``).

    Returns
    -------
    list of dict
        Per sector: ``sector``, ``refused`` (rule and reason when the sector cannot
        declare the purpose, else None), ``objects`` (what it receives, redacted),
        ``withheld`` ([{id, rule}]) and ``redacted`` ([{id, properties}]).
    """
    tlp, ext = _terms(objects)
    out = []
    for sector in sectors:
        named = ext.get("recipient_organizations") or []
        who = Principal(user_id=-1, user=f"{sector}-reader", org_id=-1,
                        org=named[0] if named else f"a {sector} organisation", sector=sector)
        row: dict[str, Any] = {"sector": sector, "org": who.org, "refused": None, "objects": [], "withheld": [],
                               "redacted": []}
        try:
            check_declared_purpose(who, purpose)
        except Refusal as r:
            row["refused"] = {"rule": r.rule, "detail": r.detail}
            out.append(row)
            continue
        for o in objects:
            definition = o["type"] in ("marking-definition", "extension-definition")
            pol = ObjectPolicy(None if definition else tlp, None if definition else tuple(ext["purposes"]),
                               tuple(named), tuple(ext.get("recipient_users") or ()), 0, 0, producer_sector)
            try:
                check_read(who, purpose, pol)
            except Refusal as r:
                row["withheld"].append({"id": o["id"], "rule": r.rule})
                continue
            served, removed = redact(who, o)
            if removed:
                row["redacted"].append({"id": o["id"], "properties": removed})
            row["objects"].append(served)
        out.append(row)
    return out
