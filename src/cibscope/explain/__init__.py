"""Explanations of detected clusters and cases: DISARM technique tags (:mod:`.disarm`), who the accounts
are (:mod:`.authenticity`) and what they push (:mod:`.narratives`)."""
