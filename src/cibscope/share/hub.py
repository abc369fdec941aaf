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
import secrets
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
from .text import surrogate_problem
from .store import (add_seconds, api_roots, collections, hub_secrets, marking_endorsements, make_engine, next_date_added, norm_ts, now_ts,
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
    _reuse_schema_validators()
    # SHOULD checks only make warnings, which the hub never reports: skip them (disabled=["all"] leaves the
    # MUST checks and the schemas, which make the errors, as they are).
    return validate_instance, ValidationOptions(version="2.1", disabled=["all"]), ValidationError


def _reuse_schema_validators() -> None:
    """Make stix2-validator 3.3.2 build each STIX 2.1 schema's validator once instead of once per object.

    For every object it reads the type's schema file and builds a jsonschema validator over a fresh
    ``referencing.Registry`` that is never updated, so every ``$ref`` (``../common/core.json`` and so on)
    re-reads and re-crawls its target: about 4 ms of an object's 5 ms (issue #17 row 12: a POST of 10,000
    objects took 92 s). Here the bundled schemas are loaded, patched as the validator patches them
    (:func:`stix2validator.validator.patch_schema`) and crawled into one registry, once; the validator of
    each schema file is then built once on it and reused (jsonschema validators are stateless). The checks
    run are the same: schema, then the validator's own MUST and SHOULD checks. Custom schema folders
    (``schema_dir``) keep the library's own path.
    """
    import stix2validator.validator as v
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    if getattr(v, "_cibscope_reuse", False):
        return
    base = Path(v.__file__).parent / "schemas-2.1" / "schemas"
    resources = []
    for f in sorted(base.rglob("*.json")):
        if "examples" in f.parts:
            continue
        patched = v.patch_schema(json.loads(f.read_text(encoding="utf-8")), str(f))
        resources.append((f.as_uri(), DRAFT202012.create_resource(patched)))
    registry = Registry().with_resources(resources).crawl()
    import jsonschema_rs
    rs_registry = jsonschema_rs.Registry([(uri, r.contents) for uri, r in resources])
    original = v.load_validator
    built: dict[str, Any] = {}

    def load_validator(schema_path: str, schema: dict[str, Any], schema_dir: str) -> Any:
        if not str(schema_path).startswith(str(base)):
            return original(schema_path, schema, schema_dir)
        # observed-data and bundle schemas are edited by the caller before this call, the same way each time
        key = schema_path
        if key not in built:
            patched = v.patch_schema(schema, schema_path)
            reg = registry.with_resource(schema_path, DRAFT202012.create_resource(patched))
            exact = v.STIXValidator(patched, registry=reg, format_checker=v.Draft202012Validator.FORMAT_CHECKER)
            fast = jsonschema_rs.validator_for(patched, registry=rs_registry, validate_formats=True)
            built[key] = _FastFirst(fast, exact)
        return built[key]

    v.load_validator = load_validator
    _memoise_must_checks()
    v._cibscope_reuse = True


class _CachedDateParser:
    """``dateutil.parser`` for stix2-validator's MUST checks with ``parse`` memoised by its argument (the
    same ``created``/``modified``/``valid_from`` strings recur across a bulk POST). Same results, same
    ``ValueError`` (re-raised from the cache)."""

    def __init__(self, parser: Any):
        self._parser = parser
        self._parse = functools.lru_cache(maxsize=65536)(self._outcome)

    def _outcome(self, text: str) -> tuple[Any, str | None]:
        try:
            return self._parser.parse(text), None
        except ValueError as exc:
            return None, str(exc)

    def parse(self, text: Any, *args: Any, **kw: Any) -> Any:
        if args or kw or not isinstance(text, str):
            return self._parser.parse(text, *args, **kw)
        value, error = self._parse(text)
        if error is not None:
            raise ValueError(error)
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def _memoise_must_checks() -> None:
    """Memoise the pure, per-string work of stix2-validator's MUST checks: timestamp parsing and the STIX
    pattern grammar check (an indicator's pattern is parsed with ANTLR, about 1 ms; re-posted indicators
    repeat it). Results are unchanged."""
    from stix2validator.v21 import musts
    if not isinstance(musts.parser, _CachedDateParser):
        musts.parser = _CachedDateParser(musts.parser)
    validate_pattern = musts.pattern_validator

    @functools.lru_cache(maxsize=8192)
    def pattern_errors(pattern: str, version: str) -> tuple[str, ...]:
        return tuple(str(e) for e in validate_pattern(pattern, version))

    def pattern_validator(pattern: Any, version: str = "2.1") -> list[str]:
        if not isinstance(pattern, str):
            return validate_pattern(pattern, version)
        return list(pattern_errors(pattern, version))

    musts.pattern_validator = pattern_validator


class _FastFirst:
    """A schema validator that asks ``jsonschema-rs`` (compiled, about 15 us an object) first and runs the
    library's own jsonschema validator only for an object it finds invalid, so error messages stay
    stix2-validator's. (The two implement the same JSON Schema draft 2020-12 with format checks; an object
    ``jsonschema-rs`` accepts is not re-checked.)"""

    def __init__(self, fast: Any, exact: Any):
        self.fast, self.exact = fast, exact

    def iter_errors(self, obj: Any) -> Any:
        return iter(()) if self.fast.is_valid(obj) else self.exact.iter_errors(obj)


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


def _next_cipher(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    return AESGCM(key)


_NEXT_AAD = b"cibscope-taxii-next-v1"


def _same_json(a: Any, b: Any) -> bool:
    """True when two JSON values are equal (object key order ignored)."""
    return a == b


def _date_added_step() -> float:
    """Seconds between the ``date_added`` of consecutive objects of one POST: a random 1 to 100 microseconds,
    so that a gap between two versions a reader receives does not count the versions withheld from it
    (issue #17, row 8); ``date_added`` stays strictly increasing."""
    return secrets.randbelow(100) * 1e-6 + 1e-6


def object_version(obj: dict[str, Any], date_added: str) -> str:
    """TAXII version of an object: ``modified``, else ``created``, else ``date_added`` (normalised)."""
    ts = obj.get("modified") or obj.get("created")
    return norm_ts(ts) if isinstance(ts, str) else date_added


class Hub:
    """The sharing hub over one database (SQLite path or SQLAlchemy URL)."""

    def __init__(self, db: str | Path):
        self.engine = make_engine(db)
        self._next_key: bytes | None = None

    # ------------------------------------------------------------- next tokens
    def _cipher(self) -> Any:
        """AES-256-GCM over the hub's ``next_key`` (made and stored on first use)."""
        if self._next_key is None:
            with write_tx(self.engine) as conn:
                row = conn.execute(sa.select(hub_secrets.c.value).where(hub_secrets.c.name == "next_key")).first()
                if row is None:
                    value = base64.b64encode(secrets.token_bytes(32)).decode()
                    conn.execute(hub_secrets.insert().values(name="next_key", value=value))
                else:
                    value = row.value
            self._next_key = base64.b64decode(value)
        return _next_cipher(self._next_key)

    def _encode_next(self, date_added: str, pk: int, who: Principal) -> str:
        """An opaque ``next`` token (TAXII 2.1 section 3.4: "an opaque value"): the page key and the
        requesting user, encrypted and authenticated with AES-256-GCM, so it neither tells the row number
        nor works for another user."""
        nonce = secrets.token_bytes(12)
        plain = json.dumps([date_added, pk, who.user_id]).encode()
        return base64.urlsafe_b64encode(nonce + self._cipher().encrypt(nonce, plain, _NEXT_AAD)).decode().rstrip("=")

    def _decode_next(self, token: str, who: Principal) -> tuple[str, int]:
        """The page key of a token from :meth:`_encode_next`.

        Raises
        ------
        ValueError
            The token was not issued by this hub to this user (or was altered).
        """
        from cryptography.exceptions import InvalidTag
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plain = self._cipher().decrypt(raw[:12], raw[12:], _NEXT_AAD)
            da, pk, uid = json.loads(plain)
            if uid != who.user_id:
                raise ValueError(uid)
            return norm_ts(da), int(pk)
        except (ValueError, InvalidTag, TypeError, IndexError):
            raise ValueError(f"invalid 'next' value {token[:100]!r}") from None

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
    def _stored_owners(self, conn: Connection, collection_id: str,
                       ids: list[str]) -> dict[str, tuple[int, set[str]]]:
        """``{id: (owner org id, stored versions)}`` for the ``ids`` already in the collection.

        The owner is the organisation that stored the object's first row (lowest ``pk``): only it may
        add versions, revoke or delete (docs/sharing.md, "Ownership and immutability").
        """
        found: dict[str, tuple[int, set[str]]] = {}
        uniq = sorted(set(ids))
        for i in range(0, len(uniq), 500):  # SQLite's bound-parameter limit
            rows = conn.execute(sa.select(objects.c.id, objects.c.version, objects.c.producer_org_id)
                                .where(objects.c.collection_id == collection_id,
                                       objects.c.id.in_(uniq[i:i + 500])).order_by(objects.c.pk))
            for r in rows:
                owner, versions = found.setdefault(r.id, (int(r.producer_org_id), set()))
                versions.add(r.version)
        return found

    def _stored_markings(self, conn: Connection, collection_id: str) -> dict[str, tuple[dict[str, Any], int]]:
        """``{id: (body, owner org id)}`` of the collection's marking-definitions, each as first stored.

        A marking-definition is immutable (STIX 2.1 section 7.2.1: it has no ``modified``), so the
        first stored copy is the only one the hub ever uses; a later copy with other content is refused
        (``marking-redefined``) and never read here.
        """
        rows = conn.execute(sa.select(objects.c.id, objects.c.body, objects.c.producer_org_id).where(
            objects.c.collection_id == collection_id, objects.c.type == "marking-definition")
            .order_by(objects.c.pk))
        found: dict[str, tuple[dict[str, Any], int]] = {}
        for r in rows:
            found.setdefault(r.id, (json.loads(r.body), int(r.producer_org_id)))
        return found

    def _endorsed(self, conn: Connection, collection_id: str, org_id: int) -> set[str]:
        """Ids of marking-definitions ``org_id`` posted identical copies of (owned by another org)."""
        return set(conn.execute(sa.select(marking_endorsements.c.marking_id).where(
            marking_endorsements.c.collection_id == collection_id,
            marking_endorsements.c.org_id == org_id)).scalars())

    def _object_policy(self, obj: dict[str, Any], purpose: str, who: Principal,
                       markings: dict[str, tuple[dict[str, Any], int]], endorsed: set[str]) -> dict[str, Any]:
        """Policy columns for one posted object; raises ValueError naming the rule when it cannot be shared.

        ``markings`` maps marking ids to ``(body, owner org id)``. The purpose marking an object
        references must belong to the poster's organisation, or be one it posted an identical copy of
        (``endorsed``; equal terms give equal ids, :func:`~cibscope.share.markings.purpose_marking`),
        else ``purpose-marking-foreign``: otherwise another organisation could define, ahead of the
        producer, the terms the producer's objects would then be served under.
        """
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
            m, owner = markings.get(r, (None, None))
            if m is not None and marking_kind(m) == "purpose":
                if owner != who.org_id and r not in endorsed:
                    raise ValueError(f"purpose-marking-foreign: {r} was defined by another organisation; "
                                     "an object's purpose marking must be its own organisation's")
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

    def _ownership_problem(self, conn: Connection, collection_id: str, obj: dict[str, Any], version: str,
                           who: Principal, owners: dict[str, tuple[int, set[str]]],
                           markings: dict[str, tuple[dict[str, Any], int]]) -> str | None:
        """Why ``obj`` may not be stored under the ownership rules, ``"already stored"``, or None.

        * A marking-definition id is defined once: a copy with the same content is "already stored",
          one with other content is refused (``marking-redefined``), whoever posts it. The five TLP 2.0
          ids have a fixed meaning (:data:`~cibscope.share.markings.TLP2_BY_ID`), so any copy of them
          after the first is "already stored" and never used.
        * Any other object belongs to the organisation that stored it first; another organisation may
          not add a version (which would be served as the latest, e.g. a revocation): ``object-owner``.
          An identical copy of another organisation's extension-definition is "already stored".
        * The same (id, version) again from the owner is "already stored" (TAXII 2.1 section 5.5).
        """
        oid = obj["id"]
        if obj["type"] == "marking-definition" and oid in markings:
            if oid in TLP2_BY_ID or _same_json(markings[oid][0], obj):
                return "already stored"
            return (f"marking-redefined: {oid} is already defined in this collection with other content; "
                    "a marking-definition cannot be changed (define a new one with a new id)")
        stored = owners.get(oid)
        if stored is None:
            return None
        owner, versions = stored
        if owner != who.org_id:
            if obj["type"] == "extension-definition" and version in versions:
                row = conn.execute(sa.select(objects.c.body).where(
                    objects.c.collection_id == collection_id, objects.c.id == oid,
                    objects.c.version == version)).first()
                if row is not None and _same_json(json.loads(row.body), obj):
                    return "already stored"
            return (f"object-owner: {oid} belongs to another organisation; only it may add versions, "
                    "revoke or delete it")
        return "already stored" if version in versions else None

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
            problem = surrogate_problem(body)  # JSON may escape a lone UTF-16 surrogate ("\ud800")
            if problem:
                errors.append(problem)
            if errors:
                msg = "; ".join(errors)
                failures.append({"id": str(obj.get("id", f"objects[{i}]")), "message": f"stix-invalid: {msg}"})
                continue
            checked.append((obj, body))
        # a marking this envelope sent but that was refused: objects referring to it must not be stored under
        # another (older, stored) version of it
        refused_markings = {f["id"] for f in failures if f["id"].startswith("marking-definition--")}
        successes: list[dict[str, Any]] = []
        status_id = str(uuid.uuid4())
        with write_tx(self.engine) as conn:
            owners = self._stored_owners(conn, collection_id, [o["id"] for o, _ in checked])
            markings = self._stored_markings(conn, collection_id)
            endorsed = self._endorsed(conn, collection_id, who.org_id)
            date_added = next_date_added(conn)
            accepted: list[tuple[dict[str, Any], str, str]] = []  # (object, body, version)
            # Ownership and immutability first, definitions before the objects that reference them.
            for obj, body in sorted(checked, key=lambda ob: ob[0]["type"] not in DEFINITION_TYPES):
                version = object_version(obj, date_added)
                problem = self._ownership_problem(conn, collection_id, obj, version, who, owners, markings)
                if problem == "already stored":
                    successes.append({"id": obj["id"], "version": version, "message": "already stored"})
                    oid = obj["id"]
                    if (obj["type"] == "marking-definition" and oid not in TLP2_BY_ID and oid not in endorsed
                            and markings[oid][1] != who.org_id):
                        conn.execute(marking_endorsements.insert().values(
                            collection_id=collection_id, marking_id=oid, org_id=who.org_id))
                        endorsed.add(oid)
                elif problem:
                    failures.append({"id": obj["id"], "version": version, "message": problem})
                    if obj["type"] == "marking-definition":
                        refused_markings.add(obj["id"])
                else:
                    accepted.append((obj, body, version))
                    owners.setdefault(obj["id"], (who.org_id, set()))[1].add(version)
                    if obj["type"] == "marking-definition":
                        markings.setdefault(obj["id"], (obj, who.org_id))
            rows = []
            for obj, body, version in accepted:
                if not isinstance(obj.get("modified") or obj.get("created"), str):
                    version = date_added  # no timestamp: versioned by date_added (TAXII 2.1 section 3.1)
                refs = set(obj.get("object_marking_refs") or []) | {
                    g.get("marking_ref") for g in obj.get("granular_markings") or [] if isinstance(g, dict)}
                if refs & refused_markings:
                    failures.append({"id": obj["id"], "version": version,
                                     "message": f"marking-refused: {', '.join(sorted(refs & refused_markings))} "
                                                "was refused in this envelope"})
                    continue
                try:
                    pol = self._object_policy(obj, purpose, who, markings, endorsed)
                except ValueError as exc:
                    failures.append({"id": obj["id"], "version": version, "message": str(exc)})
                    continue
                days = pol.pop("retention_days")
                rows.append({"collection_id": collection_id, "id": obj["id"], "type": obj["type"],
                             "spec_version": obj.get("spec_version", "2.1"), "version": version,
                             "date_added": date_added, "body": body,
                             "expires_at": add_seconds(date_added, days * 86400) if days else None,
                             "producer_user_id": who.user_id, "producer_org_id": who.org_id, **pol})
                successes.append({"id": obj["id"], "version": version})
                date_added = add_seconds(date_added, _date_added_step())
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
        key = self._decode_next(next_token, who) if next_token else None
        out: list[dict[str, Any]] = []
        withheld: list[dict[str, str]] = []
        more = False
        while not more:
            rows = self._query(collection_id, f, key, limit + 1)
            for r in rows:
                key = (r["date_added"], r["pk"])
                try:
                    check_read(who, purpose, ObjectPolicy.from_row(r, r["producer_sector"]))
                except Refusal as ref:
                    if len(out) < limit:  # beyond the page: withheld (and audited) on the page that holds it
                        withheld.append({"id": r["id"], "version": r["version"], "rule": ref.rule})
                    continue
                if len(out) == limit:  # a further version this reader may receive: there is a next page
                    more = True
                    break
                obj, removed = redact(who, json.loads(r["body"]))
                out.append({**r, "obj": obj, "redacted": removed})
            if len(rows) <= limit:
                break
        # ``more`` only when a version this reader may receive follows (withheld ones are not counted, #17 row 8)
        nxt = self._encode_next(out[-1]["date_added"], out[-1]["pk"], who) if more and out else None
        return Page(out, more and nxt is not None, nxt, withheld)

    def audit_read(self, who: Principal, purpose: str, collection_id: str, endpoint: str,
                   page: Page) -> None:
        """Audit which object versions went to whom (and which were withheld by which rule)."""
        self.record(who, "read", purpose, collection_id, {
            "endpoint": endpoint, "served": [[r["id"], r["version"]] for r in page.rows],
            "redacted": {r["id"]: r["redacted"] for r in page.rows if r["redacted"]},
            "withheld": [[w["id"], w["version"], w["rule"]] for w in page.withheld]})

    def delete_object(self, collection_id: str, object_id: str, who: Principal | None, purpose: str | None,
                      f: Filters, *, admin: str | None = None) -> int:
        """Delete the selected versions of an object (default all); return the number removed.

        Only the organisation that owns the object (stored its first version) may delete it, or a hub
        admin (``admin`` = the admin's name, ``who`` None; audited as an admin operation).

        Raises
        ------
        NotFound
            If no version matches, or none of the matching versions is the requester's organisation's
            or readable by it (a forbidden object answers like a missing one).
        Refusal
            ``object-owner``: the requester can read the object but another organisation owns it.
        """
        sel = Filters(ids=[object_id], versions=f.versions if f.versions != ["last"] else ["all"],
                      spec_versions=f.spec_versions)
        with write_tx(self.engine) as conn:
            rows = self._query(collection_id, sel, None, 1_000_000, conn)
            if admin is None:
                assert who is not None and purpose is not None
                own = [r for r in rows if r["producer_org_id"] == who.org_id]
                if not own and not any(_readable(who, purpose, r) for r in rows):
                    rows = []
                elif len(own) != len(rows):
                    raise Refusal("object-owner")
            if not rows:
                raise NotFound("object not found")
            pks = [r["pk"] for r in rows]
            conn.execute(objects.delete().where(objects.c.pk.in_(pks)))
            detail = {"id": object_id, "versions_removed": len(pks)}
            if admin is None:
                self.record(who, "delete", purpose, collection_id, detail, conn)
            else:
                self._admin(conn, admin, "delete-object", collection=collection_id, **detail)
        return len(pks)

    def purge_expired(self, actor: str = "admin") -> int:
        """Delete every object version past its retention; return how many."""
        with write_tx(self.engine) as conn:
            n = conn.execute(objects.delete().where(objects.c.expires_at <= now_ts())).rowcount
            self._admin(conn, actor, "purge-expired", removed=n)
        return n


def _readable(who: Principal, purpose: str, row: dict[str, Any]) -> bool:
    """True when :func:`~cibscope.share.policy.check_read` lets ``who`` receive the stored version ``row``."""
    try:
        check_read(who, purpose, ObjectPolicy.from_row(row, row["producer_sector"]))
    except Refusal:
        return False
    return True


def parse_filter_list(value: str | None) -> list[str]:
    """Split a comma-separated ``match[...]`` value, dropping blanks."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else []
