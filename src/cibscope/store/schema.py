"""The canonical data model: DuckDB DDL for every table cibscope keeps.

One place for the schema (docs/data-model.md describes the same tables for
people; ``tests/test_data_model_doc.py`` keeps the two in sync).

Conventions
-----------
* ``account_key`` is ``'<platform>:<account_id>'`` and ``post_key`` is
  ``'<platform>:<post_id>'``: identities are namespaced by platform, so a
  numeric id on X never collides with one on Facebook.
* Every timestamp is a ``TIMESTAMP`` holding UTC (no time zone offset kept).
* ``posts`` and ``accounts`` carry no index: ART indexes on string keys made
  bulk loads several times slower and grow with the data; uniqueness is kept
  by the anti-joins in :meth:`cibscope.store.db.Store.add_batch`.
* Object keys in ``actions`` are normalised strings comparable across
  platforms (a canonical URL, a lower-cased hashtag), prefixed by nothing:
  the ``action_type`` column says what the key is.
"""
from __future__ import annotations

#: Tables holding ingested data, in dependency order.
DATA_TABLES = ("datasets", "ingested_files", "accounts", "posts", "actions", "ingest_errors")
#: Tables holding detection results.
RESULT_TABLES = ("runs", "edges", "edge_evidence", "clusters", "cluster_members")

ACTION_TYPES = ("repost", "link", "domain", "hashtag", "hashtag_seq", "mention", "reply", "text", "image")

DDL = """
CREATE TABLE IF NOT EXISTS datasets (
    dataset      VARCHAR PRIMARY KEY,     -- user-chosen name, default: the input's stem
    created_at   TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS ingested_files (
    file_sha256  VARCHAR NOT NULL,        -- content hash: the same bytes are never ingested twice
    path         VARCHAR NOT NULL,
    format       VARCHAR NOT NULL,
    dataset      VARCHAR NOT NULL,
    rows_read    BIGINT  NOT NULL,        -- records seen (good + bad)
    posts_added  BIGINT  NOT NULL,
    errors       BIGINT  NOT NULL,
    ingested_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (file_sha256, format)
);

CREATE TABLE IF NOT EXISTS accounts (
    account_key   VARCHAR NOT NULL,       -- '<platform>:<account_id>', unique (kept by the store's anti-joins)
    platform      VARCHAR NOT NULL,       -- twitter, facebook, instagram, telegram, bluesky, ...
    account_id    VARCHAR NOT NULL,       -- platform's own id (or the handle where no id exists)
    handle        VARCHAR,                -- screen name without '@'
    display_name  VARCHAR,
    created_at    TIMESTAMP,              -- account creation (UTC), when known
    description   VARCHAR,
    location      VARCHAR,
    lang          VARCHAR,
    followers     BIGINT,
    following     BIGINT,
    label         VARCHAR,                -- known ground truth, e.g. 'IRA:Fearmonger'; NULL if unknown
    dataset       VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS posts (
    post_key      VARCHAR NOT NULL,       -- '<platform>:<post_id>', unique (kept by the store's anti-joins)
    platform      VARCHAR NOT NULL,
    post_id       VARCHAR NOT NULL,       -- native id, or a deterministic hash where the data has none
    account_key   VARCHAR NOT NULL,
    created_at    TIMESTAMP NOT NULL,     -- UTC
    kind          VARCHAR NOT NULL,       -- post | repost | quote | reply
    text          VARCHAR,
    lang          VARCHAR,
    repost_of     VARCHAR,                -- object key of the reposted post (native post_key or 'text:<md5>')
    reply_to      VARCHAR,                -- post_key of the parent
    urls          VARCHAR[],              -- as found (expanded where the data has the expansion)
    hashtags      VARCHAR[],              -- without '#', original case
    mentions      VARCHAR[],              -- handles without '@'
    media         VARCHAR[],              -- media / perceptual-hash ids
    client        VARCHAR,                -- posting client/source application
    dataset       VARCHAR NOT NULL,
    source_file   VARCHAR NOT NULL,
    source_row    BIGINT                  -- 1-based record number in the file (header excluded)
);

CREATE TABLE IF NOT EXISTS actions (
    account_key   VARCHAR NOT NULL,
    action_type   VARCHAR NOT NULL,       -- repost | link | domain | hashtag | hashtag_seq | mention | reply | text | image
    object_key    VARCHAR NOT NULL,       -- normalised: canonical URL, lower-cased tag, ...
    ts            TIMESTAMP NOT NULL,     -- UTC, the post's created_at
    post_key      VARCHAR NOT NULL,
    dataset       VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS ingest_errors (
    dataset       VARCHAR NOT NULL,
    file          VARCHAR NOT NULL,
    line          BIGINT,                 -- 1-based line in the file where known
    field         VARCHAR,                -- the column / JSON field at fault, NULL for a whole-row error
    reason        VARCHAR NOT NULL,
    raw_value     VARCHAR,                -- the offending value or raw line (truncated to 2,000 chars)
    ingested_at   TIMESTAMP NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS run_seq START 1;

CREATE TABLE IF NOT EXISTS runs (
    run_id        BIGINT PRIMARY KEY,
    created_at    TIMESTAMP NOT NULL,
    params        JSON NOT NULL,          -- DetectionParams as JSON
    datasets      VARCHAR[],              -- datasets the run covered (NULL = all)
    n_actions     BIGINT,
    n_accounts    BIGINT,
    n_edges       BIGINT,
    n_clusters    BIGINT,
    seconds       DOUBLE
);

CREATE TABLE IF NOT EXISTS edges (
    run_id        BIGINT NOT NULL,
    account_a     VARCHAR NOT NULL,       -- account_a < account_b
    account_b     VARCHAR NOT NULL,
    n_coactions   BIGINT NOT NULL,        -- distinct (signal, object) co-actions within the window
    n_post_pairs  BIGINT NOT NULL,        -- post pairs within the window, all objects
    weight        DOUBLE NOT NULL,        -- popularity-discounted co-action weight
    expected      DOUBLE NOT NULL,        -- co-actions expected under the null model
    p_value       DOUBLE NOT NULL,
    q_value       DOUBLE NOT NULL,        -- Benjamini-Hochberg over all candidate pairs
    signals       VARCHAR[] NOT NULL,     -- signals with at least one co-action
    a_first       BIGINT NOT NULL,        -- co-actions where account_a acted first
    b_first       BIGINT NOT NULL,
    median_gap_s  DOUBLE NOT NULL,
    first_seen    TIMESTAMP NOT NULL,
    last_seen     TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS edge_evidence (
    run_id        BIGINT NOT NULL,
    account_a     VARCHAR NOT NULL,
    account_b     VARCHAR NOT NULL,
    action_type   VARCHAR NOT NULL,
    object_key    VARCHAR NOT NULL,
    n_post_pairs  BIGINT NOT NULL,        -- post pairs on this object within the window
    post_a        VARCHAR NOT NULL,       -- the closest pair in time
    post_b        VARCHAR NOT NULL,
    ts_a          TIMESTAMP NOT NULL,
    ts_b          TIMESTAMP NOT NULL,
    gap_s         DOUBLE NOT NULL,        -- ts_b - ts_a in seconds (negative: b acted first)
    object_weight DOUBLE NOT NULL
);

CREATE TABLE IF NOT EXISTS clusters (
    run_id        BIGINT NOT NULL,
    cluster_id    VARCHAR NOT NULL,       -- stable: derived from the sorted member keys
    rank          INTEGER NOT NULL,       -- 1 = most significant
    n_accounts    INTEGER NOT NULL,
    n_edges       INTEGER NOT NULL,
    n_coactions   BIGINT NOT NULL,
    expected      DOUBLE NOT NULL,
    p_value       DOUBLE NOT NULL,
    score         DOUBLE NOT NULL,        -- -log10(p_value), capped at 300
    lift          DOUBLE NOT NULL,        -- n_coactions / expected: how many times chance
    flagged       BOOLEAN NOT NULL,       -- q_value <= alpha and lift >= min_lift: a candidate operation
    signals       JSON NOT NULL,          -- {signal: share of the cluster's co-actions}
    first_seen    TIMESTAMP NOT NULL,
    last_seen     TIMESTAMP NOT NULL,
    summary       VARCHAR NOT NULL,
    PRIMARY KEY (run_id, cluster_id)
);

CREATE TABLE IF NOT EXISTS cluster_members (
    run_id        BIGINT NOT NULL,
    cluster_id    VARCHAR NOT NULL,
    account_key   VARCHAR NOT NULL,
    degree        INTEGER NOT NULL,       -- significant edges inside the cluster
    strength      DOUBLE NOT NULL,        -- summed edge weight inside the cluster
    score         DOUBLE NOT NULL         -- max -log10(q) of its edges, capped at 300
);
"""
