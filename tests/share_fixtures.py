"""Shared builders for the sharing-hub tests: a hub with one organisation per sector and STIX
objects about real Internet Research Agency accounts (rows copied from
../shared/data/ira-troll-tweets-by-author/authors.csv: handle, Twitter id, Linvill-Warren category)."""
from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from cibscope.share.hub import Hub
from cibscope.share.markings import PERSONAL_DATA_MARKING_ID, TLP2_IDS, personal_data_marking, purpose_marking

#: (handle, Twitter user id, category) from authors.csv.
IRA_ACCOUNTS = [("TEN_GOP", "4224729994", "RightTroll"), ("Jenn_Abrams", "2882331822", "RightTroll"),
                ("Pamela_Moore13", "4272870988", "RightTroll")]
ROOT = "hub"
COLLECTION = "2d3a8f3e-7b0c-4a1e-9e55-0c4a3f1d6b21"
TAXII = "application/taxii+json;version=2.1"

#: org name -> sector; user "<org>-analyst" belongs to each.
ORGS = {"Platform A": "platform", "Platform B": "platform", "Gov Agency": "government",
        "Ministry": "government", "Police": "law-enforcement", "NGO Lab": "civil-society",
        "University": "research"}
#: the one user with a password (HTTP Basic); Argon2 hashing is deliberately slow.
BASIC_USER, BASIC_PASSWORD = "platform-a", "correct horse battery staple"


@dataclass
class HubFixture:
    """A hub plus a token per user (user name = org name lower-cased, spaces to dashes)."""

    hub: Hub
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str, purpose: str | None) -> dict[str, str]:
        h = {"Accept": TAXII, "Authorization": f"Bearer {self.tokens[user]}", "Content-Type": TAXII}
        if purpose:
            h["X-Cibscope-Purpose"] = purpose
        return h


def user_of(org: str) -> str:
    return org.lower().replace(" ", "-")


#: (backend, max_content_length) -> (template: SQLite file or PostgreSQL database name, tokens); built once
#: per test process (PostgreSQL: per cluster).
_TEMPLATES: dict[tuple[str, int], tuple[Path | str, dict[str, str]]] = {}

BACKENDS = ["sqlite", "postgresql"]


def backend_db(request, backend: str, folder: Path):
    """A new hub location on ``backend``: a SQLite file path in ``folder`` (not yet created), or the URL
    of a new empty database on the session's PostgreSQL cluster, dropped when ``request``'s scope ends
    (skipped without PostgreSQL)."""
    if backend == "sqlite":
        return folder / "hub.sqlite"
    from pg_cluster import drop_database
    url = request.getfixturevalue("pg_cluster").new_database()
    request.addfinalizer(lambda: drop_database(url))
    return url


@pytest.fixture(params=BACKENDS)
def hub_db(request, tmp_path):
    """Where a test's hub lives, once per backend (:func:`backend_db`)."""
    return backend_db(request, request.param, tmp_path)


def is_postgres(db) -> bool:
    """True when ``db`` is a PostgreSQL URL (else a SQLite path)."""
    return str(db).startswith("postgresql")


def make_hub(db, max_content_length: int = 10 * 1024 * 1024) -> HubFixture:
    """Hub with API root ``hub``, collection :data:`COLLECTION` readable and writable by every org.

    ``db`` is a SQLite file path or the URL of an empty database from :class:`pg_cluster.PgCluster`.
    The first call per backend and ``max_content_length`` builds a template hub through the admin API
    (30 audited admin transactions, one Argon2 hash); later calls copy it to ``db`` (SQLite: the file;
    PostgreSQL: ``CREATE DATABASE ... TEMPLATE``, replacing the empty database).
    """
    if is_postgres(db):
        return _make_pg_hub(str(db), max_content_length)
    key = ("sqlite", max_content_length)
    if key not in _TEMPLATES:
        tmp = Path(tempfile.mkdtemp(prefix="cibscope-hub-template-"))
        atexit.register(shutil.rmtree, tmp, True)
        fx = _build_hub(tmp / "hub.sqlite", max_content_length)
        with fx.hub.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        fx.hub.engine.dispose()
        _TEMPLATES[key] = (tmp / "hub.sqlite", fx.tokens)
    template, tokens = _TEMPLATES[key]
    shutil.copyfile(template, db)
    return HubFixture(Hub(db), dict(tokens))


def _make_pg_hub(url: str, max_content_length: int) -> HubFixture:
    from pg_cluster import create_database, database_of
    key = (sa.engine.make_url(url).set(database="").render_as_string(hide_password=False), max_content_length)
    if key not in _TEMPLATES:
        template = f"hub_template_{max_content_length}"
        fx = _build_hub(create_database(url, template), max_content_length)
        fx.hub.engine.dispose()  # a template database must have no open connection
        _TEMPLATES[key] = (template, fx.tokens)
    template, tokens = _TEMPLATES[key]
    create_database(url, database_of(url), template=str(template), replace=True)
    return HubFixture(Hub(url), dict(tokens))


def _build_hub(db, max_content_length: int) -> HubFixture:
    hub = Hub(db)
    hub.add_api_root(ROOT, "Test hub", max_content_length=max_content_length)
    hub.add_collection(ROOT, "CIB findings", collection_id=COLLECTION)
    fx = HubFixture(hub)
    for org, sector in ORGS.items():
        hub.add_org(org, sector)
        hub.add_user(user_of(org), org, password=BASIC_PASSWORD if user_of(org) == BASIC_USER else None)
        fx.tokens[user_of(org)] = hub.add_token(user_of(org))
        hub.grant(org, COLLECTION, read=True, write=True)
    return fx


def ira_objects(tlp: str, purposes: list[str], *, recipient_orgs=None, recipient_users=None,
                retention_days: int = 365, personal_data: bool = False, seed: str = "") -> list[dict]:
    """A purpose marking, a threat-actor and user-accounts for :data:`IRA_ACCOUNTS`, all marked."""
    pm = purpose_marking(purposes, "EU DSA art. 40 / test", retention_days,
                         recipient_organizations=recipient_orgs, recipient_users=recipient_users)
    marks = [TLP2_IDS[tlp], pm["id"]]
    ns = uuid.uuid5(uuid.NAMESPACE_URL, f"cibscope-test{seed}{tlp}{purposes}{recipient_orgs}{recipient_users}")
    out = [pm]
    if personal_data:
        out.append(personal_data_marking())
    out.append({"type": "threat-actor", "spec_version": "2.1", "id": f"threat-actor--{uuid.uuid5(ns, 'ira')}",
                "created": "2018-02-16T00:00:00.000Z", "modified": "2018-02-16T00:00:00.000Z",
                "name": "Internet Research Agency", "description": "St Petersburg troll farm (US v. IRA, 2018)",
                "threat_actor_types": ["nation-state"], "object_marking_refs": marks})
    for handle, uid, cat in IRA_ACCOUNTS:
        acct = {"type": "user-account", "spec_version": "2.1",
                "id": f"user-account--{uuid.uuid5(ns, uid)}", "user_id": uid, "account_login": handle,
                "display_name": f"{handle} ({cat})", "account_type": "twitter", "object_marking_refs": marks}
        if personal_data:
            acct["granular_markings"] = [{"marking_ref": PERSONAL_DATA_MARKING_ID, "selectors": ["display_name"]}]
        out.append(acct)
    return out
