"""Import any STIX 2.1 bundle (OpenCTI, MISP, DISARM, ...), keeping custom object types.

Objects are kept exactly as given (plain dicts, every property including ``x_*``
custom properties and ``x-*`` custom types such as DISARM's ``x-mitre-tactic``).
An object is refused, with its position in ``objects`` as the row, only when
it cannot be a STIX 2.1 object at all:

* not a JSON object, or no ``type``/``id``;
* ``id`` not of the form ``<type>--<UUID>`` for its own ``type``;
* ``spec_version`` other than ``2.1`` or ``2.0`` on an SDO/SRO;
* the same ``id`` twice with different content (the later one is refused).

STIX 2.0 objects (a bundle with ``"spec_version": "2.0"``, or objects without ``spec_version``)
are read and converted to 2.1 (:func:`upgrade_20`), as STIX 2.1 section 3.1 allows a consumer to
do: ``spec_version`` ``2.1`` is set, an indicator gets ``pattern_type`` ``stix``, a malware
``is_family`` ``true``, and 2.0 ``labels`` of indicator, malware, report, threat-actor and tool
become their 2.1 ``*_types`` (the labels are kept). The summary counts the converted objects.

Full ``stix2-validator`` checks are available with ``validate=True`` (once over the
bundle); objects it reports errors for are then moved to the error list.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .result import FileSummary, ImportIssue, ImportResult, validate_objects

_ID_RX = re.compile(r"^([a-z0-9][a-z0-9-]*[a-z0-9])--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: STIX 2.1 cyber-observable and meta types, which carry no ``created``/``modified``.
_NON_SDO = {"artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message",
            "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software",
            "url", "user-account", "windows-registry-key", "x509-certificate", "marking-definition",
            "language-content", "extension-definition"}


class BundleImportError(Exception):
    """The file is not a STIX bundle at all (message names the file)."""


#: 2.0 ``labels`` -> the 2.1 open-vocabulary property that replaced them.
_TYPES_OF_LABELS = {"indicator": "indicator_types", "malware": "malware_types", "report": "report_types",
                    "threat-actor": "threat_actor_types", "tool": "tool_types"}


def upgrade_20(obj: dict[str, Any]) -> dict[str, Any]:
    """A STIX 2.0 SDO/SRO as a 2.1 object (a copy); see the module doc for what changes."""
    out = dict(obj, spec_version="2.1")
    t = out["type"]
    if t == "indicator":
        out.setdefault("pattern_type", "stix")
    if t == "malware":
        out.setdefault("is_family", True)
    if t in _TYPES_OF_LABELS and out.get("labels") and _TYPES_OF_LABELS[t] not in out:
        out[_TYPES_OF_LABELS[t]] = list(out["labels"])
    return out


def _is_20(obj: Any, bundle_20: bool) -> bool:
    """True for a STIX 2.0 SDO/SRO: no ``spec_version`` (or ``2.0``) on a type that needs one in 2.1."""
    if not isinstance(obj, dict) or obj.get("type") in _NON_SDO or not isinstance(obj.get("type"), str):
        return False
    sv = obj.get("spec_version")
    return sv == "2.0" or (sv is None and (bundle_20 or "created" in obj))


def _check(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return "not a JSON object"
    t, oid = obj.get("type"), obj.get("id")
    if not isinstance(t, str) or not t:
        return "no 'type'"
    if not isinstance(oid, str) or not oid:
        return "no 'id'"
    m = _ID_RX.match(oid)
    if not m or m.group(1) != t:
        return f"id {oid!r} is not '{t}--<uuid>'"
    sv = obj.get("spec_version")
    if sv is not None and sv != "2.1":
        return f"spec_version {sv!r} is not 2.1"
    if sv is None and t not in _NON_SDO:
        return "no spec_version and no 'created' (not a STIX 2.1 or 2.0 object)"
    return None


def import_stix_bundle(path: str | Path, *, validate: bool = False, layout: str = "stix") -> ImportResult:
    """Import a STIX 2.1 bundle file (also accepted: a JSON list of objects, or one object).

    Parameters
    ----------
    path : str or Path
        JSON file.
    validate : bool
        Also run ``stix2-validator`` once over the kept objects and refuse those it reports
        errors for (slower: a few ms per object).
    layout : str
        Layout name for the summary.

    Returns
    -------
    ImportResult
        Objects in file order (custom types and properties kept), errors, one summary.

    Raises
    ------
    BundleImportError
        The file cannot be read or is not JSON of the accepted shapes.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleImportError(f"{path}: cannot be read as JSON ({exc})") from exc
    if isinstance(data, dict) and data.get("type") == "bundle":
        objects = data.get("objects") or []
        if not isinstance(objects, list):
            raise BundleImportError(f"{path}: bundle 'objects' is not a list")
    elif isinstance(data, list):
        objects = data
    elif isinstance(data, dict) and "type" in data:
        objects = [data]
    else:
        raise BundleImportError(f"{path}: not a STIX bundle, a list of objects or a STIX object")
    bundle_20 = isinstance(data, dict) and data.get("spec_version") == "2.0"
    n_20 = sum(_is_20(o, bundle_20) for o in objects)
    if n_20:
        objects = [upgrade_20(o) if _is_20(o, bundle_20) else o for o in objects]
    res = ImportResult()
    summ = FileSummary(file=str(path), layout=layout, rows=len(objects))
    if n_20:
        summ.notes.append(f"{n_20:,} STIX 2.0 objects converted to 2.1")
    for row, obj in enumerate(objects, start=1):
        problem = _check(obj)
        if problem is None and res.has(obj["id"]) and res.get(obj["id"]) != obj:
            problem = "a different object with the same id came earlier in the file"
        if problem:
            summ.rows_failed += 1
            raw = json.dumps(obj, ensure_ascii=False)[:300] if not isinstance(obj, str) else obj[:300]
            res.errors.append(ImportIssue(str(path), row, "id" if "id" in problem else "object", problem, raw))
            continue
        res.add(obj, summ)
        summ.rows_imported += 1
    res.summaries.append(summ)
    if validate and res.objects:
        report = validate_objects(res.objects)
        res.drop_invalid(report, str(path))
        summ.notes.append(f"stix2-validator: {len(report.errors)} errors, {report.warnings} warnings")
    return res
