"""The web app's own state: user accounts, the share outbox and the app's audit log.

It lives in one SQLite file (``--web-db``, default ``cibscope-web.sqlite``) or any
SQLAlchemy URL, opened through the sharing hub's data layer
(:func:`cibscope.share.store.make_engine`, :func:`~cibscope.share.store.write_tx`), so
its ``audit`` table is the same append-only, hash-chained log as the hub's
(:mod:`cibscope.share.audit`; ``cibscope audit verify --db cibscope-web.sqlite``
checks it). The hub's other tables are created too and stay empty.

Tables added here
-----------------
``web_users``     name, role (:data:`ROLES`), Argon2id password hash, created (UTC).
``web_shares``    one prepared share of one cluster: run, cluster, TLP 2.0 level, purpose,
                  legal basis, retention (days), named recipient organisations (JSON list),
                  the STIX objects to send (JSON), ``state`` (:data:`SHARE_STATES`), who
                  prepared/approved/pushed it and when, the hub and the hub's status resource.
``web_settings``  key/value; holds the session-signing secret (generated on first start).
``web_sessions``  signed-in sessions: SHA-256 of the session id the cookie holds, user, created and
                  expiry (UTC); a cookie whose session is not here is no session (sign-out, password change).
``web_hubs``      TAXII hubs an admin registered (name, API root URL): the only places shares are pushed to.
"""
from __future__ import annotations

import json
import secrets
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from ..share import audit as audit_log
from ..share.auth import MIN_PASSWORD_LENGTH, dummy_verify, hash_password, password_problem
from ..share.store import make_engine, now_ts, write_tx

from . import DEFAULT_WEB_DB, ROLES  # noqa: F401  (defined without SQLAlchemy for the CLI's help)
#: Life of a share: prepared -> approved (by a reviewer who did not prepare it) -> pushing (one push in
#: flight; back to approved when it fails) -> pushed.
SHARE_STATES = ("prepared", "approved", "pushing", "pushed")

web_meta = sa.MetaData()
web_users = sa.Table(
    "web_users", web_meta,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
)
web_shares = sa.Table(
    "web_shares", web_meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("cluster_id", sa.Text, nullable=False),
    sa.Column("tlp", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("legal_basis", sa.Text, nullable=False),
    sa.Column("retention_days", sa.Integer, nullable=False),
    sa.Column("recipient_orgs", sa.Text, nullable=False),      # JSON list
    sa.Column("objects", sa.Text, nullable=False),             # JSON list of STIX objects
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("prepared_by", sa.Text, nullable=False),
    sa.Column("prepared_at", sa.Text, nullable=False),
    sa.Column("approved_by", sa.Text),
    sa.Column("approved_at", sa.Text),
    sa.Column("pushed_by", sa.Text),
    sa.Column("pushed_at", sa.Text),
    sa.Column("hub_url", sa.Text),
    sa.Column("collection_id", sa.Text),
    sa.Column("status", sa.Text),                              # JSON: the hub's status resource
)
web_settings = sa.Table(
    "web_settings", web_meta,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

web_sessions = sa.Table(
    "web_sessions", web_meta,
    sa.Column("id_hash", sa.Text, primary_key=True),
    sa.Column("user", sa.Text, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
    sa.Column("expires", sa.Text, nullable=False),
)
web_hubs = sa.Table(
    "web_hubs", web_meta,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("url", sa.Text, nullable=False, unique=True),
    sa.Column("created", sa.Text, nullable=False),
)

_hasher = PasswordHasher()


def _sha256(text: str) -> str:
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()


def normalise_hub_url(url: str) -> str:
    """An API root URL with exactly one trailing slash (how hubs are registered and compared)."""
    return url.strip().rstrip("/") + "/"


class StateError(ValueError):
    """A request the state refuses: unknown or duplicate user, bad role, wrong share state or actor."""


def check_new_password(password: str) -> None:
    """Refuse a password a user may not set.

    Length is counted in Unicode code points, as NIST SP 800-63B (rev. 4, section 3.1.1.2) asks; no composition
    rules (mixed case, digits) are imposed, which the same section advises against.

    Raises
    ------
    StateError
        Fewer than :data:`MIN_PASSWORD_LENGTH` characters (the message says how many it has and needs),
        or nothing but white space.
    """
    problem = password_problem(password)
    if problem:
        raise StateError(problem)


class WebState:
    """Users, shares and the audit log of one web app (see the module docstring).

    Parameters
    ----------
    db : str or Path
        SQLite file path or SQLAlchemy URL; tables are created when absent.
    """

    def __init__(self, db: Any = DEFAULT_WEB_DB):
        self.engine: Engine = make_engine(db)
        with self.engine.begin() as conn:
            web_meta.create_all(conn)

    # ------------------------------------------------------------- settings
    def secret(self) -> str:
        """The session-signing secret: 32 random bytes (hex), made on first use and kept in the file."""
        with write_tx(self.engine) as conn:
            row = conn.execute(sa.select(web_settings.c.value).where(web_settings.c.key == "secret")).first()
            if row:
                return row.value
            value = secrets.token_hex(32)
            conn.execute(web_settings.insert().values(key="secret", value=value))
            return value

    # ---------------------------------------------------------------- users
    def add_user(self, name: str, role: str, password: str, *, actor: str = "cli") -> None:
        """Create a user with an Argon2id-hashed password (audited as ``admin``).

        Raises
        ------
        StateError
            Empty name, a password shorter than :data:`MIN_PASSWORD_LENGTH`, unknown role, or the name is taken.
        """
        if not name.strip():
            raise StateError("a user needs a name")
        check_new_password(password)
        if role not in ROLES:
            raise StateError(f"unknown role {role!r} (allowed: {', '.join(ROLES)})")
        with write_tx(self.engine) as conn:
            if conn.execute(sa.select(web_users.c.name).where(web_users.c.name == name)).first():
                raise StateError(f"user {name!r} exists")
            conn.execute(web_users.insert().values(name=name, role=role, password_hash=hash_password(password),
                                                   created=now_ts()))
            audit_log.append(conn, actor=actor, action="admin", detail={"op": "add-user", "user": name,
                                                                        "role": role})

    def set_password(self, name: str, password: str, *, actor: str = "cli") -> None:
        """Replace a user's password.

        Raises
        ------
        StateError
            Unknown user, or a password shorter than :data:`MIN_PASSWORD_LENGTH`.
        """
        check_new_password(password)
        with write_tx(self.engine) as conn:
            n = conn.execute(web_users.update().where(web_users.c.name == name)
                             .values(password_hash=hash_password(password))).rowcount
            if not n:
                raise StateError(f"no user {name!r}")
            ended = conn.execute(web_sessions.delete().where(web_sessions.c.user == name)).rowcount
            audit_log.append(conn, actor=actor, action="admin", detail={"op": "set-password", "user": name,
                                                                        "sessions_ended": ended})

    def users(self) -> list[dict[str, Any]]:
        """All users (name, role, created), by name; never the hashes."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(web_users.c.name, web_users.c.role, web_users.c.created).order_by(web_users.c.name))]

    def check_password(self, name: str, password: str) -> dict[str, Any] | None:
        """``{"name", "role"}`` when ``password`` matches the user's Argon2 hash, else None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(web_users).where(web_users.c.name == name)).first()
        if row is None:
            dummy_verify(password)  # same work whether or not the user exists
            return None
        try:
            _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return {"name": row.name, "role": row.role}

    def role_of(self, name: str) -> str | None:
        """The user's current role (None when the user no longer exists)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(web_users.c.role).where(web_users.c.name == name)).scalar()

    # ------------------------------------------------------------- sessions
    def new_session(self, user: str, max_age: int) -> str:
        """Start a server-side session for ``user``; return its id (only its SHA-256 is stored)."""
        import datetime as dt
        sid = secrets.token_urlsafe(32)
        expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=max_age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with write_tx(self.engine) as conn:
            conn.execute(web_sessions.delete().where(web_sessions.c.expires < now_ts()))
            conn.execute(web_sessions.insert().values(id_hash=_sha256(sid), user=user, created=now_ts(),
                                                      expires=expires))
        return sid

    def session_user(self, sid: str) -> str | None:
        """The user of a live session id, or None (ended, expired or never issued)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(web_sessions.c.user).where(
                web_sessions.c.id_hash == _sha256(sid), web_sessions.c.expires > now_ts())).scalar()

    def end_session(self, sid: str) -> None:
        """End a session (sign-out): its cookie is no session from now on."""
        with write_tx(self.engine) as conn:
            conn.execute(web_sessions.delete().where(web_sessions.c.id_hash == _sha256(sid)))

    # ----------------------------------------------------------------- hubs
    def add_hub(self, name: str, url: str, *, actor: str = "cli") -> None:
        """Register a TAXII hub (API root URL, http or https) shares may be pushed to (audited as ``admin``).

        Raises
        ------
        StateError
            Empty name, a URL that is not http(s)://host/..., or the name or URL is registered already.
        """
        from urllib.parse import urlsplit
        u = normalise_hub_url(url)
        parts = urlsplit(u)
        if not name.strip() or parts.scheme not in ("http", "https") or not parts.hostname:
            raise StateError("a hub needs a name and an http(s):// API root URL")
        with write_tx(self.engine) as conn:
            if conn.execute(sa.select(web_hubs.c.name).where(sa.or_(web_hubs.c.name == name,
                                                                      web_hubs.c.url == u))).first():
                raise StateError(f"hub {name!r} or URL {u} is registered already")
            conn.execute(web_hubs.insert().values(name=name, url=u, created=now_ts()))
            audit_log.append(conn, actor=actor, action="admin", detail={"op": "add-hub", "hub": name, "url": u})

    def remove_hub(self, name: str, *, actor: str = "cli") -> None:
        """Unregister a hub. Raises :class:`StateError` when unknown."""
        with write_tx(self.engine) as conn:
            if not conn.execute(web_hubs.delete().where(web_hubs.c.name == name)).rowcount:
                raise StateError(f"no hub {name!r}")
            audit_log.append(conn, actor=actor, action="admin", detail={"op": "remove-hub", "hub": name})

    def hubs(self) -> list[dict[str, Any]]:
        """Registered hubs (name, url, created), by name."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(web_hubs).order_by(web_hubs.c.name))]

    def hub_named_or_at(self, name_or_url: str) -> dict[str, Any] | None:
        """The registered hub with this name or (normalised) URL, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(web_hubs).where(sa.or_(
                web_hubs.c.name == name_or_url, web_hubs.c.url == normalise_hub_url(name_or_url)))).first()
        return dict(row._mapping) if row else None

    # ---------------------------------------------------------------- audit
    def record(self, actor: str, action: str, detail: dict[str, Any], *, purpose: str | None = None,
               collection_id: str | None = None) -> None:
        """Append one entry to the app's hash-chained audit log."""
        with write_tx(self.engine) as conn:
            audit_log.append(conn, actor=actor, action=action, detail=detail, purpose=purpose,
                             collection_id=collection_id)

    def audit(self) -> list[dict[str, Any]]:
        """All audit entries, newest first, ``detail`` decoded."""
        out = list(audit_log.entries(self.engine))
        for e in out:
            e["detail"] = json.loads(e["detail"])
        return out[::-1]

    def verify_audit(self) -> audit_log.VerifyResult:
        """Check the audit log's hash chain (:func:`cibscope.share.audit.verify`)."""
        return audit_log.verify(audit_log.entries(self.engine))

    # --------------------------------------------------------------- shares
    def add_share(self, *, actor: str, run_id: int, cluster_id: str, tlp: str, purpose: str, legal_basis: str,
                  retention_days: int, recipient_orgs: list[str], objects: list[dict[str, Any]]) -> int:
        """Store a prepared share (state ``prepared``) and audit it; return its id."""
        with write_tx(self.engine) as conn:
            sid = conn.execute(web_shares.insert().values(
                run_id=run_id, cluster_id=cluster_id, tlp=tlp, purpose=purpose, legal_basis=legal_basis,
                retention_days=retention_days, recipient_orgs=json.dumps(recipient_orgs),
                objects=json.dumps(objects, ensure_ascii=False), state="prepared", prepared_by=actor,
                prepared_at=now_ts())).inserted_primary_key[0]
            audit_log.append(conn, actor=actor, action="share-prepare", purpose=purpose,
                             detail={"share": sid, "run": run_id, "cluster": cluster_id, "tlp": tlp,
                                     "objects": len(objects)})
        return int(sid)

    def share(self, share_id: int, *, with_objects: bool = True) -> dict[str, Any]:
        """One share with JSON columns decoded. Raises :class:`StateError` when absent."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(web_shares).where(web_shares.c.id == share_id)).first()
        if row is None:
            raise StateError(f"no share {share_id}")
        out = dict(row._mapping)
        out["recipient_orgs"] = json.loads(out["recipient_orgs"])
        out["status"] = json.loads(out["status"]) if out["status"] else None
        out["n_objects"] = len(json.loads(out["objects"]))
        if with_objects:
            out["objects"] = json.loads(out["objects"])
        else:
            del out["objects"]
        return out

    def shares(self) -> list[dict[str, Any]]:
        """Every share, newest first, without its objects (``n_objects`` counts them)."""
        with self.engine.connect() as conn:
            ids = list(conn.execute(sa.select(web_shares.c.id).order_by(web_shares.c.id.desc())).scalars())
        return [self.share(i, with_objects=False) for i in ids]

    def approve(self, share_id: int, actor: str, role: str) -> None:
        """Approve a prepared share: only a reviewer or admin who did not prepare it (four-eyes rule).

        Raises
        ------
        StateError
            Wrong role, the preparer approving their own share, or the share is not ``prepared``.
        """
        if role not in ("reviewer", "admin"):
            raise StateError("only a reviewer or an admin can approve a share")
        with write_tx(self.engine) as conn:
            row = conn.execute(sa.select(web_shares.c.state, web_shares.c.prepared_by, web_shares.c.purpose)
                               .where(web_shares.c.id == share_id)).first()
            if row is None:
                raise StateError(f"no share {share_id}")
            if row.state != "prepared":
                raise StateError(f"share {share_id} is {row.state}, not prepared")
            if row.prepared_by == actor:
                raise StateError("a share must be approved by a second person, not by the one who prepared it")
            conn.execute(web_shares.update().where(web_shares.c.id == share_id)
                         .values(state="approved", approved_by=actor, approved_at=now_ts()))
            audit_log.append(conn, actor=actor, action="share-approve", purpose=row.purpose,
                             detail={"share": share_id, "prepared_by": row.prepared_by})

    def begin_push(self, share_id: int) -> None:
        """Claim an approved share for one push: ``approved`` -> ``pushing`` in one conditional UPDATE, so
        of two concurrent pushes exactly one goes on to contact a hub.

        Raises
        ------
        StateError
            The share is absent or not ``approved`` (already pushed, or a push is in flight).
        """
        with write_tx(self.engine) as conn:
            n = conn.execute(web_shares.update().where(web_shares.c.id == share_id,
                                                       web_shares.c.state == "approved")
                             .values(state="pushing")).rowcount
        if n != 1:
            state = self.share(share_id, with_objects=False)["state"]
            raise StateError(f"share {share_id} is {state}: only an approved share can be pushed"
                             + (" (another push of it is in flight)" if state == "pushing" else ""))

    def end_failed_push(self, share_id: int, actor: str, detail: dict[str, Any], *, purpose: str,
                        collection_id: str) -> None:
        """A push that failed: ``pushing`` -> ``approved`` again and a ``share-push-failed`` audit entry."""
        with write_tx(self.engine) as conn:
            conn.execute(web_shares.update().where(web_shares.c.id == share_id, web_shares.c.state == "pushing")
                         .values(state="approved"))
            audit_log.append(conn, actor=actor, action="share-push-failed", detail=detail, purpose=purpose,
                             collection_id=collection_id)

    def mark_pushed(self, share_id: int, actor: str, hub_url: str, collection_id: str,
                    status: dict[str, Any]) -> None:
        """Record a successful push and the hub's status resource (audited as ``share-push``)."""
        with write_tx(self.engine) as conn:
            row = conn.execute(sa.select(web_shares.c.state, web_shares.c.purpose)
                               .where(web_shares.c.id == share_id)).first()
            if row is None or row.state != "pushing":
                raise StateError(f"share {share_id} is not being pushed")
            conn.execute(web_shares.update().where(web_shares.c.id == share_id).values(
                state="pushed", pushed_by=actor, pushed_at=now_ts(), hub_url=hub_url, collection_id=collection_id,
                status=json.dumps(status)))
            audit_log.append(conn, actor=actor, action="share-push", purpose=row.purpose,
                             collection_id=collection_id,
                             detail={"share": share_id, "hub": hub_url, "status": status.get("id"),
                                     "success_count": status.get("success_count"),
                                     "failure_count": status.get("failure_count")})
