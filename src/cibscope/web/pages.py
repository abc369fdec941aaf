"""Server-rendered HTML pages (Jinja2, autoescaped; not part of the OpenAPI document).

Post text, handles, object keys and every other stored string are attacker-written:
templates never mark them safe. The only markup inserted as-is is the activity
timeline SVG drawn from numbers (:func:`cibscope.report.figures.timeline_svg`). Forms post back here with the session's CSRF token;
actions go through :class:`~cibscope.web.core.WebContext`, as the API's do.
"""
from __future__ import annotations

import json
from typing import Any, Optional, Sequence
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ..detect import DEFAULT_SIGNALS, SIGNALS, STEPS, parse_duration
from ..report.html import TLP_COLOURS, _ts, shared_object
from ..report.query import loose_pairs
from ..report.summary import duration_text, p_text
from ..report.stix import TLP_LEVELS
from ..share.markings import PURPOSES, SECTORS
from ..store.search import KINDS, MAX_QUERY, clean_query, search
from . import MAX_ID, data
from .auth import CSRF_FIELD, NotSignedIn, User, check_csrf, csrf_token, current_user, sign_in, sign_out
from .core import WebContext
from .outbox import ShareInputError, cluster_objects
from ..text import plural
from .state import StateError

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])

_env = Environment(loader=ChoiceLoader([PackageLoader("cibscope.web", "templates"),
                                        PackageLoader("cibscope.report", "templates")]),  # + the report's partials
                   autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["ts"] = _ts
_env.filters["q"] = lambda s: quote(str(s), safe="")
_env.filters["p_text"] = p_text
_env.filters["duration"] = duration_text
_env.filters["shared_object"] = shared_object
_env.filters["plural"] = plural
_env.filters["pretty"] = lambda o: json.dumps(o, indent=1, ensure_ascii=False, sort_keys=True, default=str)
_env.globals.update(TLP_LEVELS=[t for t in TLP_LEVELS if t != "red"], PURPOSES=PURPOSES, SECTORS=SECTORS,
                    TLP_COLOURS=TLP_COLOURS, SIGNALS=SIGNALS, DEFAULT_SIGNALS=DEFAULT_SIGNALS,
                    SORTS=list(data.CLUSTER_SORTS), STEPS=STEPS)


def ctx(request: Request) -> WebContext:
    return request.app.state.web


def render(request: Request, template: str, user: Optional[User] = None, status: int = 200,
           headers: Optional[dict[str, str]] = None, **values: Any) -> HTMLResponse:
    """Render ``template`` with the user, the CSRF token and the server settings."""
    html = _env.get_template(template).render(request=request, user=user, csrf=csrf_token(request),
                                              csrf_field=CSRF_FIELD, settings=ctx(request).settings,
                                              read_only=ctx(request).jobs is None, **values)
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(request: Request, status: int, message: str, *, title: str = "Not found",
               problems: tuple[str, ...] | list[str] = ()) -> HTMLResponse:
    """The HTML error page: ``title``, ``message`` and a list of ``problems`` (e.g. one per bad parameter).

    Shows the navigation when the request's session has a user (it is looked up here, as an error
    may be raised before the route's own ``current_user`` dependency ran).
    """
    try:
        user: Optional[User] = current_user(request)
    except NotSignedIn:
        user = None
    return render(request, "error.html.j2", user, status=status, message=message, title=title,
                  problems=list(problems))


def describe_validation(errors: Sequence[dict[str, Any]]) -> list[str]:
    """One plain sentence per entry of a :class:`fastapi.exceptions.RequestValidationError`'s ``errors()``.

    Each names where the value came from (query parameter, part of the address, form field), the
    parameter, Pydantic's reason and the value sent (cut to 80 characters), e.g.
    ``query parameter 'run': Input should be a valid integer, unable to parse string as an integer
    (sent: 'abc')``.
    """
    out = []
    for e in errors:
        loc = tuple(e.get("loc", ()))
        where = _LOCATIONS.get(str(loc[0]), str(loc[0])) if loc else "request"
        name = ".".join(str(x) for x in loc[1:]) or "?"
        line = f"{where} {name!r}: {e.get('msg', 'invalid')}"
        if e.get("type") != "missing" and isinstance(e.get("input"), (str, int, float)):
            sent = str(e["input"])
            line += f" (sent: {sent[:80] + '...' if len(sent) > 80 else sent!r})"
        out.append(line)
    return out


#: Where a request value came from (``loc[0]`` of a validation error), in words.
_LOCATIONS = {"query": "query parameter", "path": "address part", "body": "form field", "header": "header",
              "cookie": "cookie"}


def _detail(request: Request, user: User, fetch, template: str, name: str, missing: str) -> HTMLResponse:
    """Render ``template`` with ``fetch(store)`` as ``name``, or a 404 page saying ``missing`` when it is None."""
    with ctx(request).view() as s:
        found = fetch(s)
    if found is None:
        return render(request, "error.html.j2", user, status=404, message=missing)
    return render(request, template, user, **{name: found})


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ------------------------------------------------------------------ sign-in
@router.get("/login")
def login_page(request: Request, next: str = "/clusters") -> HTMLResponse:
    return render(request, "login.html.j2", next=next if next.startswith("/") and not next.startswith("//")
                  else "/clusters", error=None)


@router.post("/login")
def login(request: Request, name: str = Form(...), password: str = Form(...),
          next: str = Form("/clusters")) -> Any:
    web = ctx(request)
    addr = request.client.host if request.client else "unknown"
    wait = web.sign_in_wait(name, addr)
    if wait:
        return render(request, "login.html.j2", next=next, status=429, headers={"Retry-After": str(wait)},
                      error=f"Too many failed sign-ins: try again in {wait} seconds.")
    found = web.state.check_password(name, password)
    if found is None:
        web.sign_in_failed(name, addr)
        return render(request, "login.html.j2", next=next, error="Unknown user or wrong password.", status=401)
    web.sign_in_succeeded(name)
    sign_in(request, found["name"], found["role"])
    web.state.record(found["name"], "sign-in", {"role": found["role"]})
    return _see(next if next.startswith("/") and not next.startswith("//") else "/clusters")


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    sign_out(request)
    return _see("/login")


@router.get("/")
def home(user: User = Depends(current_user)) -> RedirectResponse:
    return _see("/clusters")


# ------------------------------------------------------------ data and runs
@router.get("/datasets")
def datasets_page(request: Request, dataset: Optional[str] = None, user: User = Depends(current_user)) -> HTMLResponse:
    with ctx(request).view() as s:
        return render(request, "datasets.html.j2", user, datasets=data.datasets(s),
                      errors=data.ingest_errors(s, dataset or None), dataset=dataset)


@router.get("/runs")
def runs_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
    with ctx(request).view() as s:
        return render(request, "runs.html.j2", user, runs=data.runs(s),
                      dataset_names=[d["dataset"] for d in data.datasets(s)])


@router.get("/jobs")
def jobs_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
    j = ctx(request).jobs
    return render(request, "jobs.html.j2", user, jobs=j.all() if j else [], job=None, error=None)


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: int = Path(..., ge=1, le=MAX_ID), user: User = Depends(current_user)) -> HTMLResponse:
    j = ctx(request).jobs.get(job_id) if ctx(request).jobs else None
    if j is None:
        return render(request, "error.html.j2", user, status=404, message=f"No job {job_id}.")
    return render(request, "jobs.html.j2", user, jobs=[], job=j, error=None)


@router.post("/jobs")
def start_job(request: Request, kind: str = Form(...), path: str = Form(""), format: str = Form(""),
              dataset: str = Form(""), window: str = Form("60s,10m,1h"), datasets: list[str] = Form([]),
              signals: list[str] = Form([]), min_cluster_size: int = Form(3), resolution: float = Form(1.0),
              user: User = Depends(current_user)) -> Any:
    try:
        if kind == "ingest":
            args: dict[str, Any] = {"path": path.strip(), "format": format or None, "dataset": dataset or None}
        else:
            args = {"windows": [parse_duration(w) for w in window.split(",") if w.strip()], "datasets": datasets or None,
                    "signals": signals or list(DEFAULT_SIGNALS), "min_cluster_size": min_cluster_size,
                    "resolution": resolution}
        job = ctx(request).start_job(user, kind, args)
    except ValueError as exc:
        j = ctx(request).jobs
        return render(request, "jobs.html.j2", user, jobs=j.all() if j else [], job=None, error=str(exc),
                      status=422)
    return _see(f"/jobs/{job.id}")


# ----------------------------------------------------------------- clusters
@router.get("/clusters")
def clusters_page(request: Request, run: Optional[int] = Query(None, ge=1, le=MAX_ID), sort: str = "rank", flagged: bool = False,
                  page: int = Query(1, ge=1, le=MAX_ID), user: User = Depends(current_user)) -> HTMLResponse:
    size = 100
    if sort not in data.CLUSTER_SORTS:
        return error_page(request, 422, "The page was asked for with a bad parameter.", title="Bad request",
                          problems=[f"query parameter 'sort': should be one of {', '.join(data.CLUSTER_SORTS)} "
                                    f"(sent: {sort!r})"])
    with ctx(request).view() as s:
        if run is not None and not data.run_exists(s, run):
            return error_page(request, 404, f"No detection run {run}.")
        run = run or data.latest_run(s)
        if run is None:
            return render(request, "clusters.html.j2", user, run=None, listing=None, sort=sort, flagged=flagged,
                          page=1, pages=1)
        listing = data.cluster_list(s, run, sort=sort, flagged_only=flagged, limit=size,
                                    offset=(max(page, 1) - 1) * size)
        all_runs = data.runs(s)
        n_loose, loose = loose_pairs(s, run, limit=50)
    return render(request, "clusters.html.j2", user, run=run, listing=listing, sort=sort, flagged=flagged,
                  page=max(page, 1), pages=max(1, -(-listing["total"] // size)), runs=all_runs,
                  n_loose=n_loose, loose=loose)


@router.get("/search")
def search_page(request: Request, q: Optional[str] = Query(None, max_length=MAX_QUERY), kind: str = "",
                run: Optional[int] = Query(None, ge=1, le=MAX_ID), user: User = Depends(current_user)) -> HTMLResponse:
    """Search this server's store for an account, hashtag, URL or text (:func:`cibscope.store.search.search`).

    Without ``q`` the page is the empty form; a ``q`` given but empty once cleaned (spaces, invisible
    characters, or ``@``/``#``/``http://`` alone) answers 422 with the reason, as the JSON API does."""
    result, error = None, None
    asked = q is not None and q != ""
    q = clean_query(q or "")  # the query is echoed in the page: no NUL or other control character goes back
    with ctx(request).view() as s:
        all_runs = data.runs(s)
        if asked:
            try:
                result = search(s, q, kind=kind or None, run_id=run, limit=50)
            except ValueError as exc:
                error = str(exc)
    return render(request, "search.html.j2", user, status=422 if error else 200, q=q, kind=kind, run=run,
                  runs=all_runs, kinds=KINDS, result=result, error=error)


@router.get("/runs/{run_id}/network.{fmt}")
def run_network_file(request: Request, run_id: int = Path(..., ge=1, le=MAX_ID),
                     fmt: str = Path(..., pattern="^(gexf|graphml)$"), user: User = Depends(current_user)) -> Response:
    """The run's whole network as a GEXF 1.3 or GraphML download for Gephi, networkx or igraph
    (:func:`cibscope.report.graph_export.export_graph`)."""
    import tempfile
    from pathlib import Path as FsPath

    from ..report.graph_export import export_graph

    with ctx(request).view() as s:
        if not data.run_exists(s, run_id):
            return error_page(request, 404, f"No detection run {run_id}.")
        with tempfile.TemporaryDirectory(prefix="cibscope-graph-") as tmp:
            body = export_graph(s, run_id, FsPath(tmp) / f"run.{fmt}", fmt)["path"].read_bytes()
    return Response(body, media_type="application/gexf+xml" if fmt == "gexf" else "application/graphml+xml",
                    headers={"Content-Disposition": f'attachment; filename="cibscope-run-{run_id}.{fmt}"'})


#: Member rows per page of the cluster page's account table.
MEMBERS_PAGE = 100


@router.get("/runs/{run_id}/clusters/{cluster_id}")
def cluster_page(request: Request, run_id: int = Path(..., ge=1, le=MAX_ID), cluster_id: str = Path(...),
                 evidence_page: int = Query(1, ge=1, le=MAX_ID), members_page: int = Query(1, ge=1, le=MAX_ID), user: User = Depends(current_user)) -> HTMLResponse:
    """The cluster page; the evidence and account tables are paged (``evidence_page``, ``members_page``)."""
    web = ctx(request)
    # The page's script asks for the network and the DISARM tags next: start computing them now, beside the
    # page's own parts (the keys are the API's).
    web.prefetch(("network", run_id, cluster_id, data.NETWORK_NODES, data.NETWORK_EDGES),
                 lambda s: data.network_json(s, run_id, cluster_id))
    web.prefetch(("disarm", run_id, cluster_id), lambda s: data.disarm_tags(s, run_id, cluster_id))
    d = web.cached(("detail", run_id, cluster_id), lambda s: data.cluster_detail(s, run_id, cluster_id))
    if d is None:
        return error_page(request, 404, f"No cluster {cluster_id} in run {run_id}.")
    ev_pages = max(1, -(-d["evidence_total"] // data.EVIDENCE_PAGE))
    mem_pages = max(1, -(-len(d["members"]) // MEMBERS_PAGE))
    if evidence_page > ev_pages or members_page > mem_pages:
        return error_page(request, 404, f"Cluster {cluster_id} has {ev_pages} evidence page(s) and {mem_pages} "
                                        "account page(s).", title="No such page")
    ev = d["evidence"] if evidence_page == 1 else web.cached(
        ("evidence", run_id, cluster_id, evidence_page),
        lambda s: data.evidence(s, run_id, cluster_id, offset=(evidence_page - 1) * data.EVIDENCE_PAGE))
    members = d["members"][(members_page - 1) * MEMBERS_PAGE:members_page * MEMBERS_PAGE]
    timeline = Markup(d["timeline"]) if d["timeline"] else None  # SVG drawn from numbers by report.figures
    stix = web.cached(("stix-preview", run_id, cluster_id), lambda s: cluster_objects(s, run_id, cluster_id)) \
        if d["cluster"]["flagged"] else None
    return render(request, "cluster.html.j2", user, run_id=run_id, d=d, timeline=timeline, stix=stix,
                  evidence=ev, evidence_page=evidence_page, evidence_pages=ev_pages, evidence_size=data.EVIDENCE_PAGE,
                  members=members, members_page=members_page, members_pages=mem_pages, members_size=MEMBERS_PAGE)


@router.get("/accounts/{account_key:path}")
def account_page(request: Request, account_key: str, user: User = Depends(current_user)) -> HTMLResponse:
    return _detail(request, user, lambda s: data.account(s, account_key), "account.html.j2", "a",
                   f"No account {account_key}.")


@router.get("/tips")
def tips_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
    with ctx(request).view() as s:
        return render(request, "tips.html.j2", user, tips=data.tips(s), cases=data.cases(s))


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: str, user: User = Depends(current_user)) -> HTMLResponse:
    return _detail(request, user, lambda s: data.case(s, case_id), "case.html.j2", "c", f"No case {case_id}.")


# ------------------------------------------------------------------- outbox
@router.get("/outbox")
def outbox_page(request: Request, run: Optional[int] = Query(None, ge=1, le=MAX_ID), cluster: str = "",
                user: User = Depends(current_user)) -> HTMLResponse:
    return render(request, "outbox.html.j2", user, shares=ctx(request).state.shares(), run=run, cluster=cluster,
                  error=None)


@router.post("/outbox")
def prepare_share(request: Request, run_id: int = Form(..., ge=1, le=MAX_ID), cluster_id: str = Form(...), tlp: str = Form(...),
                  purpose: str = Form(...), legal_basis: str = Form(...), retention_days: int = Form(365, ge=1, le=36_500),
                  recipient_orgs: str = Form(""), user: User = Depends(current_user)) -> Any:
    orgs = [o.strip() for o in recipient_orgs.split(",") if o.strip()]
    try:
        sid = ctx(request).prepare_share(user, run_id=run_id, cluster_id=cluster_id.strip(), tlp=tlp,
                                         purpose=purpose, legal_basis=legal_basis, retention_days=retention_days,
                                         recipient_orgs=orgs)
    except ShareInputError as exc:
        return render(request, "outbox.html.j2", user, shares=ctx(request).state.shares(), run=run_id,
                      cluster=cluster_id, error=str(exc), status=422)
    return _see(f"/outbox/{sid}")


@router.get("/outbox/{share_id}")
def share_page(request: Request, share_id: int = Path(..., ge=1, le=MAX_ID), user: User = Depends(current_user)) -> HTMLResponse:
    try:
        sh = ctx(request).share_preview(share_id)
    except StateError as exc:
        return render(request, "error.html.j2", user, status=404, message=str(exc))
    return render(request, "share.html.j2", user, sh=sh, error=request.query_params.get("error"),
                  hubs=ctx(request).state.hubs())


@router.post("/outbox/{share_id}/approve")
def approve_share(request: Request, share_id: int = Path(..., ge=1, le=MAX_ID), user: User = Depends(current_user)) -> Any:
    try:
        ctx(request).approve_share(user, share_id)
    except StateError as exc:
        return _see(f"/outbox/{share_id}?error={quote(str(exc))}")
    return _see(f"/outbox/{share_id}")


@router.post("/outbox/{share_id}/push")
def push_share(request: Request, share_id: int = Path(..., ge=1, le=MAX_ID), hub_url: str = Form(...), collection_id: str = Form(...),
               token: str = Form(...), user: User = Depends(current_user)) -> Any:
    from ..share.client import ShareError
    try:
        ctx(request).push_share(user, share_id, hub_url=hub_url.strip(), collection_id=collection_id.strip(),
                                token=token.strip())
    except (StateError, ShareError) as exc:
        return _see(f"/outbox/{share_id}?error={quote(str(exc))}")
    return _see(f"/outbox/{share_id}")


@router.get("/audit")
def audit_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
    st = ctx(request).state
    return render(request, "audit.html.j2", user, entries=st.audit(), verify=st.verify_audit())
