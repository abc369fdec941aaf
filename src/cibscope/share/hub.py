"""The hub's operations, independent of HTTP: admin, object writes and policy-filtered reads.

The FastAPI routers in :mod:`cibscope.share.api` call these methods; the CLI's
``admin`` commands call the admin methods. Every operation that changes or
discloses data appends to the audit log inside the same transaction.
"""
from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import audit as audit_log
from .auth import (AdminError, Principal, check_sector, collection_rights, hash_password, new_token, password_problem,
                   token_row)
from .markings import (PURPOSE_EXTENSION_ID, TLP2_BY_ID, MarkingError, marking_kind,
                       parse_purpose_extension)
from .policy import ObjectPolicy, Refusal, check_read, redact
from .store import (add_seconds, api_roots, collections, make_engine, next_date_added, norm_ts, now_ts,
                    objects, orgs, rights, statuses, tokens, users, write_tx)

DEFINITION_TYPES = ("marking-definition", "extension-definition")
DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024

#: Test-only crash hook, read by :func:`_test_hang_hook` (used by tests/test_share_crash.py).
TEST_HANG_ENV = "CIBSCOPE_TEST_HANG_IN_POST"
_posts_seen = itertools.count(1)


def _test_hang_hook() -> None:
    """Test only: with ``CIBSCOPE_TEST_HANG_IN_POST="<n>:<path>"`` the n-th POST of this process writes
    ``<path>`` and sleeps inside its open write transaction (objects, status and audit entry written,
    not committed), so a test can kill the server there. Does nothing when the variable is unset."""
    spec = os.environ.get(TEST_HANG_ENV)
    if spec:
        n, path = spec.split(":", 1)
        if next(_posts_seen) == int(n):
            Path(path).write_text(str(os.getpid()))
            time.sleep(3600)


@functools.cache
def _validator() -> tuple[Any, Any, type[Exception]]:
    """``(validate_instance, options, ValidationError)`` of stix2-validator for STIX 2.1, imported on first use: its
    import builds an Earley parser (jsonschema's rfc3987-syntax) and takes seconds, which GET-only
    servers and the admin CLI should not pay."""
    from stix2validator import ValidationError, ValidationOptions, validate_instance
    return validate_instance, ValidationOptions(version="2.1"), ValidationError


def stix_errors(obj: dict[str, Any]) -> list[str]:
    """The errors ``stix2-validator`` finds in one STIX 2.1 object (empty when it is valid).

    stix2-validator 3.3.2 raises instead of returning a result on some malformed input (found
    by fuzzing): ``ValidationError`` without ``type``/``id``, ``TypeError``/``AttributeError``
    when they are not strings (its best-practice checks assume strings). Such objects are
    reported as one error naming the problem. Results are cached by the object's canonical
    JSON (:func:`_validate_canonical`), since producers re-post the same marking and extension
    definitions with every bundle and validation costs about 10 ms per object.
    """
    if not (isinstance(obj.get("type"), str) and isinstance(obj.get("id"), str)):
        return ["an object needs string 'type' and 'id' properties"]
    return list(_validate_canonical(json.dumps(obj, sort_keys=True, separators=(",", ":"))))


@functools.lru_cache(maxsize=4096)
def _validate_canonical(canonical: str) -> tuple[str, ...]:
    """:func:`stix_errors` of the object whose canonical JSON is ``canonical`` (LRU-cached)."""
    validate, options, refused = _validator()
    try:
        res = validate(json.loads(canonical), options)
    except refused as exc:
        return (str(exc),)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        return (f"the validator could not check this object ({type(exc).__name__}: {exc})",)
    return () if res.is_valid else tuple(str(e) for e in res.errors)


class NotFound(LookupError):
    """An unknown API root, collection, object or status (HTTP 404)."""


@dataclass
class Filters:
    """TAXII 2.1 object filters (section 3.4): ``added_after`` and the ``match[...]`` values.

    ``versions`` holds ``'last'`` (default), ``'first'``, ``'all'`` and/or timestamps.
    """

    added_after: str | None = None
    ids: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=lambda: ["last"])
    spec_versions: list[str] = field(default_factory=list)


@dataclass
class Page:
    """One page of policy-filtered rows: ``rows`` (dicts with ``obj``), ``more``, ``next``, ``withheld``."""

    rows: list[dict[str, Any]]
    more: bool
    next: str | None
    withheld: list[dict[str, str]]


def _encode_next(date_added: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{date_added}|{pk}".encode()).decode().rstrip("=")


def _decode_next(token: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        da, pk = raw.split("|")
        if not 0 <= int(pk) < 2**63:  # a SQL integer
            raise ValueError(pk)
        return norm_ts(da), int(pk)
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"invalid 'next' value {token!r}") from None


def object_version(obj: dict[str, Any], date_added: str) -> str:
    """TAXII version of an object: ``modified``, else ``created``, else ``date_added`` (normalised)."""
    ts = obj.get("modified") or obj.get("created")
    return norm_ts(ts) if isinstance(ts, str) else date_added


class Hub:
    """The sharing hub over one database (SQLite path or SQLAlchemy URL)."""

    def __init__(self, db: str | Path):
        self.engine = make_engine(db)

    # ------------------------------------------------------------------ admin
    def _admin(self, conn: Connection, actor: str, what: str, **detail: Any) -> None:
        audit_log.append(conn, actor=actor, action="admin", detail={"op": what, **detail})

    def add_api_root(self, name: str, title: str, description: str = "",
                     max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH, actor: str = "admin") -> None:
        """Create an API root served at ``/<name>/``."""
        with write_tx(self.engine) as conn:
            if conn.execute(sa.select(api_roots.c.name).where(api_roots.c.name == name)).first():
                raise AdminError(f"API root {name!r} exists")
            conn.execute(api_roots.insert().values(name=name, title=title, description=description,
                                                   max_content_length=max_content_length))
            self._admin(conn, actor, "add-api-root", name=name)

    def add_collection(self, api_root: str, title: str, description: str = "",
                       collection_id: str | None = None, actor: str = "admin") -> str:
        """Create a collection under ``api_root`` and return its id (a UUIDv4 unless given)."""
        cid = collection_id or str(uuid.uuid4())
        with write_tx(self.engine) as conn:
            if not conn.execute(sa.select(api_roots.c.name).where(api_roots.c.name == api_root)).first():
                raise AdminError(f"unknown API root {api_root!r}")
            conn.execute(collections.insert().values(id=cid, api_root=api_root, title=title,
                                                     description=description))
            self._admin(conn, actor, "add-collection", api_root=api_root, collection=cid, title=title)
        return cid

    def add_org(self, name: str, sector: str, actor: str = "admin") -> int:
        """Create an organisation in ``sector``; return its id."""
        check_sector(sector)
        with write_tx(self.engine) as conn:
            if conn.execute(sa.select(orgs.c.id).where(orgs.c.name == name)).first():
                raise AdminError(f"organisation {name!r} exists")
            oid = conn.execute(orgs.insert().values(name=name, sector=sector)).inserted_primary_key[0]
            self._admin(conn, actor, "add-org", org=name, sector=sector)
        return int(oid)

    def _org_id(self, conn: Connection, name: str) -> int:
        row = conn.execute(sa.select(orgs.c.id).where(orgs.c.name == name)).first()
        if row is None:
            raise AdminError(f"unknown organisation {name!r}")
        return int(row.id)

    def _user_id(self, conn: Connection, name: str) -> int:
        row = conn.execute(sa.select(users.c.id).where(users.c.name == name)).first()
        if row is None:
            raise AdminError(f"unknown user {name!r}")
        return int(row.id)

    def add_user(self, name: str, org: str, password: str | None = None, actor: str = "admin") -> int:
        """Create a user of ``org``; with ``password`` (Argon2-hashed) it may use HTTP Basic.

        Raises
        ------
        AdminError
            The user exists, ``org`` is unknown, or ``password`` is refused by
            :func:`cibscope.share.auth.password_problem` (white space only, under 15 characters).
        """
        problem = password_problem(password) if password is not None else None
        if problem:
            raise AdminError(problem)
        ph = hash_password(password) if password else None
        with write_tx(self.engine) as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.name == name)).first():
                raise AdminError(f"user {name!r} exists")
            uid = conn.execute(users.insert().values(name=name, org_id=self._org_id(conn, org),
                                                     password_hash=ph)).inserted_primary_key[0]
            self._admin(conn, actor, "add-user", user=name, org=org, basic_auth=bool(password))
        return int(uid)

    def add_token(self, user: str, label: str | None = None, actor: str = "admin") -> str:
        """Create an API token for ``user``; the token is returned once and only its hash is stored."""
        token = new_token()
        with write_tx(self.engine) as conn:
            row = token_row(self._user_id(conn, user), token, label)
            conn.execute(tokens.insert().values(**row))
            self._admin(conn, actor, "add-token", user=user, label=label, token_sha256_prefix=row["token_hash"][:12])
        return token

    def revoke_tokens(self, user: str, actor: str = "admin") -> int:
        """Revoke every token of ``user``; return how many were active."""
        with write_tx(self.engine) as conn:
            n = conn.execute(tokens.update().where(tokens.c.user_id == self._user_id(conn, user),
                                                   tokens.c.revoked.is_(False)).values(revoked=True)).rowcount
            self._admin(conn, actor, "revoke-tokens", user=user, count=n)
        return n

    def grant(self, org: str, collection_id: str, read: bool, write: bool, actor: str = "admin") -> None:
        """Set an organisation's read/write rights on a collection."""
        with write_tx(self.engine) as conn:
            oid = self._org_id(conn, org)
            if not conn.execute(sa.select(collections.c.id).where(collections.c.id == collection_id)).first():
                raise AdminError(f"unknown collection {collection_id!r}")
            conn.execute(rights.delete().where(rights.c.org_id == oid, rights.c.collection_id == collection_id))
            conn.execute(rights.insert().values(org_id=oid, collection_id=collection_id, can_read=read,
                                                can_write=write))
            self._admin(conn, actor, "grant", org=org, collection=collection_id, read=read, write=write)

    # ---------------------------------------------------------------- lookups
    def api_root(self, name: str) -> dict[str, Any]:
        """The API root row. Raises :class:`NotFound`."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_roots).where(api_roots.c.name == name)).first()
        if row is None:
            raise NotFound(f"API root {name!r} not found")
        return dict(row._mapping)

    def api_root_names(self) -> list[str]:
        """Names of all API roots, sorted."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(api_roots.c.name).order_by(api_roots.c.name)).scalars())

    def collections_for(self, api_root: str, who: Principal) -> list[dict[str, Any]]:
        """Collections of ``api_root`` the requester's organisation may read or write, with rights."""
        with self.engine.connect() as conn:
            q = (sa.select(collections, rights.c.can_read, rights.c.can_write)
                 .join(rights, rights.c.collection_id == collections.c.id)
                 .where(collections.c.api_root == api_root, rights.c.org_id == who.org_id,
                        sa.or_(rights.c.can_read, rights.c.can_write)).order_by(collections.c.title))
            return [dict(r._mapping) for r in conn.execute(q)]

    def collection(self, api_root: str, collection_id: str, who: Principal) -> dict[str, Any]:
        """One collection with the requester's rights; :class:`NotFound` when absent or invisible."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(collections).where(collections.c.api_root == api_root,
                                                            collections.c.id == collection_id)).first()
            if row is None:
                raise NotFound(f"collection {collection_id!r} not found")
            can_read, can_write = collection_rights(conn, collection_id, who.org_id)
        return {**row._mapping, "can_read": can_read, "can_write": can_write}

    # ------------------------------------------------------------------ audit
    def record(self, who: Principal | None, action: str, purpose: str | None, collection_id: str | None,
               detail: dict[str, Any], conn: Connection | None = None) -> None:
        """Append an audit entry (in ``conn``'s transaction, or a new one)."""
        kw = dict(actor=who.user if who else "anonymous", org=who.org if who else None,
                  sector=who.sector if who else None, action=action, purpose=purpose,
                  collection_id=collection_id, detail=detail)
        if conn is not None:
            audit_log.append(conn, **kw)
        else:
            with write_tx(self.engine) as c:
                audit_log.append(c, **kw)

    def refuse(self, who: Principal | None, purpose: str | None, collection_id: str | None,
               refusal: Refusal, **detail: Any) -> None:
        """Audit a refusal (the caller then answers 403)."""
        self.record(who, "refusal", purpose, collection_id, {"rule": refusal.rule, **detail})

    # ----------------------------------------------------------------- writes
    def _resolve_markings(self, conn: Connection, collection_id: str,
                          batch: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Latest stored marking-definitions of the collection, overlaid by those in ``batch``."""
        rows = conn.execute(sa.select(objects.c.id, objects.c.body).where(
            objects.c.collection_id == collection_id, objects.c.type == "marking-definition")
            .order_by(objects.c.version))
        found = {r.id: json.loads(r.body) for r in rows}
        found.update(batch)
        return found

    def _object_policy(self, obj: dict[str, Any], purpose: str,
                       markings: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Policy columns for one posted object; raises ValueError naming the rule when it cannot be shared."""
        if obj["type"] in DEFINITION_TYPES:
            if obj["type"] == "marking-definition" and marking_kind(obj) == "purpose":
                try:
                    parse_purpose_extension(obj["extensions"][PURPOSE_EXTENSION_ID])
                except MarkingError as exc:
                    raise ValueError(f"purpose-marking-invalid: {exc}") from None
            return {"tlp": None, "purposes": None, "recipient_orgs": None, "recipient_users": None,
                    "retention_days": None}
        refs = obj.get("object_marking_refs") or []
        tlps = [TLP2_BY_ID[r] for r in refs if r in TLP2_BY_ID]
        if len(tlps) != 1:
            raise ValueError("tlp-missing: an object must carry exactly one TLP 2.0 marking in "
                             f"object_marking_refs (found {len(tlps)})")
        terms = []
        for r in refs:
            m = markings.get(r)
            if m is not None and marking_kind(m) == "purpose":
                try:
                    terms.append(parse_purpose_extension(m["extensions"][PURPOSE_EXTENSION_ID]))
                except MarkingError as exc:
                    raise ValueError(f"purpose-marking-invalid: {r}: {exc}") from None
        if len(terms) != 1:
            raise ValueError("purpose-marking-missing: an object must reference exactly one purpose "
                             "marking-definition (in the same envelope or already in the collection); "
                             f"found {len(terms)}")
        t = terms[0]
        if purpose not in t.purposes:
            raise ValueError(f"purpose-incompatible: declared purpose {purpose!r} is not among the "
                             f"marking's purposes ({', '.join(t.purposes)})")
        if tlps[0] == "red" and not t.recipient_users:
            raise ValueError("tlp-red-named-recipients: a TLP:RED object needs recipient_users in its "
                             "purpose marking")
        return {"tlp": tlps[0], "purposes": json.dumps(list(t.purposes)),
                "recipient_orgs": json.dumps(list(t.recipient_organizations)),
                "recipient_users": json.dumps(list(t.recipient_users)), "retention_days": t.retention_days}

    def post_objects(self, api_root: str, collection_id: str, who: Principal, purpose: str,
                     envelope_objects: list[Any]) -> dict[str, Any]:
        """Validate and store posted objects in one transaction; return the TAXII status resource.

        Each object is checked with ``stix2-validator`` (STIX 2.1) and by the write
        policy (one TLP 2.0 marking, one purpose marking that includes the declared
        purpose). Rejected objects are listed in ``failures`` with the reason; the
        accepted ones, the status resource and the audit entry are committed together.
        """
        request_ts = now_ts()
        failures: list[dict[str, Any]] = []
        checked: list[tuple[dict[str, Any], str]] = []  # (object, its stored JSON text)
        for i, obj in enumerate(envelope_objects):
            if not isinstance(obj, dict):
                failures.append({"id": f"objects[{i}]", "message": "stix-invalid: not a JSON object"})
                continue
            errors = stix_errors(obj)
            body = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            try:  # JSON may escape a lone UTF-16 surrogate ("\ud800"), which no database can store
                body.encode("utf-8")
            except UnicodeEncodeError as exc:
                errors.append(f"a string holds a lone UTF-16 surrogate ({exc.reason} at {exc.start})")
            if errors:
                msg = "; ".join(errors)
                failures.append({"id": str(obj.get("id", f"objects[{i}]")), "message": f"stix-invalid: {msg}"})
                continue
            checked.append((obj, body))
        batch_markings = {o["id"]: o for o, _ in checked if o["type"] == "marking-definition"}
        # a marking this envelope sent but that was refused: objects referring to it must not be stored under
        # another (older, stored) version of it
        refused_markings = {f["id"] for f in failures if f["id"].startswith("marking-definition--")}
        successes: list[dict[str, Any]] = []
        status_id = str(uuid.uuid4())
        with write_tx(self.engine) as conn:
            markings = self._resolve_markings(conn, collection_id, batch_markings)
            date_added = next_date_added(conn)
            rows = []
            for obj, body in checked:
                refs = set(obj.get("object_marking_refs") or []) | {
                    g.get("marking_ref") for g in obj.get("granular_markings") or [] if isinstance(g, dict)}
                if refs & refused_markings:
                    failures.append({"id": obj["id"], "version": obj.get("modified") or obj.get("created"),
                                     "message": f"marking-refused: {', '.join(sorted(refs & refused_markings))} "
                                                "was refused in this envelope"})
                    continue
                try:
                    pol = self._object_policy(obj, purpose, markings)
                except ValueError as exc:
                    failures.append({"id": obj["id"], "version": obj.get("modified") or obj.get("created"),
                                     "message": str(exc)})
                    continue
                version = object_version(obj, date_added)
                dup = conn.execute(sa.select(objects.c.pk).where(
                    objects.c.collection_id == collection_id, objects.c.id == obj["id"],
                    objects.c.version == version)).first()
                if dup is not None or any(r["id"] == obj["id"] and r["version"] == version for r in rows):
                    successes.append({"id": obj["id"], "version": version, "message": "already stored"})
                    continue
                days = pol.pop("retention_days")
                rows.append({"collection_id": collection_id, "id": obj["id"], "type": obj["type"],
                             "spec_version": obj.get("spec_version", "2.1"), "version": version,
                             "date_added": date_added, "body": body,
                             "expires_at": add_seconds(date_added, days * 86400) if days else None,
                             "producer_user_id": who.user_id, "producer_org_id": who.org_id, **pol})
                successes.append({"id": obj["id"], "version": version})
                date_added = add_seconds(date_added, 1e-6)
            if rows:
                conn.execute(objects.insert(), rows)
            status = {"id": status_id, "status": "complete", "request_timestamp": request_ts,
                      "total_count": len(envelope_objects), "success_count": len(successes),
                      "successes": successes, "failure_count": len(failures), "failures": failures,
                      "pending_count": 0, "pending": []}
            conn.execute(statuses.insert().values(id=status_id, api_root=api_root, user_id=who.user_id,
                                                  body=json.dumps(status)))
            self.record(who, "write", purpose, collection_id,
                        {"status": status_id, "stored": [[r["id"], r["version"]] for r in rows],
                         "rejected": [[f["id"], f["message"].split(":", 1)[0]] for f in failures]}, conn)
            _test_hang_hook()
        return status

    def status(self, api_root: str, status_id: str, who: Principal) -> dict[str, Any]:
        """A status resource posted by the requester's organisation; :class:`NotFound` otherwise."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(statuses.c.body, users.c.org_id).join(
                users, users.c.id == statuses.c.user_id).where(
                statuses.c.id == status_id, statuses.c.api_root == api_root)).first()
        if row is None or row.org_id != who.org_id:
            raise NotFound(f"status {status_id!r} not found")
        return json.loads(row.body)

    # ------------------------------------------------------------------ reads
    def _query(self, collection_id: str, f: Filters, after_key: tuple[str, int] | None,
               chunk: int, conn: Connection | None = None) -> list[dict[str, Any]]:
        o = objects.alias("o")
        conds = [o.c.collection_id == collection_id,
                 sa.or_(o.c.expires_at.is_(None), o.c.expires_at > now_ts())]
        if f.added_after:
            conds.append(o.c.date_added > f.added_after)
        if f.ids:
            conds.append(o.c.id.in_(f.ids))
        if f.types:
            conds.append(o.c.type.in_(f.types))
        if f.spec_versions:
            conds.append(o.c.spec_version.in_(f.spec_versions))
        vconds = []
        stamps = [v for v in f.versions if v not in ("first", "last", "all")]
        if "all" not in f.versions:
            for which, agg in (("last", sa.func.max), ("first", sa.func.min)):
                if which in f.versions:
                    o2 = objects.alias()
                    sub = sa.select(agg(o2.c.version)).where(o2.c.collection_id == o.c.collection_id,
                                                             o2.c.id == o.c.id)
                    if f.spec_versions:
                        sub = sub.where(o2.c.spec_version.in_(f.spec_versions))
                    vconds.append(o.c.version == sub.scalar_subquery())
            if stamps:
                vconds.append(o.c.version.in_(stamps))
            conds.append(sa.or_(*vconds))
        if after_key:
            conds.append(sa.tuple_(o.c.date_added, o.c.pk) > sa.tuple_(sa.literal(after_key[0]),
                                                                        sa.literal(after_key[1])))
        q = (sa.select(o, orgs.c.sector.label("producer_sector")).join(orgs, orgs.c.id == o.c.producer_org_id)
             .where(*conds).order_by(o.c.date_added, o.c.pk).limit(chunk))
        if conn is not None:
            return [dict(r._mapping) for r in conn.execute(q)]
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def read_page(self, collection_id: str, who: Principal, purpose: str, f: Filters, limit: int,
                  next_token: str | None) -> Page:
        """One page of object versions the requester may receive, oldest ``date_added`` first.

        Versions refused by policy are left out of the page and reported in
        ``withheld`` (id, version, rule); personal data is redacted per
        :func:`~cibscope.share.policy.redact`. Pagination is keyset on
        (``date_added``, row id), so pages stay consistent while objects are added.

        Raises
        ------
        ValueError
            If ``next_token`` is not one this server issued.
        """
        key = _decode_next(next_token) if next_token else None
        out: list[dict[str, Any]] = []
        withheld: list[dict[str, str]] = []
        more = False
        while True:
            rows = self._query(collection_id, f, key, limit + 1)
            for r in rows:
                if len(out) == limit:
                    more = True
                    break
                key = (r["date_added"], r["pk"])
                try:
                    check_read(who, purpose, ObjectPolicy.from_row(r, r["producer_sector"]))
                except Refusal as ref:
                    withheld.append({"id": r["id"], "version": r["version"], "rule": ref.rule})
                    continue
                obj, removed = redact(who, json.loads(r["body"]))
                out.append({**r, "obj": obj, "redacted": removed})
            if more or len(rows) <= limit:
                break
        nxt = _encode_next(out[-1]["date_added"], out[-1]["pk"]) if more and out else None
        return Page(out, more and nxt is not None, nxt, withheld)

    def audit_read(self, who: Principal, purpose: str, collection_id: str, endpoint: str,
                   page: Page) -> None:
        """Audit which object versions went to whom (and which were withheld by which rule)."""
        self.record(who, "read", purpose, collection_id, {
            "endpoint": endpoint, "served": [[r["id"], r["version"]] for r in page.rows],
            "redacted": {r["id"]: r["redacted"] for r in page.rows if r["redacted"]},
            "withheld": [[w["id"], w["version"], w["rule"]] for w in page.withheld]})

    def delete_object(self, collection_id: str, object_id: str, who: Principal, purpose: str,
                      f: Filters) -> int:
        """Delete the selected versions of an object (default all); return the number removed.

        Raises
        ------
        NotFound
            If no version matches.
        """
        sel = Filters(ids=[object_id], versions=f.versions if f.versions != ["last"] else ["all"],
                      spec_versions=f.spec_versions)
        with write_tx(self.engine) as conn:
            pks = [r["pk"] for r in self._query(collection_id, sel, None, 1_000_000, conn)]
            if not pks:
                raise NotFound(f"object {object_id!r} not found")
            conn.execute(objects.delete().where(objects.c.pk.in_(pks)))
            self.record(who, "delete", purpose, collection_id, {"id": object_id, "versions_removed": len(pks)},
                        conn)
        return len(pks)

    def purge_expired(self, actor: str = "admin") -> int:
        """Delete every object version past its retention; return how many."""
        with write_tx(self.engine) as conn:
            n = conn.execute(objects.delete().where(objects.c.expires_at <= now_ts())).rowcount
            self._admin(conn, actor, "purge-expired", removed=n)
        return n


def parse_filter_list(value: str | None) -> list[str]:
    """Split a comma-separated ``match[...]`` value, dropping blanks."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else []
