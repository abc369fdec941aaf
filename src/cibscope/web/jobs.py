"""Long jobs started from the web (ingest, detect), run in a background thread with progress.

DuckDB allows one writer per database file: the app holds the only connection to the
file and every job runs on its own cursor (:func:`cibscope.web.data.cursor_store`).
Jobs run one at a time, in the order submitted (a single worker thread), so two writes
never race; page requests read committed data on their own cursors meanwhile and are
never blocked. The pages poll ``GET /api/jobs/{id}``.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..store.db import Store
from .data import cursor_store

#: Job kinds.
KINDS = ("ingest", "detect")


@dataclass
class Job:
    """One background job: ``state`` is queued, running, done or failed; ``done``/``total`` count
    progress units (ingest: records, total unknown; detect: steps of :data:`cibscope.detect.STEPS`)."""

    id: int
    kind: str
    args: dict[str, Any]
    user: str
    state: str = "queued"
    step: str = ""
    done: int = 0
    total: int | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    finished_at: str | None = None

    def public(self) -> dict[str, Any]:
        """The job as JSON-ready dict."""
        return asdict(self)


def job_error_text(exc: BaseException) -> str:
    """An ingest failure as shown to users: the first line of the message, with whatever the reader quoted
    from the file cut out (a header it did not recognise: ``found: ...`` and parenthesised quotes), at most
    300 characters. A web user can start ingest jobs, so the file's contents must not come back in the error
    (issue #17 row 5: the first line of /etc/passwd did)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = re.split(r"[;,]?\s*\(?found:", text, maxsplit=1)[0]
    while True:
        shorter = re.sub(r"\s*\([^()]*\)", "", text)
        if shorter == text:
            break
        text = shorter
    return text[:300]


class JobManager:
    """Runs jobs on one worker thread against ``store`` (see the module docstring).

    Parameters
    ----------
    store : Store
        The app's store, opened read-write.
    on_finish : callable, optional
        Called with each finished :class:`Job` (the app audits it).
    """

    def __init__(self, store: Store, on_finish: Callable[[Job], None] | None = None):
        self.store = store
        self.on_finish = on_finish
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cibscope-job")

    def submit(self, kind: str, args: dict[str, Any], user: str) -> Job:
        """Queue a job.

        Parameters
        ----------
        kind : {"ingest", "detect"}
        args : dict
            ingest: ``path`` (file or folder on the server), ``format`` and ``dataset`` (optional).
            detect: fields of :class:`cibscope.detect.DetectionParams` (``window_s``, ``datasets``, ...).

        Raises
        ------
        ValueError
            Unknown kind, missing ingest path, or invalid detection parameters (checked before queueing).
        """
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r} (allowed: {', '.join(KINDS)})")
        if kind == "ingest":
            if not args.get("path"):
                raise ValueError("ingest needs a path")
            if not Path(args["path"]).exists():
                raise ValueError(f"{args['path']}: no such file or folder on the server")
        else:
            from ..detect import DetectionParams
            DetectionParams(**args)  # pydantic ValidationError is a ValueError
        with self._lock:
            job = Job(next(self._ids), kind, dict(args), user)
            self._jobs[job.id] = job
        self._pool.submit(self._run, job)
        return job

    def get(self, job_id: int) -> Job | None:
        """The job with this id, or None."""
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        """Every job of this server process, newest first."""
        return sorted(self._jobs.values(), key=lambda j: -j.id)

    def shutdown(self) -> None:
        """Wait for the running job and stop the worker."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: Job) -> None:
        job.state = "running"
        try:
            with cursor_store(self.store) as view:
                job.result = self._ingest(view, job) if job.kind == "ingest" else self._detect(view, job)
            job.state = "done"
        except Exception as exc:  # reported on the job page; the worker goes on with the next job
            job.error = f"{type(exc).__name__}: {job_error_text(exc) if job.kind == 'ingest' else exc}"
            job.state = "failed"
            traceback.print_exc()
        job.finished_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        if self.on_finish:
            self.on_finish(job)

    @staticmethod
    def _ingest(view: Store, job: Job) -> dict[str, Any]:
        from ..ingest import ingest

        job.step = f"ingest {job.args['path']}"

        def progress(n: int) -> None:
            job.done += n

        s = ingest(view, job.args["path"], fmt=job.args.get("format") or None,
                   dataset=job.args.get("dataset") or None, progress=progress)
        return {"format": s.format, "dataset": s.dataset, "rows_read": s.rows_read, "posts_added": s.posts_added,
                "accounts_added": s.accounts_added, "errors": s.errors, "skipped": s.skipped,
                "error_samples": s.error_samples[:20]}

    @staticmethod
    def _detect(view: Store, job: Job) -> dict[str, Any]:
        from ..detect import STEPS, DetectionParams, detect

        job.total = len(STEPS)

        def progress(step: str) -> None:
            job.step = step
            job.done = STEPS.index(step)

        r = detect(view, DetectionParams(**job.args), progress=progress)
        job.done = len(STEPS)
        job.step = "done"
        return {"run_id": r.run_id, "n_actions": r.n_actions, "n_accounts": r.n_accounts, "n_edges": r.n_edges,
                "n_clusters": r.n_clusters, "seconds": round(r.seconds, 2)}
