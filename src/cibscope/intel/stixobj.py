"""Plain-dict builders for the STIX 2.1 objects the importers emit, with deterministic ids.

Objects are built as JSON-ready dicts (not ``stix2`` library objects): building
thousands of ``stix2`` objects re-validates each one and is an order of
magnitude slower; the result is validated once as a bundle instead
(:func:`cibscope.intel.result.validate_objects`).

Identifiers
-----------
* SCOs use the STIX 2.1 deterministic identifier (spec section 2.9): UUIDv5 in
  the namespace ``00abedb4-aa42-466c-9c01-fed23315a9b7`` over the canonical JSON
  (RFC 8785) of the type's id-contributing properties, so the same domain,
  URL or account gets the same id as in any other conformant producer.
* SDOs and SROs get ids derived from a stable key (source file, value,
  procedure id, ...) so importing the same file twice gives identical objects
  and re-imports merge instead of duplicating. The 128 bits come from a UUIDv5
  over the key in the cibscope namespace, with the version field set to 4:
  the spec says SDO/SRO ids SHOULD be version 4 (section 2.9), which only
  fixes the format (and keeps stix2-validator free of warnings); the bits are
  unpredictable to anyone without the key, as a random UUID is.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

#: STIX 2.1 namespace for deterministic SCO ids (spec section 2.9).
STIX_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
#: cibscope's namespace for ids of the SDOs/SROs it derives from source keys.
CIBSCOPE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/cibscope/cibscope/intel")

#: id-contributing properties per SCO type (STIX 2.1 section 6, "ID Contributing Properties").
SCO_ID_PROPERTIES: dict[str, tuple[str, ...]] = {
    "domain-name": ("value",),
    "url": ("value",),
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "email-addr": ("value",),
    "user-account": ("account_type", "user_id", "account_login"),
    "file": ("hashes", "name", "extensions", "parent_directory_ref"),
    "software": ("name", "cpe", "swid", "vendor", "version"),
}


def stix_timestamp(ts: datetime | None = None) -> str:
    """RFC 3339 UTC timestamp with millisecond precision, as STIX 2.1 requires (section 3.2)."""
    ts = (ts or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _canonical(props: dict[str, Any]) -> str:
    # RFC 8785 canonical JSON for the string/dict values used here: sorted keys, no whitespace.
    return json.dumps(props, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sco_id(stix_type: str, props: dict[str, Any]) -> str:
    """Deterministic STIX 2.1 id of a cyber-observable from its id-contributing properties."""
    keys = SCO_ID_PROPERTIES[stix_type]
    contributing = {k: props[k] for k in keys if props.get(k) not in (None, "", {}, [])}
    return f"{stix_type}--{uuid.uuid5(STIX_SCO_NAMESPACE, _canonical(contributing))}"


def sdo_id(stix_type: str, *key: str) -> str:
    """Stable id of a cibscope-made SDO/SRO from a key (e.g. source file and value)."""
    u5 = uuid.uuid5(CIBSCOPE_NAMESPACE, stix_type + "|" + "|".join(key))
    return f"{stix_type}--{uuid.UUID(bytes=u5.bytes, version=4)}"


def bundle_id(object_ids: Iterable[str]) -> str:
    """Bundle id derived from the ids it carries (same objects -> same bundle id)."""
    h = hashlib.sha256("\n".join(sorted(object_ids)).encode()).hexdigest()
    return sdo_id("bundle", h)


def sco(stix_type: str, **props: Any) -> dict[str, Any]:
    """A cyber-observable object with its deterministic id; ``None`` properties are left out."""
    clean = {k: v for k, v in props.items() if v not in (None, "", {}, [])}
    return {"type": stix_type, "spec_version": "2.1", "id": sco_id(stix_type, clean), **clean}


def sdo(stix_type: str, key: Iterable[str], created: str, **props: Any) -> dict[str, Any]:
    """A domain or relationship object with a stable id from ``key``; empty properties are left out."""
    clean = {k: v for k, v in props.items() if v not in (None, "", {}, [])}
    return {"type": stix_type, "spec_version": "2.1", "id": sdo_id(stix_type, *key),
            "created": created, "modified": created, **clean}


def relationship(source: str, rel_type: str, target: str, created: str, **props: Any) -> dict[str, Any]:
    """A relationship SRO ``source --rel_type--> target`` (id stable over the triple)."""
    return sdo("relationship", (source, rel_type, target), created, relationship_type=rel_type,
               source_ref=source, target_ref=target, **props)


def pattern_string(value: str) -> str:
    """Quote a string for a STIX pattern literal (section 9.4: escape ``\\`` and ``'``)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
