"""Statements that tests use to write hand-made result rows into a store.

Hand-made ``clusters`` rows give the columns of the first release plus ``scale_s`` and ``overlap``; the
columns added since (``store/schema.py``: rule 4's source statistics, ...) stay NULL, as in a store an
older cibscope wrote.
"""

#: ``INSERT`` of a ``clusters`` row by its 17 first columns (append ``VALUES (...)``).
CLUSTER_INSERT = ("INSERT INTO clusters (run_id, cluster_id, rank, n_accounts, n_edges, n_coactions, expected, "
                  "p_value, score, lift, flagged, signals, first_seen, last_seen, summary, scale_s, overlap) ")
