"""A run's account network as GEXF 1.3 or GraphML, for Gephi, networkx, igraph and Cytoscape.

Nodes are the accounts at either end of a significant edge of the run, plus every cluster member;
edges are the run's ``edges`` rows (one per account pair, undirected). The attributes, the same in
both formats:

=============  ========  ============================================================================
node           type      meaning
=============  ========  ============================================================================
``account``    string    ``account_key`` (``<platform>:<account_id>``); also the GEXF node id
``label``      string    the handle, else the account id (Gephi's node label)
``handle``     string    screen name without ``@`` ("" when unknown)
``platform``   string
``cluster``    string    the account's best-ranked cluster id, "" when in none
``cluster_rank`` int     that cluster's rank (1 = most significant), 0 when in none
``flagged``    boolean   member of a cluster flagged as a candidate operation
``score``      double    ``cluster_members.score``: max ``-log10(q)`` of its edges, capped at 300
``known_label`` string   ``accounts.label`` (ground truth such as ``IRA:Fearmonger``), "" when unknown
=============  ========  ============================================================================

=================  =======  =====================================================================
edge               type     meaning
=================  =======  =====================================================================
``weight``         double   popularity-discounted co-action weight (GEXF: the edge's ``weight``)
``n_coactions``    long     distinct (signal, object) co-actions within the window
``n_post_pairs``   long     post pairs within the window
``signals``        string   signals with a co-action, comma-separated (``repost,link``)
``p_value``        double   of the pair against the null model; 0.0 means below 1e-300 (capped)
``q_value``        double   Benjamini-Hochberg over all candidate pairs
``scale_s``        double   the time scale (window, seconds) the edge is judged at
``median_gap_s``   double   median gap between the two accounts' actions, seconds
``first_seen``     string   first co-action, ISO 8601 UTC (``2016-01-02T03:04:05Z``)
``last_seen``      string   last co-action, ISO 8601 UTC
=================  =======  =====================================================================

GEXF follows the GEXF 1.3 specification (https://gexf.net/schema.html, namespace
``http://gexf.net/1.3``): typed ``<attributes>`` declarations, ``<attvalues>`` per element and the
edge weight as the ``weight`` attribute of ``<edge>`` (a double since 1.3). It is written as a stream
(Arrow record batches, attribute values escaped by :func:`xml.sax.saxutils.quoteattr`), so a run with
millions of edges needs no XML tree in memory. GraphML (the GraphML 1.0 primer,
http://graphml.graphdrawing.org/primer/graphml-primer.html: ``<key>`` declarations with
``attr.name``/``attr.type``, ``<data>`` per element) is streamed the same way, with the same types
(``integer`` is GraphML's ``int``), so ``n_coactions`` and ``cluster_rank`` read back as integers in
networkx (igraph keeps every number as a double in memory); node ids are ``n0``, ``n1``, ... with the
account key in ``name`` (igraph's vertex name) and ``account``, as python-igraph's ``Graph.write_graphml``
writes them; a null value is left out (GraphML's missing data), not written as "".
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import IO, Iterator
from xml.sax.saxutils import escape, quoteattr

from ..store.db import Store
from .query import run_info
from .tables import accounts_sql

#: Export formats of :func:`export_graph`.
FORMATS = ("gexf", "graphml")

#: Node attributes: name -> GEXF/GraphML type.
NODE_ATTRS = {"account": "string", "handle": "string", "platform": "string", "cluster": "string",
              "cluster_rank": "integer", "flagged": "boolean", "score": "double", "known_label": "string"}
#: Edge attributes (besides the GEXF edge ``weight``): name -> GEXF type.
EDGE_ATTRS = {"n_coactions": "long", "n_post_pairs": "long", "signals": "string", "p_value": "double",
              "q_value": "double", "scale_s": "double", "median_gap_s": "double", "first_seen": "string",
              "last_seen": "string"}

_ISO = "'%Y-%m-%dT%H:%M:%SZ'"


def nodes_sql(run_id: int) -> str:
    """SQL with one row per node of the run's network: ``label`` plus :data:`NODE_ATTRS` columns."""
    rid = int(run_id)
    keys = f"""SELECT account_a AS account_key FROM edges WHERE run_id = {rid}
               UNION SELECT account_b FROM edges WHERE run_id = {rid}
               UNION SELECT account_key FROM cluster_members WHERE run_id = {rid}"""
    return f"""
        SELECT a.account_key AS account, coalesce(a.handle, a.account_id) AS label,
               coalesce(a.handle, '') AS handle, a.platform, coalesce(a.cluster_id, '') AS cluster,
               coalesce(c.rank, 0)::INTEGER AS cluster_rank, a.flagged, a.score::DOUBLE AS score,
               coalesce(a.label, '') AS known_label
        FROM ({accounts_sql(rid, keys)}) a
        LEFT JOIN clusters c ON c.run_id = {rid} AND c.cluster_id = a.cluster_id
        ORDER BY a.account_key
    """


def edges_sql(run_id: int) -> str:
    """SQL with one row per edge of the run: ``source``, ``target``, ``weight`` and :data:`EDGE_ATTRS`."""
    return f"""
        SELECT account_a AS source, account_b AS target, weight, n_coactions, n_post_pairs,
               array_to_string(signals, ',') AS signals, p_value, q_value,
               coalesce(scale_s, 'NaN'::DOUBLE) AS scale_s, median_gap_s,
               strftime(first_seen, {_ISO}) AS first_seen, strftime(last_seen, {_ISO}) AS last_seen
        FROM edges WHERE run_id = {int(run_id)} ORDER BY account_a, account_b
    """


#: Characters XML 1.0 cannot carry at all (not even escaped): C0 controls but tab/newline/CR, lone
#: surrogates, U+FFFE/U+FFFF. Handles and labels are attacker-written; these become U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(v: str) -> str:
    return _NOT_XML.sub("\ufffd", v)


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else repr(v)
    return "" if v is None else _xml_text(str(v))


def _rows(store: Store, sql: str) -> Iterator[tuple[int, dict]]:
    """``(count so far, row)`` for each row of ``sql``, read in Arrow batches."""
    n = 0
    for batch in store.con.sql(sql).to_arrow_reader(50_000):
        cols = batch.to_pydict()
        for r in range(batch.num_rows):
            n += 1
            yield n, {k: v[r] for k, v in cols.items()}


def _elements(store: Store, sql: str, attrs: dict[str, str]) -> Iterator[tuple[int, dict, str]]:
    """``(count so far, row, '<attvalue .../>...')`` (GEXF) for each row of ``sql``."""
    for n, row in _rows(store, sql):
        yield n, row, "".join(f'<attvalue for="{i}" value={quoteattr(_value(row[k]))}/>'
                              for i, k in enumerate(attrs))


def _write_gexf(store: Store, run_id: int, fh: IO[str]) -> tuple[int, int]:
    run = run_info(store, run_id)
    fh.write('<?xml version="1.0" encoding="UTF-8"?>\n'
             '<gexf xmlns="http://gexf.net/1.3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"\n'
             '      xsi:schemaLocation="http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd" version="1.3">\n'
             f'  <meta lastmodifieddate="{run["created_at"]:%Y-%m-%d}">\n'
             '    <creator>cibscope</creator>\n'
             f'    <description>{escape(f"co-action network of detection run {int(run_id)}")}</description>\n'
             '  </meta>\n  <graph defaultedgetype="undirected" mode="static">\n'
             '    <attributes class="node">\n')
    for i, (name, typ) in enumerate(NODE_ATTRS.items()):
        fh.write(f'      <attribute id="{i}" title="{name}" type="{typ}"/>\n')
    fh.write('    </attributes>\n    <attributes class="edge">\n')
    for i, (name, typ) in enumerate(EDGE_ATTRS.items()):
        fh.write(f'      <attribute id="{i}" title="{name}" type="{typ}"/>\n')
    fh.write('    </attributes>\n    <nodes>\n')
    n_nodes = 0
    for n_nodes, row, vals in _elements(store, nodes_sql(run_id), NODE_ATTRS):
        fh.write(f'      <node id={quoteattr(_xml_text(row["account"]))} label={quoteattr(_value(row["label"]))}>'
                 f'<attvalues>{vals}</attvalues></node>\n')
    fh.write('    </nodes>\n    <edges>\n')
    n_edges = 0
    for n_edges, row, vals in _elements(store, edges_sql(run_id), EDGE_ATTRS):
        fh.write(f'      <edge id="{n_edges - 1}" source={quoteattr(_xml_text(row["source"]))} '
                 f'target={quoteattr(_xml_text(row["target"]))} '
                 f'weight="{_value(float(row["weight"]))}"><attvalues>{vals}</attvalues></edge>\n')
    fh.write('    </edges>\n  </graph>\n</gexf>\n')
    return n_nodes, n_edges


#: GraphML ``attr.type`` of a GEXF attribute type (GraphML has ``int``, GEXF ``integer``).
_GRAPHML_TYPES = {"integer": "int"}


def _write_graphml(store: Store, run_id: int, fh: IO[str]) -> tuple[int, int]:
    """Stream run ``run_id``'s network to ``fh`` as GraphML 1.0; returns ``(nodes, edges)`` written."""
    nodes = {"name": "string", "label": "string", **NODE_ATTRS}
    edges = {"weight": "double", **EDGE_ATTRS}
    fh.write('<?xml version="1.0" encoding="UTF-8"?>\n'
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"\n'
             '         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"\n'
             '         xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
             'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
             f'<!-- cibscope: co-action network of detection run {int(run_id)} -->\n')
    for prefix, kind, attrs in (("v", "node", nodes), ("e", "edge", edges)):
        for name, typ in attrs.items():
            fh.write(f'  <key id="{prefix}_{name}" for="{kind}" attr.name="{name}" '
                     f'attr.type="{_GRAPHML_TYPES.get(typ, typ)}"/>\n')
    fh.write('  <graph id="G" edgedefault="undirected">\n')

    def data(prefix: str, attrs: dict[str, str], row: dict) -> str:
        return "".join(f'<data key="{prefix}_{k}">{escape(_value(row[k]))}</data>' for k in attrs
                       if row[k] is not None)

    index: dict[str, int] = {}
    for n_nodes, row in _rows(store, nodes_sql(run_id)):
        index[row["account"]] = n_nodes - 1
        fh.write(f'    <node id="n{n_nodes - 1}">{data("v", nodes, {**row, "name": row["account"]})}</node>\n')
    n_edges = 0
    for n_edges, row in _rows(store, edges_sql(run_id)):
        fh.write(f'    <edge source="n{index[row["source"]]}" target="n{index[row["target"]]}">'
                 f'{data("e", edges, {**row, "weight": float(row["weight"])})}</edge>\n')
    fh.write('  </graph>\n</graphml>\n')
    return len(index), n_edges


def network(store: Store, run_id: int):
    """The run's network as an undirected :class:`igraph.Graph`.

    Vertices carry ``name`` (the ``account_key``), ``label`` and :data:`NODE_ATTRS`; edges carry
    ``weight`` and :data:`EDGE_ATTRS`. Raises ``ValueError`` for an unknown ``run_id``.
    """
    import igraph as ig

    run_info(store, run_id)
    nodes = store.con.sql(nodes_sql(run_id)).to_arrow_table().to_pydict()
    edges = store.con.sql(edges_sql(run_id)).to_arrow_table().to_pydict()
    index = {k: i for i, k in enumerate(nodes["account"])}
    g = ig.Graph(n=len(index), edges=list(zip(map(index.__getitem__, edges["source"]),
                                              map(index.__getitem__, edges["target"]))), directed=False)
    def clean(values: list) -> list:   # XML-safe strings: igraph writes them into GraphML as they are
        return [_xml_text(v) if isinstance(v, str) else v for v in values]

    g.vs["name"] = clean(nodes["account"])
    for k, v in nodes.items():
        g.vs[k] = clean(v)
    for k in ("weight", *EDGE_ATTRS):
        g.es[k] = clean(edges[k])
    return g


def export_graph(store: Store, run_id: int, path: str | Path, fmt: str | None = None) -> dict[str, object]:
    """Write run ``run_id``'s network to ``path`` as GEXF 1.3 or GraphML (see the module docstring).

    Parameters
    ----------
    store : Store
    run_id : int
    path : str or Path
        The file to write (replaced if present; its folder must exist: the CLI creates it).
    fmt : {"gexf", "graphml"}, optional
        Default: from the file's suffix (``.gexf`` / ``.graphml``).

    Returns
    -------
    dict
        ``{"path": Path, "format": str, "nodes": int, "edges": int}``.

    Raises
    ------
    ValueError
        Unknown ``run_id`` (nothing is written) or format, or no format given and the suffix names none.
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"{path}: unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}")
    run_info(store, run_id)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8") as fh:
        n_nodes, n_edges = (_write_gexf if fmt == "gexf" else _write_graphml)(store, run_id, fh)
    tmp.replace(path)
    return {"path": path, "format": fmt, "nodes": n_nodes, "edges": n_edges}


__all__ = ["EDGE_ATTRS", "FORMATS", "NODE_ATTRS", "edges_sql", "export_graph", "network", "nodes_sql"]
