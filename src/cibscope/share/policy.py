"""The access policy applied by every route of the hub.

Three layers, all evaluated per request and per object version:

1. **Declared purpose** (header ``X-Cibscope-Purpose``): required, one of
   :data:`~cibscope.share.markings.PURPOSES`, and permitted for the requester's
   sector (:data:`SECTOR_PURPOSES`).
2. **TLP 2.0** (FIRST TLP 2.0, 2022), by its definitions as applied to a hub whose
   collections are the distribution lists chosen by the source:
   CLEAR and GREEN go to every reader of the collection (GREEN: the hub's members
   are the community); AMBER goes to the collection's readers, restricted to the
   marking's ``recipient_organizations`` when it names any; AMBER+STRICT only to
   the named recipient organisations (never beyond an organisation); RED only to
   the named ``recipient_users``. The producer's organisation (RED: the producing
   user) always passes the TLP check.
3. **Purpose limitation**: the declared purpose must be one of the object's
   purposes, and an exchange between government (government, law-enforcement) and
   platform sectors, either way, only for national-security or
   criminal-investigation.

Objects past ``expires_at`` (``date_added`` + ``retention_days``) are not served.
Personal data flagged by a granular marking that references
:data:`~cibscope.share.markings.PERSONAL_DATA_MARKING_ID` is removed for research
and civil-society recipients.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Mapping

from .auth import Principal
from .markings import PERSONAL_DATA_MARKING_ID, PURPOSES

PURPOSE_HEADER = "X-Cibscope-Purpose"

#: Purposes each sector may declare.
SECTOR_PURPOSES: dict[str, frozenset[str]] = {
    "platform": frozenset({"platform-integrity", "national-security", "criminal-investigation"}),
    "government": frozenset({"national-security"}),
    "law-enforcement": frozenset({"criminal-investigation", "national-security"}),
    "civil-society": frozenset({"research", "platform-integrity"}),
    "research": frozenset({"research"}),
}
GOVERNMENT_SECTORS = frozenset({"government", "law-enforcement"})
GOVERNMENT_PLATFORM_PURPOSES = frozenset({"national-security", "criminal-investigation"})
REDACT_PERSONAL_DATA_FOR = frozenset({"research", "civil-society"})

#: Rule name -> explanation, as returned in 403 bodies.
RULES: dict[str, str] = {
    "purpose-required": f"every request must declare a purpose in the {PURPOSE_HEADER} header",
    "purpose-unknown": "the declared purpose is not one of " + ", ".join(PURPOSES),
    "purpose-sector": "the declared purpose is not permitted for the requester's sector",
    "collection-read": "the requester's organisation has no read right on this collection",
    "collection-write": "the requester's organisation has no write right on this collection",
    "tlp-red-named-recipients": "TLP:RED objects go only to the users named as recipients",
    "tlp-amber-strict-organisation": "TLP:AMBER+STRICT objects go only to the named recipient organisations",
    "tlp-amber-recipients": "TLP:AMBER objects go only to the named recipient organisations",
    "purpose-incompatible": "the declared purpose is not among the object's permitted purposes",
    "government-platform-purpose": "government-platform exchange is allowed only for national-security "
                                   "or criminal-investigation purposes",
    "object-owner": "only the organisation that first stored an object may add versions, revoke or delete it",
    "marking-redefined": "a marking-definition id is defined once; a copy with other content is refused",
    "purpose-marking-foreign": "an object's purpose marking must be one its own organisation defined",
}


class Refusal(Exception):
    """A policy refusal (HTTP 403) naming the rule that refused."""

    def __init__(self, rule: str, detail: str | None = None):
        self.rule = rule
        self.detail = detail or RULES[rule]
        super().__init__(f"{rule}: {self.detail}")


def check_declared_purpose(who: Principal, purpose: str | None) -> str:
    """Validate the declared purpose of a request.

    Raises
    ------
    Refusal
        ``purpose-required``, ``purpose-unknown`` or ``purpose-sector``.
    """
    if not purpose:
        raise Refusal("purpose-required")
    if purpose not in PURPOSES:
        raise Refusal("purpose-unknown", f"unknown purpose {purpose!r}; allowed: {', '.join(PURPOSES)}")
    if purpose not in SECTOR_PURPOSES[who.sector]:
        raise Refusal("purpose-sector", f"sector {who.sector!r} may not declare purpose {purpose!r} "
                                        f"(allowed: {', '.join(sorted(SECTOR_PURPOSES[who.sector]))})")
    return purpose


@dataclass(frozen=True)
class ObjectPolicy:
    """Policy attributes of one stored object version (columns of the ``objects`` table).

    ``tlp`` and ``purposes`` are None for marking and extension definitions, which
    every reader of the collection may see (they are needed to read the markings).
    """

    tlp: str | None
    purposes: tuple[str, ...] | None
    recipient_orgs: tuple[str, ...]
    recipient_users: tuple[str, ...]
    producer_user_id: int
    producer_org_id: int
    producer_sector: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any], producer_sector: str) -> "ObjectPolicy":
        """Build from an ``objects`` row (JSON list columns decoded)."""
        def lst(v: str | None) -> tuple[str, ...]:
            return tuple(json.loads(v)) if v else ()
        purposes = row["purposes"]
        return cls(row["tlp"], tuple(json.loads(purposes)) if purposes is not None else None,
                   lst(row["recipient_orgs"]), lst(row["recipient_users"]), row["producer_user_id"],
                   row["producer_org_id"], producer_sector)


def check_read(who: Principal, purpose: str, obj: ObjectPolicy) -> None:
    """Decide whether ``who``, declaring ``purpose``, may receive an object version.

    Raises
    ------
    Refusal
        Naming the first rule that refuses (TLP first, then purpose).
    """
    if obj.tlp is None:
        return
    own_org = who.org_id == obj.producer_org_id
    if obj.tlp == "red":
        if who.user_id != obj.producer_user_id and who.user not in obj.recipient_users:
            raise Refusal("tlp-red-named-recipients")
    elif obj.tlp == "amber+strict":
        if not own_org and who.org not in obj.recipient_orgs:
            raise Refusal("tlp-amber-strict-organisation")
    elif obj.tlp == "amber":
        if not own_org and obj.recipient_orgs and who.org not in obj.recipient_orgs:
            raise Refusal("tlp-amber-recipients")
    assert obj.purposes is not None
    if purpose not in obj.purposes:
        raise Refusal("purpose-incompatible", f"declared purpose {purpose!r} is not among the object's "
                                              f"purposes ({', '.join(obj.purposes)})")
    pair = {who.sector in GOVERNMENT_SECTORS, obj.producer_sector in GOVERNMENT_SECTORS}
    sectors = {who.sector, obj.producer_sector}
    if pair == {True, False} and "platform" in sectors and purpose not in GOVERNMENT_PLATFORM_PURPOSES:
        raise Refusal("government-platform-purpose")


def _drop_path(obj: Any, selector: str) -> bool:
    """Remove the property at a STIX granular-marking selector (``a.b``, ``a.[0].b``)."""
    parts = selector.split(".")
    cur = obj
    for part in parts[:-1]:
        if part.startswith("[") and part.endswith("]") and isinstance(cur, list):
            idx = int(part[1:-1])
            if idx >= len(cur):
                return False
            cur = cur[idx]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return False
    last = parts[-1]
    if isinstance(cur, dict) and last in cur:
        del cur[last]
        return True
    if isinstance(cur, list) and last.startswith("[") and last.endswith("]"):
        idx = int(last[1:-1])
        if idx < len(cur):
            cur[idx] = None
            return True
    return False


def redact(who: Principal, obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Remove personal-data properties for recipients in :data:`REDACT_PERSONAL_DATA_FOR`.

    Returns
    -------
    (dict, list of str)
        The object to serve (a copy when redacted) and the selectors removed.
    """
    gms = obj.get("granular_markings") or []
    if who.sector not in REDACT_PERSONAL_DATA_FOR or not any(
            g.get("marking_ref") == PERSONAL_DATA_MARKING_ID for g in gms):
        return obj, []
    out = copy.deepcopy(obj)
    removed: list[str] = []
    keep = []
    for g in out.get("granular_markings", []):
        if g.get("marking_ref") == PERSONAL_DATA_MARKING_ID:
            removed += [s for s in g.get("selectors", []) if _drop_path(out, s)]
        else:
            keep.append(g)
    if keep:
        out["granular_markings"] = keep
    else:
        out.pop("granular_markings", None)
    return out, removed
