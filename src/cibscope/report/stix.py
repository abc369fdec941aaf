"""STIX 2.1 bundle of a run's clusters, marked with a TLP 2.0 level.

Model (one set per flagged cluster, in rank order, for the ``max_clusters`` best)
-------------------------------------------------------------------------------
Only clusters the detector flagged as candidate operations (``clusters.flagged``)
are shared; the others stay in the local tables and report.

* ``grouping`` with ``context = "suspicious-activity"``: a cluster is a
  statistical finding of coordination, not an attributed adversary, so it is
  shared as a grouping (STIX 2.1 section 4.7) rather than an ``intrusion-set``
  (which asserts one actor behind it). Its ``description`` carries the
  machine-written summary, score, p-value and signal shares.
* ``user-account`` SCO per member (``account_type`` the platform, ``user_id``
  the platform's account id, ``account_login`` the handle).
* ``url`` and ``domain-name`` SCOs for the cluster's most shared links/domains
  (from ``edge_evidence``).
* ``observed-data`` with ``first_observed``/``last_observed`` = the cluster's
  first/last co-action and ``number_observed`` = its number of co-actions,
  referencing the member accounts and shared links.
* ``relationship`` (``related-to``) between the two accounts of each of the
  cluster's heaviest edges: the coordination network, the description giving
  co-actions, signals and q-value.

The reporting ``identity`` (``identity_class = "organization"``) is
``created_by_ref`` of every SDO/SRO, and every SDO, SRO and SCO carries the chosen TLP
2.0 marking in ``object_marking_refs``. The marking-definition object (from
:mod:`cibscope.share.markings`, the one table of TLP 2.0 ids) travels in
the bundle (TLP 2.0 is not predefined in STIX 2.1). The TLP 2.0
extension-definition object itself is not included: ``stix2-validator`` does not
require it and it is published by OASIS under its fixed id.

Identifiers
-----------
SCO ids are the spec's deterministic UUIDv5 of their id-contributing properties
(STIX 2.1 section 2.9; ``stix2`` computes them). SDO/SRO ids are derived from a UUIDv5
hash of the run (id + creation time) and the object's role (in UUIDv4 form), and their ``created``/
``modified`` are the run's creation time, so exporting the same run twice gives
an identical bundle.

References
----------
OASIS STIX 2.1 (2021); OASIS TLP 2.0 extension, cti-stix-common-objects
``extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d``; FIRST TLP 2.0.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..share.markings import TLP2_EXTENSION_ID, TLP2_IDS, tlp2_marking_definition
from ..store.db import Store
from ..text import plural
from .query import LINK_TYPES, clusters, internal_edges, link_urls, members, run_info, top_objects

if TYPE_CHECKING:  # stix2 is imported by the functions that build objects: it takes ~0.5 s to import
    import stix2

#: TLP 2.0 levels, from the least to the most restricted.
TLP_LEVELS = tuple(TLP2_IDS)
#: Platform names that map onto STIX ``account-type-ov``; others are passed through as they are.
ACCOUNT_TYPES = {"twitter": "twitter", "x": "twitter", "facebook": "facebook"}
#: Namespace of cibscope's deterministic SDO/SRO ids.
NAMESPACE = uuid.UUID("4d1b0f6e-6f0c-5c1a-9b7e-3c1b5e0c1b5e")
#: ``created`` of the reporting identity: constant, so every export references one version of it.
IDENTITY_CREATED = "2024-01-01T00:00:00.000Z"
#: ``number_observed`` must lie in 1..999,999,999 (STIX 2.1 section 4.14).
MAX_OBSERVED = 999_999_999


def tlp_level(level: str) -> str:
    """``level`` as a TLP 2.0 key of :data:`TLP2_IDS`.

    Parameters
    ----------
    level : {"clear", "green", "amber", "amber+strict", "red"}
        Case-insensitive; ``"TLP:AMBER"`` is accepted too.

    Raises
    ------
    ValueError
        Unknown level (the message lists the valid ones). TLP 1.0 ``white`` is
        refused: TLP 2.0 replaced it with ``clear``.
    """
    key = level.lower().removeprefix("tlp:")
    if key not in TLP2_IDS:
        raise ValueError(f"unknown TLP level {level!r}; use one of: {', '.join(TLP_LEVELS)}")
    return key


def tlp_marking(level: str) -> stix2.MarkingDefinition:
    """The OASIS TLP 2.0 marking-definition object for ``level`` (see :func:`tlp_level`)."""
    import stix2

    return stix2.MarkingDefinition(**tlp2_marking_definition(tlp_level(level)))


def _sid(kind: str, *parts: Any) -> str:
    # UUIDv5 hash bits stamped as version 4: deterministic, yet the UUIDv4 form
    # that STIX 2.1 section 2.9 asks of SDO/SRO ids (stix2-validator --strict checks it).
    digest = uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)).bytes
    return f"{kind}--{uuid.UUID(bytes=digest, version=4)}"


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


def _user_account(member: dict[str, Any], marking_id: str) -> stix2.UserAccount:
    import stix2

    kw: dict[str, Any] = {"account_type": ACCOUNT_TYPES.get(member["platform"], member["platform"]),
                          "user_id": member["account_id"], "object_marking_refs": [marking_id]}
    if member.get("handle"):
        kw["account_login"] = member["handle"]
    if member.get("display_name"):
        kw["display_name"] = member["display_name"]
    return stix2.UserAccount(**kw)


def _shared_sco(obj: dict[str, Any], urls: dict[str, str], marking_id: str) -> stix2.URL | stix2.DomainName:
    import stix2

    # SCOs carry the TLP marking too (STIX 2.1 section 3.3: object_marking_refs is a common
    # property of SCOs); it is not an id-contributing property, so ids stay deterministic.
    if obj["action_type"] != "link":
        return stix2.DomainName(value=obj["object_key"], object_marking_refs=[marking_id])
    # The canonical key has no scheme; prefer the URL as posted, else assume http.
    url = urls.get(obj["object_key"]) or obj["object_key"]
    return stix2.URL(value=url if "://" in url else f"http://{url}", object_marking_refs=[marking_id])


def build_bundle(store: Store, run_id: int, *, tlp: str = "amber", identity_name: str = "cibscope",
                 max_clusters: int | None = 50, top_links: int = 10, max_edges: int = 200) -> stix2.Bundle:
    """Build the STIX 2.1 bundle of a finished run (see the module docstring for the model).

    Parameters
    ----------
    store : Store
    run_id : int
    tlp : str, default "amber"
        TLP 2.0 level of every SDO/SRO: clear, green, amber, amber+strict, red.
    identity_name : str, default "cibscope"
        Name of the reporting organisation (the ``identity`` object).
    max_clusters : int or None, default 50
        Export the best-ranked flagged clusters only (None: every flagged cluster).
    top_links : int, default 10
        ``url``/``domain-name`` observables per cluster (most shared first).
    max_edges : int, default 200
        Account-to-account relationships per cluster (heaviest edges first).

    Returns
    -------
    stix2.Bundle
        Objects: the marking definition, the identity, then per cluster its
        SCOs, observed-data, relationships and grouping.

    Raises
    ------
    ValueError
        Unknown ``run_id`` or TLP level.
    """
    import stix2

    marking = tlp_marking(tlp)
    run = run_info(store, run_id)
    created = _utc(run["created_at"])
    run_key = f"{run['run_id']}|{created.isoformat()}"
    identity = stix2.Identity(id=_sid("identity", "cibscope-identity", identity_name), name=identity_name,
                              identity_class="organization", created=IDENTITY_CREATED,
                              modified=IDENTITY_CREATED, object_marking_refs=[marking.id])
    common = {"created": created, "modified": created, "created_by_ref": identity.id,
              "object_marking_refs": [marking.id]}

    top = clusters(store, run_id, limit=max_clusters, flagged_only=True)
    ids = [c["cluster_id"] for c in top]
    mem = members(store, run_id, ids)
    links = top_objects(store, run_id, ids, k=top_links, action_types=LINK_TYPES)
    urls = link_urls(store, run_id, sorted({o["object_key"] for os_ in links.values() for o in os_
                                            if o["action_type"] == "link"}))
    edges = internal_edges(store, run_id, ids, per_cluster=max_edges)
    fp, fp_refs = fingerprint_objects(store, run_id, ids, run_key=run_key, marking_id=marking.id, common=common)

    objects: list[Any] = [marking, identity]
    seen_scos: set[str] = set()

    def add_sco(sco: Any) -> str:
        if sco.id not in seen_scos:
            seen_scos.add(sco.id)
            objects.append(sco)
        return sco.id

    for c in top:
        cid = c["cluster_id"]
        account_ref = {m["account_key"]: add_sco(_user_account(m, marking.id)) for m in mem[cid]}
        link_refs = [add_sco(_shared_sco(o, urls, marking.id)) for o in links[cid]]
        observed = stix2.ObservedData(
            id=_sid("observed-data", run_key, cid), first_observed=_utc(c["first_seen"]),
            last_observed=_utc(c["last_seen"]),
            number_observed=max(1, min(int(c["n_coactions"]), MAX_OBSERVED)),
            object_refs=list(account_ref.values()) + link_refs, **common)
        rels = [
            stix2.Relationship(
                id=_sid("relationship", run_key, cid, e["account_a"], e["account_b"]),
                relationship_type="related-to", source_ref=account_ref[e["account_a"]],
                target_ref=account_ref[e["account_b"]],
                description=(f"coordinated: {e['n_coactions']} co-actions ({', '.join(e['signals'])}), "
                             f"q={e['q_value']:.3g}, median gap {e['median_gap_s']:.0f} s, "
                             f"{_utc(e['first_seen']):%Y-%m-%dT%H:%M:%SZ} to {_utc(e['last_seen']):%Y-%m-%dT%H:%M:%SZ}"),
                **common)
            for e in edges[cid] if e["account_a"] in account_ref and e["account_b"] in account_ref
        ]
        signals = ", ".join(f"{k} {v:.0%}" for k, v in sorted(c["signals"].items(), key=lambda kv: -kv[1]))
        grouping = stix2.Grouping(
            id=_sid("grouping", run_key, cid), context="suspicious-activity",
            name=f"cibscope cluster {cid} (rank {c['rank']})",
            description=(f"{c['summary']}\n\nAccounts: {c['n_accounts']}; edges: {c['n_edges']}; "
                         f"co-actions: {c['n_coactions']} (expected {c['expected']:.3g}, lift {c['lift']:.1f}); "
                         f"p-value: {c['p_value']:.3g}; score: {c['score']:.1f}; signals: {signals}."),
            object_refs=[observed.id, *account_ref.values(), *link_refs, *(r.id for r in rels),
                         *fp_refs.get(cid, [])], **common)
        fp_new = []
        for o in fp.get(cid, []):  # SCOs once per bundle (add_sco), SDOs/SROs as they come
            if o.type == "domain-name":
                add_sco(o)
            else:
                fp_new.append(o)
        objects += [observed, *rels, *fp_new, grouping]
    return stix2.Bundle(objects=objects, id=_sid("bundle", run_key, marking.id, identity.id))


def fingerprint_objects(store: Store, run_id: int, cluster_ids: list[str], *, run_key: str, marking_id: str,
                        common: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, list[str]]]:
    """STIX objects of the stored fingerprints (``explain/fingerprints.py``) of each cluster.

    Per look-alike domain of a cluster's ``lookalike_domains`` signal: a ``domain-name`` SCO and an
    ``indicator`` (pattern ``[domain-name:value = '...']``, ``indicator_types`` ``["malicious-activity"]``,
    the imitated outlet in its description) that ``indicates`` the DISARM ``attack-pattern`` T0149.003
    *Lookalike Domain*; a cluster whose sampled posts mostly score as machine-written gets the
    ``attack-pattern`` T0085.001 *Develop AI-Generated Text* (no indicator: a text score is no IOC).
    Returns ``({cluster_id: [new objects]}, {cluster_id: [ids the cluster's grouping references]})``;
    an attack-pattern shared by several clusters is emitted once. Empty when the signals were not computed.
    """
    import stix2

    from ..explain.disarm import Tag, attack_pattern
    from ..explain.fingerprints import disarm_tags
    from ..intel.disarm import DisarmCatalogue

    rows = store.con.execute(
        "SELECT cluster_id, signal, value, details FROM cluster_authenticity WHERE run_id = ? "
        "AND signal IN ('lookalike_domains', 'ai_text_model')", [int(run_id)]).fetchall()
    by: dict[str, dict[str, Any]] = {}
    for cid, sig, value, details in rows:
        by.setdefault(cid, {})[sig] = {"value": value, "details": json.loads(details) if details else {}}
    out: dict[str, list[Any]] = {cid: [] for cid in cluster_ids}
    refs: dict[str, list[str]] = {cid: [] for cid in cluster_ids}
    emitted: set[str] = set()
    created = common["created"].isoformat().replace("+00:00", "Z")
    cat = None
    for cid in cluster_ids:
        tags = disarm_tags(by.get(cid, {}))
        if not tags:
            continue
        cat = cat or DisarmCatalogue.load()
        aps = {}
        for disarm_id, behaviour, ev in tags:
            t = cat.get(disarm_id)
            apd = attack_pattern(Tag(t.disarm_id, t.name, t.tactic_id, t.tactic_name, cat.version, behaviour, ""),
                                 created, cat)
            # the run bundle validates in strict mode, which wants a hash beside an external URL (rule 302):
            # the DISARM id + version identify the technique, the URL is left out
            apd["external_references"] = [{k: v for k, v in r.items() if k != "url"}
                                          for r in apd["external_references"]]
            ap = stix2.AttackPattern(**apd, object_marking_refs=[marking_id], created_by_ref=common["created_by_ref"])
            aps[disarm_id] = ap
            refs[cid].append(ap.id)
            if ap.id not in emitted:
                emitted.add(ap.id)
                out[cid].append(ap)
        if "T0149.003" not in aps:
            continue
        for d in by[cid]["lookalike_domains"]["details"].get("domains", []):
            if d["kind"] == "path":
                continue
            value = d["domain"].encode("idna").decode("ascii") if not d["domain"].isascii() else d["domain"]
            sco = stix2.DomainName(value=value, object_marking_refs=[marking_id])
            ind = stix2.Indicator(
                id=_sid("indicator", run_key, cid, value), name=f"Look-alike of {d['outlet_name']}: {value}",
                description=f"{d['explanation']} Shared in {plural(d['n_posts'], 'post')} by "
                            f"{plural(d['n_accounts'], 'member')} of "
                            f"cibscope cluster {cid}. Imitated outlet: {d['outlet_name']} ({d['outlet']}).",
                pattern=f"[domain-name:value = '{value}']", pattern_type="stix", valid_from=common["created"],
                indicator_types=["malicious-activity"], **common)
            rel = stix2.Relationship(id=_sid("relationship", run_key, cid, value, "indicates"),
                                     relationship_type="indicates", source_ref=ind.id,
                                     target_ref=aps["T0149.003"].id, **common)
            refs[cid] += [sco.id, ind.id, rel.id]
            out[cid] += [sco, ind, rel]  # build_bundle keeps one copy of an SCO seen twice
    return out, refs


def write_bundle(store: Store, run_id: int, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`build_bundle` to ``path`` as indented JSON; returns ``path``."""
    path = Path(path)
    # stix2's serialize(pretty=True) orders properties in quadratic time (minutes for
    # thousands of objects); indenting the compact form keeps stix2's property order.
    text = json.dumps(json.loads(build_bundle(store, run_id, **kwargs).serialize()), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path
