# %% [markdown]
# # cibscope from a notebook
#
# A run's accounts, edges, clusters and evidence as Arrow tables (`.to_pandas()` for pandas), read from a
# store made by `cibscope ingest` + `cibscope detect` (or `make demo`). Run it as a script,
# `python docs/notebook.py cibscope.duckdb`, or cell by cell (`# %%`) in Jupyter/VS Code.
# The columns of each table are in the docstrings of `cibscope.api` (`help(run.edges)`).

# %%
import sys

import cibscope

DB = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "cibscope.duckdb"
db = cibscope.open(DB)              # read-only: nothing here can change the results
print(db.runs().select(["run_id", "created_at", "n_accounts", "n_edges", "n_clusters"]).to_pandas())
run = db.run()                      # the latest run; db.run(2) for run 2

# %% [markdown]
# ## Clusters: what was found, and how strongly
# `score` is -log10(p) capped at 300 (p below 1e-300 prints as 0.0): several clusters at 300 are all
# "beyond doubt", not tied. `flagged` = significant after multiple-testing correction and at least
# `min_lift` times more co-action than chance.

# %%
clusters = run.clusters().to_pandas()
print(clusters[["rank", "cluster_id", "n_accounts", "flagged", "score", "lift", "signals"]].head(10))

# %% [markdown]
# ## Accounts of the strongest flagged cluster, and the edges between them

# %%
flagged = clusters[clusters.flagged]
top = (flagged if len(flagged) else clusters).cluster_id.iloc[0] if len(clusters) else None
if top is None:   # no group of min_cluster_size accounts: the run's significant pairs are all there is
    print(f"run {run.run_id} has no cluster; its significant pairs ({run.info['n_edges'] or 0}):")
else:
    members = run.members(top).to_pandas()
    print(members[["handle", "degree", "strength", "score", "label"]].head(10))
edges = (run.edges() if top is None else run.edges(cluster_id=top)).to_pandas()
print(edges[["account_a", "account_b", "n_coactions", "weight", "q_value", "scale_s"]].head(10))

# %% [markdown]
# ## Evidence: what the accounts did together (one row per pair, signal and object)

# %%
ev = run.evidence(top).to_pandas()   # top None: the evidence of every significant pair
print(ev.groupby("action_type").size().sort_values(ascending=False))
shared = (ev.groupby(["action_type", "object_key"])
            .agg(pairs=("account_a", "size"), first=("ts_a", "min"), example=("text_a", "first"))
            .sort_values("pairs", ascending=False))
print(shared.head(10))

# %% [markdown]
# ## Anything else: SQL over the store (docs/data-model.md), e.g. the members' busiest hours
# (without a cluster: those of the accounts of the run's significant pairs)

# %%
hours = db.sql("""
    SELECT hour(p.created_at) AS hour_utc, count(*) AS posts FROM posts p
    WHERE p.account_key IN (SELECT account_key FROM cluster_members WHERE run_id = $run AND cluster_id = $top
                            UNION SELECT unnest([account_a, account_b]) FROM edges
                            WHERE run_id = $run AND $top::VARCHAR IS NULL)
    GROUP BY ALL ORDER BY hour_utc""", {"run": run.run_id, "top": top})
print(hours.to_pandas().set_index("hour_utc").T)
db.close()
