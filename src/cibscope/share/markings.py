"""TLP 2.0 and purpose-limitation marking definitions.

TLP 2.0 (FIRST, "Traffic Light Protocol version 2.0", 2022) is carried in STIX 2.1
by five marking-definitions with fixed ids that use the TLP 2.0 extension
``extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d`` (OASIS STIX 2.1
extension registry). ``stix2`` 3.0.2 ships only the TLP 1.0 constants, so the ids
are listed here.

Purpose limitation is cibscope's own STIX 2.1 extension (STIX 2.1 section 7.3,
``extension-definition``) of type ``property-extension`` applied to a
``marking-definition``. Its properties are

``purposes``               list of permitted purposes (see :data:`PURPOSES`)
``legal_basis``            free text naming the legal basis of the exchange
``retention_days``         integer, days after ``date_added`` the object may be served
``recipient_organizations`` optional list of organisation names (AMBER+STRICT, AMBER)
``recipient_users``        optional list of user names (RED)
``personal_data``          optional boolean; a marking used in ``granular_markings``
                           to flag properties holding personal data
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

#: TLP 2.0 level -> marking-definition id (fixed by the OASIS TLP 2.0 STIX objects).
TLP2_IDS: dict[str, str] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP2_BY_ID: dict[str, str] = {v: k for k, v in TLP2_IDS.items()}

PURPOSES = ("national-security", "criminal-investigation", "platform-integrity", "research")
SECTORS = ("platform", "government", "law-enforcement", "civil-society", "research")

_NS = uuid.UUID("6b1f8a52-2f3c-4c55-9a0e-7c1d1d6b2a10")
#: Fixed id of cibscope's purpose-limitation extension definition.
PURPOSE_EXTENSION_ID = f"extension-definition--{uuid.uuid5(_NS, 'cibscope-purpose-limitation-v1')}"
#: Fixed id of the "personal data" marking used in granular markings.
PERSONAL_DATA_MARKING_ID = f"marking-definition--{uuid.uuid5(_NS, 'cibscope-personal-data-v1')}"
_CREATED = "2026-01-01T00:00:00.000Z"
_CREATOR = f"identity--{uuid.uuid5(_NS, 'cibscope')}"


class MarkingError(ValueError):
    """A purpose marking-definition whose extension properties are missing or invalid."""


def tlp2_marking_definition(level: str) -> dict[str, Any]:
    """The OASIS TLP 2.0 marking-definition object for ``level`` (``clear`` ... ``red``)."""
    return {"type": "marking-definition", "spec_version": "2.1", "id": TLP2_IDS[level],
            "created": "2022-10-01T00:00:00.000Z", "name": f"TLP:{level.upper()}",
            "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension",
                                                "tlp_2_0": level}}}


def purpose_extension_definition() -> dict[str, Any]:
    """The ``extension-definition`` object describing cibscope's purpose-limitation extension."""
    return {"type": "extension-definition", "spec_version": "2.1", "id": PURPOSE_EXTENSION_ID,
            "created": _CREATED, "modified": _CREATED, "created_by_ref": _CREATOR,
            "name": "cibscope purpose limitation",
            "description": "Purposes for which the marked objects may be used, their legal basis, "
                           "retention in days and optional named recipients.",
            "schema": "https://github.com/cibscope/cibscope/blob/main/docs/sharing.md#purpose-extension",
            "version": "1.0.0", "extension_types": ["property-extension"]}


def purpose_marking(purposes: list[str], legal_basis: str, retention_days: int, *,
                    recipient_organizations: list[str] | None = None,
                    recipient_users: list[str] | None = None, marking_id: str | None = None,
                    created: str = _CREATED) -> dict[str, Any]:
    """Build a purpose-limitation marking-definition.

    Parameters
    ----------
    purposes : list of str
        Permitted purposes, each one of :data:`PURPOSES`.
    legal_basis : str
        The legal basis of the exchange (e.g. a statute or court order reference).
    retention_days : int
        Days after ``date_added`` during which the hub serves the marked objects.
    recipient_organizations, recipient_users : list of str, optional
        Named recipients (required in practice for TLP:AMBER+STRICT and TLP:RED).
    marking_id : str, optional
        Id to use; by default a uuid5 of the content so equal markings share an id.

    Raises
    ------
    MarkingError
        If a purpose is unknown or ``retention_days`` is not a positive integer.
    """
    ext: dict[str, Any] = {"extension_type": "property-extension", "purposes": list(purposes),
                           "legal_basis": legal_basis, "retention_days": retention_days}
    if recipient_organizations:
        ext["recipient_organizations"] = list(recipient_organizations)
    if recipient_users:
        ext["recipient_users"] = list(recipient_users)
    parse_purpose_extension(ext)
    if marking_id is None:
        marking_id = f"marking-definition--{uuid.uuid5(_NS, repr(sorted(ext.items())))}"
    return {"type": "marking-definition", "spec_version": "2.1", "id": marking_id, "created": created,
            "created_by_ref": _CREATOR, "name": "cibscope purpose: " + ", ".join(purposes),
            "extensions": {PURPOSE_EXTENSION_ID: ext}}


def personal_data_marking() -> dict[str, Any]:
    """The marking-definition that flags personal-data properties via ``granular_markings``."""
    return {"type": "marking-definition", "spec_version": "2.1", "id": PERSONAL_DATA_MARKING_ID,
            "created": _CREATED, "created_by_ref": _CREATOR, "name": "cibscope personal data",
            "extensions": {PURPOSE_EXTENSION_ID: {"extension_type": "property-extension",
                                                  "personal_data": True}}}


@dataclass(frozen=True)
class PurposeTerms:
    """The parsed purpose-limitation properties of one marking-definition."""

    purposes: tuple[str, ...]
    legal_basis: str
    retention_days: int
    recipient_organizations: tuple[str, ...] = field(default_factory=tuple)
    recipient_users: tuple[str, ...] = field(default_factory=tuple)


def parse_purpose_extension(ext: Mapping[str, Any]) -> PurposeTerms:
    """Check and parse the purpose extension properties of a marking-definition.

    Raises
    ------
    MarkingError
        Naming the offending property when one is missing, of the wrong type or unknown.
    """
    purposes = ext.get("purposes")
    if not isinstance(purposes, list) or not purposes:
        raise MarkingError("purpose marking: 'purposes' must be a non-empty list")
    bad = [p for p in purposes if p not in PURPOSES]
    if bad:
        raise MarkingError(f"purpose marking: unknown purpose {bad[0]!r} (allowed: {', '.join(PURPOSES)})")
    basis = ext.get("legal_basis")
    if not isinstance(basis, str) or not basis.strip():
        raise MarkingError("purpose marking: 'legal_basis' must be a non-empty string")
    days = ext.get("retention_days")
    if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
        raise MarkingError("purpose marking: 'retention_days' must be a positive integer")
    orgs = ext.get("recipient_organizations", [])
    users = ext.get("recipient_users", [])
    for name, val in (("recipient_organizations", orgs), ("recipient_users", users)):
        if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
            raise MarkingError(f"purpose marking: '{name}' must be a list of strings")
    return PurposeTerms(tuple(purposes), basis, days, tuple(orgs), tuple(users))


def marking_kind(obj: Mapping[str, Any]) -> str | None:
    """Classify a marking-definition: ``'tlp'``, ``'purpose'``, ``'personal-data'`` or None."""
    if obj.get("id") in TLP2_BY_ID:
        return "tlp"
    ext = (obj.get("extensions") or {}).get(PURPOSE_EXTENSION_ID)
    if ext is None:
        return None
    return "personal-data" if ext.get("personal_data") is True else "purpose"


def mark_for_sharing(objects: list[dict[str, Any]], tlp: str, purposes: list[str], legal_basis: str,
                     retention_days: int = 365) -> list[dict[str, Any]]:
    """Objects ready for a cibscope hub: one TLP 2.0 and one purpose marking on every object.

    Parameters
    ----------
    objects : list of dict
        STIX 2.1 objects (e.g. an intel import). Definitions (``marking-definition``,
        ``extension-definition``) pass through unmarked.
    tlp : str
        TLP 2.0 level for objects that carry none (one of :data:`TLP2_IDS`); an object
        that already carries a TLP 2.0 marking keeps its own.
    purposes, legal_basis, retention_days
        Terms of the purpose marking (:func:`purpose_marking`).

    Returns
    -------
    list of dict
        The purpose extension-definition, the TLP and purpose marking-definitions, then
        copies of ``objects`` whose ``object_marking_refs`` hold exactly one TLP marking
        and the purpose marking (an earlier purpose marking is replaced).

    Raises
    ------
    MarkingError
        On an unknown TLP level or purpose, or a bad ``retention_days``.
    """
    if tlp not in TLP2_IDS:
        raise MarkingError(f"unknown TLP level {tlp!r}; use one of {', '.join(TLP2_IDS)}")
    pm = purpose_marking(purposes, legal_basis, retention_days)
    replaced = {o["id"] for o in objects if o.get("type") == "marking-definition" and marking_kind(o) == "purpose"}
    replaced |= {PURPOSE_EXTENSION_ID, *TLP2_BY_ID}
    out: list[dict[str, Any]] = [purpose_extension_definition(), pm]
    levels = {tlp}
    for obj in objects:
        if obj.get("type") in ("marking-definition", "extension-definition"):
            if obj["id"] not in replaced:
                out.append(obj)
            continue
        refs = obj.get("object_marking_refs", [])
        own = [r for r in refs if r in TLP2_BY_ID]
        levels.update(TLP2_BY_ID[r] for r in own[:1])
        others = [r for r in refs if r not in replaced]
        out.append({**obj, "object_marking_refs": (own[:1] or [TLP2_IDS[tlp]]) + others + [pm["id"]]})
    out[2:2] = [tlp2_marking_definition(level) for level in sorted(levels)]
    return out
