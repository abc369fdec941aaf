"""Sharing hub: a TAXII 2.1 server and client with TLP 2.0, purpose limitation and an audit log.

Modules
-------
markings  TLP 2.0 and purpose marking-definitions (fixed ids, builders, parsing).
store     SQLAlchemy Core data layer (SQLite by default, PostgreSQL by URL).
auth      organisations, users, hashed API tokens and passwords.
policy    the access rules applied to every read and write.
audit     append-only, hash-chained audit log with verify and export.
api       the FastAPI application (one router per TAXII resource).
client    push and pull on top of ``taxii2-client``.
cli       the ``serve-taxii``, ``admin``, ``audit`` and ``share`` commands.
"""

#: The hub database when none is given (a SQLite file in the working folder). Kept here, not in
#: :mod:`.store`, so that the CLI can show it without importing SQLAlchemy.
DEFAULT_HUB_DB = "cibscope-hub.sqlite"
