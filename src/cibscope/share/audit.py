"""Append-only, hash-chained audit log.

Every entry holds ``seq`` (1, 2, ...), ``ts`` (UTC), ``actor``, ``org``, ``sector``,
``action`` (``write``, ``read``, ``delete``, ``refusal``, ``admin``), the declared
``purpose``, ``collection_id``, a JSON ``detail`` and ``prev_hash``. Its ``hash`` is
the SHA-256 of ``prev_hash`` followed by the canonical JSON (sorted keys, no spaces)
of all other fields, the first entry chaining from 64 zeros. Editing an entry breaks
its hash, removing one breaks the next ``prev_hash`` and the ``seq`` run, and
reordering breaks both. On SQLite, triggers also refuse UPDATE and DELETE.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .store import audit, now_ts

GENESIS = "0" * 64
FIELDS = ("seq", "ts", "actor", "org", "sector", "action", "purpose", "collection_id", "detail", "prev_hash")


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 (hex) of an entry: ``prev_hash`` + canonical JSON of :data:`FIELDS`."""
    body = json.dumps({k: entry[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.sha256((entry["prev_hash"] + body).encode("utf-8")).hexdigest()


def _utf8(value: str | None) -> str | None:
    """``value`` with any lone UTF-16 surrogate (from a JSON ``\\ud800`` escape or a decoded path) written as
    ``\\udXXX``, since neither the hash nor the database can encode it as UTF-8 (issue #17 row 10)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _detail_json(detail: dict[str, Any]) -> str:
    """Canonical JSON of ``detail``; ASCII-escaped when it holds a lone surrogate (always encodable)."""
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def append(conn: Connection, *, actor: str, action: str, detail: dict[str, Any], org: str | None = None,
           sector: str | None = None, purpose: str | None = None,
           collection_id: str | None = None) -> dict[str, Any]:
    """Append one entry inside the caller's (serialised) write transaction and return it."""
    last = conn.execute(sa.select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)).first()
    entry = {"seq": (last.seq + 1) if last else 1, "ts": now_ts(), "actor": _utf8(actor), "org": _utf8(org),
             "sector": _utf8(sector), "action": action, "purpose": _utf8(purpose),
             "collection_id": _utf8(collection_id), "detail": _detail_json(detail),
             "prev_hash": last.hash if last else GENESIS}
    entry["hash"] = entry_hash(entry)
    conn.execute(audit.insert().values(**entry))
    return entry


def entries(engine: Engine) -> Iterator[dict[str, Any]]:
    """All entries in ``seq`` order, as dicts."""
    with engine.connect() as conn:
        for row in conn.execute(sa.select(audit).order_by(audit.c.seq)):
            yield dict(row._mapping)


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`: ``ok``, the number of entries checked and the problems found."""

    ok: bool
    checked: int
    problems: list[str]


def verify(items: Iterable[dict[str, Any]]) -> VerifyResult:
    """Check the chain: contiguous ``seq`` from 1, each ``prev_hash`` and each ``hash``.

    Parameters
    ----------
    items : iterable of dict
        Entries in stored order (from :func:`entries` or :func:`read_export`).
    """
    problems: list[str] = []
    prev, n = GENESIS, 0
    for n, e in enumerate(items, start=1):
        if e.get("seq") != n:
            problems.append(f"entry {n}: seq is {e.get('seq')}, expected {n} (removed or reordered entry)")
        if e.get("prev_hash") != prev:
            problems.append(f"entry seq={e.get('seq')}: prev_hash does not match the previous entry's hash")
        try:
            h = entry_hash(e)
        except KeyError as exc:
            problems.append(f"entry seq={e.get('seq')}: missing field {exc}")
            h = ""
        if e.get("hash") != h:
            problems.append(f"entry seq={e.get('seq')}: hash mismatch (entry edited)")
        prev = e.get("hash", "")
    return VerifyResult(not problems, n, problems)


def export(engine: Engine, path: Path) -> int:
    """Write the log as JSON Lines (one entry a line, all fields) to ``path``; return the count."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for e in entries(engine):
            fh.write(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_export(path: Path) -> Iterator[dict[str, Any]]:
    """Read a JSON Lines export back.

    Raises
    ------
    ValueError
        Naming the file and line when a line is not a JSON object.
    """
    for i, line in _lines(path):
        try:
            e = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {i}: not JSON ({exc.msg})") from None
        if not isinstance(e, dict):
            raise ValueError(f"{path}: line {i}: not a JSON object")
        yield e


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of the non-blank lines of a JSON Lines file."""
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if line.strip():
                yield i, line




# ------------------------------------------------------------------------------------------------
# Signed checkpoints (issue #17, row 3)
#
# The hash chain alone proves nothing about the end of the log: deleting the last rows, dropping the
# table, truncating the file or re-hashing everything after an edit leave a chain that verifies. A
# checkpoint is the chain head (seq, hash) signed with an Ed25519 key (RFC 8032) that is not in the
# audit store, appended as one JSON line to a file the operator chooses (ideally on another machine or
# append-only storage). `verify` with checkpoints then requires every checkpointed head to be present
# with the same hash.

CHECKPOINT_TYPE = "cibscope-audit-checkpoint"
CHECKPOINT_FIELDS = ("type", "seq", "hash", "ts", "key_id")


def _b64(data: bytes) -> str:
    import base64
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    import base64
    return base64.b64decode(text.encode("ascii"), validate=True)


def keygen(private_path: Path, public_path: Path) -> str:
    """Create an Ed25519 key pair for checkpoints; return the key id.

    The private key is written as unencrypted PKCS#8 PEM with mode 0600 (keep it off the audit
    store's machine or readable only by the hub's service account); the public key as PEM.

    Raises
    ------
    FileExistsError
        If ``private_path`` exists (a key is never overwritten).
    """
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    Path(public_path).write_bytes(pub)
    return key_id(key.public_key())


def key_id(public_key: Any) -> str:
    """First 16 hex digits of the SHA-256 of the raw Ed25519 public key."""
    from cryptography.hazmat.primitives import serialization
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _load_private(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def _load_public(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


def _signed_bytes(cp: dict[str, Any]) -> bytes:
    return json.dumps({k: cp[k] for k in CHECKPOINT_FIELDS}, sort_keys=True, separators=(",", ":")).encode()


def head(engine: Engine) -> tuple[int, str]:
    """``(seq, hash)`` of the last entry (``(0, GENESIS)`` for an empty log)."""
    with engine.connect() as conn:
        last = conn.execute(sa.select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)).first()
    return (int(last.seq), last.hash) if last else (0, GENESIS)


def checkpoint(engine: Engine, private_key: Path, out: Path) -> dict[str, Any]:
    """Verify the chain, sign its head and append the checkpoint as one JSON line to ``out``; return it.

    Raises
    ------
    ValueError
        If the chain does not verify (a checkpoint never certifies a broken log), or the key is not Ed25519.
    """
    key = _load_private(private_key)
    res = verify(entries(engine))
    if not res.ok:
        raise ValueError("audit log does not verify; no checkpoint written: " + "; ".join(res.problems[:3]))
    seq, h = head(engine)
    last = _last_checkpoint(out)
    if last is not None and (seq < last.get("seq", 0) or (seq == last.get("seq") and h != last.get("hash"))):
        raise ValueError(f"the log's head (entry {seq}) is behind or differs from the last checkpoint in {out} "
                         f"(entry {last.get('seq')}): entries were removed; no checkpoint written")
    cp = {"type": CHECKPOINT_TYPE, "seq": seq, "hash": h, "ts": now_ts(), "key_id": key_id(key.public_key())}
    cp["sig"] = _b64(key.sign(_signed_bytes(cp)))
    with open(out, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(cp, sort_keys=True) + "\n")
        fh.flush()
    return cp


def _last_checkpoint(path: Path) -> dict[str, Any] | None:
    """The last JSON line of a checkpoint file (signature not checked), or None."""
    try:
        last = None
        for _, line in _lines(path):
            last = line
        return json.loads(last) if last else None
    except (OSError, ValueError):
        return None


def read_checkpoints(path: Path, public_key: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The checkpoints of ``path`` whose signature verifies under ``public_key``, and the problems found
    (unreadable lines, bad signatures, other keys, heads going backwards)."""
    from cryptography.exceptions import InvalidSignature
    pub = _load_public(public_key)
    kid = key_id(pub)
    good: list[dict[str, Any]] = []
    problems: list[str] = []
    for i, line in _lines(path):
        try:
            cp = json.loads(line)
            if not isinstance(cp, dict) or cp.get("type") != CHECKPOINT_TYPE or cp.get("key_id") != kid:
                raise ValueError("not a checkpoint of this key")
            pub.verify(_unb64(cp["sig"]), _signed_bytes(cp))
            if not (isinstance(cp["seq"], int) and cp["seq"] >= 0):
                raise ValueError("bad seq")
        except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
            problems.append(f"{path}: line {i}: checkpoint rejected ({type(exc).__name__}: {exc})")
            continue
        if good and cp["seq"] < good[-1]["seq"]:
            problems.append(f"{path}: line {i}: checkpoint seq {cp['seq']} before the previous one's "
                            f"{good[-1]['seq']}")
        good.append(cp)
    return good, problems


def verify_checkpointed(items: Iterable[dict[str, Any]], checkpoints: list[dict[str, Any]]) -> VerifyResult:
    """:func:`verify` plus: every checkpointed head ``(seq, hash)`` must be in the log unchanged.

    Detects what the chain alone cannot: removed trailing entries (the log ends before the latest
    checkpoint), a dropped, emptied or truncated store (no entries), and an edit re-hashed through
    to the end (the hash at a checkpointed seq differs).
    """
    want = {cp["seq"]: cp["hash"] for cp in checkpoints}
    seen: dict[int, str] = {}

    def tap() -> Iterator[dict[str, Any]]:
        for e in items:
            if e.get("seq") in want:
                seen[e["seq"]] = e.get("hash")
            yield e
    res = verify(tap())
    problems = list(res.problems)
    if not checkpoints:
        problems.append("no valid checkpoint: removed trailing entries cannot be detected")
    for seq, h in sorted(want.items()):
        if seq == 0:
            continue
        if seq not in seen:
            problems.append(f"checkpoint at seq {seq}: entry missing (the log has {res.checked} entries; "
                            "trailing entries removed, or the store dropped or truncated)")
        elif seen[seq] != h:
            problems.append(f"checkpoint at seq {seq}: hash differs from the signed head (entries edited "
                            "and re-hashed)")
    return VerifyResult(not problems, res.checked, problems)


def open_existing(db: str | Path) -> Engine:
    """An engine on hub database ``db`` opened as found: never creates a file or a table.

    Unlike :class:`~cibscope.share.hub.Hub`, a missing file (a typo in ``--db``), a dropped ``audit``
    table or a truncated database is reported, not silently created empty (which then verified, was
    checkpointed or exported as 0 entries, #17 row 3).

    Raises
    ------
    ValueError
        The database file is missing, or it has no ``audit`` table.
    """
    from .store import db_url
    url = db_url(db)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        raise ValueError(f"no hub database at {url[len('sqlite:///'):]}")
    engine = sa.create_engine(url, future=True)
    try:
        if not sa.inspect(engine).has_table("audit"):
            raise ValueError(f"the hub database {db} has no audit table (dropped, or the file was truncated)")
    except BaseException:
        engine.dispose()
        raise
    return engine


def stored_entries(db: str | Path) -> Iterator[dict[str, Any]]:
    """The entries of the audit table of hub database ``db``, opened as found (:func:`open_existing`).

    Raises
    ------
    ValueError
        The database file is missing, or it has no ``audit`` table.
    """
    engine = open_existing(db)
    try:
        yield from entries(engine)
    finally:
        engine.dispose()
