"""Pick the importer of a threat-intelligence input: format detection and dispatch.

Used by ``cibscope intel import`` (:mod:`cibscope.cli.intel`) and by partner tips
(:mod:`cibscope.cases.tips`); each importer returns an :class:`~cibscope.intel.result.ImportResult`.
"""
from __future__ import annotations

from pathlib import Path

from .disarm import import_disarm
from .meta import import_meta, import_meta_folder
from .plain_list import import_plain_list
from .result import ImportResult
from .stix_bundle import import_stix_bundle

#: The ``--format`` values, one per importer module.
FORMATS = ("meta", "disarm", "stix", "list")


def detect_format(path: Path) -> str:
    """Guess the ``--format`` of a file or folder from its name and first bytes."""
    if path.is_dir():
        return "disarm" if (path / "generated_files").is_dir() else "meta"
    name = path.name.lower()
    if path.suffix.lower() == ".md" or path.suffix.lower() == ".csv" and name != "list.csv":
        head = path.read_text(encoding="utf-8-sig", errors="replace")[:400].lower()
        if path.suffix.lower() == ".md" or head.startswith(("indicator_type", "tactic")):
            return "meta"
        return "list"
    if path.suffix.lower() == ".json":
        head = path.read_text(encoding="utf-8-sig", errors="replace")[:2000]
        if '"indicator_type"' in head:
            return "meta"
        if name == "disarm.json":
            return "disarm"
        return "stix"
    return "list"


def run_import(path: Path, fmt: str | None = None, platform: str | None = None,
               previous: list[Path] | None = None) -> ImportResult:
    """Import ``path`` with the importer of ``fmt`` (detected when None).

    Raises
    ------
    ValueError
        Unknown format.
    MetaImportError, DisarmError, BundleImportError, ListImportError
        The input cannot be read.
    """
    fmt = fmt or detect_format(path)
    if fmt == "meta":
        return import_meta_folder(path) if path.is_dir() else import_meta(path)
    if fmt == "disarm":
        return import_disarm(path, previous=previous or [])
    if fmt == "stix":
        return import_stix_bundle(path)
    if fmt == "list":
        return import_plain_list(path, platform=platform)
    raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
