"""The embedded store: one DuckDB file holding the canonical data model.

``Store`` opens (and creates) the file, installs the schema and the
normalisation macros, and owns every write of ingested data so that readers
never touch tables directly. Actions are derived from posts here, in SQL.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from .normalize import SHORTENER_HOSTS, canonical_urls_sql, install_macros
from .schema import DATA_TABLES, DDL, MIGRATIONS, RESULT_TABLES

DEFAULT_DB = "cibscope.duckdb"
#: Environment variable giving the default ``Store(memory_limit=...)``.
MEMORY_LIMIT_ENV = "CIBSCOPE_MEMORY_LIMIT"

#: Canonical post columns with their Arrow types; readers fill what they know.
POST_COLUMNS: dict[str, pa.DataType] = {
    "platform": pa.string(),
    "post_id": pa.string(),
    "account_id": pa.string(),
    "handle": pa.string(),
    "created_at": pa.timestamp("us"),
    "kind": pa.string(),
    "text": pa.string(),
    "lang": pa.string(),
    "repost_of": pa.string(),
    "reply_to": pa.string(),
    "urls": pa.list_(pa.string()),
    "hashtags": pa.list_(pa.string()),
    "mentions": pa.list_(pa.string()),
    "media": pa.list_(pa.string()),
    "client": pa.string(),
    "source_row": pa.int64(),
    "context": pa.string(),
    "quote_of": pa.string(),
}
ACCOUNT_COLUMNS: dict[str, pa.DataType] = {
    "platform": pa.string(),
    "account_id": pa.string(),
    "handle": pa.string(),
    "display_name": pa.string(),
    "created_at": pa.timestamp("us"),
    "description": pa.string(),
    "location": pa.string(),
    "lang": pa.string(),
    "followers": pa.int64(),
    "following": pa.int64(),
    "label": pa.string(),
}
ERROR_COLUMNS: dict[str, pa.DataType] = {
    "file": pa.string(),
    "line": pa.int64(),
    "field": pa.string(),
    "reason": pa.string(),
    "raw_value": pa.string(),
}

#: Reason stored for an error row a reader left without one (a reader bug; the row is still kept aside).
NO_REASON = "bad record (the reader gave no reason)"

#: Minimum number of tokens of normalised text for an exact-text (co-tweet) object:
#: "lol" or "thank you" posted by two accounts says nothing.
MIN_TEXT_TOKENS = 4


def conform(table: pa.Table | None, columns: dict[str, pa.DataType]) -> pa.Table:
    """Return ``table`` with exactly ``columns`` (missing ones as nulls, in order, cast)."""
    if table is None:
        return pa.table({c: pa.array([], t) for c, t in columns.items()})
    n = table.num_rows
    cols = []
    for name, typ in columns.items():
        if name in table.column_names:
            col = table.column(name)
            cols.append(col if col.type == typ else col.cast(typ))
        else:
            cols.append(pa.nulls(n, typ))
    return pa.table(cols, names=list(columns))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (a directory: of its sorted files' names and bytes)."""
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        if path.is_dir():
            h.update(str(p.relative_to(path)).encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


@dataclass
class BatchResult:
    """Counts from adding one batch: rows that were new, and errors recorded."""

    posts_added: int
    accounts_added: int
    errors: int


class Store:
    """A cibscope store in one DuckDB file.

    Parameters
    ----------
    path : str or Path, default ``"cibscope.duckdb"``
        The database file; created with the full schema if absent. ``":memory:"``
        gives a throw-away store (tests).
    read_only : bool, default False
        Open without writing; the schema is then neither created nor migrated
        (:data:`~cibscope.store.schema.MIGRATIONS` run on writable opens only).
    memory_limit : str, optional
        DuckDB ``memory_limit``: a positive number and a unit, e.g. ``"500MB"``, ``"2GB"``,
        ``"1.5GiB"``, ``"50%"`` (of RAM), at least 32MB (see :func:`check_memory_limit`); default: the environment variable
        ``CIBSCOPE_MEMORY_LIMIT`` when set and not empty, else DuckDB's own (80 % of RAM).
        Beyond it DuckDB spills joins, sorts and temporary tables to ``<path>.tmp/``, so a
        multi-GB CSV or a 10M-post detection run stays within the limit (out of core).

    Raises
    ------
    StoreLockedError
        Another process holds the file (a running ``cibscope serve`` or ``watch``): a ``duckdb.IOException``.
    duckdb.IOException
        The file cannot be opened otherwise (not a DuckDB file, no permission).
    ValueError
        ``memory_limit`` (or ``CIBSCOPE_MEMORY_LIMIT``) is not a positive size DuckDB
        understands; the message names the parameter or variable and the value. Or ``path``
        is an existing file that is not a DuckDB database (:func:`check_store_file`).
    """

    def __init__(self, path: str | Path = DEFAULT_DB, *, read_only: bool = False,
                 memory_limit: str | None = None):
        if memory_limit is not None:
            limit = check_memory_limit(memory_limit, "memory_limit")
        elif os.environ.get(MEMORY_LIMIT_ENV, "").strip():
            limit = check_memory_limit(os.environ[MEMORY_LIMIT_ENV], MEMORY_LIMIT_ENV)
        else:
            limit = None
        self.path = str(path)
        check_store_file(self.path)
        self.con = connect_store(self.path, read_only)
        self.con.execute("SET enable_progress_bar = false")
        if limit:
            try:
                self.con.execute(f"SET memory_limit = '{limit}'")
            except duckdb.Error as exc:
                self.con.close()
                source = "memory_limit" if memory_limit is not None else MEMORY_LIMIT_ENV
                raise ValueError(f"{source}={limit!r}: DuckDB refuses it: {str(exc).splitlines()[0]}") from None
        if not read_only:
            self.con.execute(DDL)
            self.con.execute(MIGRATIONS)
        install_macros(self.con)

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- ingest bookkeeping -------------------------------------------------
    def already_ingested(self, sha256: str, fmt: str, options: str = "") -> bool:
        """True if a file with these bytes was ingested before in this format, with these reader
        ``options``, and that ingest stored something: a file read with other options (``--map``,
        ``--time-format``), or one whose every row failed, may be read again (rows already stored
        are skipped by key, errors already kept are not recorded twice)."""
        # fetchall(), not fetchone(): DuckDB 2.0 keeps a half-read result open and then refuses con.sql()
        return bool(self.con.execute(
            "SELECT 1 FROM ingested_files WHERE file_sha256 = ? AND format = ? AND coalesce(options, '') = ? "
            "AND NOT (posts_added = 0 AND errors > 0)", [sha256, fmt, options]
        ).fetchall())

    def forget_errors(self, sha256: str, fmt: str, dataset: str, path: str) -> int:
        """Before a file recorded in ``ingested_files`` (same bytes and format) is read again, drop the
        ``ingest_errors`` that read left for it in ``dataset``: the new read reports what is still bad
        (a row fixed by ``--time-format`` must not stay listed as bad). Returns the rows dropped."""
        if not self.con.execute("SELECT 1 FROM ingested_files WHERE file_sha256 = ? AND format = ?",
                                [sha256, fmt]).fetchall():
            return 0
        where = "dataset = ? AND (file = ? OR starts_with(file, ?))"
        params = [dataset, path, path.rstrip("/") + "/"]
        n = self.con.execute(f"SELECT count(*) FROM ingest_errors WHERE {where}", params).fetchall()[0][0]
        self.con.execute(f"DELETE FROM ingest_errors WHERE {where}", params)
        return n

    def datasets_holding(self, posts: pa.Table, other_than: str, limit: int = 5) -> list[str]:
        """Datasets other than ``other_than`` that already hold posts of ``posts`` (``platform``,
        ``post_id`` columns), by name, at most ``limit``: where a re-ingested file's posts live."""
        keys = posts.select(["platform", "post_id"])
        self.con.register("_known_keys", keys)
        try:
            return [r[0] for r in self.con.execute(
                "SELECT DISTINCT p.dataset FROM posts p JOIN _known_keys k ON p.post_key = k.platform || ':' || "
                "k.post_id WHERE p.dataset <> ? ORDER BY 1 LIMIT ?", [other_than, limit]).fetchall()]
        finally:
            self.con.unregister("_known_keys")

    def record_file(self, sha256: str, path: str, fmt: str, dataset: str,
                    rows_read: int, posts_added: int, errors: int, options: str = "") -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [sha256, path, fmt, dataset, rows_read, posts_added, errors, _now(), options],
        )

    # -- writes ------------------------------------------------------------
    def add_batch(self, *, dataset: str, source_file: str, posts: pa.Table | None = None,
                  accounts: pa.Table | None = None, errors: pa.Table | None = None) -> BatchResult:
        """Add one reader batch in a single transaction.

        Posts whose ``post_key`` exists already are skipped (re-ingest adds
        nothing); ``dataset`` is registered (``datasets``) with its first post; accounts are inserted when new and otherwise have their NULL
        fields filled in; errors are appended. Actions are derived from the new
        posts (see :meth:`_derive_actions`).

        Parameters
        ----------
        posts : pyarrow.Table
            Columns of :data:`POST_COLUMNS` (missing columns are NULL). Rows with
            a NULL ``post_id``, ``account_id`` or ``created_at`` are a reader bug
            and raise ``ValueError``.
        accounts : pyarrow.Table
            Columns of :data:`ACCOUNT_COLUMNS`. Accounts seen only as post authors
            are created from the posts.
        errors : pyarrow.Table
            Columns of :data:`ERROR_COLUMNS`.
        """
        posts = conform(posts, POST_COLUMNS)
        accounts = conform(accounts, ACCOUNT_COLUMNS)
        errors = conform(errors, ERROR_COLUMNS)
        for col in ("platform", "post_id", "account_id", "created_at"):
            if posts.column(col).null_count:
                raise ValueError(f"reader produced posts with NULL {col} from {source_file}")
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("_in_posts", posts)
            con.register("_in_accounts", accounts)
            con.register("_in_errors", errors)
            # posts not in the store yet, in the reader's order; a key repeated within the batch keeps its
            # first record (lowest source_row). The repeat check is a cheap count; the DISTINCT ON (a sort of
            # the whole batch) runs only when the batch has a repeat.
            fresh = """SELECT p.platform || ':' || p.post_id AS post_key, p.platform, p.post_id,
                              p.platform || ':' || p.account_id AS account_key,
                              p.created_at, coalesce(p.kind, 'post') AS kind, p.text, p.lang,
                              p.repost_of, p.reply_to, p.urls, p.hashtags, p.mentions, p.media,
                              p.client, $dataset AS dataset, $source_file AS source_file, p.source_row, p.context,
                              p.quote_of
                       FROM _in_posts p
                       WHERE NOT EXISTS (SELECT 1 FROM posts o WHERE o.post_key = p.platform || ':' || p.post_id)"""
            names = {"dataset": dataset, "source_file": source_file}
            con.execute(f"CREATE OR REPLACE TEMP TABLE _new_posts AS {fresh}", names)
            n_fresh, n_posts = con.execute("SELECT count(*), count(DISTINCT post_key) FROM _new_posts").fetchall()[0]
            if n_fresh != n_posts:
                con.execute("""CREATE OR REPLACE TEMP TABLE _new_posts AS
                               SELECT DISTINCT ON (post_key) * FROM _new_posts ORDER BY post_key, source_row""")
            con.execute("INSERT INTO posts SELECT * FROM _new_posts")
            # the dataset is registered with its first post, in the same transaction: no dataset without posts
            con.execute("INSERT INTO datasets SELECT $d, $t WHERE EXISTS (SELECT 1 FROM _new_posts) "
                        "AND NOT EXISTS (SELECT 1 FROM datasets WHERE dataset = $d)", {"d": dataset, "t": _now()})
            n_acc = self._merge_accounts(dataset)
            # a file read again after it grew reports its old bad rows again: record each once
            con.execute(
                f"""INSERT INTO ingest_errors
                   SELECT ?, coalesce(e.file, ?), e.line, e.field,
                          coalesce(e.reason, '{NO_REASON}'), left(e.raw_value, 2000), ?
                   FROM _in_errors e
                   WHERE NOT EXISTS (
                       SELECT 1 FROM ingest_errors o
                       WHERE o.dataset = ? AND o.file = coalesce(e.file, ?) AND o.line IS NOT DISTINCT FROM e.line
                         AND o.field IS NOT DISTINCT FROM e.field AND o.reason = coalesce(e.reason, '{NO_REASON}')
                         AND o.raw_value IS NOT DISTINCT FROM left(e.raw_value, 2000))""",
                [dataset, source_file, _now(), dataset, source_file],
            )
            self._derive_actions()
            con.execute("COMMIT")
        except BaseException:  # an error, or an interrupt (Ctrl-C, SIGTERM) between two statements
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:  # interrupted just after COMMIT: nothing to roll back; the first error counts
                pass
            raise
        finally:
            for name in ("_in_posts", "_in_accounts", "_in_errors"):
                con.unregister(name)
        return BatchResult(n_posts, n_acc, errors.num_rows)

    def _merge_accounts(self, dataset: str) -> int:
        con = self.con
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _batch_accounts AS
            WITH given AS (
                SELECT platform || ':' || account_id AS account_key, platform, account_id, handle,
                       display_name, created_at, description, location, lang, followers, following, label
                FROM _in_accounts WHERE account_id IS NOT NULL
            ), from_posts AS (
                SELECT account_key, platform, substr(account_key, length(platform) + 2) AS account_id,
                       NULL AS handle, NULL AS display_name, NULL::TIMESTAMP AS created_at,
                       NULL AS description, NULL AS location, NULL AS lang, NULL::BIGINT AS followers,
                       NULL::BIGINT AS following, NULL AS label
                FROM _new_posts
            ), handles AS (
                SELECT platform || ':' || account_id AS account_key, max(handle) AS handle
                FROM _in_posts GROUP BY ALL
            )
            SELECT a.account_key, any_value(a.platform) AS platform,
                   any_value(substr(a.account_key, length(a.platform) + 2)) AS account_id,
                   coalesce(max(a.handle), max(h.handle)) AS handle, max(a.display_name) AS display_name,
                   min(a.created_at) AS created_at, max(a.description) AS description,
                   max(a.location) AS location, max(a.lang) AS lang, max(a.followers) AS followers,
                   max(a.following) AS following, max(a.label) AS label
            FROM (SELECT * FROM given UNION ALL SELECT * FROM from_posts) a
            LEFT JOIN handles h USING (account_key)
            GROUP BY a.account_key
            """
        )
        n_new = con.execute(
            "SELECT count(*) FROM _batch_accounts b WHERE NOT EXISTS "
            "(SELECT 1 FROM accounts a WHERE a.account_key = b.account_key)"
        ).fetchall()[0][0]
        con.execute(
            """
            UPDATE accounts SET
                handle = coalesce(accounts.handle, b.handle),
                display_name = coalesce(accounts.display_name, b.display_name),
                created_at = coalesce(accounts.created_at, b.created_at),
                description = coalesce(accounts.description, b.description),
                location = coalesce(accounts.location, b.location),
                lang = coalesce(accounts.lang, b.lang),
                followers = coalesce(accounts.followers, b.followers),
                following = coalesce(accounts.following, b.following),
                label = coalesce(accounts.label, b.label)
            FROM _batch_accounts b WHERE accounts.account_key = b.account_key
            """
        )
        con.execute(
            "INSERT INTO accounts SELECT b.*, ? FROM _batch_accounts b WHERE NOT EXISTS "
            "(SELECT 1 FROM accounts a WHERE a.account_key = b.account_key)",
            [dataset],
        )
        return n_new

    def _derive_actions(self) -> None:
        """Turn the posts in ``_new_posts`` into actions (one row per post and object).

        repost  : ``repost_of`` (a native post key, or ``text:<md5 of norm_text>`` when
                  the data only has the reposted text)
        link    : ``canonical_url`` of each URL (NULL/blank URLs produce nothing)
        domain  : ``url_host`` of each URL, except shorteners (:data:`SHORTENER_HOSTS`)
        hashtag : lower-cased tag without ``#``
        hashtag_seq : the post's lower-cased hashtags in order, space-separated, when it has
                  two or more (hashtag sequences, Pacheco et al. 2021)
        mention : ``<platform>:<lower-cased handle>``
        reply   : ``reply_to`` post key
        quote   : ``quote_of`` post key (a quote post: co-quoting, as reposts are co-reposting)
        text    : ``md5(norm_text(text))`` for non-reposts with at least
                  :data:`MIN_TEXT_TOKENS` tokens
        image   : each media id
        """
        shorteners = ", ".join(f"'{h}'" for h in SHORTENER_HOSTS)
        con = self.con
        # each distinct URL of the batch is parsed once (links repeat: the parse is regex work), and each
        # text normalised once (the macro would otherwise be expanded for the token count and the hash)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _batch_urls AS
            WITH raw_u AS (SELECT account_key, created_at, post_key, dataset, unnest(urls) AS raw_url
                           FROM _new_posts),
            d AS (SELECT DISTINCT raw_url FROM raw_u WHERE raw_url IS NOT NULL),
            c AS ({canonical_urls_sql('d', 'raw_url')})
            SELECT raw_u.account_key, raw_u.created_at, raw_u.post_key, raw_u.dataset, c.url, c.host
            FROM raw_u JOIN c USING (raw_url) WHERE c.url IS NOT NULL;
            CREATE OR REPLACE TEMP TABLE _batch_texts AS
            SELECT account_key, created_at, post_key, dataset, norm_text(text) AS nt
            FROM _new_posts WHERE kind <> 'repost'""")
        con.execute(
            f"""
            INSERT INTO actions
            WITH p AS (SELECT * FROM _new_posts)
            SELECT account_key, 'repost', repost_of, created_at, post_key, dataset
              FROM p WHERE repost_of IS NOT NULL AND repost_of <> ''
            UNION ALL
            SELECT DISTINCT account_key, 'link', url, created_at, post_key, dataset FROM _batch_urls
            UNION ALL
            SELECT DISTINCT account_key, 'domain', host, created_at, post_key, dataset
              FROM _batch_urls WHERE host IS NOT NULL AND host NOT IN ({shorteners})
            UNION ALL
            SELECT DISTINCT account_key, 'hashtag', tag, created_at, post_key, dataset
              FROM (SELECT *, lower(trim(unnest(hashtags), '# ')) AS tag FROM p) WHERE tag <> ''
            UNION ALL
            SELECT account_key, 'hashtag_seq', array_to_string(tags, ' '), created_at, post_key, dataset
              FROM (SELECT *, list_filter(list_transform(hashtags, lambda h: lower(trim(h, '# '))),
                                          lambda h: h <> '') AS tags FROM p) WHERE len(tags) >= 2
            UNION ALL
            SELECT DISTINCT account_key, 'mention', platform || ':' || m, created_at, post_key, dataset
              FROM (SELECT *, lower(trim(unnest(mentions), '@ ')) AS m FROM p) WHERE m <> ''
            UNION ALL
            SELECT account_key, 'reply', reply_to, created_at, post_key, dataset
              FROM p WHERE reply_to IS NOT NULL AND reply_to <> ''
            UNION ALL
            SELECT account_key, 'quote', quote_of, created_at, post_key, dataset
              FROM p WHERE quote_of IS NOT NULL AND quote_of <> ''
            UNION ALL
            SELECT account_key, 'text', md5(nt), created_at, post_key, dataset
              FROM _batch_texts WHERE len(string_split(nt, ' ')) >= {MIN_TEXT_TOKENS}
            UNION ALL
            SELECT DISTINCT account_key, 'image', img, created_at, post_key, dataset
              FROM (SELECT *, unnest(media) AS img FROM p) WHERE img IS NOT NULL AND img <> ''
            """
        )
        con.execute("DROP TABLE _batch_urls; DROP TABLE _batch_texts")

    def add_errors(self, dataset: str, errors: pa.Table) -> int:
        """Append reader errors outside a post batch (e.g. a file-level problem)."""
        return self.add_batch(dataset=dataset, source_file="", errors=errors).errors

    # -- parquet exchange ----------------------------------------------------
    def export_parquet(self, folder: str | Path) -> list[Path]:
        """Write every table to ``<folder>/<table>.parquet``; returns the paths written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for t in DATA_TABLES + RESULT_TABLES:
            p = folder / f"{t}.parquet"
            self.con.execute(f"COPY {t} TO '{_sql_str(p)}' (FORMAT parquet)")
            out.append(p)
        return out

    def import_parquet(self, folder: str | Path) -> dict[str, int]:
        """Load ``<table>.parquet`` files written by :meth:`export_parquet`.

        Rows already present are skipped (posts, accounts, datasets and files by key,
        actions by ``(post_key, action_type, object_key)``, other rows when identical), so
        importing twice adds nothing and importing into a store that holds the same posts
        adds none of them again. Runs keep their ids when free; an imported run whose id
        is taken by a different run (other ``created_at`` or ``params``) gets a new id, and
        its edges, evidence, clusters and explanations follow it; a run already here (same
        time and parameters, under any id) is skipped with all its rows. Columns are matched by name,
        so an export written before a column was added (:data:`~cibscope.store.schema.MIGRATIONS`)
        imports with that column NULL. Returns rows added per table.

        Every file is checked (a readable Parquet footer) before anything is written, and all tables
        are added in one transaction: a damaged file leaves the store as it was.

        Raises
        ------
        FileNotFoundError
            ``folder`` holds none of the expected files.
        ValueError
            A file is not a readable Parquet file (truncated, damaged, another format); the message names it.
        """
        folder = Path(folder)
        found = [t for t in DATA_TABLES + RESULT_TABLES if (folder / f"{t}.parquet").exists()]
        if not found:
            raise FileNotFoundError(f"{folder}: no cibscope parquet tables (e.g. posts.parquet) found")
        for t in found:
            path = folder / f"{t}.parquet"
            try:
                self.con.execute("SELECT count(*) FROM parquet_metadata(?)", [str(path)]).fetchall()
            except duckdb.Error as exc:
                raise ValueError(f"{path}: not a readable Parquet file (truncated or damaged?): "
                                 f"{str(exc).splitlines()[0]}; nothing was imported") from None
        self.con.execute("BEGIN TRANSACTION")
        try:
            added = self._import_tables(folder, found)
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return added

    def _import_tables(self, folder: Path, found: list[str]) -> dict[str, int]:
        """The inserts of :meth:`import_parquet` (inside its transaction); rows added per table."""
        keys = {
            "datasets": ["dataset"], "ingested_files": ["file_sha256", "format"],
            "accounts": ["account_key"], "posts": ["post_key"],
            "actions": ["post_key", "action_type", "object_key"],
        }

        def src(t: str) -> str:
            return f"read_parquet('{_sql_str(folder / f'{t}.parquet')}')"

        if "runs" in found:
            self.con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _run_map AS
                WITH n AS (SELECT * FROM {src('runs')}),
                m AS (SELECT n.run_id AS old_id,
                             EXISTS (SELECT 1 FROM runs o WHERE o.run_id = n.run_id) AS taken,
                             EXISTS (SELECT 1 FROM runs o WHERE o.created_at = n.created_at
                                     AND o.params::VARCHAR = n.params::VARCHAR) AS same
                      FROM n)
                SELECT old_id, CASE WHEN same THEN NULL WHEN NOT taken THEN old_id
                                    ELSE (SELECT greatest(coalesce(max(run_id), 0),
                                                          (SELECT max(run_id) FROM n)) FROM runs)
                                         + row_number() OVER (PARTITION BY taken AND NOT same ORDER BY old_id)
                               END AS new_id
                FROM m
            """)
        added = {}
        for t in found:
            before = self.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            if t in RESULT_TABLES:
                if "runs" not in found:
                    continue  # results without their runs cannot be placed
                self.con.execute(f"INSERT INTO {t} BY NAME SELECT n.* REPLACE (m.new_id AS run_id) FROM {src(t)} n "
                                 f"JOIN _run_map m ON m.old_id = n.run_id WHERE m.new_id IS NOT NULL")
            elif t in keys:
                cond = " AND ".join(f"o.{k} = n.{k}" for k in keys[t])
                self.con.execute(f"INSERT INTO {t} BY NAME SELECT * FROM {src(t)} n WHERE NOT EXISTS "
                                 f"(SELECT 1 FROM {t} o WHERE {cond})")
            else:
                self.con.execute(f"INSERT INTO {t} SELECT * FROM {src(t)} EXCEPT SELECT * FROM {t}")
            added[t] = self.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] - before
        if "runs" in found:
            self.con.execute("DROP TABLE _run_map")
            top = self.con.execute("SELECT coalesce(max(run_id), 0) FROM runs").fetchall()[0][0]
            self.con.execute(f"DROP SEQUENCE IF EXISTS run_seq; CREATE SEQUENCE run_seq START {top + 1}")
        return added

    # -- reads ---------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Row count of each table."""
        return {t: self.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                for t in DATA_TABLES + RESULT_TABLES}


class StoreLockedError(duckdb.IOException):
    """The store file is locked by another process; the message names the file, the process when DuckDB
    names it, and what to do. A ``duckdb.IOException``, so code catching DuckDB's errors still does."""


def connect_store(path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect(path, read_only=...)``, with DuckDB's "Could not set lock on file" turned into a
    :class:`StoreLockedError` that says what holds the file and what to do.

    DuckDB lets one process open a database file for writing, or several for reading only
    (https://duckdb.org/docs/connect/concurrency), so a store held by ``cibscope serve`` or
    ``cibscope watch`` cannot be opened by another command until that process stops.

    Raises
    ------
    StoreLockedError
        Another process holds a conflicting lock on ``path``.
    duckdb.Error
        Any other failure to open it, unchanged.
    """
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as exc:
        msg = str(exc)
        if "Could not set lock" not in msg and "Conflicting lock" not in msg:
            raise
        pid = re.search(r"\(PID (\d+)\)", msg)
        raise StoreLockedError(
            f"{path}: the store is locked by another process{f' (PID {pid.group(1)})' if pid else ''}, probably "
            "a running `cibscope serve` or `cibscope watch` on it (DuckDB lets one process write a store); stop "
            f"that process, or work on a copy of the store (copy {path} and pass the copy as --db)") from None


#: Bytes 8-11 of every DuckDB database file (after an 8-byte checksum).
DUCKDB_MAGIC = b"DUCK"


def check_store_file(path: str) -> None:
    """Raise ``ValueError`` when ``path`` exists, is a file, and is not a DuckDB database (an empty file too).

    DuckDB given such a file (a CSV passed as ``--db`` by mistake) may open it as an empty
    in-memory store and write nothing, so an ingest would report rows added that are lost.
    """
    if path == ":memory:" or not os.path.isfile(path):
        return
    with open(path, "rb") as f:
        head = f.read(12)
    if head[8:12] != DUCKDB_MAGIC:
        raise ValueError(f"{path}: exists and is not a DuckDB database; refusing to use it as the store "
                         "(pass --db a new file name or a cibscope store)")


def latest_run_id(con: duckdb.DuckDBPyConnection) -> int | None:
    """The run every "latest run" default takes: the newest full detection, not a ``cibscope watch`` run
    (``run_kinds``), which covers the watch horizon only; the newest run of any kind when there is no
    full one; None when the store has no run."""
    return con.execute("SELECT coalesce(max(run_id) FILTER (WHERE NOT EXISTS (SELECT 1 FROM run_kinds k "
                       "WHERE k.run_id = r.run_id)), max(run_id)) FROM runs r").fetchall()[0][0]


def check_datasets(con: duckdb.DuckDBPyConnection, datasets: Sequence[str] | None) -> None:
    """Check the dataset names a detection is restricted to (``--dataset``, ``DetectionParams.datasets``).

    Raises
    ------
    ValueError
        ``no dataset named X; known: A, B`` when a name is not in ``datasets`` (with a hint when a
        name holds a comma: the option repeats), or ``dataset X holds no actions ...`` when the named
        datasets exist but hold no action (every record was bad, or stored under another dataset):
        a detection would save an empty run.
    """
    if not datasets:
        return
    known = {r[0] for r in con.execute("SELECT dataset FROM datasets").fetchall()}
    unknown = sorted(set(datasets) - known)
    if unknown:
        hint = ("; --dataset takes one name and repeats: --dataset a --dataset b"
                if any("," in u for u in unknown) else "")
        raise ValueError(f"no dataset named {', '.join(unknown)}; known: {', '.join(sorted(known)) or '(none)'}{hint}")
    if not con.execute("SELECT 1 FROM actions WHERE list_contains(?, dataset) LIMIT 1", [list(datasets)]).fetchall():
        raise ValueError(f"dataset {', '.join(sorted(set(datasets)))} holds no actions (every record was bad or "
                         f"already stored under another dataset: see `cibscope status`); nothing to detect")


_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+|%)", re.I)
#: Bytes per unit of DuckDB's sizes (other spellings are left to DuckDB to accept or refuse).
_UNIT_BYTES = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
#: Smallest memory limit accepted: below it DuckDB runs out of memory ingesting a few MB of CSV.
MIN_MEMORY_LIMIT = "32MB"


def check_memory_limit(value: str, source: str = "memory_limit") -> str:
    """``value`` stripped, if it is a usable DuckDB memory limit: a positive number and a unit.

    Units are DuckDB's: ``KB``, ``MB``, ``GB``, ``TB`` (powers of 1000), ``KiB`` ... ``TiB``
    (powers of 1024), or ``%`` of the machine's RAM (DuckDB refuses more than 100 %); DuckDB
    checks the unit when the limit is set. Refused here: a bare number, zero, a negative size
    (which DuckDB would read as "no limit"), text, and sizes below :data:`MIN_MEMORY_LIMIT`.

    Parameters
    ----------
    value : str
        The size as given, e.g. ``"2GB"``.
    source : str
        Where it came from (parameter or environment variable name), for the message.

    Raises
    ------
    ValueError
        ``"<source>=<value> is not a memory limit: ..."`` saying what a valid size looks like.
    """
    text = str(value).strip()
    m = _SIZE.fullmatch(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{source}={value!r} is not a memory limit: give a positive size with a unit, "
                         f"e.g. 500MB, 2GB, 1.5GiB or 50% (of RAM)")
    floor = _size_bytes(MIN_MEMORY_LIMIT)
    size = _size_bytes(text)
    if size is not None and size < floor:
        raise ValueError(f"{source}={value!r} is not a memory limit: DuckDB needs at least {MIN_MEMORY_LIMIT}")
    return text


def _size_bytes(size: str) -> float | None:
    """Bytes of a size matching ``_SIZE`` (None for ``%`` and units not in ``_UNIT_BYTES``)."""
    number, unit = _SIZE.fullmatch(size).groups()
    factor = _UNIT_BYTES.get(unit.lower())
    return None if factor is None else float(number) * factor


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _sql_str(p: Path | str) -> str:
    return str(p).replace("'", "''")
