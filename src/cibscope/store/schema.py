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
RESULT_TABLES = ("runs", "edges", "edge_evidence", "clusters", "cluster_members", "cluster_authenticity",
                 "cluster_narratives", "run_kinds")
#: Tables holding partner tips and the cases grown from them (``cibscope.cases``).
CASE_TABLES = ("tips", "tip_objects", "tip_indicators", "tip_matches", "cases", "case_members")

ACTION_TYPES = ("repost", "link", "domain", "hashtag", "hashtag_seq", "mention", "reply", "text", "image", "quote")

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
    options      VARCHAR,                 -- the reader's options (mapping, platform, time format) as JSON
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
    source_row    BIGINT,                 -- 1-based record number in the file (header excluded)
    context       VARCHAR,                -- the community posted in ('r/<subreddit>' on Reddit); NULL elsewhere
    quote_of      VARCHAR                 -- post_key of the quoted post (kind quote)
);

CREATE TABLE IF NOT EXISTS actions (
    account_key   VARCHAR NOT NULL,
    action_type   VARCHAR NOT NULL,       -- repost | link | domain | hashtag | hashtag_seq | mention | reply | text | image | quote
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

CREATE TABLE IF NOT EXISTS run_kinds (
    run_id        BIGINT NOT NULL,        -- a run that is not a full detection (none: `cibscope detect`)
    kind          VARCHAR NOT NULL        -- watch: an incremental run over the watch horizon only
);

CREATE TABLE IF NOT EXISTS edges (
    run_id        BIGINT NOT NULL,
    account_a     VARCHAR NOT NULL,       -- account_a < account_b
    account_b     VARCHAR NOT NULL,
    n_coactions   BIGINT NOT NULL,        -- co-action events (distinct post pairs) within the scale; objects with significance off
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
    last_seen     TIMESTAMP NOT NULL,
    scale_s       DOUBLE                  -- the time scale (window, seconds) the edge is judged at
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
    flagged       BOOLEAN NOT NULL,       -- q <= alpha, lift >= min_lift, events >= min_coactions x members, overlap >= min_overlap (or sources diverse: rule 4)
    signals       JSON NOT NULL,          -- {signal: share of the cluster's co-actions}
    first_seen    TIMESTAMP NOT NULL,
    last_seen     TIMESTAMP NOT NULL,
    summary       VARCHAR NOT NULL,
    scale_s       DOUBLE,                 -- the time scale (window, seconds) the cluster is judged at
    overlap       DOUBLE,                 -- median share of the less active member's objects co-acted on, per edge
    source_share  DOUBLE,                 -- at scale_s: the top source's share of the internal co-actions (rule 4)
    n_sources     INTEGER,                -- at scale_s: distinct sources of the internal co-actions
    top_source    VARCHAR,                -- at scale_s: the top source (a host, 'account <key>', '<signal> <object>')
    hour_lift     DOUBLE,                 -- at scale_s: lift against the hourly background (rule 4's waiver; else NULL)
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

CREATE TABLE IF NOT EXISTS cluster_authenticity (
    run_id        BIGINT NOT NULL,
    cluster_id    VARCHAR NOT NULL,
    signal        VARCHAR NOT NULL,       -- creation_burst | handle_digits | ... (explain/authenticity.py)
    value         DOUBLE,                 -- NULL when the data lacks what the signal needs
    n_accounts    INTEGER NOT NULL,       -- members the value is computed over
    details       JSON NOT NULL,          -- supporting numbers and examples
    explanation   VARCHAR NOT NULL        -- plain-language sentence for the report
);

CREATE TABLE IF NOT EXISTS cluster_narratives (
    run_id        BIGINT NOT NULL,
    cluster_id    VARCHAR NOT NULL,
    group_no      INTEGER NOT NULL,       -- 1 = the largest narrative group of the cluster
    narrative     VARCHAR NOT NULL,       -- library id, or 'other'
    name          VARCHAR NOT NULL,       -- library name, or 'other (unlabelled): <top terms>'
    n_posts       INTEGER NOT NULL,       -- sampled posts in the group (duplicates counted)
    share         DOUBLE NOT NULL,        -- of the cluster's sampled posts
    label_share   DOUBLE NOT NULL,        -- of the group's posts carrying the label
    top_terms     VARCHAR[] NOT NULL,
    examples      VARCHAR[] NOT NULL,     -- posts closest to the group centre
    representation VARCHAR                -- embedding | tfidf: the text representation that grouped the posts (NULL: stored before it was recorded)
);

CREATE TABLE IF NOT EXISTS tips (
    tip_id        VARCHAR PRIMARY KEY,    -- 'T' + 12 hex of sha256(file_sha256 | partner_org)
    file_sha256   VARCHAR NOT NULL,       -- content hash of the tip file as received
    path          VARCHAR NOT NULL,
    format        VARCHAR NOT NULL,       -- importer used: meta | disarm | stix | list
    partner_org   VARCHAR NOT NULL,       -- who sent it
    purpose       VARCHAR NOT NULL,       -- the purpose it was shared for (share.markings.PURPOSES)
    tlp           VARCHAR NOT NULL,       -- TLP 2.0 level: clear | green | amber | amber+strict | red
    received_at   TIMESTAMP NOT NULL,     -- UTC, when it was ingested
    n_objects     BIGINT NOT NULL,        -- STIX objects imported
    n_indicators  BIGINT NOT NULL,        -- matchable values (rows of tip_indicators)
    n_errors      BIGINT NOT NULL,        -- records the importer refused
    errors        JSON NOT NULL           -- the refused records: [{file, row, field, reason, raw}]
);

CREATE TABLE IF NOT EXISTS tip_objects (
    tip_id        VARCHAR NOT NULL,
    stix_id       VARCHAR NOT NULL,
    stix_type     VARCHAR NOT NULL,
    object        JSON NOT NULL           -- the STIX 2.1 object as imported
);

CREATE TABLE IF NOT EXISTS tip_indicators (
    tip_id        VARCHAR NOT NULL,
    indicator_ref VARCHAR NOT NULL,       -- the STIX indicator id (or the SCO id where no indicator has the value)
    kind          VARCHAR NOT NULL,       -- domain | url | handle | user_id
    value         VARCHAR NOT NULL,       -- normalised: url_host / canonical_url / lower-cased handle without '@'
    platform      VARCHAR,                -- handles and user ids: the platform (STIX account_type); NULL otherwise
    raw_value     VARCHAR NOT NULL        -- the value as the partner gave it
);

CREATE TABLE IF NOT EXISTS tip_matches (
    tip_id        VARCHAR NOT NULL,
    indicator_ref VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,       -- the indicator's kind
    value         VARCHAR NOT NULL,       -- the indicator's normalised value
    match_type    VARCHAR NOT NULL,       -- handle | user_id | mention | url | url_wrapped | domain | subdomain | domain_wrapped | subdomain_wrapped
    account_key   VARCHAR NOT NULL,       -- the account that is, or posted, the indicator
    post_key      VARCHAR,                -- the post touching it (NULL for an account match)
    matched_value VARCHAR,                -- what the data holds: the URL as posted, the handle as stored
    ts            TIMESTAMP,              -- UTC, the post's time (NULL for an account match)
    matched_at    TIMESTAMP NOT NULL      -- UTC, when the match ran
);

CREATE TABLE IF NOT EXISTS cases (
    case_id       VARCHAR PRIMARY KEY,    -- 'K' + 12 hex of md5(tip, run, parameters)
    tip_id        VARCHAR NOT NULL,
    run_id        BIGINT NOT NULL,        -- the detection run whose significant edges were followed
    hops          INTEGER NOT NULL,       -- maximum hops from a seed
    max_q         DOUBLE NOT NULL,        -- edges with q_value above this were not followed
    min_links     INTEGER NOT NULL,       -- an account joins when it has this many edges into the case
    created_at    TIMESTAMP NOT NULL,     -- UTC
    n_seeds       INTEGER NOT NULL,       -- matched accounts the case grew from
    n_members     INTEGER NOT NULL        -- seeds plus accounts added
);

CREATE TABLE IF NOT EXISTS case_members (
    case_id       VARCHAR NOT NULL,
    account_key   VARCHAR NOT NULL,
    hop           INTEGER NOT NULL,       -- 0 = seed (matched the tip)
    via           VARCHAR,                -- the case member whose edge brought it in (NULL for seeds)
    path          VARCHAR[] NOT NULL,     -- seed ... via, account_key
    n_links       INTEGER NOT NULL,       -- edges to case members of earlier hops when it joined
    p_value       DOUBLE,                 -- of the edge from via (NULL for seeds)
    q_value       DOUBLE,
    n_coactions   BIGINT,                 -- distinct co-acted objects on that edge
    signals       VARCHAR[],              -- signals of that edge
    shared        JSON                    -- top shared objects of that edge: [{action_type, object_key, post_a, post_b, gap_s}]
);
"""

#: Columns added to tables after their first release, as idempotent ``ALTER TABLE`` statements run on
#: every writable open (:class:`cibscope.store.db.Store`), so a store written by an older cibscope
#: gains them (NULL in its existing rows). ``DDL`` holds the same columns, last in their tables, so old
#: and new stores have one column order. Append; never edit a released line.
MIGRATIONS = """
ALTER TABLE posts ADD COLUMN IF NOT EXISTS context VARCHAR;
ALTER TABLE cluster_narratives ADD COLUMN IF NOT EXISTS representation VARCHAR;
ALTER TABLE edges ADD COLUMN IF NOT EXISTS scale_s DOUBLE;
ALTER TABLE clusters ADD COLUMN IF NOT EXISTS scale_s DOUBLE;
ALTER TABLE clusters ADD COLUMN IF NOT EXISTS overlap DOUBLE;
ALTER TABLE ingested_files ADD COLUMN IF NOT EXISTS options VARCHAR;
ALTER TABLE posts ADD COLUMN IF NOT EXISTS quote_of VARCHAR;
ALTER TABLE clusters ADD COLUMN IF NOT EXISTS source_share DOUBLE;
ALTER TABLE clusters ADD COLUMN IF NOT EXISTS n_sources INTEGER;
ALTER TABLE clusters ADD COLUMN IF NOT EXISTS top_source VARCHAR;
ALTER TABLE clusters ADD COLUMN IF NOT EXISTS hour_lift DOUBLE;
"""
