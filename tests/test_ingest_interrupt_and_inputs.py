"""Ingest defects a new user's walkthrough found (issue 18, third round): an interrupted ingest, several paths
on one command line, compressed inputs, a header-only CSV, the exit status when every record is refused, a
truncated .zst in a folder, and a failed ingest into an existing store. Small fresh inputs written per test."""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import zstandard
from typer.testing import CliRunner

from cibscope.cli import app
from cibscope.cli.ingest import _remove_unused_store
from cibscope.ingest import IngestError, ingest
from cibscope.store.db import Store
from conftest import FIXTURES, rows

SRC = Path(__file__).resolve().parents[1] / "src"
HEADER = "post_id,account_id,created_at,platform,text\n"
GOOD = HEADER + ("1,alice,2022-05-01T10:00:00Z,twitter,Eat at #KochFarms never again\n"
                 "2,bob,2022-05-01T10:00:03Z,twitter,Eat at #KochFarms never again\n")
DAY_FIRST = ("post_id,account_id,created_at,text\n"
             "1,alice,24/02/2015 11:35:52,first post here\n"
             "2,bob,24/02/2015 11:35:53,second post here\n")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def _write(folder: Path, name: str, data: str | bytes) -> Path:
    p = folder / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def _cli(*args):
    return CliRunner().invoke(app, ["ingest", *map(str, args)])


def _count(db: Path, sql: str) -> int:
    with Store(db, read_only=True) as s:
        return s.con.execute(sql).fetchall()[0][0]


def _reddit_lines(n: int = 30) -> bytes:
    return "".join(json.dumps({"id": f"c{i}", "author": f"user{i % 3}", "created_utc": 1651399200 + i,
                               "body": "same words here", "subreddit": "test", "link_id": "t3_x",
                               "parent_id": "t3_x"}) + "\n" for i in range(n)).encode()


# -- 1. an interrupted ingest ------------------------------------------------------------------------------------

def _big_csv(folder: Path, n: int = 300_000) -> Path:
    p = folder / "big.csv"
    with open(p, "w") as f:
        f.write(HEADER)
        f.writelines(f"{i},acc{i % 5000},2022-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z,twitter,"
                     f"post {i} #tag{i % 100} http://x.com/{i % 1000}\n" for i in range(n))
    return p


def _ingest_and_signal(src: Path, db: Path, sig: int) -> subprocess.CompletedProcess:
    """Run ``cibscope ingest`` on ``src`` in a subprocess, send ``sig`` once it is reading (it printed
    ``ingest <file>`` and a second passed; reading 300,000 rows takes several seconds more), return what it
    gave."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "cibscope.cli", "ingest", str(src), "--db", str(db)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    while not any(line.startswith(f"ingest {src.name}") for line in seen[-1:]):
        line = proc.stderr.readline()  # the step line, printed once the store is open and reading starts
        if not line:
            pytest.fail(f"the ingest ended before reading: {seen} {proc.communicate()}")
        seen.append(line)
    time.sleep(1.0)
    if proc.poll() is not None:
        pytest.fail(f"the ingest ended before the signal: {proc.communicate()}")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_first_ingest_leaves_no_store_and_says_so_in_one_line(tmp_path, sig, status):
    db = tmp_path / "new.duckdb"
    r = _ingest_and_signal(_big_csv(tmp_path), db, sig)
    assert r.returncode == status, r.stderr
    assert f"interrupted: the new store {db} was not kept" in r.stderr
    assert "Traceback" not in r.stderr and "RuntimeError" not in r.stderr and "Query interrupted" not in r.stderr
    assert not db.exists() and not Path(f"{db}.wal").exists()


def test_interrupted_ingest_into_an_existing_store_keeps_it_as_it_was(tmp_path):
    db = tmp_path / "s.duckdb"
    assert _cli(_write(tmp_path, "good.csv", GOOD), "--db", db).exit_code == 0
    r = _ingest_and_signal(_big_csv(tmp_path), db, signal.SIGINT)
    assert r.returncode == 130, r.stderr
    assert "interrupted: nothing of this ingest was kept" in r.stderr and "Traceback" not in r.stderr
    assert _count(db, "SELECT count(*) FROM posts") == 2 and _count(db, "SELECT count(*) FROM datasets") == 1


def test_interrupt_after_whole_batches_keeps_them_and_says_how_many(tmp_path, monkeypatch):
    import cibscope.cli.ingest as cli_ingest

    def one_batch_then_interrupted(store, path, **kwargs):  # a large input stopped after its first batch
        ingest(store, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_ingest, "ingest_path", one_batch_then_interrupted)
    db = tmp_path / "new.duckdb"
    r = _cli(_write(tmp_path, "good.csv", GOOD), "--db", db)
    assert r.exit_code == 130
    assert f"interrupted: 2 posts written before the interrupt stay in {db} (whole batches); run the same " \
           "command again" in r.output
    assert _count(db, "SELECT count(*) FROM posts") == 2 and _count(db, "SELECT count(*) FROM datasets") == 1


def test_store_holding_accounts_but_no_post_counts_as_unused(tmp_path):
    db = tmp_path / "new.duckdb"
    with Store(db) as s:  # what an ingest stopped after writing accounts leaves: accounts, no post
        s.add_batch(dataset="d", source_file="x.csv", accounts=pa.table(
            {"platform": ["twitter"], "account_id": ["alice"], "handle": ["alice"]}))
        assert s.con.execute("SELECT count(*) FROM accounts").fetchall()[0][0] == 1
    assert _remove_unused_store(db)
    assert not db.exists() and not Path(f"{db}.wal").exists()
    assert _cli(_write(tmp_path, "good.csv", GOOD), "--db", db).exit_code == 0
    assert not _remove_unused_store(db) and db.exists()  # a store with posts is never removed


# -- 2. several paths on one command line ------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["png first", "png second"])
def test_several_paths_read_every_file_and_set_aside_the_bad_one(tmp_path, order):
    good, png = _write(tmp_path, "good.csv", GOOD), _write(tmp_path, "img.png", PNG)
    db = tmp_path / "s.duckdb"
    r = _cli(*((png, good) if order == "png first" else (good, png)), "--db", db)
    assert r.exit_code == 0, r.output
    assert "good.csv: csv -> dataset 'good'" in r.output and "2 posts added" in r.output
    assert f"set aside: {png}: a PNG image" in r.output
    assert "2 inputs: 2 posts added from 1 of them; 1 set aside (not read)" in r.output
    assert _count(db, "SELECT count(*) FROM posts") == 2


def test_several_paths_none_readable_is_an_error_and_leaves_no_store(tmp_path):
    db = tmp_path / "s.duckdb"
    png, refused = _write(tmp_path, "img.png", PNG), _write(tmp_path, "dayfirst.csv", DAY_FIRST)
    r = _cli(png, refused, "--format", "csv", "--platform", "twitter", "--db", db)
    assert r.exit_code == 2, r.output
    assert f"set aside: {png}" in r.output and "every record was refused in" in r.output
    assert not db.exists()


# -- 3. compressed inputs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, pack", [("x.csv.gz", gzip.compress),
                                        ("x.csv.zst", lambda b: zstandard.ZstdCompressor().compress(b))])
def test_compressed_csv_is_read_streamed(tmp_path, name, pack):
    db = tmp_path / "s.duckdb"
    p = _write(tmp_path, name, pack(GOOD.encode()))
    r = _cli(p, "--db", db)
    assert r.exit_code == 0, r.output
    assert "csv -> dataset 'x': 2 records, 2 posts added" in r.output
    assert _count(db, "SELECT count(*) FROM actions WHERE action_type = 'hashtag'") == 2
    assert _cli(p, "--db", db).exit_code == 0 and _count(db, "SELECT count(*) FROM posts") == 2  # idempotent


@pytest.mark.parametrize("fixture", ["twitter-v2/responses.jsonl", "twitter-v2/single_response.json",
                                     "telegram/result.json", "mastodon/statuses.json", "bluesky/records.jsonl",
                                     "crowdtangle/facebook_posts.csv", "twitter-io/ira_sample_tweets_csv_hashed.csv",
                                     "cnt/posts.csv"])
@pytest.mark.parametrize("suffix, pack", [(".gz", gzip.compress),
                                          (".zst", lambda b: zstandard.ZstdCompressor().compress(b))])
def test_a_compressed_export_gives_what_the_plain_one_gives(tmp_path, fixture, suffix, pack):
    src = FIXTURES / fixture
    packed = _write(tmp_path, src.name + suffix, pack(src.read_bytes()))
    got = {}
    for name, path in (("plain", src), ("packed", packed)):
        with Store(tmp_path / f"{name}.duckdb") as st:
            s = ingest(st, path)
            got[name] = (s.format, s.dataset, s.rows_read, s.posts_added, s.accounts_added, s.errors,
                         rows(st, "SELECT count(*) AS n FROM actions")[0]["n"])
    assert got["packed"] == got["plain"] and got["plain"][3] > 0


def test_compressed_csv_in_several_pieces_keeps_lines_and_rows(tmp_path):
    from cibscope.ingest.mapped import MappedCsvReader

    body = HEADER + "".join(f"{i},acc{i % 7},2022-05-01T10:{i // 60:02d}:{i % 60:02d}Z,twitter,post {i} #t{i % 5}\n"
                            for i in range(300)) + "301,bob,not a time,twitter,bad row\n"
    plain, packed = _write(tmp_path, "p.csv", body), _write(tmp_path, "p.csv.gz", gzip.compress(body.encode()))
    got = {}
    for path in (plain, packed):  # pieces of about 1 KiB: the gzip stream is cut at record ends as the file is
        with Store(tmp_path / f"{path.name}.duckdb") as st:
            s = ingest(st, path, reader=MappedCsvReader(chunk_bytes=1024))
            got[path.name] = (s.rows_read, s.posts_added, s.errors,
                              rows(st, "SELECT line, field FROM ingest_errors"),
                              rows(st, "SELECT max(source_row) AS r FROM posts"))
    assert got["p.csv.gz"] == got["p.csv"]
    assert got["p.csv"][:4] == (301, 300, 1, [{"line": 302, "field": "created_at"}])


def test_compressed_json_lines_and_a_bad_line_in_them(store, tmp_path):
    lines = _reddit_lines(5) + b"{broken\n"
    s = ingest(store, _write(tmp_path, "RC_2022-05.ndjson.gz", gzip.compress(lines)))
    assert (s.format, s.dataset, s.posts_added, s.errors) == ("reddit", "RC_2022-05", 5, 1)
    assert rows(store, "SELECT line FROM ingest_errors")[0]["line"] == 6


def test_compressed_file_a_format_cannot_take_says_unpack_it(store, tmp_path):
    p = _write(tmp_path, "x.csv.gz", gzip.compress(GOOD.encode()))
    with pytest.raises(IngestError, match=r"x.csv.gz: a gzip-compressed file; format parquet needs it unpacked"):
        ingest(store, p, fmt="parquet")
    cut = _write(tmp_path, "cut.csv.gz", gzip.compress(GOOD.encode())[:30])
    with pytest.raises(IngestError, match=r"cut.csv.gz: a damaged or truncated gzip file"):
        ingest(store, cut)


def test_extensionless_pushshift_file_with_format_reddit(store, tmp_path):
    p = _write(tmp_path, "RC_2016-10", _reddit_lines())  # what `zstd -d RC_2016-10.zst` leaves
    s = ingest(store, p, fmt="reddit")
    assert (s.format, s.dataset, s.posts_added, s.errors) == ("reddit", "RC_2016-10", 30, 0)


# -- 4. a header-only CSV ----------------------------------------------------------------------------------------

def test_header_only_csv_is_refused_like_an_empty_file(tmp_path):
    db = tmp_path / "s.duckdb"
    header = _write(tmp_path, "header.csv", HEADER)
    r = _cli(header, "--db", db)
    assert r.exit_code == 2 and "header.csv: no records: the file holds only a header line" in r.output
    assert not db.exists()
    assert _cli(_write(tmp_path, "good.csv", GOOD), "--db", db).exit_code == 0
    assert _cli(header, "--db", db).exit_code == 2
    assert _count(db, "SELECT count(*) FROM datasets") == 1  # no empty dataset 'header'


# -- 5/7. every record refused: status 2, and no empty dataset in an existing store ------------------------------

def test_every_record_refused_in_an_existing_store_adds_no_dataset(tmp_path):
    db = tmp_path / "s.duckdb"
    assert _cli(_write(tmp_path, "good.csv", GOOD), "--db", db).exit_code == 0
    r = _cli(_write(tmp_path, "dayfirst.csv", DAY_FIRST), "--format", "csv", "--platform", "twitter", "--db", db)
    assert r.exit_code == 2, r.output
    assert "no post was stored (the refused records are kept in ingest_errors)" in r.output
    assert _count(db, "SELECT count(*) FROM datasets") == 1
    assert _count(db, "SELECT count(*) FROM ingest_errors WHERE dataset = 'dayfirst'") == 2  # nothing is lost


# -- 6. a truncated .zst in a folder read as one layout ----------------------------------------------------------

def test_truncated_zst_in_a_reddit_folder_is_reported_once_with_its_reason(store, tmp_path):
    folder = tmp_path / "dumps"
    folder.mkdir()
    packed = zstandard.ZstdCompressor().compress(_reddit_lines())
    _write(folder, "good.ndjson.zst", packed)
    _write(folder, "trunc.ndjson.zst", packed[:30])
    s = ingest(store, folder, fmt="reddit")  # the folder read as one layout
    assert (s.format, s.rows_read, s.posts_added, s.errors) == ("reddit", 30, 30, 0)
    assert len(s.files_skipped) == 1
    assert s.files_skipped[0].startswith(f"{folder / 'trunc.ndjson.zst'}: a damaged or truncated zstd file")
