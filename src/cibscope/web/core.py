"""The web app's context and the actions both the pages and the JSON API perform.

:class:`WebContext` holds the store, the state file (:class:`~cibscope.web.state.WebState`),
the job runner and the settings. Its methods are the app's state-changing actions,
each checking roles and writing the audit log, so a form post and an API call do the
same thing.
"""
from __future__ import annotations

import json
import math
import re
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..share.auth import Principal
from ..share.markings import SECTORS
from ..share.policy import Refusal, check_declared_purpose
from ..share.throttle import FailureLog, Throttle
from ..store.db import Store
from .auth import Forbidden, User, require_role
from .data import cursor_store
from .jobs import Job, JobManager
from .outbox import ShareInputError, preview, share_objects
from .state import StateError, WebState


#: Cluster views kept in memory (:meth:`WebContext.cached`).
CACHE_SIZE = 32


@dataclass(frozen=True)
class Settings:
    """Server settings.

    Attributes
    ----------
    db : str
        DuckDB store file.
    web_db : str
        Web state file (SQLite path or SQLAlchemy URL).
    read_only : bool
        Open the store read-only: no ingest or detect jobs from the web (several read-only
        servers may then share one file).
    org, sector : str
        Organisation pushing shares and its sector (:data:`cibscope.share.markings.SECTORS`):
        the producer in share previews.
    secure_cookies : bool
        Mark the session cookie ``Secure`` (serve behind TLS).
    data_root : str, optional
        The folder ingest jobs may read from (``--data-root``); a path is taken relative to it and must
        resolve, symbolic links followed, inside it. None: no ingest from the web.
    """

    db: str
    web_db: str
    read_only: bool = False
    org: str = "cibscope"
    sector: str = "platform"
    secure_cookies: bool = False
    data_root: str | None = None


class WebContext:
    """Store, state and jobs of one running app (``app.state.web``)."""

    def __init__(self, settings: Settings):
        if settings.sector not in SECTORS:
            raise ValueError(f"unknown sector {settings.sector!r} (allowed: {', '.join(SECTORS)})")
        self.settings = settings
        self.state = WebState(settings.web_db)
        self.store = Store(settings.db, read_only=settings.read_only)
        self.jobs = None if settings.read_only else JobManager(self.store, on_finish=self._job_finished)
        self._cache: OrderedDict[tuple, Future] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cibscope-prefetch")
        self._user_throttle, self._address_throttle = Throttle(free=5), Throttle(free=20)
        self._sign_in_failures = FailureLog(lambda d: self.state.record(
            "anonymous", "sign-in-failed", {k: v for k, v in d.items() if k != "rule"}))

    def close(self) -> None:
        """Stop the job worker and close the store."""
        if self.jobs:
            self.jobs.shutdown()
        self._prefetcher.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    @contextmanager
    def view(self) -> Iterator[Store]:
        """A store on its own connection for one request."""
        with cursor_store(self.store) as s:
            yield s

    def cached(self, key: tuple, compute: Callable[[Store], Any]) -> Any:
        """``compute(store)`` for ``key``, kept for the next request (the :data:`CACHE_SIZE` latest keys).

        For views of one detection run (a cluster's network and detail): a saved run never
        changes, and the cache is emptied whenever a job finishes, as an ingest may add posts
        to the run's data sets (the timeline) and only the server's own jobs can write to the
        store while it runs (DuckDB locks the file).

        A key is computed once: a request arriving while another computes it (or while
        :meth:`prefetch` does) waits for that result instead of computing it again. An error
        reaches every waiting caller and is not kept.
        """
        with self._cache_lock:
            fut = self._cache.get(key)
            mine = fut is None
            if mine:
                fut = self._cache[key] = Future()
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        if mine:
            try:
                with self.view() as s:
                    fut.set_result(compute(s))
            except BaseException as exc:
                fut.set_exception(exc)
                with self._cache_lock:
                    if self._cache.get(key) is fut:
                        del self._cache[key]
        return fut.result()

    def prefetch(self, key: tuple, compute: Callable[[Store], Any]) -> None:
        """Start :meth:`cached` for ``key`` on a background thread and return at once.

        The cluster page prefetches its network while it renders, so the page's script finds
        it computed (or in progress) when it asks for it. Errors are left for the request
        that asks for the key.
        """
        def run() -> None:
            try:
                self.cached(key, compute)
            except Exception:  # noqa: BLE001 - reported to the request that reads the key
                pass

        self._prefetcher.submit(run)

    # --------------------------------------------------------------- sign-in
    def sign_in_wait(self, name: str, address: str) -> int:
        """Seconds before ``name`` may try to sign in from ``address`` again (0: now). A waiting attempt is
        counted in the aggregated ``sign-in-failed`` audit rows."""
        wait = max(self._user_throttle.wait(name[:256]), self._address_throttle.wait(address))
        if wait:
            self._sign_in_failures.failed(address, {"reason": "throttled", "user": name[:64]})
        return math.ceil(wait)

    def sign_in_failed(self, name: str, address: str) -> None:
        """Count a failed sign-in (:mod:`cibscope.share.throttle`: backoff after 5 failures of a name or 20 of
        an address); audited at most once a minute per address, and at each lock start."""
        lock = max(self._user_throttle.failure(name[:256]), self._address_throttle.failure(address))
        detail = {"reason": "lockout", "user": name[:64], "locked_seconds": lock} if lock else {
            "reason": "wrong password or unknown user", "user": name[:64]}
        self._sign_in_failures.failed(address, detail, force=bool(lock))

    def sign_in_succeeded(self, name: str) -> None:
        """Clear the name's failure count."""
        self._user_throttle.success(name[:256])

    # ------------------------------------------------------------------ jobs
    def ingest_path(self, path: str) -> str:
        """The absolute path an ingest job may read for ``path`` (relative to the data root, or absolute
        inside it; symbolic links resolved).

        Raises
        ------
        Forbidden
            No ``--data-root`` is configured, or the path resolves outside it. The message never says
            whether anything exists there.
        """
        root = self.settings.data_root
        if not root:
            raise Forbidden("ingest from the web is off: the admin has configured no --data-root")
        base = Path(root).resolve()
        target = (base / path).resolve()
        if target != base and base not in target.parents:
            raise Forbidden(f"ingest reads only under the data root {base}; {path!r} is outside it")
        return str(target)

    def start_job(self, user: User, kind: str, args: dict[str, Any]) -> Job:
        """Queue an ingest or detect job (analyst and up); audited as ``job-start``.

        Raises
        ------
        Forbidden
            The store is open read-only.
        ValueError
            Bad job arguments (:meth:`cibscope.web.jobs.JobManager.submit`).
        """
        if self.jobs is None:
            raise Forbidden("the server opened the store read-only: no ingest or detection from the web")
        if kind == "ingest":
            if not str(args.get("path") or "").strip():
                raise ValueError("ingest needs a path")
            args = {**args, "path": self.ingest_path(str(args["path"]).strip())}
        job = self.jobs.submit(kind, args, user.name)
        self.state.record(user.name, "job-start", {"job": job.id, "kind": kind, "args": args})
        return job

    def _job_finished(self, job: Job) -> None:
        with self._cache_lock:
            self._cache.clear()
        self.state.record(job.user, "job-" + job.state, {"job": job.id, "kind": job.kind, "result": job.result,
                                                          "error": job.error})

    # ---------------------------------------------------------------- shares
    def prepare_share(self, user: User, *, run_id: int, cluster_id: str, tlp: str, purpose: str, legal_basis: str,
                      retention_days: int, recipient_orgs: list[str]) -> int:
        """Build and store a share of one cluster (state ``prepared``); return its id.

        Raises
        ------
        ShareInputError
            Unknown TLP/purpose, a purpose the organisation's sector may not declare
            (:data:`cibscope.share.policy.SECTOR_PURPOSES`), cluster absent or not flagged, bad terms.
        """
        require_role(user, "analyst", "reviewer", "admin")
        producer = Principal(0, user.name, 0, self.settings.org, self.settings.sector)
        try:  # the hub refuses a push declaring a purpose the producer's sector may not declare
            check_declared_purpose(producer, purpose)
        except Refusal as exc:
            raise ShareInputError(f"your organisation cannot push for this purpose: {exc}") from None
        with self.view() as s:
            objs = share_objects(s, run_id, cluster_id, tlp=tlp, purpose=purpose, legal_basis=legal_basis,
                                 retention_days=retention_days, recipient_orgs=recipient_orgs)
        return self.state.add_share(actor=user.name, run_id=run_id, cluster_id=cluster_id, tlp=tlp.lower(),
                                    purpose=purpose, legal_basis=legal_basis, retention_days=retention_days,
                                    recipient_orgs=recipient_orgs, objects=objs)

    def share_preview(self, share_id: int) -> dict[str, Any]:
        """A share with its per-sector preview (:func:`cibscope.web.outbox.preview`)."""
        sh = self.state.share(share_id)
        sh["preview"] = preview(sh["objects"], sh["purpose"], self.settings.sector)
        return sh

    def approve_share(self, user: User, share_id: int) -> None:
        """Approve (reviewer or admin, not the preparer). Raises :class:`StateError`."""
        self.state.approve(share_id, user.name, user.role)

    def push_share(self, user: User, share_id: int, *, hub_url: str, collection_id: str, token: str) -> dict[str, Any]:
        """Push an approved share to a TAXII 2.1 hub with :func:`cibscope.share.client.push`; return the status.

        The token is used for this request only and never stored.

        Raises
        ------
        StateError
            The share is not approved.
        cibscope.share.client.ShareError
            The hub refused or could not be reached (nothing is recorded as pushed).
        """
        from ..share.client import ShareError, push

        sh = self.state.share(share_id)
        if sh["state"] != "approved":
            raise StateError(f"share {share_id} is {sh['state']}: only an approved share can be pushed")
        if not hub_url or not collection_id or not token:
            raise StateError("pushing needs the hub URL, the collection id and an API token")
        hub = self.state.hub_named_or_at(hub_url)
        if hub is None:  # never a request to an address a user typed (issue #17 row 6)
            raise StateError("not a registered hub: shares go only to hubs an admin registered with "
                             "`cibscope web hub add NAME URL` (see the outbox page for the list)")
        hub_url = hub["url"]
        self.state.begin_push(share_id)  # approved -> pushing atomically: a second push gets 409, no request
        try:
            with tempfile.TemporaryDirectory(prefix="cibscope-share-") as tmp:
                path = Path(tmp) / "bundle.json"
                path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{_uuid()}",
                                            "objects": sh["objects"]}, ensure_ascii=False), encoding="utf-8")
                status = push(path, hub_url, collection_id, sh["purpose"], token=token)
        except BaseException as exc:  # every outbound transfer that did not end in a status is audited
            msg = (push_error_summary(str(exc), hub["name"]) if isinstance(exc, ShareError)
                   else f"the push to the hub {hub['name']!r} failed ({type(exc).__name__})")
            self.state.end_failed_push(share_id, user.name, {"share": share_id, "hub": hub_url, "error": msg},
                                       purpose=sh["purpose"], collection_id=collection_id)
            if isinstance(exc, Exception):
                raise ShareError(msg) from None
            raise
        self.state.mark_pushed(share_id, user.name, hub_url, collection_id, status)
        return status


def push_error_summary(error: str, hub_name: str) -> str:
    """What a user is told about a failed push: the hub's name and the HTTP status, never the remote
    server's answer body or headers (issue #17 row 6: an internal server's page was echoed in the 502)."""
    m = re.search(r"\bHTTP (\d{3})\b", error)
    if m and "not followed" in error:
        return f"the hub {hub_name!r} answered with a redirect, which is not followed: HTTP {m.group(1)}"
    if m:
        return f"the hub {hub_name!r} refused the push: HTTP {m.group(1)}"
    if "bytes, over the server's limit" in error:
        return f"an object is over the hub {hub_name!r}'s size limit"
    return f"the hub {hub_name!r} could not be reached or did not answer as a TAXII 2.1 server"


def _uuid() -> str:
    import uuid
    return str(uuid.uuid4())


__all__ = ["Settings", "WebContext", "ShareInputError", "StateError", "Forbidden"]
