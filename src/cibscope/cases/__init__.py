"""From a partner's tip to a case: record the tip, match its indicators, grow the case, report it.

:mod:`.tips` (record a tip with provenance), :mod:`.match` (accounts and posts touching its
indicators, in SQL), :mod:`.expand` (grow a case through a detection run's significant edges),
:mod:`.report` (HTML case report and STIX 2.1 bundle with sightings).
"""
from .expand import CaseError, CaseResult, expand_case
from .match import match_tip, seed_accounts
from .tips import TipError, TipSummary, ingest_tip

__all__ = ["CaseError", "CaseResult", "TipError", "TipSummary", "expand_case", "ingest_tip", "match_tip",
           "seed_accounts"]
