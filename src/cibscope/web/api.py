"""The JSON API under ``/api/`` (documented by the generated OpenAPI at ``/api/openapi.json``).

Every route needs a signed-in session (401 otherwise); every POST needs the session's
CSRF token in ``X-CSRF-Token`` (403 otherwise). The pages' scripts use it for the
network, job progress and share previews. Timestamps are UTC.
"""
from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..share.client import ShareError
from ..share.markings import PURPOSES
from ..share.text import first_surrogate_problem
from . import MAX_ID, data
from .auth import Forbidden, User, check_csrf, csrf_token, current_user
from .core import WebContext
from .outbox import ShareInputError
from .state import StateError

router = APIRouter(prefix="/api", dependencies=[Depends(check_csrf)])


def ctx(request: Request) -> WebContext:
    """The app's :class:`~cibscope.web.core.WebContext`."""
    return request.app.state.web


class _Strict(BaseModel):
    """A request body that refuses unknown keys (a misspelt key is a 422, not silently a default)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        """A lone UTF-16 surrogate (``"\\ud800"``) in any string, at any depth, is a 422 before any side effect
        (it was a 500 after the job had started and been audited)."""
        problem = first_surrogate_problem(data)
        if problem:
            raise ValueError(problem)
        return data


class JobRequest(_Strict):
    """Start a background job: ``kind`` ingest (``args``: path, format, dataset) or detect (``args``: fields of
    DetectionParams, e.g. ``window_s``, ``datasets``)."""

    kind: str = Field(pattern="^(ingest|detect)$")
    args: dict[str, Any] = Field(default_factory=dict)


class ShareRequest(_Strict):
    """Prepare a share of one flagged cluster."""

    run_id: int = Field(ge=1, le=MAX_ID)
    cluster_id: str
    tlp: str = Field(description="TLP 2.0: clear, green, amber, amber+strict")
    purpose: str = Field(description="One of " + ", ".join(PURPOSES))
    legal_basis: str = Field(min_length=1)
    retention_days: int = Field(365, gt=0, le=36_500)
    recipient_orgs: list[str] = Field(default_factory=list)


class PushRequest(_Strict):
    """Where to push an approved share; the token is used once and not stored."""

    hub_url: str = Field(description="API root URL, e.g. http://127.0.0.1:9000/hub/")
    collection_id: str
    token: str


@router.get("/search", summary="Find an account, hashtag, URL or text, with the clusters involving it")
def search_api(request: Request, q: str = Query(..., min_length=1, max_length=200),
               kind: Optional[str] = Query(None, pattern="^(account|hashtag|url|text)$"),
               run: Optional[int] = Query(None, ge=1, le=MAX_ID), limit: int = Query(50, ge=1, le=500),
               user: User = Depends(current_user)) -> dict[str, Any]:
    """:func:`cibscope.store.search.search` over this server's store; 422 for an empty query or an unknown run."""
    from ..store.search import search

    with ctx(request).view() as s:
        try:
            return search(s, q, kind=kind, run_id=run, limit=limit)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None


def _run_or_404(s, run_id: int) -> None:
    if not data.run_exists(s, run_id):
        raise HTTPException(404, f"no detection run {run_id}")


@router.get("/me", summary="The signed-in user")
def me(request: Request, user: User = Depends(current_user)) -> dict[str, str]:
    return {"name": user.name, "role": user.role, "csrf_token": csrf_token(request)}


@router.get("/datasets", summary="Datasets with counts and ingested files")
def datasets(request: Request, user: User = Depends(current_user)) -> list[dict[str, Any]]:
    with ctx(request).view() as s:
        return data.datasets(s)


@router.get("/ingest-errors", summary="Newest ingest errors (file, line, field, reason, raw value)")
def ingest_errors(request: Request, dataset: Optional[str] = None, limit: int = Query(200, ge=1, le=5000),
                  user: User = Depends(current_user)) -> list[dict[str, Any]]:
    with ctx(request).view() as s:
        return data.ingest_errors(s, dataset, limit)


@router.get("/runs", summary="Detection runs with their parameters, newest first")
def runs(request: Request, user: User = Depends(current_user)) -> list[dict[str, Any]]:
    with ctx(request).view() as s:
        return data.runs(s)


@router.get("/runs/{run_id}/clusters", summary="One page of a run's clusters, sorted")
def clusters(request: Request, run_id: int = Path(..., ge=1, le=MAX_ID), sort: str = "rank", flagged: bool = False,
             limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_ID),
             user: User = Depends(current_user)) -> dict[str, Any]:
    with ctx(request).view() as s:
        _run_or_404(s, run_id)
        try:
            return data.cluster_list(s, run_id, sort=sort, flagged_only=flagged, limit=limit, offset=offset)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None


@router.get("/runs/{run_id}/clusters/{cluster_id}", summary="A cluster: members, objects, first evidence page, timeline (DISARM: /disarm)")
def cluster(request: Request, run_id: int = Path(..., ge=1, le=MAX_ID), cluster_id: str = Path(...), user: User = Depends(current_user)) -> dict[str, Any]:
    got = ctx(request).cached(("detail", run_id, cluster_id), lambda s: data.cluster_detail(s, run_id, cluster_id))
    if got is None:
        raise HTTPException(404, f"no cluster {cluster_id} in run {run_id}")
    return got


@router.get("/runs/{run_id}/clusters/{cluster_id}/evidence", summary="One page of a cluster's evidence")
def cluster_evidence(request: Request, run_id: int = Path(..., ge=1, le=MAX_ID), cluster_id: str = Path(...),
                     limit: int = Query(data.EVIDENCE_PAGE, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_ID),
                     user: User = Depends(current_user)) -> dict[str, Any]:
    """``total`` evidence rows of the cluster and ``evidence``: ``limit`` of them from ``offset``, heaviest
    objects first (the order of the cluster page's table)."""
    def compute(s) -> dict[str, Any] | None:
        if data.cluster(s, run_id, cluster_id) is None:
            return None
        return {"total": data.evidence_count(s, run_id, cluster_id),
                "evidence": data.evidence(s, run_id, cluster_id, limit=limit, offset=offset)}

    got = ctx(request).cached(("evidence-api", run_id, cluster_id, limit, offset), compute)
    if got is None:
        raise HTTPException(404, f"no cluster {cluster_id} in run {run_id}")
    return got


@router.get("/runs/{run_id}/clusters/{cluster_id}/network", summary="Cytoscape.js elements with positions")
def network(request: Request, run_id: int = Path(..., ge=1, le=MAX_ID), cluster_id: str = Path(...),
            max_nodes: int = Query(data.NETWORK_NODES, ge=1, le=5000),
            max_edges: int = Query(data.NETWORK_EDGES, ge=0, le=100_000),
            user: User = Depends(current_user)) -> Response:
    body = ctx(request).cached(("network", run_id, cluster_id, max_nodes, max_edges),
                               lambda s: data.network_json(s, run_id, cluster_id, max_nodes, max_edges))
    if body is None:
        raise HTTPException(404, f"no cluster {cluster_id} in run {run_id}")
    return Response(body, media_type="application/json")


@router.get("/runs/{run_id}/clusters/{cluster_id}/disarm", summary="DISARM techniques with their evidence")
def disarm(request: Request, run_id: int = Path(..., ge=1, le=MAX_ID), cluster_id: str = Path(...), user: User = Depends(current_user)) -> list[dict]:
    got = ctx(request).cached(("disarm", run_id, cluster_id), lambda s: data.disarm_tags(s, run_id, cluster_id))
    if got is None:
        raise HTTPException(404, f"no cluster {cluster_id} in run {run_id}")
    return got


@router.get("/accounts/{account_key:path}", summary="An account, its clusters and newest posts")
def account(request: Request, account_key: str, user: User = Depends(current_user)) -> dict[str, Any]:
    with ctx(request).view() as s:
        got = data.account(s, account_key)
    if got is None:
        raise HTTPException(404, f"no account {account_key}")
    return got


@router.get("/tips", summary="Partner tips with match counts")
def tips(request: Request, user: User = Depends(current_user)) -> list[dict[str, Any]]:
    with ctx(request).view() as s:
        return data.tips(s)


@router.get("/cases", summary="Cases grown from tips")
def cases(request: Request, user: User = Depends(current_user)) -> list[dict[str, Any]]:
    with ctx(request).view() as s:
        return data.cases(s)


@router.get("/jobs", summary="Background jobs of this server, newest first")
def jobs(request: Request, user: User = Depends(current_user)) -> list[dict[str, Any]]:
    j = ctx(request).jobs
    return [x.public() for x in j.all()] if j else []


@router.post("/jobs", status_code=202, summary="Start an ingest or detect job")
def start_job(request: Request, body: JobRequest, user: User = Depends(current_user)) -> dict[str, Any]:
    try:
        return ctx(request).start_job(user, body.kind, body.args).public()
    except Forbidden:
        raise
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/jobs/{job_id}", summary="A job's state and progress")
def job(request: Request, job_id: int = Path(..., ge=1, le=MAX_ID), user: User = Depends(current_user)) -> dict[str, Any]:
    j = ctx(request).jobs.get(job_id) if ctx(request).jobs else None
    if j is None:
        raise HTTPException(404, f"no job {job_id}")
    return j.public()


@router.get("/shares", summary="The outbox: every share, newest first")
def shares(request: Request, user: User = Depends(current_user)) -> list[dict[str, Any]]:
    return ctx(request).state.shares()


@router.post("/shares", status_code=201, summary="Prepare a share of one flagged cluster")
def prepare(request: Request, body: ShareRequest, user: User = Depends(current_user)) -> dict[str, Any]:
    try:
        sid = ctx(request).prepare_share(user, **body.model_dump())
    except ShareInputError as exc:
        raise HTTPException(422, str(exc)) from None
    return ctx(request).state.share(sid, with_objects=False)


@router.get("/shares/{share_id}", summary="A share with its objects and the per-sector preview")
def share(request: Request, share_id: int = Path(..., ge=1, le=MAX_ID), user: User = Depends(current_user)) -> dict[str, Any]:
    try:
        return ctx(request).share_preview(share_id)
    except StateError as exc:
        raise HTTPException(404, str(exc)) from None


@router.post("/shares/{share_id}/approve", summary="Approve a share (a reviewer other than the preparer)")
def approve(request: Request, share_id: int = Path(..., ge=1, le=MAX_ID), user: User = Depends(current_user)) -> dict[str, Any]:
    try:
        ctx(request).approve_share(user, share_id)
    except StateError as exc:
        raise HTTPException(409, str(exc)) from None
    return ctx(request).state.share(share_id, with_objects=False)


@router.post("/shares/{share_id}/push", summary="Push an approved share to a TAXII 2.1 hub")
def push(request: Request, share_id: int = Path(..., ge=1, le=MAX_ID), body: PushRequest = Body(...), user: User = Depends(current_user)) -> dict[str, Any]:
    try:
        ctx(request).push_share(user, share_id, **body.model_dump())
    except StateError as exc:
        raise HTTPException(409, str(exc)) from None
    except ShareError as exc:
        raise HTTPException(502, str(exc)) from None
    return ctx(request).state.share(share_id, with_objects=False)


@router.get("/audit", summary="The app's audit log, newest first, and whether its hash chain is intact")
def audit(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    st = ctx(request).state
    v = st.verify_audit()
    return {"ok": v.ok, "checked": v.checked, "problems": v.problems, "entries": st.audit()}
