"""Threat-intelligence import: partner indicators and frameworks into STIX 2.1.

Importers (one module per source, all returning :class:`~cibscope.intel.result.ImportResult`):
:mod:`.meta` (Meta threat-research indicators), :mod:`.disarm` (DISARM Red framework),
:mod:`.stix_bundle` (any STIX 2.1 bundle), :mod:`.plain_list` (CSV list of handles/URLs/domains);
:mod:`.formats` detects an input's format and runs its importer.
"""
from .result import FileSummary, ImportIssue, ImportResult, ValidationReport, validate_objects

__all__ = ["FileSummary", "ImportIssue", "ImportResult", "ValidationReport", "validate_objects"]
