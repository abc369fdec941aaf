"""The investigator web app (``cibscope serve``): explore clusters and evidence, review, and share.

Modules: :mod:`.app` (FastAPI app, security headers), :mod:`.auth` (sessions, roles,
CSRF), :mod:`.state` (users, outbox, audit log), :mod:`.data` (store queries),
:mod:`.outbox` (share objects and per-sector preview), :mod:`.jobs` (background
ingest/detect), :mod:`.core` (actions shared by pages and API), :mod:`.pages`,
:mod:`.api`, :mod:`.cli`. docs/web.md describes it for users.
"""

#: The web state file (users, outbox, audit log), a SQLite path or SQLAlchemy URL.
DEFAULT_WEB_DB = "cibscope-web.sqlite"
#: Roles, least to most privileged: analysts browse, run jobs and prepare shares; reviewers also approve
#: shares others prepared; admins also manage users (``cibscope web user ...``).
ROLES = ("analyst", "reviewer", "admin")
#: Largest id, page or offset a request may name: beyond 64-bit SQL integers a request would fail in the
#: store (DuckDB LIMIT/OFFSET, SQLite); bounded, it is a 422 naming the parameter.
MAX_ID = 2**53
