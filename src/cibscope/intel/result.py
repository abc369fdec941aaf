"""The result every threat-intelligence importer returns: STIX objects, errors, per-file summaries.

An importer reads one file and returns an :class:`ImportResult`. Every input
record (a CSV row, a Markdown table row, a STIX object) ends either as one or
more STIX 2.1 objects or as an :class:`ImportIssue` naming the file, the row
and the reason; :class:`FileSummary` counts both per file so nothing is
dropped silently. Results of several files merge with :meth:`ImportResult.extend`
(objects with the same id are kept once: ids are deterministic, so the same
indicator or attack-pattern imported twice is one object).

Validation with ``stix2-validator`` is done once over the result
(:func:`validate_objects`), never per row inside an import loop: the validator
reads its JSON schemas for every object it checks (3-7 ms an object on the
project machine), so it runs once, at the end, over all objects.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .stixobj import bundle_id


@dataclass(frozen=True)
class ImportIssue:
    """One input record that did not become a STIX object.

    Attributes
    ----------
    file : str
        The input file.
    row : int or None
        1-based record number: the line of a CSV/Markdown row (header = line 1),
        or the position of an object in a bundle's ``objects`` list (1 = first).
    field : str
        The column or property at fault.
    reason : str
        Why the record was refused.
    raw : str
        The offending value as read (truncated to 300 characters).
    """

    file: str
    row: int | None
    field: str
    reason: str
    raw: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.row}" if self.row is not None else self.file
        return f"{where} [{self.field}] {self.reason}: {self.raw!r}"


@dataclass
class FileSummary:
    """What one input file gave.

    Attributes
    ----------
    file : str
        The input file.
    layout : str
        The recognised layout (e.g. ``meta-classic``, ``meta-killchain``, ``meta-markdown``,
        ``disarm``, ``stix``, ``list``).
    rows : int
        Data records read (blank separator lines are not records; see ``blank_rows``).
    rows_imported : int
        Records that became at least one STIX object.
    rows_failed : int
        Records that went to the error list. ``rows_imported + rows_failed == rows``.
    blank_rows : int
        Empty lines and separator rows (``,,,,``) that carry no value, counted here
        rather than passed over silently.
    objects_by_type : collections.Counter
        Distinct STIX objects produced by this file, by STIX type (an object met
        twice in the file counts once; objects shared with other files count in each).
    notes : list of str
        Facts about the file worth showing to the user (e.g. a count that
        differs from the source's own description).
    """

    file: str
    layout: str
    rows: int = 0
    rows_imported: int = 0
    rows_failed: int = 0
    blank_rows: int = 0
    objects_by_type: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One-line human summary, e.g. for the CLI."""
        types = ", ".join(f"{n:,} {t}" for t, n in sorted(self.objects_by_type.items()))
        extra = f", {self.blank_rows:,} blank" if self.blank_rows else ""
        return (f"{self.file} [{self.layout}]: {self.rows:,} rows -> {self.rows_imported:,} imported, "
                f"{self.rows_failed:,} errors{extra}; objects: {types or 'none'}")


@dataclass
class ImportResult:
    """STIX objects plus the errors and per-file summaries of one or more imports.

    Attributes
    ----------
    objects : list of dict
        STIX 2.1 objects as plain JSON-ready dicts, unique by ``id``, in first-seen order.
    errors : list of ImportIssue
        Every refused record.
    summaries : list of FileSummary
        One per input file.
    """

    objects: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)
    summaries: list[FileSummary] = field(default_factory=list)
    _ids: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, obj: dict[str, Any], summary: FileSummary | None = None) -> str:
        """Add one object (kept once per id; counted in ``summary`` when new); return its id."""
        oid = obj["id"]
        if oid not in self._ids:
            self._ids[oid] = len(self.objects)
            self.objects.append(obj)
            if summary is not None:
                summary.objects_by_type[obj["type"]] += 1
        return oid

    def has(self, oid: str) -> bool:
        """True if an object with this id is already in the result."""
        return oid in self._ids

    def get(self, oid: str) -> dict[str, Any] | None:
        """The object with this id, or None."""
        i = self._ids.get(oid)
        return None if i is None else self.objects[i]

    def discard(self, ids: set[str]) -> None:
        """Remove the objects with these ids (e.g. ones a validator refused)."""
        self.objects = [o for o in self.objects if o["id"] not in ids]
        self._ids = {o["id"]: i for i, o in enumerate(self.objects)}

    def drop_invalid(self, report: "ValidationReport", file: str = "") -> set[str]:
        """Move the objects ``report`` (stix2-validator) names to :attr:`errors`; returns their ids.

        Each becomes an :class:`ImportIssue` (field: the object id) with the validator's messages, and
        the per-type counts of the summary of ``file`` (when there is one) are corrected.
        """
        bad = {o["id"] for o in self.objects if any(o["id"] in e for e in report.errors)}
        summ = next((s for s in self.summaries if s.file == file), None)
        for obj in self.objects:
            if obj["id"] in bad:
                msgs = "; ".join(e for e in report.errors if obj["id"] in e)
                self.errors.append(ImportIssue(file, None, obj["id"], f"stix2-validator: {msgs}"[:500]))
                if summ is not None:
                    summ.rows_imported -= 1
                    summ.rows_failed += 1
                    summ.objects_by_type[obj["type"]] -= 1
        self.discard(bad)
        return bad

    def extend(self, other: "ImportResult") -> "ImportResult":
        """Merge another result into this one (objects de-duplicated by id); returns self."""
        for obj in other.objects:
            self.add(obj)
        self.errors.extend(other.errors)
        self.summaries.extend(other.summaries)
        return self

    def by_type(self, stix_type: str) -> list[dict[str, Any]]:
        """The objects of one STIX type."""
        return [o for o in self.objects if o["type"] == stix_type]

    def bundle(self) -> dict[str, Any]:
        """A STIX 2.1 bundle of all objects (id derived from the object ids, so stable)."""
        return {"type": "bundle", "id": bundle_id(o["id"] for o in self.objects), "objects": list(self.objects)}

    def write_bundle(self, path: Path) -> Path:
        """Write :meth:`bundle` as JSON (UTF-8) to ``path``; return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.bundle(), ensure_ascii=False, indent=1), encoding="utf-8")
        return path


@dataclass
class ValidationReport:
    """Outcome of one ``stix2-validator`` run over a bundle.

    Attributes
    ----------
    errors : list of str
        The validator's message for every schema or MUST violation (messages name
        the object, e.g. ``"[indicator--...] ..."``).
    warnings : int
        Number of SHOULD-level warnings (e.g. an ``account_type`` outside the open vocabulary).
    objects : int
        Objects checked.
    """

    errors: list[str]
    warnings: int
    objects: int

    @property
    def valid(self) -> bool:
        """True when the validator found no error."""
        return not self.errors


def _validate_chunk(objs: list[dict[str, Any]]) -> tuple[list[str], int]:
    from stix2validator import ValidationOptions, validate_instance

    bundle = {"type": "bundle", "id": bundle_id(o.get("id", "") for o in objs), "objects": objs}
    res = validate_instance(bundle, ValidationOptions(version="2.1"))
    return [str(e) for e in res.errors or []], len(res.warnings or [])


def validate_objects(objects: Iterable[dict[str, Any]], workers: int | None = None,
                     chunk_size: int = 2000) -> ValidationReport:
    """Validate STIX 2.1 objects once, as bundles, with ``stix2-validator``.

    Parameters
    ----------
    objects : iterable of dict
        STIX 2.1 objects.
    workers : int, optional
        Processes to validate in (default: the CPU count). The validator costs
        3-7 ms an object (it reloads its JSON schemas for each one), so a bundle
        of more than ``chunk_size`` objects is split into bundles of about
        ``chunk_size`` validated in parallel; each object is still validated
        exactly once, and the bundle-level rule that ids are unique is checked
        here over the whole set.
    chunk_size : int
        Objects per bundle when splitting.

    Returns
    -------
    ValidationReport

    Notes
    -----
    Uses ``stix2validator.validate_instance`` (OASIS stix2-validator, STIX 2.1
    specification section 3 "STIX General Concepts" plus its JSON schemas)
    with default options: SHOULD rules produce warnings, MUST rules errors.
    """
    objs = list(objects)
    seen: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for o in objs:
        oid = o.get("id", "")
        if oid in seen and seen[oid] != o:
            errors.append(f"{oid}: two different objects share this id")
        seen.setdefault(oid, o)
    workers = workers or os.cpu_count() or 1
    chunks = [objs[i:i + chunk_size] for i in range(0, len(objs), chunk_size)] or [[]]
    if workers > 1 and len(chunks) > 1:
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=ctx) as pool:
            parts = list(pool.map(_validate_chunk, chunks))
    else:
        parts = [_validate_chunk(c) for c in chunks]
    warnings = 0
    for errs, warns in parts:
        errors.extend(errs)
        warnings += warns
    return ValidationReport(errors=errors, warnings=warnings, objects=len(objs))
