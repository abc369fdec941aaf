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


def append(conn: Connection, *, actor: str, action: str, detail: dict[str, Any], org: str | None = None,
           sector: str | None = None, purpose: str | None = None,
           collection_id: str | None = None) -> dict[str, Any]:
    """Append one entry inside the caller's (serialised) write transaction and return it."""
    last = conn.execute(sa.select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)).first()
    entry = {"seq": (last.seq + 1) if last else 1, "ts": now_ts(), "actor": actor, "org": org,
             "sector": sector, "action": action, "purpose": purpose, "collection_id": collection_id,
             "detail": json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
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
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {i}: not JSON ({exc.msg})") from None
            if not isinstance(e, dict):
                raise ValueError(f"{path}: line {i}: not a JSON object")
            yield e


