"""Outputs of a finished detection run, read from the store (nothing is recomputed).

:func:`write_outputs` writes every file of a run into one folder:

=================  =====================================================  ======================
file               content                                                module
=================  =====================================================  ======================
``clusters.csv``   one row per cluster                                    :mod:`.tables`
``edges.parquet``  the run's edges                                        :mod:`.tables`
``accounts.csv``   one row per account in the covered data, with flags   :mod:`.tables`
``bundle.json``    STIX 2.1 bundle, TLP 2.0 marked                        :mod:`.stix`
``report.html``    self-contained offline report                          :mod:`.html`
=================  =====================================================  ======================

``docs/outputs.md`` describes each file's columns and objects.
"""
from __future__ import annotations

from pathlib import Path

from ..store.db import Store
from .query import run_info
from .stix import TLP_LEVELS, tlp_level, write_bundle
from .tables import write_tables


def write_outputs(store: Store, run_id: int, out_dir: str | Path, *, tlp: str = "amber",
                  top_clusters: int = 50, identity_name: str = "cibscope") -> dict[str, Path]:
    """Write the tables, the STIX bundle and the HTML report of run ``run_id`` into ``out_dir``.

    Parameters
    ----------
    store : Store
        A store holding the run's result rows (may be opened read-only).
    run_id : int
    out_dir : str or Path
        Created if absent; existing files of the same names are replaced.
    tlp : {"clear", "green", "amber", "amber+strict", "red"}, default "amber"
        TLP 2.0 level marking every STIX SDO/SRO and shown on the report.
    top_clusters : int, default 50
        The best-ranked clusters exported to STIX and drawn (timeline, network)
        in the report; the CSV/Parquet tables and the report's text always hold
        every cluster.
    identity_name : str, default "cibscope"
        Name of the reporting organisation in the STIX ``identity``.

    Returns
    -------
    dict
        ``{"clusters", "edges", "accounts", "stix", "html"}`` -> path written.

    Raises
    ------
    ValueError
        Unknown ``run_id`` (nothing is written) or TLP level, or ``top_clusters < 0``.
    """
    tlp_level(tlp)
    run_info(store, run_id)
    if top_clusters < 0:
        raise ValueError(f"top_clusters must be >= 0, got {top_clusters}")
    from .html import write_html  # here: Jinja2 is slow to import and the CLI imports this package for TLP_LEVELS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = write_tables(store, run_id, out)
    paths["stix"] = write_bundle(store, run_id, out / "bundle.json", tlp=tlp, identity_name=identity_name,
                                 max_clusters=top_clusters)
    paths["html"] = write_html(store, run_id, out / "report.html", tlp=tlp, top_clusters=top_clusters)
    return paths


__all__ = ["TLP_LEVELS", "write_outputs"]
