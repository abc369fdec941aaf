"""Explanations of detected clusters and cases (DISARM technique tags: :mod:`.disarm`)."""
