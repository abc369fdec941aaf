"""cibscope: find coordinated inauthentic behaviour (CIB) in social-media data and share it as STIX 2.1.

Pipeline (one way): ``ingest`` -> ``store`` -> ``detect`` -> ``explain`` -> ``report`` / ``share``.
"""
__version__ = "0.1.0"


def open(path="cibscope.duckdb"):  # noqa: A001 - the notebook entry point, ``cibscope.open(db)``
    """Open a store read-only for analysis: :func:`cibscope.api.open` (imported lazily, so that the CLI
    does not pay for it)."""
    from .api import open as _open

    return _open(path)
